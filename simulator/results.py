"""Output columns, declared once by name. The monthly table, summaries, plots and reports read
these declarations; nothing else defines an output column.

Each ``Column`` says what kind of number it is, in which unit, with which dtype, and what it
means. Kinds:

- ``key``: identifies the row (scenario, replication, month, persona);
- ``stock``: a level at a point of the month, at its end unless the meaning says otherwise
  (``n_`` stage counts, MRR at the start or end, seats);
- ``flow``: an amount over the month (accounts that moved, MRR that changed, $ billed or spent);
- ``derived``: computed from other columns of the same row.

Prefixes say what a number is: ``n_`` a stock of accounts at the end of the month, ``*_mrr`` a
$/month change of recurring revenue in the month, ``*_cost`` and ``revenue`` $ in the month.

A ``Table`` is a named, ordered set of columns; ``MONTHLY`` is the monthly table of
``simulate`` (a public contract: its column names and order do not change), and ``TABLES``
holds every table by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from simulator.stages import PAYING_STAGES, STAGE_NAMES

Kind = Literal["key", "stock", "flow", "derived"]
KINDS: tuple[str, ...] = ("key", "stock", "flow", "derived")


@dataclass(frozen=True)
class Column:
    """One output column.

    Attributes:
        name: column name in the table.
        kind: ``key``, ``stock``, ``flow`` or ``derived`` (see the module docstring).
        unit: unit of a value (``accounts``, ``$/month``, ``$``...); empty for labels.
        dtype: pandas dtype of the column in the table (``int64``, ``float64``, ``str``).
        meaning: what a value means, in one line.
        label: short name for legends and axes (default: the name with spaces).
    """

    name: str
    kind: Kind
    unit: str
    dtype: str
    meaning: str
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name}: kind {self.kind!r} is not one of {KINDS}")

    @property
    def title(self) -> str:
        """Short human name: ``label``, or the name with spaces."""
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class Table:
    """A named table: its columns in table order."""

    name: str
    meaning: str
    columns: tuple[Column, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for c in self.columns:
            if c.name in seen:
                raise ValueError(f"table {self.name}: column {c.name} is declared twice")
            seen.add(c.name)

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in table order."""
        return tuple(c.name for c in self.columns)

    @property
    def dtypes(self) -> dict[str, str]:
        """Column name -> declared pandas dtype, in table order."""
        return {c.name: c.dtype for c in self.columns}

    def of_kind(self, *kinds: Kind) -> tuple[str, ...]:
        """Names of the columns of the given kinds, in table order."""
        return tuple(c.name for c in self.columns if c.kind in kinds)

    def __getitem__(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} declares no column {name!r}")

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.columns)

    def markdown(self) -> str:
        """The table's columns as a markdown table (name, kind, unit, dtype, meaning)."""
        lines = ["| column | kind | unit | dtype | meaning |", "|---|---|---|---|---|"]
        lines += [
            f"| `{c.name}` | {c.kind} | {c.unit} | {c.dtype} | {c.meaning} |" for c in self.columns
        ]
        return "\n".join(lines)


def _key(name: str, dtype: str, meaning: str, unit: str = "") -> Column:
    return Column(name, "key", unit, dtype, meaning)


def _accounts(name: str, meaning: str, label: str = "", kind: Kind = "flow") -> Column:
    """A count of accounts over the month (float64 in the table: the engine sums floats)."""
    return Column(name, kind, "accounts", "float64", meaning, label)


def _money(name: str, unit: str, meaning: str, label: str = "", kind: Kind = "flow") -> Column:
    return Column(name, kind, unit, "float64", meaning, label)


#: The keys every table of a run starts with: which scenario and which replication.
RUN_KEYS = (
    _key("scenario", "str", "scenario name"),
    _key("replication", "int64", "Monte Carlo replication, from 0"),
)
_PERSONA = _key("persona", "str", "persona (segment) name")
_KEYS = (*RUN_KEYS, _key("month", "int64", "simulated month, from 1", unit="month"), _PERSONA)

_STAGES = tuple(
    Column(
        f"n_{s}", "stock", "accounts", "int64", f"accounts in stage {s} at the end of the month", s
    )
    for s in STAGE_NAMES
)

