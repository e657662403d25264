"""Headline metrics: a registry of their finance definitions, and their computation from the
monthly table.

Every metric is computed per replication on the company total (all personas summed), then
summarised across replications as median and P10/P90 (``summarize``). ``METRICS`` declares each
one once: its name (the key in ``summary()`` and ``summary.json``), label, unit, display format,
the finance definition and the monthly columns it reads; ``formula_table()`` renders the
definitions as the README's table of formulas. Display formatting is in
``simulator.formatting``.

The discount rate of the discounted LTV has no default here: callers pass the config's
``finance.discount_rate`` (and ``finance.steady_from_month``, the first month of the steady-state
window of LTV, and ``finance.retention_includes_reactivation``; ``finance_settings`` reads all
three from the params). ``MONTHLY_METRICS`` and ``monthly_metrics`` give the month-by-month
figures per persona and for the company, ``metric_bands`` their P10/P50/P90 across
replications. Each metric says how ChartMogul and Baremetrics define it (``compared``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulator.formatting import FORMATS
from simulator.results import COST_COLUMNS, MONTHLY


@dataclass(frozen=True)
class Metric:
    """One headline metric.

    Attributes:
        name: key in ``summary()``, ``summary.json`` and the per-replication table.
        label: human name for printing.
        unit: unit of a value (``$/year``, ``$/month``, ``accounts``, ``fraction``...).
        format: display format kind (``simulator.formatting.FORMATS``).
        definition: the finance definition, as computed (one line, formulas in words).
        columns: monthly-table columns the metric reads.
        compared: how ChartMogul's and Baremetrics' definitions differ (README table; sources
            in ``COMPARISON_SOURCES``).
    """

    name: str
    label: str
    unit: str
    format: str
    definition: str
    columns: tuple[str, ...]
    compared: str = ""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"metric {self.name}: format {self.format!r} not in {FORMATS}")


_CHURN_COLS = ("churned_customers", "customers", "new_customers", "reactivated_customers")
_MARGIN_COLS = ("recognised_revenue", "cogs", "support_cost")
_CAC_COLS = ("acquisition_cost", "referral_cost", "new_customers")
_RETENTION_COLS = ("mrr_12m_ago", "won_back_mrr_12m")
_STEADY = (
    "over the steady-state months (month ≥ finance.steady_from_month: the start-up months of "
    "the warm-started book left out)"
)

#: Where the comparisons of ``Metric.compared`` come from (README).
COMPARISON_SOURCES: dict[str, str] = {
    "CM-movements": "https://help.chartmogul.com/hc/en-us/articles/203299912-Data-Table-and-MRR-Movements-",
    "CM-churn": "https://help.chartmogul.com/hc/en-us/articles/203359341-Metric-MRR-Churn-Rate",
    "CM-net-churn": "https://help.chartmogul.com/hc/en-us/articles/4414075567250-Chart-Net-MRR-Churn-Rate",
    "CM-LTV": "https://help.chartmogul.com/hc/en-us/articles/203359061-Chart-Customer-Lifetime-Value-LTV",
    "BM-LTV": "https://help.baremetrics.com/know-your-metrics/lifetime-value",
    "BM-quick": "https://updates.baremetrics.com/ (New Quick Ratio Metric)",
    "BM-NRR": "https://changelog.baremetrics.com/new-metric-net-revenue-retention-2BOJIA",
}

#: Every headline metric, in the order of the summary.
METRICS: tuple[Metric, ...] = (
    Metric(
        "ending_arr",
        "ending ARR",
        "$/year",
        "money",
        "ARR = 12 × MRR at the end of the horizon",
        ("arr",),
        "same (ChartMogul, Baremetrics: ARR = 12 × MRR)",
    ),
    Metric(
        "ending_mrr",
        "ending MRR",
        "$/month",
        "money",
        "MRR at the end of the horizon (an annual contract counts its price / 12)",
        ("mrr_end",),
        "same normalisation: annual billing / 12 [CM-movements]",
    ),
    Metric(
        "ending_customers",
        "paying customers",
        "accounts",
        "count",
        "paying accounts (onboarding + active + advocate) at the end of the horizon",
        ("customers",),
    ),
    Metric(
        "new_customers",
        "new customers (horizon)",
        "accounts",
        "count",
        "Σ new customers over the horizon",
        ("new_customers",),
    ),
    Metric(
        "new_mrr",
        "new MRR (horizon)",
        "$/month",
        "money",
        "Σ new-business MRR over the horizon (first purchase; a won-back account is "
        "reactivation, not new)",
        ("new_mrr",),
        "same split as ChartMogul's New business / Reactivation movements [CM-movements]",
    ),
    Metric(
        "monthly_logo_churn",
        "monthly logo churn",
        "fraction per month",
        "pct",
        "logo churn = Σ churned customers / Σ customers at the start of each month, pooled over "
        "the horizon (customers at start = customers at end − new − reactivated + churned)",
        _CHURN_COLS,
        "ChartMogul and Baremetrics: churned customers / customers at the start of the period",
    ),
    Metric(
        "monthly_gross_mrr_churn",
        "monthly gross MRR churn",
        "fraction per month",
        "pct",
        "gross MRR churn = Σ (churned MRR + contraction MRR) / Σ MRR at the start of the month",
        ("churned_mrr", "contraction_mrr", "mrr_start"),
        "same as ChartMogul's standard (B2B) gross MRR churn [CM-churn]",
    ),
    Metric(
        "monthly_net_mrr_churn",
        "monthly net MRR churn",
        "fraction per month",
        "pct",
        "net MRR churn = Σ (churned + contraction − expansion MRR) / Σ MRR at the start of the "
        "month (− reactivation MRR too with finance.retention_includes_reactivation)",
        ("churned_mrr", "contraction_mrr", "expansion_mrr", "reactivation_mrr", "mrr_start"),
        "ChartMogul also subtracts reactivation MRR [CM-net-churn]; Baremetrics' NRR uses "
        "churned − expansion [BM-NRR]",
    ),
    Metric(
        "nrr_12m",
        "NRR (trailing 12 months)",
        "fraction",
        "pct",
        "NRR = MRR now of the accounts paying 12 months before the end of the horizon / their "
        "MRR then; accounts not paying then (new or reactivated) are excluded, and so is the MRR "
        "of accounts that left and were won back since, unless "
        "finance.retention_includes_reactivation",
        ("retained_mrr_12m", *_RETENTION_COLS),
        "Baremetrics' NRR is monthly: 1 − (churned − expansion MRR) / MRR 30 days ago [BM-NRR]; "
        "here a 12-month cohort, as investors quote it",
    ),
    Metric(
        "grr_12m",
        "GRR (trailing 12 months)",
        "fraction",
        "pct",
        "GRR = as NRR, each account's MRR now capped at its MRR then (GRR ≤ 100%)",
        ("gross_retained_mrr_12m", "gross_won_back_mrr_12m", "mrr_12m_ago"),
        "no expansion counted, as usual; neither tool publishes a 12-month GRR formula in the "
        "pages cited",
    ),
    Metric(
        "arpa",
        "ARPA ($/month)",
        "$/month per account",
        "money",
        "ARPA = MRR / paying customers, at the end of the horizon (the whole book)",
        ("mrr_end", "customers"),
        "ChartMogul: MRR / subscribers in the interval [CM-LTV]; Baremetrics ARPU: MRR / active "
        "customers",
    ),
    Metric(
        "arpa_new",
        "new-customer ARPA ($/month)",
        "$/month per account",
        "money",
        "new-customer ARPA = Σ new MRR / Σ new customers, over the horizon",
        ("new_mrr", "new_customers"),
    ),
    Metric(
        "recognised_revenue",
        "revenue recognised (horizon)",
        "$",
        "money",
        "Σ recognised revenue over the horizon: each paying account's MRR for each month (an "
        "annual term billed up front is recognised a twelfth a month)",
        ("recognised_revenue",),
    ),
    Metric(
        "revenue",
        "revenue billed (horizon)",
        "$",
        "money",
        "Σ cash billed over the horizon (annual terms billed up front)",
        ("revenue",),
        "Baremetrics' Net Revenue is cash received less refunds",
    ),
    Metric(
        "deferred_revenue",
        "deferred revenue (end)",
        "$",
        "money",
        "deferred revenue at the end of the horizon = billed but not yet recognised: annual "
        "accounts' MRR × the months of their term still to come (= deferred at month 0 + Σ "
        "(billed − recognised))",
        ("deferred_revenue",),
    ),
    Metric(
        "gross_margin",
        "gross margin",
        "fraction",
        "pct",
        "gross margin = (recognised revenue − COGS − support cost) / recognised revenue, over "
        "the horizon (customer support is cost of revenue)",
        _MARGIN_COLS,
        "neither tool computes margin (no cost data); LTVs there are revenue, not margin",
    ),
    Metric(
        "ltv",
        "LTV",
        "$ per account",
        "money",
        "LTV = ARPA × gross margin / monthly logo churn, each " + _STEADY + "; ARPA = Σ MRR / "
        "Σ paying customers over those months",
        ("mrr_end", *_CHURN_COLS, *_MARGIN_COLS),
        "ChartMogul: ARPA / 6-month trailing customer churn [CM-LTV]; Baremetrics: ARPU / user "
        "churn [BM-LTV]; both without gross margin",
    ),
    Metric(
        "ltv_discounted",
        "LTV, discounted, simulated survival",
        "$ per account",
        "money",
        "gross margin × Σ_t ARPA_t · S(t−1) · v^(t−1), S(t) = Π_{m≤t} (1 − logo churn of month "
        "m), v = (1 + finance.discount_rate)^(−1/12), t over the steady-state months; after "
        "them a geometric tail at the last month's ARPA and the mean logo churn of the last 12",
        ("mrr_end", *_CHURN_COLS, *_MARGIN_COLS),
        "neither tool discounts",
    ),
    Metric(
        "cac",
        "CAC",
        "$ per account",
        "money",
        "CAC = (acquisition cost (channel spend and sales) + referral rewards) / new customers, "
        "over the horizon (onboarding is its own line, win-back cost is not acquisition; the "
        "fully loaded CAC, with the acquisition stages' touchpoint programmes, and CAC by "
        "channel: simulator.cac)",
        _CAC_COLS,
        "neither tool has spend data by default",
    ),
    Metric(
        "onboarding_cost_per_new",
        "onboarding cost per new customer",
        "$ per account",
        "money",
        "Σ onboarding cost / Σ new customers, over the horizon (kept out of CAC)",
        ("onboarding_cost", "new_customers"),
    ),
    Metric(
        "ltv_to_cac",
        "LTV:CAC",
        "ratio",
        "ratio",
        "LTV / CAC",
        ("mrr_end", *_CHURN_COLS, *_MARGIN_COLS, "acquisition_cost", "referral_cost"),
        "ChartMogul quotes LTV ≥ 3 × CAC as a rule of thumb [CM-LTV]",
    ),
    Metric(
        "payback_months",
        "CAC payback (months)",
        "months",
        "ratio",
        "payback = CAC / (new-customer ARPA × gross margin)",
        (*_CAC_COLS, "new_mrr", *_MARGIN_COLS),
    ),
    Metric(
        "quick_ratio",
        "SaaS quick ratio",
        "ratio",
        "ratio",
        "quick ratio = Σ (new + expansion MRR) / Σ (churned + contraction MRR), over the horizon",
        ("new_mrr", "expansion_mrr", "churned_mrr", "contraction_mrr"),
        "same as Baremetrics [BM-quick]",
    ),
    Metric(
        "total_cost",
        "total cost (horizon)",
        "$",
        "money",
        "Σ acquisition, onboarding, support, success, COGS, referral and win-back cost over the "
        "horizon",
        COST_COLUMNS,
    ),
    Metric(
        "discounted_gross_profit",
        "gross profit, discounted (horizon)",
        "$",
        "money",
        "Σ_t (revenue_t − COGS_t − support cost_t) · v^(t−1) over the horizon, v = (1 + "
        "finance.discount_rate)^(−1/12): gross profit on cash billed, less cost of revenue, "
        "valued at the start of month 1 (cash: what the optimiser maximises)",
        ("revenue", "cogs", "support_cost"),
    ),
    Metric(
        "sla_breach_rate",
        "tickets breaching SLA",
        "fraction",
        "pct",
        "Σ tickets whose first response missed the SLA / Σ tickets, over the horizon",
        ("sla_breaches", "tickets"),
    ),
    Metric(
        "support_utilisation",
        "support desk utilisation",
        "fraction",
        "pct",
        "Σ agent hours handling tickets / Σ agent hours available for tickets (after "
        "shrinkage), over the horizon",
        ("support_hours", "support_capacity_hours"),
    ),
    Metric(
        "support_backlog",
        "support backlog (tickets)",
        "tickets",
        "count",
        "tickets waiting for the support desk at the end of the horizon",
        ("support_backlog",),
    ),
)

#: Metric by name.
METRIC_BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}

#: Headline metrics: name -> (label, format), a view of ``METRICS`` for printing.
HEADLINE: dict[str, tuple[str, str]] = {m.name: (m.label, m.format) for m in METRICS}

#: Columns summed over personas by ``company_totals``: every non-key column.
SUM_COLUMNS: tuple[str, ...] = MONTHLY.of_kind("stock", "flow", "derived")


@dataclass(frozen=True)
class FinanceSettings:
    """The config's ``finance`` settings that the metrics read.

    Attributes:
        discount_rate: annual discount rate of the discounted LTV and gross profit.
        steady_from_month: first month of the steady-state window of LTV (earlier months are
            the start-up of the warm-started book); a horizon ending before it uses its last
            month only.
        retention_includes_reactivation: NRR, GRR and net MRR churn count won-back accounts.
    """

    discount_rate: float
    steady_from_month: int = 1
    retention_includes_reactivation: bool = False


def finance_settings(finance: Any) -> FinanceSettings:
    """``FinanceSettings`` of the params' ``finance`` section (or a mapping of its keys, or a
    bare discount rate: then every month is steady state and reactivation is excluded)."""
    if isinstance(finance, FinanceSettings):
        return finance
    if isinstance(finance, int | float):
        return FinanceSettings(float(finance))
    get = finance.get if isinstance(finance, Mapping) else lambda k, d=None: getattr(finance, k, d)
    return FinanceSettings(
        float(get("discount_rate")),
        int(get("steady_from_month", 1) or 1),
        bool(get("retention_includes_reactivation", False)),
    )


def formula_table() -> str:
    """The metrics' definitions as a markdown table (the README's table of formulas), with
    how ChartMogul and Baremetrics define them (sources: ``COMPARISON_SOURCES``)."""
    lines = [
        "| metric | key | unit | definition | ChartMogul / Baremetrics |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {m.label} | `{m.name}` | {m.unit} | {m.definition} | {m.compared or '—'} |"
        for m in METRICS
    ]
    return "\n".join(lines)


def company_totals(monthly: pd.DataFrame) -> pd.DataFrame:
    """Sum the personas: one row per scenario, replication and month."""
    cols = [c for c in SUM_COLUMNS if c in monthly.columns]
    return monthly.groupby(["scenario", "replication", "month"], as_index=False)[cols].sum()


def customers_at_start(table: pd.DataFrame) -> pd.Series:
    """Paying accounts at the start of each month: end − new − reactivated + churned."""
    return (
        table["customers"]
        - table["new_customers"]
        - table["reactivated_customers"]
        + table["churned_customers"]
    )


def _div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def _monthly_ratio(num: pd.Series, den: pd.Series) -> np.ndarray:
    """num / den month by month, 0 where den is 0."""
    n, d = num.to_numpy(dtype=float), den.to_numpy(dtype=float)
    return np.divide(n, d, out=np.zeros(len(d)), where=d > 0)


def _nan_ratio(num: pd.Series | np.ndarray, den: pd.Series | np.ndarray) -> np.ndarray:
    """num / den element by element, NaN where den is 0."""
    n, d = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    return np.divide(n, d, out=np.full(d.shape, np.nan), where=d != 0)


def retained(table: pd.DataFrame, include_reactivation: bool) -> tuple[pd.Series, pd.Series]:
    """(net, gross) MRR now of the accounts paying 12 months ago, each row; without
    ``include_reactivation`` the MRR of those that left and were won back since is taken out."""
    net, gross = table["retained_mrr_12m"], table["gross_retained_mrr_12m"]
    if include_reactivation or "won_back_mrr_12m" not in table:
        return net, gross
    return net - table["won_back_mrr_12m"], gross - table["gross_won_back_mrr_12m"]


def discounted_ltv(
    churn_rate: np.ndarray, arpa: np.ndarray, gross_margin: float, discount_rate: float
) -> float:
    """Discounted margin per customer over the survival implied by monthly logo churn.

    Args:
        churn_rate: logo churn of each simulated month (fraction of customers at its start).
        arpa: ARPA of each month ($/month).
        gross_margin: fraction of revenue kept.
        discount_rate: annual discount rate (0 = no discounting).
    """
    churn_rate = np.clip(np.asarray(churn_rate, dtype=np.float64), 0.0, 1.0)
    arpa = np.asarray(arpa, dtype=np.float64)
    if churn_rate.size == 0 or not np.isfinite(gross_margin):
        return float("nan")
    v = (1.0 + discount_rate) ** (-1.0 / 12.0)
    months = churn_rate.size
    alive = np.concatenate([[1.0], np.cumprod(1.0 - churn_rate)])  # S(0..H)
    weights = alive[:-1] * v ** np.arange(months)
    within = float(np.sum(arpa * weights))
    tail_churn = float(np.mean(churn_rate[-12:]))
    keep = (1.0 - tail_churn) * v
    if keep >= 1.0:
        return float("nan")  # no churn and no discounting: unbounded
    tail = arpa[-1] * alive[-1] * v**months / (1.0 - keep)
    return gross_margin * (within + tail)


def discounted_gross_profit(totals: pd.DataFrame, discount_rate: float) -> float:
    """Gross profit (cash billed) of one replication's months, discounted to the start of
    month 1 ($).

    Args:
        totals: one replication's company totals, ordered by month (month 1 first).
        discount_rate: annual discount rate (``finance.discount_rate``; 0 = undiscounted).
    """
    profit = (totals["revenue"] - totals["cogs"] - totals["support_cost"]).to_numpy(dtype=float)
    v = (1.0 + discount_rate) ** (-1.0 / 12.0)
    return float(np.sum(profit * v ** np.arange(profit.size)))


def steady_months(g: pd.DataFrame, steady_from_month: int) -> pd.DataFrame:
    """The rows of one replication (ordered by month) in the steady-state window: months ≥
    ``steady_from_month``, or the last month when the horizon ends before it."""
    start = min(int(steady_from_month), int(g["month"].max()))
    return g[g["month"] >= start]


def _one_replication(g: pd.DataFrame, fin: FinanceSettings) -> dict[str, float]:
    """Every headline metric of one replication's months (company totals or one persona)."""
    last = g.iloc[-1]
    customers_start = customers_at_start(g)
    churned = g["churned_customers"].sum()
    logo_churn = _div(churned, customers_start.sum())
    mrr_start = g["mrr_start"].sum()
    lost = (g["churned_mrr"] + g["contraction_mrr"]).sum()
    regained = g["expansion_mrr"].sum()
    if fin.retention_includes_reactivation:
        regained += g["reactivation_mrr"].sum()
    recognised = g["recognised_revenue"].sum()
    margin_cost = g["cogs"].sum() + g["support_cost"].sum()
    gross_margin = _div(recognised - margin_cost, recognised)
    new = g["new_customers"].sum()
    arpa_new = _div(g["new_mrr"].sum(), new)
    cac = _div(g["acquisition_cost"].sum() + g["referral_cost"].sum(), new)
    # LTV over the steady-state months only.
    st = steady_months(g, fin.steady_from_month)
    st_start = customers_at_start(st)
    st_churn = _div(st["churned_customers"].sum(), st_start.sum())
    st_rec = st["recognised_revenue"].sum()
    st_margin = _div(st_rec - st["cogs"].sum() - st["support_cost"].sum(), st_rec)
    st_arpa = _div(st["mrr_end"].sum(), st["customers"].sum())
    ltv = st_arpa * st_margin / st_churn if st_churn and st_churn > 0 else float("nan")
    net_kept, gross_kept = retained(g.iloc[[-1]], fin.retention_includes_reactivation)
    return {
        "ending_arr": float(last["arr"]),
        "ending_mrr": float(last["mrr_end"]),
        "ending_customers": float(last["customers"]),
        "new_customers": float(new),
        "new_mrr": float(g["new_mrr"].sum()),
        "monthly_logo_churn": logo_churn,
        "monthly_gross_mrr_churn": _div(lost, mrr_start),
        "monthly_net_mrr_churn": _div(lost - regained, mrr_start),
        "nrr_12m": _div(float(net_kept.iloc[0]), last["mrr_12m_ago"]),
        "grr_12m": _div(float(gross_kept.iloc[0]), last["mrr_12m_ago"]),
        "arpa": _div(last["mrr_end"], last["customers"]),
        "arpa_new": arpa_new,
        "recognised_revenue": float(recognised),
        "revenue": float(g["revenue"].sum()),
        "deferred_revenue": float(last["deferred_revenue"]),
        "gross_margin": gross_margin,
        "ltv": ltv,
        "ltv_discounted": discounted_ltv(
            _monthly_ratio(st["churned_customers"], st_start),
            _monthly_ratio(st["mrr_end"], st["customers"]),
            st_margin,
            fin.discount_rate,
        ),
        "cac": cac,
        "onboarding_cost_per_new": _div(g["onboarding_cost"].sum(), new),
        "ltv_to_cac": _div(ltv, cac) if np.isfinite(ltv) else float("nan"),
        "payback_months": _div(cac, arpa_new * gross_margin),
        "quick_ratio": _div((g["new_mrr"] + g["expansion_mrr"]).sum(), lost),
        "total_cost": float(g[list(COST_COLUMNS)].sum().sum()),
        "discounted_gross_profit": discounted_gross_profit(g, fin.discount_rate),
        "sla_breach_rate": _div(g["sla_breaches"].sum(), g["tickets"].sum()),
        "support_utilisation": _div(g["support_hours"].sum(), g["support_capacity_hours"].sum()),
        "support_backlog": float(last["support_backlog"]),
    }


