"""Known answers of the accounting (DESIGN §5): the MRR bridge closes in every row and chains
from month to month, month 1 starts from the initial book at list prices, and every persona's
stage counts add up to its share of the market."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from known_answers import SCENARIO_DIR, STAGE_COLS, STAGES, monthly_table
from omegaconf import DictConfig

from simulator import JourneyModel

# --------------------------------------------------------------------------- 4 + 5. accounting
ACCOUNTING_BASE = [
    "market.size=19997",  # does not divide by the shares: exercises the largest-remainder split
    "initial.customers=1001",
    "months=12",
    "replications=2",
]
ACCOUNTING_CASES = {
    **{p.stem: [f"scenario={p.stem}"] for p in sorted(SCENARIO_DIR.glob("*.yaml"))},
    # Every MRR movement at once: short annual terms (renewals, at-risk discounts), a price
    # rise then a cut, heavy expansion / contraction, win-back, failed payments.
    "stress": [
        "scenario=price_increase",
        "renewal.term_months=2",
        "+events.pro_cut={type: price_change, month: 10, plan: pro, price: 29, grandfather: false}",
        "+events.starter_rise={type: price_change, month: 4, plan: starter, price: 19,"
        " grandfather: true}",
        "personas.smb.expansion.rate=0.2",
        "personas.smb.contraction.rate=0.2",
        "personas.solo.winback.rate=0.3",
        "pricing.billing.payment_failure_rate=0.2",
    ],
}


@functools.cache
def _accounting_run(case: str) -> tuple[DictConfig, pd.DataFrame]:
    return monthly_table([*ACCOUNTING_BASE, *ACCOUNTING_CASES[case]])


def test_every_scenario_is_covered() -> None:
    """The accounting cases are every file of configs/scenario/ (guards an empty glob)."""
    assert len(ACCOUNTING_CASES) >= 7
    assert {"baseline", "price_increase", "support_cut", "annual_push"} <= set(ACCOUNTING_CASES)


@pytest.mark.parametrize("case", list(ACCOUNTING_CASES))
def test_mrr_bridge_closes_and_chains(case: str) -> None:
    cfg, m = _accounting_run(case)
    assert len(m) == 12 * 2 * len(cfg.personas)
    plus = m["new_mrr"] + m["expansion_mrr"] + m["reactivation_mrr"]
    minus = m["contraction_mrr"] + m["churned_mrr"]
    gap = (m["mrr_start"] + plus - minus - m["mrr_end"]).abs()
    tol = 1e-9 * m[["mrr_start", "mrr_end"]].abs().max(axis=1) + 1e-6
    assert (gap <= tol).all(), f"bridge open in {int((gap > tol).sum())} rows, max {gap.max()}"
    for col in ("new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr"):
        assert (m[col] >= 0).all(), col
        assert m[col].sum() > 0, f"{col} never moves: the bridge term is not exercised"
    # mrr_start of month m is mrr_end of month m - 1, persona by persona.
    m = m.sort_values(["replication", "persona", "month"])
    prev = m.groupby(["replication", "persona"])["mrr_end"].shift(1)
    later = m["month"] > 1
    assert np.array_equal(m.loc[later, "mrr_start"], prev[later])
    # Month 1's mrr_start is the MRR of the initial book, recomputed here from the prices the
    # book pays (initial.prices, not the scenario's): price × persona multiplier × seats
    # (per-seat plans) × (1 - the book's annual discount if annual).
    # (A plan the book's prices do not name is new: no account of the book is on it.)
    prices = np.array([cfg.initial.prices.get(name, np.inf) for name in cfg.pricing.plans])
    per_seat = np.array([p.per_seat for p in cfg.pricing.plans.values()])
    ranks = np.argsort([p.rank for p in cfg.pricing.plans.values()], kind="stable")
    prices, per_seat = prices[ranks], per_seat[ranks]
    for rep in range(2):
        model = JourneyModel(cfg, replication=rep)
        first = m[(m["month"] == 1) & (m["replication"] == rep)].set_index("persona")
        n_book = 0
        for agent in model.persona_agents:
            pop = agent.pop
            # The book: active, or onboarding on its path; the pipeline in flight pays nothing.
            book = np.isin(pop.stage, [STAGES.index(s) for s in ("onboarding", "active")])
            n_book += int(book.sum())
            assert (pop.mrr[~book] == 0).all() and (pop.mrr[book] > 0).all()
            plan = pop.plan[book]
            units = np.where(per_seat[plan], pop.seats[book], 1)
            disc = np.where(pop.annual[book], 1.0 - cfg.initial.annual_discount, 1.0)
            mult = cfg.personas[agent.persona.name].price_multiplier
            mrr = prices[plan] * mult * units * disc
            np.testing.assert_allclose(pop.mrr[book], mrr, rtol=1e-6)
            assert first.loc[agent.persona.name, "mrr_start"] == pytest.approx(mrr.sum(), rel=1e-6)
        assert n_book == 1001


@pytest.mark.parametrize("case", list(ACCOUNTING_CASES))
def test_stage_counts_conserve_each_personas_market(case: str) -> None:
    cfg, m = _accounting_run(case)
    size = 19997
    total = m[STAGE_COLS].sum(axis=1)
    allocation = {}
    for name, pc in cfg.personas.items():
        rows = total[m["persona"] == name]
        assert rows.nunique() == 1, f"{name}: stage counts do not add up to a constant"
        allocation[name] = int(rows.iloc[0])
        assert abs(allocation[name] - pc.share * size) < 1, f"{name}: not its market share"
    assert sum(allocation.values()) == size
    assert (m["customers"] == m[["n_onboarding", "n_active", "n_advocate"]].sum(axis=1)).all()
