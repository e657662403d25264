"""Headline metrics, with finance definitions, computed from the monthly table.

All metrics are computed per replication on the company total (all personas), then summarised
across replications as median and P10/P90.

Definitions:
    ARR = 12 × MRR. Logo churn (monthly) = churned / customers at the start of the month,
    pooled over the horizon. Gross MRR churn = (churned + contraction MRR) / MRR at start.
    NRR and GRR: trailing 12 months at the end of the horizon, over the accounts paying 12 months
    earlier (GRR caps each account at its MRR then, so GRR ≤ 100%). ARPA = MRR / customers.
    Gross margin = (revenue - COGS - support cost) / revenue (customer support is cost of
    revenue, as in SaaS finance). LTV = ARPA × gross margin / logo churn.
    Discounted LTV = the margin a customer brings over the simulated survival, discounted:
    GM × Σ_t ARPA_t · S(t-1) · v^(t-1) over the horizon, S(t) = Π_{m≤t} (1 - logo churn of
    month m), v = (1 + annual discount rate)^(-1/12); beyond the horizon ARPA and churn stay at
    their last-12-month values (a geometric tail). With constant churn c, ARPA a and no
    discounting it equals a × GM / c.
    CAC = acquisition cost / new customers. Payback (months) = CAC / (ARPA × gross margin).
    Quick ratio = (new + expansion MRR) / (churned + contraction MRR).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.results import COST_COLUMNS, FLOW_COLUMNS, STAGE_COLUMNS

#: Annual discount rate of the discounted LTV when the config does not set
#: ``finance.discount_rate``.
DEFAULT_DISCOUNT_RATE = 0.10

SUM_COLUMNS = (*STAGE_COLUMNS, *FLOW_COLUMNS, "customers", "arr")

#: Headline metrics: name -> (label, format) for printing.
HEADLINE: dict[str, tuple[str, str]] = {
    "ending_arr": ("ending ARR", "money"),
    "ending_mrr": ("ending MRR", "money"),
    "ending_customers": ("paying customers", "count"),
    "new_customers": ("new customers (horizon)", "count"),
    "monthly_logo_churn": ("monthly logo churn", "pct"),
    "monthly_gross_mrr_churn": ("monthly gross MRR churn", "pct"),
    "nrr_12m": ("NRR (trailing 12 months)", "pct"),
    "grr_12m": ("GRR (trailing 12 months)", "pct"),
    "arpa": ("ARPA ($/month)", "money"),
    "gross_margin": ("gross margin", "pct"),
    "ltv": ("LTV", "money"),
    "ltv_discounted": ("LTV, discounted, simulated survival", "money"),
    "cac": ("CAC", "money"),
    "ltv_to_cac": ("LTV:CAC", "ratio"),
    "payback_months": ("CAC payback (months)", "ratio"),
    "quick_ratio": ("SaaS quick ratio", "ratio"),
    "revenue": ("revenue billed (horizon)", "money"),
    "total_cost": ("total cost (horizon)", "money"),
    "sla_breach_rate": ("tickets breaching SLA", "pct"),
}


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


def replication_metrics(
    totals: pd.DataFrame, discount_rate: float = DEFAULT_DISCOUNT_RATE
) -> pd.DataFrame:
    """Headline metrics per scenario and replication, from ``company_totals``.

    ``discount_rate`` (annual) discounts the survival-based LTV."""
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
        cac = _div(g["acquisition_cost"].sum(), g["new_customers"].sum())
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
                "sla_breach_rate": _div(breaches, g["tickets"].sum()),
            }
        )
    return pd.DataFrame(rows)


def summarize(
    monthly: pd.DataFrame, discount_rate: float = DEFAULT_DISCOUNT_RATE
) -> dict[str, dict[str, float]]:
    """Median and P10/P90 across replications of every headline metric."""
    per_rep = replication_metrics(company_totals(monthly), discount_rate)
    out: dict[str, dict[str, float]] = {}
    for name in HEADLINE:
        values = per_rep[name].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[name] = {"median": float("nan"), "p10": float("nan"), "p90": float("nan")}
            continue
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        out[name] = {"median": float(p50), "p10": float(p10), "p90": float(p90)}
    return out


def format_value(value: float, kind: str) -> str:
    """Human format for the CLI summary."""
    if not np.isfinite(value):
        return "n/a"
    if kind == "money":
        for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(value) >= scale:
                return f"${value / scale:,.2f}{unit}"
        return f"${value:,.0f}"
    if kind == "pct":
        return f"{100 * value:.1f}%"
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"