def replication_metrics(totals: pd.DataFrame, finance: Any) -> pd.DataFrame:
    """Headline metrics per scenario and replication, from ``company_totals`` (or one
    persona's rows): one row per replication, one column per metric of ``METRICS`` (after
    ``scenario`` and ``replication``).

    Args:
        totals: company totals (``company_totals`` of the monthly table), or one persona's rows.
        finance: the config's ``finance`` section (``finance_settings``), or the annual
            discount rate alone (``finance.discount_rate``).
    """
    fin = finance_settings(finance)
    rows = []
    for (scenario, rep), g in totals.groupby(["scenario", "replication"], sort=True):
        g = g.sort_values("month")
        rows.append({"scenario": scenario, "replication": rep, **_one_replication(g, fin)})
    return pd.DataFrame(rows, columns=["scenario", "replication", *METRIC_BY_NAME])


def _bands(values: np.ndarray) -> dict[str, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"median": float("nan"), "p10": float("nan"), "p90": float("nan")}
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return {"median": float(p50), "p10": float(p10), "p90": float(p90)}


def summarize(monthly: pd.DataFrame, discount_rate: Any) -> dict[str, dict[str, float]]:
    """Median and P10/P90 across replications of every metric of ``METRICS`` (company).

    Args:
        monthly: the monthly table (``SimulationResult.monthly``).
        discount_rate: the config's ``finance`` section (``finance_settings``), or the annual
            discount rate of the discounted LTV alone (``finance.discount_rate``).
    """
    per_rep = replication_metrics(company_totals(monthly), discount_rate)
    return {name: _bands(per_rep[name].to_numpy(dtype=float)) for name in METRIC_BY_NAME}


