"""The default scenario beside the published ranges it is calibrated to.

Run ``python -m simulator.published_ranges [replications] [overrides...]`` to print the table
(the README's "Default scenario against published ranges" comes from it). Each figure is the
median over replications of the default scenario (36 months); rates are over months 13-36, so
the first year's ramp of a growing book does not weigh on them. The sources are cited where
each default is set (configs/personas/default.yaml, configs/pricing/default.yaml,
configs/support/default.yaml) and in ``RANGES`` below.

Definitions (finance usage, per persona unless "company"):

- monthly logo churn: churned accounts / accounts at the start of the month, pooled.
- involuntary share: involuntary churners / all churners.
- NRR / GRR (company): MRR now of the accounts paying 12 months ago (GRR: each capped at its
  MRR then) / their MRR then, at month 36.
- CAC payback on new customers: (acquisition cost + referral rewards) / new customers, over
  (new MRR / new customers) × gross margin (revenue − COGS − support cost) / revenue.
- annual share: paying accounts on an annual contract at month 36.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.config import load_config
from simulator.experiments.montecarlo import records_to_frame
from simulator.metrics import _div, customers_at_start
from simulator.model import JourneyModel
from simulator.stages import is_paying

#: Months whose flows the rates pool (the first year is the book's ramp).
FROM_MONTH = 13


@dataclass(frozen=True)
class Range:
    """A published range for one figure of one segment."""

    figure: str
    segment: str  # a persona name, or "company"
    low: float
    high: float
    unit: str  # "%" or "months"
    source: str


SMALL = ("solo", "smb")  # small buyers: the SMB segment of the published benchmarks
RANGES: tuple[Range, ...] = (
    *(
        Range("monthly logo churn", p, 3.0, 7.0, "%", "Recurly; Vitally, ChartMogul (SMB 3-7%)")
        for p in SMALL
    ),
    Range("monthly logo churn", "midmarket", 1.0, 3.0, "%", "as above (mid-market 1-3%)"),
    Range("monthly logo churn", "enterprise", 0.0, 1.0, "%", "as above (enterprise < 1%)"),
    *(
        Range("involuntary share of churn", p, 20.0, 40.0, "%", "Recurly, Chargebee (20-40%)")
        for p in SMALL
    ),
    Range("NRR", "company", 95.0, 110.0, "%", "KeyBanc/Sapphire, ChartMogul (~95-110%)"),
    Range("GRR", "company", 85.0, 95.0, "%", "KeyBanc/Sapphire, ChartMogul (~85-95%)"),
    *(
        Range("CAC payback", p, 8.0, 12.0, "months", "Optifai 2025, N=356 (SMB 8-12)")
        for p in SMALL
    ),
    Range("CAC payback", "midmarket", 14.0, 18.0, "months", "as above (mid-market 14-18)"),
    Range("CAC payback", "enterprise", 18.0, 24.0, "months", "as above (enterprise 18-24)"),
    *(Range("annual share", p, 0.0, 35.0, "%", "low for small buyers") for p in SMALL),
    Range("annual share", "enterprise", 85.0, 100.0, "%", "near-universal for enterprise"),
)


def _segment_figures(monthly: pd.DataFrame, months: int) -> dict[str, float]:
    """Figures of one segment (or the company) in one replication."""
    late = monthly[monthly["month"] >= FROM_MONTH]
    start = customers_at_start(late)
    last = monthly[monthly["month"] == months]
    new = late["new_customers"].sum()
    revenue = late["revenue"].sum()
    margin = _div(revenue - late["cogs"].sum() - late["support_cost"].sum(), revenue)
    cac = _div(late["acquisition_cost"].sum() + late["referral_cost"].sum(), new)
    new_arpa = _div(late["new_mrr"].sum(), new)
    return {
        "monthly logo churn": 100 * _div(late["churned_customers"].sum(), start.sum()),
        "involuntary share of churn": 100
        * _div(late["churned_involuntary"].sum(), late["churned_customers"].sum()),
        "NRR": 100 * _div(last["retained_mrr_12m"].sum(), last["mrr_12m_ago"].sum()),
        "GRR": 100 * _div(last["gross_retained_mrr_12m"].sum(), last["mrr_12m_ago"].sum()),
        "CAC payback": _div(cac, new_arpa * margin),
    }


def default_figures(replications: int = 6, overrides: list[str] | None = None) -> pd.DataFrame:
    """The figures of ``RANGES`` for the default scenario (plus ``overrides``): one row per
    range with the median over ``replications`` and whether it lies inside the range."""
    params = load_config(list(overrides or []))
    per_rep: list[dict[tuple[str, str], float]] = []
    for rep in range(replications):
        model = JourneyModel(params, replication=rep)
        for _ in range(params.months):
            model.step()
        monthly = records_to_frame(model.records)
        figures: dict[tuple[str, str], float] = {}
        for name, rows in monthly.groupby("persona"):
            for figure, value in _segment_figures(rows, params.months).items():
                figures[(figure, str(name))] = value
        for figure, value in _segment_figures(monthly, params.months).items():
            figures[(figure, "company")] = value
        paying = is_paying(model.population.stage)
        for agent in model.persona_agents:
            rows = paying[agent.rows]
            annual = model.population.annual[agent.rows][rows]
            figures[("annual share", agent.persona.name)] = 100 * float(annual.mean())
        per_rep.append(figures)
    table = []
    for r in RANGES:
        value = float(np.median([f[(r.figure, r.segment)] for f in per_rep]))
        table.append(
            {
                "figure": r.figure,
                "segment": r.segment,
                "default": round(value, 2),
                "published": f"{r.low:g}-{r.high:g} {r.unit}",
                "inside": bool(r.low <= value <= r.high),
                "source": r.source,
            }
        )
    return pd.DataFrame(table)


def markdown(table: pd.DataFrame) -> str:
    """The table as a Markdown table (inside: yes/no)."""
    cells = table.assign(inside=table["inside"].map({True: "yes", False: "no"})).astype(str)
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + "---|" * cells.shape[1]]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    replications = int(argv[0]) if argv else 6
    table = default_figures(replications, argv[1:])
    print(f"Default scenario against published ranges (median of {replications} replications)")
    print(markdown(table))
    return 0 if table["inside"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
