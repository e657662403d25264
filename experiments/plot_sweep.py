"""Draw a study's sweep (``sweep_monthly.parquet`` of ``journey-sim -m``) by persona: one panel
per metric, one line per persona, the median across replications with its P10-P90 band, against
the one swept key (``experiments/*/README.md`` show the command).

    python experiments/plot_sweep.py <sweep dir> <out.png> [metric ...]

Metrics by persona, computed per replication from the monthly table: ``logo_churn`` (Σ churned
/ Σ customers at the start of each month), ``sla_breach_rate`` (Σ breaches / Σ tickets),
``nrr_12m`` (retained MRR / MRR 12 months before the end), ``ending_arr``; ``total`` is the
company. The table it plots is written beside the figure as CSV.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from simulator.metrics import customers_at_start

LABELS = {
    "logo_churn": "monthly logo churn",
    "sla_breach_rate": "tickets breaching SLA",
    "nrr_12m": "NRR (trailing 12 months)",
    "ending_arr": "ending ARR ($)",
}


def by_persona(monthly: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per swept value, persona (and total) and replication: the metrics of ``LABELS``."""
    rows = []
    total = monthly.groupby([key, "replication", "month"], as_index=False).sum(numeric_only=True)
    parts = [*monthly.groupby("persona"), ("total", total)]
    for persona, table in parts:
        for (value, rep), g in table.groupby([key, "replication"]):
            g = g.sort_values("month")
            last = g.iloc[-1]
            rows.append(
                {
                    key: value,
                    "persona": persona,
                    "replication": rep,
                    "logo_churn": g["churned_customers"].sum() / customers_at_start(g).sum(),
                    "sla_breach_rate": g["sla_breaches"].sum() / max(g["tickets"].sum(), 1),
                    "nrr_12m": last["retained_mrr_12m"] / last["mrr_12m_ago"]
                    if last["mrr_12m_ago"] > 0
                    else np.nan,
                    "ending_arr": last["arr"],
                }
            )
    return pd.DataFrame(rows)


def main(sweep_dir: str, out: str, metrics: list[str]) -> None:
    monthly = pd.read_parquet(Path(sweep_dir) / "sweep_monthly.parquet")
    swept = next(c for c in monthly.columns[1:] if c not in ("scenario", "replication", "month"))
    per_rep = by_persona(monthly, swept)
    summary = (
        per_rep.groupby([swept, "persona"])[metrics]
        .quantile([0.1, 0.5, 0.9])
        .unstack()
        .sort_index(axis=1)
    )
    summary.columns = [f"{m}_p{int(q * 100)}" for m, q in summary.columns]
    summary = summary.reset_index()
    summary.to_csv(Path(out).with_suffix(".csv"), index=False, float_format="%.4f")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for persona, g in summary.groupby("persona", sort=False):
            x = g[swept].to_numpy(dtype=float)
            style = {"color": "black", "linewidth": 2.5} if persona == "total" else {}
            ax.plot(x, g[f"{metric}_p50"], marker="o", label=persona, **style)
            ax.fill_between(x, g[f"{metric}_p10"], g[f"{metric}_p90"], alpha=0.15, **style)
        ax.set_xlabel(swept)
        ax.set_title(LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{Path(sweep_dir).name}: median and P10-P90 across replications")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:] or ["logo_churn", "ending_arr"])