#: Name of the company rows (all personas summed) in per-persona tables.
TOTAL = "total"


def persona_metrics(monthly: pd.DataFrame, finance: Any) -> pd.DataFrame:
    """Headline metrics per persona and for the company (persona ``total``), per scenario and
    replication: ``replication_metrics`` with a ``persona`` column."""
    parts = [replication_metrics(company_totals(monthly), finance).assign(persona=TOTAL)]
    for persona, rows in monthly.groupby("persona", sort=False):
        parts.append(replication_metrics(rows, finance).assign(persona=persona))
    out = pd.concat(parts, ignore_index=True)
    return out[["scenario", "persona", "replication", *METRIC_BY_NAME]]


def persona_summary(monthly: pd.DataFrame, finance: Any) -> pd.DataFrame:
    """P10, median and P90 across replications of every headline metric, per scenario and
    persona (``total`` first): columns scenario, persona, metric, p10, median, p90."""
    per = persona_metrics(monthly, finance)
    rows = []
    for (scenario, persona), g in per.groupby(["scenario", "persona"], sort=False):
        for name in METRIC_BY_NAME:
            b = _bands(g[name].to_numpy(dtype=float))
            rows.append({"scenario": scenario, "persona": persona, "metric": name, **b})
    return pd.DataFrame(rows, columns=["scenario", "persona", "metric", "p10", "median", "p90"])


