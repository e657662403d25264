"""Regenerate the example calibration data from the engine (the default scenario, every
mechanism on, seed 42, one replication, 24 months):

    PYTHONPATH=. .venv/bin/python experiments/calibration/make_example.py

writes, next to this file,

- ``retention_example.csv``: per persona, the cohorts acquired in months 1-24 (cohort
  ``r0-mNN``), each with its size at period 0 and the customers still paying without a break
  after each period (period 1 ends with the acquisition month: a new customer can churn in the
  month of its first bill), up to month 24: cohort m01 has 24 periods, m24 one
  (right-censored; ``simulator.calibrate.engine_cohorts``);
- ``funnel_example.csv``: per persona and month, the engine's funnel counts: ``leads`` =
  unaware accounts that started evaluating (``prospects``), ``trials`` = trials / sales cycles /
  free users that decided (``decisions``), ``paid`` = accounts that bought (``new_customers``).

The numbers depend on the engine's defaults: rerun after a change of ``configs/``.
"""

from __future__ import annotations

from pathlib import Path

from simulator import load_config, simulate
from simulator.calibrate import engine_cohorts

HERE = Path(__file__).resolve().parent
OVERRIDES = ["months=24", "replications=1", "seed=42"]


def main() -> None:
    cfg = load_config(OVERRIDES)
    retention = engine_cohorts(cfg, replications=1)
    retention.to_csv(HERE / "retention_example.csv", index=False)
    monthly = simulate(cfg, progress=False).monthly
    funnel = (
        monthly[["persona", "month", "prospects", "decisions", "new_customers"]]
        .rename(columns={"prospects": "leads", "decisions": "trials", "new_customers": "paid"})
        .astype({"leads": int, "trials": int, "paid": int})
    )
    funnel.to_csv(HERE / "funnel_example.csv", index=False)
    print(f"wrote {HERE / 'retention_example.csv'} ({len(retention)} rows) and "
          f"{HERE / 'funnel_example.csv'} ({len(funnel)} rows)")  # fmt: skip


if __name__ == "__main__":
    main()
