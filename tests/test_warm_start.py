"""Warm start (``simulator.book``): the book at month 0 is aged and the pipeline is in flight.

Known answers:

* book accounts have tenure τ ~ p(τ) ∝ S(τ) (τ = 1 … ``initial.age_months``), cohort month
  1 − τ, and base churn θ | τ ~ Beta(α, β + τ): with base churn alone, an account of tenure τ
  survives t more months with S(t | τ) = B(α, β + τ + t) / B(α, β + τ);
* ``initial.mix`` splits ``initial.customers`` by largest remainder, exactly;
* in a steady baseline (constant inflow, fast nurture: a true steady state), month 1's new
  customers and new MRR are those of months 13–24, within sampling error, and a cold start
  (``initial.pipeline=false``) is rejected by the same check;
* the default ``initial.mix`` is the mix a book grown by the model reaches.
"""

from __future__ import annotations

import numpy as np
import pytest
from known_answers import Z
from scipy import special
from sizes import MARKET_MIX, size

from simulator import JourneyModel, load_config, simulate
from simulator.book import split_by_share, tenure_weights
from simulator.errors import ConfigError
from simulator.stages import Stage, is_paying

PERSONAS = ("solo", "smb", "midmarket", "enterprise")
SMALL = size(40_000, 1_200, 1, 1)


def _book(model: JourneyModel, k: int) -> np.ndarray:
    """Rows of persona ``k``'s book at month 0 (paying)."""
    return np.flatnonzero(is_paying(model.persona_agents[k].pop.stage))


def test_book_is_aged_cohorts_before_month_one_and_spread() -> None:
    cfg = load_config(SMALL)
    model = JourneyModel(cfg)
    age = cfg.initial.age_months
    for k, agent in enumerate(model.persona_agents):
        pop, book = agent.pop, _book(model, k)
        cohort = pop.cohort_month[book].astype(np.int64)
        tenure = 1 - cohort
        assert (cohort <= 0).all() and (tenure <= age).all()
        assert np.unique(cohort).size > age // 2  # spread, not one cohort
        # Tenure follows p(τ) ∝ S(τ): its mean within 5 standard errors.
        w = tenure_weights(agent.persona, age)
        tau = np.arange(1, age + 1)
        mean, sd = (w * tau).sum(), np.sqrt((w * tau**2).sum() - (w * tau).sum() ** 2)
        assert abs(tenure.mean() - mean) < Z * sd / np.sqrt(book.size)
        # Every state in flight started before month 1.
        assert (pop.stage_month[: agent.aware] <= 0).all()
        # Annual contracts renew every term from their cohort: next renewal in 1 … term.
        term = cfg.renewal.term_months
        annual = pop.annual[book]
        want = 1 - tenure + term * np.ceil(tenure / term).astype(np.int64)
        np.testing.assert_array_equal(pop.term_end[book][annual], want[annual])
        assert ((want >= 1) & (want <= term)).all()
        # Onboarding accounts are still on their path: tenure ≤ the path's months.
        months = cfg.onboarding.paths[agent.persona.onboarding].months
        on_path = pop.stage[book] == Stage.ONBOARDING
        np.testing.assert_array_equal(on_path, tenure <= months)


def test_book_base_churn_is_conditional_on_tenure() -> None:
    """The book's mean base churn is E[α / (α + β + τ)] over p(τ), well below the mean."""
    cfg = load_config([*size(200_000, 20_000, 1, 1), "mechanisms=all_off"])
    model = JourneyModel(cfg)
    age = cfg.initial.age_months
    for k, agent in enumerate(model.persona_agents):
        p = agent.persona
        a, b = p.churn.mean * p.churn.concentration, (1 - p.churn.mean) * p.churn.concentration
        tau = np.arange(1, age + 1)
        want = (tenure_weights(p, age) * a / (a + b + tau)).sum()
        got = agent.pop.base_churn[_book(model, k)].astype(np.float64)
        assert abs(got.mean() - want) < Z * got.std() / np.sqrt(got.size), p.name
        assert want < 0.8 * p.churn.mean


@pytest.mark.parametrize(
    ("customers", "mix"),
    [(3000, None), (1001, (0.3, 0.3, 0.3, 0.1)), (7, (0.25, 0.25, 0.25, 0.25))],
)
def test_initial_mix_is_honoured_exactly(customers: int, mix: tuple | None) -> None:
    overrides = [*size(40_000, customers, 1, 1)]
    if mix is not None:
        overrides += [f"initial.mix.{n}={s}" for n, s in zip(PERSONAS, mix, strict=True)]
    cfg = load_config(overrides)
    model = JourneyModel(cfg)
    shares = [cfg.initial.mix[n] for n in PERSONAS]
    want = split_by_share(customers, shares)
    assert [a.n_paying for a in model.persona_agents] == want
    assert sum(want) == customers