# ------------------------------------------------------------------ month-by-month metrics
@dataclass(frozen=True)
class MonthlyMetric:
    """One metric computed each month (``monthly_metrics``)."""

    name: str
    label: str
    unit: str
    format: str
    definition: str


#: Metrics of each month, per persona and for the company.
MONTHLY_METRICS: tuple[MonthlyMetric, ...] = (
    MonthlyMetric("mrr", "MRR", "$/month", "money", "MRR at the end of the month"),
    MonthlyMetric("arr", "ARR", "$/year", "money", "12 × MRR at the end of the month"),
    MonthlyMetric("customers", "paying customers", "accounts", "count", "at the end of the month"),
    MonthlyMetric("new_mrr", "new MRR", "$/month", "money", "MRR of new customers"),
    MonthlyMetric("expansion_mrr", "expansion MRR", "$/month", "money", "upgrades, seats, rises"),
    MonthlyMetric("reactivation_mrr", "reactivation MRR", "$/month", "money", "won back"),
    MonthlyMetric("contraction_mrr", "contraction MRR", "$/month", "money", "downgrades, cuts"),
    MonthlyMetric("churned_mrr", "churned MRR", "$/month", "money", "MRR of churned accounts"),
    MonthlyMetric(
        "net_new_mrr",
        "net new MRR",
        "$/month",
        "money",
        "new + expansion + reactivation − contraction − churned MRR (= MRR end − MRR start)",
    ),
    MonthlyMetric(
        "logo_churn", "logo churn", "fraction", "pct", "churned / customers at the month's start"
    ),
    MonthlyMetric(
        "logo_churn_12m",
        "logo churn, trailing 12 months",
        "fraction per month",
        "pct",
        "Σ churned / Σ customers at the start, pooled over the last 12 months (fewer at first)",
    ),
    MonthlyMetric(
        "gross_mrr_churn",
        "gross MRR churn",
        "fraction",
        "pct",
        "(churned + contraction MRR) / MRR at the month's start",
    ),
    MonthlyMetric(
        "net_mrr_churn",
        "net MRR churn",
        "fraction",
        "pct",
        "(churned + contraction − expansion MRR [− reactivation MRR with "
        "finance.retention_includes_reactivation]) / MRR at the month's start",
    ),
    MonthlyMetric(
        "gross_mrr_churn_12m",
        "gross MRR churn, trailing 12 months",
        "fraction per month",
        "pct",
        "Σ (churned + contraction MRR) / Σ MRR at the start, pooled over the last 12 months",
    ),
    MonthlyMetric(
        "nrr_12m",
        "NRR (trailing 12 months)",
        "fraction",
        "pct",
        "MRR now of the accounts paying 12 months ago / their MRR then (won-back accounts out "
        "unless finance.retention_includes_reactivation); from month 13",
    ),
    MonthlyMetric(
        "grr_12m",
        "GRR (trailing 12 months)",
        "fraction",
        "pct",
        "as NRR, each account capped at its MRR then (≤ 100%); from month 13",
    ),
    MonthlyMetric("arpa", "ARPA", "$/month", "money", "MRR / paying customers (the book)"),
    MonthlyMetric("arpa_new", "new-customer ARPA", "$/month", "money", "new MRR / new customers"),
    MonthlyMetric("revenue", "cash billed", "$", "money", "cash billed in the month"),
    MonthlyMetric(
        "recognised_revenue", "recognised revenue", "$", "money", "revenue recognised in the month"
    ),
    MonthlyMetric(
        "deferred_revenue", "deferred revenue", "$", "money", "billed, not yet recognised (end)"
    ),
    MonthlyMetric(
        "gross_margin",
        "gross margin",
        "fraction",
        "pct",
        "(recognised revenue − COGS − support cost) / recognised revenue",
    ),
    MonthlyMetric(
        "cac",
        "CAC",
        "$ per account",
        "money",
        "(acquisition cost + referral rewards) / new customers",
    ),
    MonthlyMetric(
        "onboarding_cost_per_new",
        "onboarding cost per new customer",
        "$ per account",
        "money",
        "onboarding cost / new customers",
    ),
    MonthlyMetric(
        "payback_months",
        "CAC payback",
        "months",
        "ratio",
        "CAC / (new-customer ARPA × gross margin)",
    ),
    MonthlyMetric(
        "quick_ratio",
        "quick ratio",
        "ratio",
        "ratio",
        "(new + expansion MRR) / (churned + contraction MRR)",
    ),
)

