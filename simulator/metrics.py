"""Headline metrics: a registry of their finance definitions, and their computation from the
monthly table.

Every metric is computed per replication on the company total (all personas summed), then
summarised across replications as median and P10/P90 (``summarize``). ``METRICS`` declares each
one once: its name (the key in ``summary()`` and ``summary.json``), label, unit, display format,
the finance definition and the monthly columns it reads; ``formula_table()`` renders the
definitions as the README's table of formulas. Display formatting is in
``simulator.formatting``.

The discount rate of the discounted LTV has no default here: callers pass the config's
``finance.discount_rate``.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """

    name: str
    label: str
    unit: str
    format: str
    definition: str
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"metric {self.name}: format {self.format!r} not in {FORMATS}")


_CHURN_COLS = ("churned_customers", "customers", "new_customers", "reactivated_customers")
_MARGIN_COLS = ("revenue", "cogs", "support_cost")
_CAC_COLS = ("acquisition_cost", "referral_cost", "new_customers")

#: Every headline metric, in the order of the summary.
METRICS: tuple[Metric, ...] = (
    Metric(
        "ending_arr",
        "ending ARR",
        "$/year",
        "money",
        "ARR = 12 × MRR at the end of the horizon",
        ("arr",),
    ),
    Metric(
        "ending_mrr",
        "ending MRR",
        "$/month",
        "money",
        "MRR at the end of the horizon",
        ("mrr_end",),
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
        "monthly_logo_churn",
        "monthly logo churn",
        "fraction per month",
        "pct",
        "logo churn = Σ churned customers / Σ customers at the start of each month, pooled over "
        "the horizon (customers at start = customers at end − new − reactivated + churned)",
        _CHURN_COLS,
    ),
    Metric(
        "monthly_gross_mrr_churn",
        "monthly gross MRR churn",
        "fraction per month",
        "pct",
        "gross MRR churn = Σ (churned MRR + contraction MRR) / Σ MRR at the start of the month",
        ("churned_mrr", "contraction_mrr", "mrr_start"),
    ),
    Metric(
        "nrr_12m",
        "NRR (trailing 12 months)",
        "fraction",
        "pct",
        "NRR = MRR now of the accounts paying 12 months before the end of the horizon / their "
        "MRR then (accounts not paying then, new or reactivated, are excluded)",
        ("retained_mrr_12m", "mrr_12m_ago"),
    ),
    Metric(
        "grr_12m",
        "GRR (trailing 12 months)",
        "fraction",
        "pct",
        "GRR = as NRR, each account's MRR now capped at its MRR then (GRR ≤ 100%)",
        ("gross_retained_mrr_12m", "mrr_12m_ago"),
    ),
    Metric(
        "arpa",
        "ARPA ($/month)",
        "$/month per account",
        "money",
        "ARPA = MRR / paying customers, at the end of the horizon (the whole book)",
        ("mrr_end", "customers"),
    ),
    Metric(
        "gross_margin",
        "gross margin",
        "fraction",
        "pct",
        "gross margin = (revenue − COGS − support cost) / revenue, over the horizon (revenue = "
        "cash billed; customer support is cost of revenue)",
        _MARGIN_COLS,
    ),
    Metric(
        "ltv",
        "LTV",
        "$ per account",
        "money",
        "LTV = ARPA × gross margin / monthly logo churn",
        ("mrr_end", *_CHURN_COLS, *_MARGIN_COLS),
    ),
    Metric(
        "ltv_discounted",
        "LTV, discounted, simulated survival",
        "$ per account",
        "money",
        "gross margin × Σ_t ARPA_t · S(t−1) · v^(t−1), S(t) = Π_{m≤t} (1 − logo churn of month "
        "m), v = (1 + finance.discount_rate)^(−1/12); after the horizon a geometric tail at the "
        "last month's ARPA and the mean logo churn of the last 12 months",
        ("mrr_end", *_CHURN_COLS, *_MARGIN_COLS),
    ),
    Metric(
        "cac",
        "CAC",
        "$ per account",
        "money",
        "CAC = (acquisition cost (channel spend and sales) + referral rewards) / new customers, "
        "over the horizon (fully loaded; win-back cost is not acquisition)",
        _CAC_COLS,
    ),
    Metric(
        "ltv_to_cac",
        "LTV:CAC",
        "ratio",
        "ratio",
        "LTV / CAC",
        ("mrr_end", *_CHURN_COLS, *_MARGIN_COLS, "acquisition_cost", "referral_cost"),
    ),
    Metric(
        "payback_months",
        "CAC payback (months)",
        "months",
        "ratio",
        "payback = CAC / (ARPA × gross margin)",
        (*_CAC_COLS, "mrr_end", "customers", *_MARGIN_COLS),
    ),
    Metric(
        "quick_ratio",
        "SaaS quick ratio",
        "ratio",
        "ratio",
        "quick ratio = Σ (new + expansion MRR) / Σ (churned + contraction MRR), over the horizon",
        ("new_mrr", "expansion_mrr", "churned_mrr", "contraction_mrr"),
    ),
    Metric(
        "revenue",
        "revenue billed (horizon)",
        "$",
        "money",
        "Σ cash billed over the horizon",
        ("revenue",),
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
        "finance.discount_rate)^(−1/12): gross profit (cash billed less cost of revenue) valued "
        "at the start of month 1",
        _MARGIN_COLS,
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


def formula_table() -> str:
    """The metrics' definitions as a markdown table (the README's table of formulas)."""
    lines = ["| metric | key | unit | definition |", "|---|---|---|---|"]
    lines += [f"| {m.label} | `{m.name}` | {m.unit} | {m.definition} |" for m in METRICS]
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
    """Gross profit of one replication's months, discounted to the start of month 1 ($).

    Args:
        totals: one replication's company totals, ordered by month (month 1 first).
        discount_rate: annual discount rate (``finance.discount_rate``; 0 = undiscounted).
    """
    profit = (totals["revenue"] - totals["cogs"] - totals["support_cost"]).to_numpy(dtype=float)
    v = (1.0 + discount_rate) ** (-1.0 / 12.0)
    return float(np.sum(profit * v ** np.arange(profit.size)))


def replication_metrics(totals: pd.DataFrame, discount_rate: float) -> pd.DataFrame:
    """Headline metrics per scenario and replication, from ``company_totals``: one row per
    replication, one column per metric of ``METRICS`` (after ``scenario`` and ``replication``).

    Args:
        totals: company totals (``company_totals`` of the monthly table).
        discount_rate: annual discount rate of the discounted LTV (``finance.discount_rate``).
    """
    rows = []
    for (scenario, rep), g in totals.groupby(["scenario", "replication"], sort=True):
        g = g.sort_values("month")
        last = g.iloc[-1]
        customers_start = customers_at_start(g)
        logo_churn = _div(g["churned_customers"].sum(), customers_start.sum())
        mrr_churn = _div((g["churned_mrr"] + g["contraction_mrr"]).sum(), g["mrr_start"].sum())
        revenue = g["revenue"].sum()
        gross_margin = _div(revenue - g["cogs"].sum() - g["support_cost"].sum(), revenue)
        arpa = _div(last["mrr_end"], last["customers"])
        cac = _div(g["acquisition_cost"].sum() + g["referral_cost"].sum(), g["new_customers"].sum())
        ltv = arpa * gross_margin / logo_churn if logo_churn and logo_churn > 0 else float("nan")
        margin_per_month = arpa * gross_margin
        breaches = g["sla_breaches"].sum()
        rows.append(
            {
                "scenario": scenario,
                "replication": rep,
                "ending_arr": float(last["arr"]),
                "ending_mrr": float(last["mrr_end"]),
                "ending_customers": float(last["customers"]),
                "new_customers": float(g["new_customers"].sum()),
                "monthly_logo_churn": logo_churn,
                "monthly_gross_mrr_churn": mrr_churn,
                "nrr_12m": _div(last["retained_mrr_12m"], last["mrr_12m_ago"]),
                "grr_12m": _div(last["gross_retained_mrr_12m"], last["mrr_12m_ago"]),
                "arpa": arpa,
                "gross_margin": gross_margin,
                "ltv": ltv,
                "ltv_discounted": discounted_ltv(
                    _monthly_ratio(g["churned_customers"], customers_start),
                    _monthly_ratio(g["mrr_end"], g["customers"]),
                    gross_margin,
                    discount_rate,
                ),
                "cac": cac,
                "ltv_to_cac": _div(ltv, cac) if np.isfinite(ltv) else float("nan"),
                "payback_months": _div(cac, margin_per_month),
                "quick_ratio": _div(
                    (g["new_mrr"] + g["expansion_mrr"]).sum(),
                    (g["churned_mrr"] + g["contraction_mrr"]).sum(),
                ),
                "revenue": float(revenue),
                "total_cost": float(g[list(COST_COLUMNS)].sum().sum()),
                "discounted_gross_profit": discounted_gross_profit(g, discount_rate),
                "sla_breach_rate": _div(breaches, g["tickets"].sum()),
                "support_utilisation": _div(
                    g["support_hours"].sum(), g["support_capacity_hours"].sum()
                ),
                "support_backlog": float(last["support_backlog"]),
            }
        )
    return pd.DataFrame(rows)


def summarize(monthly: pd.DataFrame, discount_rate: float) -> dict[str, dict[str, float]]:
    """Median and P10/P90 across replications of every metric of ``METRICS``.

    Args:
        monthly: the monthly table (``SimulationResult.monthly``).
        discount_rate: annual discount rate of the discounted LTV (``finance.discount_rate``).
    """
    per_rep = replication_metrics(company_totals(monthly), discount_rate)
    out: dict[str, dict[str, float]] = {}
    for name in METRIC_BY_NAME:
        values = per_rep[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[name] = {"median": float("nan"), "p10": float("nan"), "p90": float("nan")}
            continue
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        out[name] = {"median": float(p50), "p10": float(p10), "p90": float(p90)}
    return out