@pytest.mark.parametrize(
    ("overrides", "key", "text"),
    [
        (["initial.mix.solo=0.5"], "initial.mix", "sum to 1"),
        (["+initial.mix.nobody=0.0"], "initial.mix.nobody", "unknown persona"),
        (["~initial.mix.enterprise", "initial.mix.solo=0.347"], "initial.mix.enterprise", ""),
        ([*size(4_000, 2_000, 1, 1)], "initial.mix.enterprise", "do not fit"),
    ],
)
def test_bad_initial_mix_is_one_line_naming_the_key(overrides, key: str, text: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(overrides)
    found = dict(info.value.problems)
    assert key in found and text in found[key], found


def test_pipeline_in_flight_is_filed_from_month_one() -> None:
    """Every prospect in flight is due to move in month 1 or later: evaluators to advance or
    drop, deciders at the end of their trial / sales cycle, the lost to nurture."""
    cfg = load_config(SMALL)
    model = JourneyModel(cfg)
    for agent in model.persona_agents:
        c, due = agent.counts, agent.due
        assert c[Stage.CONSIDERATION] > 0 and c[Stage.LOST] > 0 and c[Stage.CHURNED] > 0
        assert len(due["advance"]) + len(due["drop"]) == c[Stage.CONSIDERATION]
        assert len(due["decision"]) == c[Stage.DECISION]
        assert len(due["nurture"]) == c[Stage.LOST]
        assert len(due["onboarding"]) == c[Stage.ONBOARDING]
        assert len(due["winback"]) <= c[Stage.CHURNED]
        months = agent.persona.decision.months
        assert (c[Stage.DECISION] > 0) == (months > 0)
        assert agent.aware == agent.size - c[Stage.UNAWARE]
        # Nothing is due in month 0: popping it finds no one.
        for calendar in due.values():
            assert calendar.pop(0).size == 0


# --------------------------------------------------------------------------- slow: known answers
def _sbg_given_tenure(a: float, b: float, tau: np.ndarray, t: np.ndarray) -> np.ndarray:
    """S(t | τ) = B(α, β + τ + t) / B(α, β + τ), shape (accounts, months)."""
    return np.exp(
        special.betaln(a, b + tau[:, None] + t[None, :]) - special.betaln(a, b + tau)[:, None]
    )


@pytest.mark.slow
def test_aged_book_survival_given_tenure_is_conditional_sbg() -> None:
    """Base churn alone: within each tenure bucket, survivors at the end of month t have mean
    Σ_i S(t | τ_i) and variance Σ_i S(1 − S) (independent accounts given their tenure)."""
    months = 24
    cfg = load_config([*size(200_000, 200_000, months, 1), MARKET_MIX, "mechanisms=all_off"])
    model = JourneyModel(cfg)
    tenure = [1 - a.pop.cohort_month.astype(np.int64) for a in model.persona_agents]
    alive = []
    for _ in range(months):
        model.step()
        alive.append([is_paying(a.pop.stage) for a in model.persona_agents])
    t = np.arange(1, months + 1)
    buckets = [(1, 3), (4, 9), (10, 18), (19, cfg.initial.age_months)]
    for k, agent in enumerate(model.persona_agents):
        p = agent.persona
        a, b = p.churn.mean * p.churn.concentration, (1 - p.churn.mean) * p.churn.concentration
        for lo, hi in buckets:
            rows = np.flatnonzero((tenure[k] >= lo) & (tenure[k] <= hi))
            assert rows.size > 200
            s = _sbg_given_tenure(a, b, tenure[k][rows].astype(float), t.astype(float))
            mean, sd = s.sum(axis=0), np.sqrt((s * (1 - s)).sum(axis=0))
            observed = np.array([alive[m][k][rows].sum() for m in range(months)])
            z = np.abs(observed - mean) / sd
            assert z.max() < Z, f"{p.name} tenure {lo}-{hi}: off S(t | τ) by {z.max():.1f} SE"
            if lo >= 10:  # power: a brand-new book (θ ~ Beta(α, β)) is rejected
                fresh = _sbg_given_tenure(a, b, np.zeros(rows.size), t.astype(float))
                z_new = np.abs(observed - fresh.sum(axis=0)) / sd
                assert z_new.max() > Z, f"{p.name} {lo}-{hi}: S(t) not rejected"


#: A truly steady baseline: a constant inflow (channel leads only: no Bass p or q, no
#: referrals), nurture fast enough that the lost pool is in equilibrium after
#: ``initial.age_months``; everything else default.
STEADY = [
    "months=24",
    "replications=20",
    "acquisition.bass.p=0.0",
    "acquisition.bass.q=0.0",
    "mechanisms.referrals=false",
    *(f"personas.{k}.consideration.nurture=0.2" for k in PERSONAS),
]


def _month_one_gap(monthly, column: str) -> tuple[float, float]:
    """(mean over replications of month 1 − the mean of months 13–24, its standard error)."""
    total = monthly.groupby(["replication", "month"])[column].sum().unstack()
    d = total[1] - total.loc[:, 13:24].mean(axis=1)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


@pytest.mark.slow
def test_month_one_is_steady_in_a_steady_baseline() -> None:
    warm = simulate(load_config(STEADY), progress=False).monthly
    cold = simulate(load_config([*STEADY, "initial.pipeline=false"]), progress=False).monthly
    for column in ("new_customers", "new_mrr"):
        gap, se = _month_one_gap(warm, column)
        level = warm[warm["month"] >= 13].groupby("month")[column].sum().mean()
        assert abs(gap) < Z * se, (
            f"{column}: month 1 off months 13-24 by {gap:.4g} ({gap / se:.1f} SE)"
        )
        assert abs(gap) < 0.05 * level
        cold_gap, cold_se = _month_one_gap(cold, column)
        assert cold_gap < -Z * cold_se, f"{column}: the cold start is not rejected"


@pytest.mark.slow
def test_default_mix_is_the_mix_a_grown_book_reaches() -> None:
    """An empty book run for ``initial.age_months`` months reaches the configured mix (±0.02)."""
    cfg = load_config(["initial.customers=0", "replications=6"])
    age = cfg.initial.age_months
    monthly = simulate(
        load_config(["initial.customers=0", "replications=6", f"months={age}"]), progress=False
    ).monthly
    last = monthly[monthly["month"] == age]
    paying = last.groupby("persona")[["n_onboarding", "n_active", "n_advocate"]].sum().sum(axis=1)
    share = paying / paying.sum()
    for name in PERSONAS:
        assert abs(share[name] - cfg.initial.mix[name]) < 0.02, (name, share[name])