MONTHLY_METRIC_BY_NAME: dict[str, MonthlyMetric] = {m.name: m for m in MONTHLY_METRICS}


def _trailing(g: pd.DataFrame, column: pd.Series, window: int = 12) -> pd.Series:
    """Sum of ``column`` over the last ``window`` months, within each replication."""
    keys = [g["scenario"], g["replication"], g["persona"]]
    return column.groupby(keys).transform(lambda x: x.rolling(window, min_periods=1).sum())


def _month_rows(t: pd.DataFrame, include_reactivation: bool) -> pd.DataFrame:
    """Every ``MONTHLY_METRICS`` value of each row of ``t`` (rows: scenario, replication,
    persona, month, ordered by month within each replication and persona)."""
    start = customers_at_start(t)
    lost = t["churned_mrr"] + t["contraction_mrr"]
    regained = t["expansion_mrr"] + (t["reactivation_mrr"] if include_reactivation else 0.0)
    net, gross = retained(t, include_reactivation)
    year = t["mrr_12m_ago"].where(t["month"] >= 13, 0.0)
    margin = _nan_ratio(
        t["recognised_revenue"] - t["cogs"] - t["support_cost"], t["recognised_revenue"]
    )
    arpa_new = _nan_ratio(t["new_mrr"], t["new_customers"])
    cac = _nan_ratio(t["acquisition_cost"] + t["referral_cost"], t["new_customers"])
    out = t[["scenario", "replication", "persona", "month"]].copy()
    values = {
        "mrr": t["mrr_end"].to_numpy(float),
        "arr": t["arr"].to_numpy(float),
        "customers": t["customers"].to_numpy(float),
        "new_mrr": t["new_mrr"].to_numpy(float),
        "expansion_mrr": t["expansion_mrr"].to_numpy(float),
        "reactivation_mrr": t["reactivation_mrr"].to_numpy(float),
        "contraction_mrr": t["contraction_mrr"].to_numpy(float),
        "churned_mrr": t["churned_mrr"].to_numpy(float),
        "net_new_mrr": (t["new_mrr"] + t["expansion_mrr"] + t["reactivation_mrr"] - lost).to_numpy(
            float
        ),
        "logo_churn": _nan_ratio(t["churned_customers"], start),
        "logo_churn_12m": _nan_ratio(_trailing(t, t["churned_customers"]), _trailing(t, start)),
        "gross_mrr_churn": _nan_ratio(lost, t["mrr_start"]),
        "net_mrr_churn": _nan_ratio(lost - regained, t["mrr_start"]),
        "gross_mrr_churn_12m": _nan_ratio(_trailing(t, lost), _trailing(t, t["mrr_start"])),
        "nrr_12m": _nan_ratio(net, year),
        "grr_12m": _nan_ratio(gross, year),
        "arpa": _nan_ratio(t["mrr_end"], t["customers"]),
        "arpa_new": arpa_new,
        "revenue": t["revenue"].to_numpy(float),
        "recognised_revenue": t["recognised_revenue"].to_numpy(float),
        "deferred_revenue": t["deferred_revenue"].to_numpy(float),
        "gross_margin": margin,
        "cac": cac,
        "onboarding_cost_per_new": _nan_ratio(t["onboarding_cost"], t["new_customers"]),
        "payback_months": _nan_ratio(cac, arpa_new * margin),
        "quick_ratio": _nan_ratio(t["new_mrr"] + t["expansion_mrr"], lost),
    }
    for name in MONTHLY_METRIC_BY_NAME:
        out[name] = values[name]
    return out