#: Columns the engine writes after the stage counts, in table order.
_RECORDED = (
    _accounts("new_customers", "accounts that bought this month", "new"),
    _accounts(
        "forgot_to_cancel",
        "new customers billed after a card-required trial they did not cancel (no choice)",
    ),
    _accounts("churned_customers", "accounts that churned this month, voluntary + involuntary"),
    _accounts("churned_voluntary", "accounts that chose to leave"),
    _accounts("churned_involuntary", "accounts lost to failed payments after dunning"),
    _accounts("reactivated_customers", "churned accounts won back", "reactivated"),
    _money("mrr_start", "$/month", "MRR at the start of the month", "MRR at start", "stock"),
    _money("new_mrr", "$/month", "MRR of new customers", "new"),
    _money("expansion_mrr", "$/month", "MRR added by upgrades, seats and price rises", "expansion"),
    _money("reactivation_mrr", "$/month", "MRR of won-back customers", "reactivation"),
    _money(
        "contraction_mrr",
        "$/month",
        "MRR removed by downgrades, seat cuts, price cuts and discounts",
        "contraction",
    ),
    _money("churned_mrr", "$/month", "MRR of churned customers", "churn"),
    _money("mrr_end", "$/month", "MRR at the end of the month", "MRR", "stock"),
    _money("revenue", "$", "cash billed this month"),
    _money("acquisition_cost", "$", "channel spend and sales cost"),
    _money("onboarding_cost", "$", "onboarding programme cost"),
    _money("support_cost", "$", "support desk cost, allocated by tickets"),
    _money("success_cost", "$", "customer-success cost, allocated by accounts worked"),
    _money("cogs", "$", "cost of goods sold: hosting per account and seat, payment fees", "COGS"),
    _money("referral_cost", "$", "referral rewards paid"),
    _money("winback_cost", "$", "win-back cost: outreach per won-back account"),
    Column(
        "tickets",
        "flow",
        "tickets",
        "float64",
        "tickets reaching the support desk after knowledge-base deflection",
    ),
    Column(
        "sla_breaches", "flow", "tickets", "float64", "tickets whose first response missed the SLA"
    ),
    _accounts("accounts_breached", "accounts with an SLA breach this month"),
    Column(
        "tickets_worked",
        "flow",
        "tickets",
        "float64",
        "tickets the support desk worked this month, last month's backlog first",
    ),
    Column(
        "support_backlog",
        "stock",
        "tickets",
        "float64",
        "tickets waiting for the support desk at the end of the month (carried into the next)",
        "support backlog",
    ),
    Column("support_hours", "flow", "hours", "float64", "agent hours spent handling tickets"),
    Column(
        "support_capacity_hours",
        "flow",
        "hours",
        "float64",
        "agent hours available for tickets (after shrinkage), allocated by tickets",
    ),
    _accounts("prospects", "unaware accounts that started evaluating"),
    _accounts("referrals", "prospects that came through the referral programme"),
    _accounts("nurtured", "lost prospects brought back into consideration"),
    _accounts("prospects_lost", "evaluators that dropped out"),
    _accounts("decisions_started", "evaluators that started a trial, demo or free tier"),
    _accounts("decisions", "trials / sales cycles / free users that decided this month"),
    _accounts("activations", "onboarded accounts that reached activation"),
    _accounts("activation_failures", "onboarded accounts that did not reach activation"),
    _accounts("upgrades", "tier upgrades"),
    _accounts("seat_expansions", "seat additions"),
    _accounts("downgrades", "tier downgrades"),
    _accounts("seat_contractions", "seat reductions"),
    _accounts("renewals_due", "annual contracts at term end"),
    _accounts("renewals", "annual contracts renewed"),
    _accounts("renewal_offers", "renewals that took an at-risk discount"),
    _accounts("new_advocates", "customers that became promoters"),
    # int64 when the success mechanism is on; with it off the engine writes 0.0 and the
    # column comes out float64 (see tests/test_results.py).
    Column(
        "accounts_worked",
        "flow",
        "accounts",
        "int64",
        "at-risk accounts worked by customer success",
    ),
    Column(
        "at_risk",
        "stock",
        "accounts",
        "int64",
        "paying accounts with health below the at-risk threshold at the end of the month",
    ),
    Column("seats", "stock", "seats", "int64", "seats of paying accounts at the end of the month"),
    _money(
        "mrr_12m_ago",
        "$/month",
        "MRR 12 months ago of the accounts paying then (0 before month 13)",
        kind="stock",
    ),
    _money(
        "retained_mrr_12m",
        "$/month",
        "MRR now of the accounts paying 12 months ago (0 before month 13)",
        kind="stock",
    ),
    _money(
        "gross_retained_mrr_12m",
        "$/month",
        "MRR now of the accounts paying 12 months ago, each capped at its MRR then",
        kind="stock",
    ),
    _money(
        "recognised_revenue",
        "$",
        "revenue recognised this month: each paying account's MRR for the month (an annual "
        "term billed up front is recognised a month at a time)",
        "recognised revenue",
    ),
    _money(
        "deferred_revenue",
        "$",
        "billed but not yet recognised at the end of the month: annual accounts' MRR × the "
        "months of their term still to come",
        "deferred revenue",
        "stock",
    ),
    _money(
        "won_back_mrr_12m",
        "$/month",
        "part of retained_mrr_12m from accounts that stopped paying (MRR 0 at a month's end) "
        "and were won back since 12 months ago (0 before month 13)",
        kind="stock",
    ),
    _money(
        "gross_won_back_mrr_12m",
        "$/month",
        "part of gross_retained_mrr_12m from the same won-back accounts (0 before month 13)",
        kind="stock",
    ),
)

