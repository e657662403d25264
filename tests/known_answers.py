"""Shared ground of the known-answer suites (DESIGN §5): the contract's stage names, the
statistical bounds and a run helper. Expected values are computed in the test files from config
numbers and closed forms, never by running the simulator a second way.

Statistical checks use the exact sampling law of the counts (binomial / multinomial) with
5-standard-error bounds or a chi-square test, and each one also shows it has power: a nearby
wrong answer (the wrong month convention, a wrong model) is rejected by the same check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from scipy import stats
from sizes import size

from simulator import load_config, simulate

#: Stage names of the contract (DESIGN §2), in the order of the Markov state space.
STAGES = (
    "unaware",
    "consideration",
    "decision",
    "onboarding",
    "active",
    "advocate",
    "churned",
    "lost",
)
STAGE_COLS = [f"n_{s}" for s in STAGES]
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "configs" / "scenario"
#: No channel spend, now or before month 0 (the scenario's spend defaults to the initial spend).
NO_CHANNELS = [
    f"initial.channel_spend.{c}=0" for c in ("content", "paid_ads", "review_sites", "outbound")
]


def decide_at_once(*personas: str) -> list[str]:
    """Everyone reached decides in the month it is reached, on a 0-month trial, with one seat
    (a card-required trial still cuts starts by its card_start_factor)."""
    return [
        f"personas.{k}.{key}"
        for k in personas
        for key in (
            "consideration={advance: 1.0, drop: 0.0, nurture: 0.0}",
            "decision.path=trial",
            "decision.months=0",
            "seats.mean=1",
        )
    ]


def campaign_cohort(months: int, seed: int) -> list[str]:
    """One cohort of prospects reached in month 1 by a campaign (150,000 $ of content leads at
    $30 with a linear response: 5,000 prospects split by channel weight), and no other
    acquisition: no Bass, no channel spend, every mechanism but acquisition off; 40,000
    accounts, no book, one replication of ``months`` months."""
    return [
        *size(40_000, 0, months, 1),
        f"seed={seed}",
        "mechanisms=all_off",
        "mechanisms.acquisition=true",
        "acquisition.bass.p=0.0",
        "acquisition.bass.q=0.0",
        *NO_CHANNELS,
        "acquisition.channels.content.saturation_leads=null",
        "acquisition.channels.content.cost_per_lead=30",
        "+events.burst={type: campaign, month: 1, months: 1, channel: content, spend: 150000}",
    ]


Z = 5.0  # bound in standard errors
P_MIN = 1e-4  # smallest acceptable chi-square p-value for the right answer
P_WRONG = 1e-6  # largest chi-square p-value a wrong answer may have (power check)


def monthly_table(overrides: list[str]) -> tuple[DictConfig, pd.DataFrame]:
    """The composed config and the monthly table of a run with ``overrides``."""
    cfg = load_config(overrides)
    return cfg, simulate(cfg, progress=False).monthly


def persona_rows(monthly: pd.DataFrame, name: str, replication: int = 0) -> pd.DataFrame:
    """One persona's rows of one replication, by month."""
    rows = monthly[(monthly["persona"] == name) & (monthly["replication"] == replication)]
    return rows.sort_values("month").reset_index(drop=True)


def chisq_p(observed: np.ndarray, expected: np.ndarray) -> float:
    """Chi-square goodness-of-fit p-value."""
    return float(stats.chisquare(observed, expected).pvalue)