def monthly_metrics(monthly: pd.DataFrame, include_reactivation: bool = False) -> pd.DataFrame:
    """Every metric of ``MONTHLY_METRICS`` per scenario, replication, persona and month, the
    company (persona ``total``, all personas summed) first: one column per metric.

    Args:
        monthly: the monthly table.
        include_reactivation: count won-back accounts in NRR, GRR and net MRR churn
            (``finance.retention_includes_reactivation``).
    """
    totals = company_totals(monthly).assign(persona=TOTAL)
    cols = [c for c in monthly.columns if c in totals.columns]
    table = pd.concat([totals[cols], monthly[cols]], ignore_index=True)
    table = table.sort_values(["scenario", "persona", "replication", "month"], kind="stable")
    order = {TOTAL: -1, **{p: i for i, p in enumerate(dict.fromkeys(monthly["persona"]))}}
    out = _month_rows(table.reset_index(drop=True), include_reactivation)
    out = out.sort_values(
        ["scenario", "persona", "replication", "month"],
        key=lambda s: s.map(order) if s.name == "persona" else s,
        kind="stable",
    )
    return out.reset_index(drop=True)


def metric_bands(table: pd.DataFrame, quantiles: Sequence[float] = (0.1, 0.5, 0.9)) -> pd.DataFrame:
    """Quantiles across replications (numpy's linear percentiles, NaN months left out) of
    every metric column of ``monthly_metrics``: one row per scenario, persona, month and
    metric, columns ``p10``, ``p50``, ``p90`` (for the default quantiles)."""
    metrics = [c for c in table.columns if c in MONTHLY_METRIC_BY_NAME]
    long = table.melt(
        id_vars=["scenario", "persona", "month", "replication"],
        value_vars=metrics,
        var_name="metric",
    )
    names = {q: f"p{round(100 * q)}" for q in quantiles}
    grouped = long.groupby(["scenario", "persona", "metric", "month"], sort=False)["value"]
    out = grouped.quantile(list(quantiles)).unstack()
    out.columns = [names[q] for q in out.columns]
    return out.reset_index()