_DERIVED = (
    Column(
        "customers",
        "derived",
        "accounts",
        "int64",
        "paying accounts at the end of the month: n_onboarding + n_active + n_advocate",
        "paying customers",
    ),
    Column("arr", "derived", "$/year", "float64", "annual recurring revenue = 12 × mrr_end", "ARR"),
)

#: The monthly table of ``simulate``: one row per scenario, replication, month and persona.
MONTHLY = Table(
    "monthly",
    "one row per scenario, replication, month and persona",
    _KEYS + _STAGES + _RECORDED + _DERIVED,
)

#: The cohort table of ``simulate`` (``simulator.cohorts``): paying accounts and their MRR by
#: persona and cohort month at month 0 and at the end of every month.
COHORTS = Table(
    "cohorts",
    "one row per scenario, replication, month (from 0), persona and cohort month",
    (
        *RUN_KEYS,
        _key("month", "int64", "month, from 0 (the book at the start)", unit="month"),
        _PERSONA,
        _key(
            "cohort_month",
            "int64",
            "month the accounts first paid (0 or less: the book, by its signup month)",
            unit="month",
        ),
        Column(
            "accounts",
            "stock",
            "accounts",
            "int64",
            "paying accounts of the cohort at the end of the month",
        ),
        _money("mrr", "$/month", "MRR of those accounts at the end of the month", kind="stock"),
    ),
)

#: The acquisition-channel table of ``simulate`` (``simulator.attribution``): what each source of
#: new customers (``initial``, ``organic``, ``referral``, each channel of ``acquisition.channels``)
#: brought and cost, per persona and month.
CHANNELS = Table(
    "channels",
    "one row per scenario, replication, month (from 1), persona and acquisition source",
    (
        *_KEYS,
        _key(
            "channel",
            "str",
            "where the accounts came from: initial (the book and the pipeline in flight at "
            "month 0), organic (Bass word of mouth), referral, or a channel of "
            "acquisition.channels",
        ),
        _accounts("prospects", "accounts that started evaluating this month from this source"),
        _accounts(
            "decisions_started", "prospects of this source that came to a decision this month"
        ),
        _accounts("new_customers", "prospects of this source that bought this month"),
        _money("new_mrr", "$/month", "MRR of those new customers"),
        _money("channel_spend", "$", "the channel's spend on this persona (channels only)"),
        _money("sales_cost", "$", "sales cost of this source's decisions started"),
        _money("referral_cost", "$", "referral rewards paid for its new customers (referral)"),
    ),
)

#: Every table by name.
TABLES: dict[str, Table] = {MONTHLY.name: MONTHLY, COHORTS.name: COHORTS, CHANNELS.name: CHANNELS}

KEY_COLUMNS: tuple[str, ...] = tuple(c.name for c in _KEYS)

#: Stage counts at the end of the month (accounts), in stage order.
STAGE_COLUMNS: tuple[str, ...] = tuple(c.name for c in _STAGES)

#: Stage counts of the paying stages (onboarding, active, advocate).
PAYING_COLUMNS: tuple[str, ...] = tuple(f"n_{STAGE_NAMES[s]}" for s in PAYING_STAGES)

#: Every column the engine writes after the stage counts, in table order: the flows and the
#: money and seat stocks (the historical name; ``MONTHLY.of_kind`` selects by kind).
FLOW_COLUMNS: tuple[str, ...] = tuple(c.name for c in _RECORDED)

#: Columns derived from others after the run.
DERIVED_COLUMNS: tuple[str, ...] = tuple(c.name for c in _DERIVED)

MONTHLY_COLUMNS: tuple[str, ...] = MONTHLY.names

#: Money columns summed into total cost.
COST_COLUMNS: tuple[str, ...] = (
    "acquisition_cost",
    "onboarding_cost",
    "support_cost",
    "success_cost",
    "cogs",
    "referral_cost",
    "winback_cost",
)

#: The MRR bridge: mrr_end = mrr_start + sum(plus) - sum(minus), in every row.
BRIDGE_PLUS: tuple[str, ...] = ("new_mrr", "expansion_mrr", "reactivation_mrr")
BRIDGE_MINUS: tuple[str, ...] = ("contraction_mrr", "churned_mrr")
