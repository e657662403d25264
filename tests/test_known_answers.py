"""Known answers (DESIGN §5): the simulator against independent analytic results.

Every expected value here is computed in this file from config numbers and a closed form or a
hand-built recursion, never by running the simulator a second way:

* base churn only: a cohort's survival is shifted-beta-geometric, S(t) = B(α, β + t) / B(α, β)
  (geometric (1 - mean)^t when the concentration is null); the aged book (tenure τ ~ p(τ) ∝
  S(τ), τ = 1 … A) survives Σ_τ S(τ + t) / Σ_τ S(τ) (per tenure: ``test_warm_start.py``);
* constant probabilities: stage occupancy is the Markov-chain expectation π₀ Pᵗ, with P the
  product of one matrix per phase of the monthly step, in the model's step order, from the
  month-0 state (book, pipeline in flight: memoryless waits, so π₀ is its stage counts);

Discrete Bass adoption: ``test_known_answer_bass.py``; the MRR bridge and stage-count
conservation: ``test_known_answer_accounting.py``; shared ground: ``known_answers.py``.

Statistical checks use the exact sampling law of the counts (binomial / multinomial) with
5-standard-error bounds or a chi-square test, and each one also shows it has power: a nearby
wrong answer (the wrong month convention, a wrong model) is rejected by the same check.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from known_answers import (
    NO_CHANNELS,
    P_MIN,
    P_WRONG,
    STAGE_COLS,
    STAGES,
    Z,
    chisq_p,
    monthly_table,
    persona_rows,
)
from omegaconf import DictConfig
from scipy import special
from sizes import MARKET_MIX, TWO_PERSONAS

from simulator import JourneyModel, load_config

# --------------------------------------------------------------------------- 1. sBG survival
N_COHORT = 200_000  # whole market = the initial book: 100k solo, 64k smb, 28k midmarket, 8k ent.
T_COHORT = 36
SBG_BASE = [
    MARKET_MIX,
    "mechanisms=all_off",
    f"market.size={N_COHORT}",
    f"initial.customers={N_COHORT}",
    f"months={T_COHORT}",
    "replications=1",
    "seed=20240601",
]


def sbg_survival(mean: float, concentration: float | None, t: np.ndarray) -> np.ndarray:
    """S(t) = B(α, β + t) / B(α, β), α = mean·c, β = (1 - mean)·c; (1 - mean)^t if c is null."""
    t = np.asarray(t, dtype=np.float64)
    if concentration is None:
        return (1.0 - mean) ** t
    a = mean * concentration
    b = (1.0 - mean) * concentration
    return np.exp(special.betaln(a, b + t) - special.betaln(a, b))


def aged_book_survival(mean: float, concentration: float, age: int, t: np.ndarray) -> np.ndarray:
    """Survival of a book of tenure τ ~ p(τ) ∝ S(τ) (τ = 1 … age) and θ | τ ~ Beta(α, β + τ):
    Σ_τ p(τ) S(τ + t) / S(τ) = Σ_τ S(τ + t) / Σ_τ S(τ)."""
    tau = np.arange(1, age + 1)
    s = sbg_survival(mean, concentration, tau[:, None] + np.asarray(t)[None, :])
    return s.sum(axis=0) / sbg_survival(mean, concentration, tau).sum()


def _cohort_check(rows: pd.DataFrame, n: int, survival: np.ndarray) -> tuple[float, float]:
    """(chi-square p-value of the churn-month multinomial, max |z| of the survivor counts).

    ``survival`` is S(0..T). A cohort member churns in month t with probability S(t-1) - S(t)
    or survives the horizon with S(T): churners per month plus survivors are multinomial(n).
    The survivors at the end of month t are binomial(n, S(t)).
    """
    observed = np.append(rows["churned_customers"].to_numpy(), rows["n_active"].iloc[-1])
    expected = n * np.append(-np.diff(survival), survival[-1])
    s = survival[1:]
    z = (rows["n_active"].to_numpy() - n * s) / np.sqrt(n * s * (1.0 - s))
    return chisq_p(observed, expected), float(np.max(np.abs(z)))


#: Churn drawn every month (health can move it) and churn months drawn once per paying spell
#: (health cannot: ``JourneyModel.churn_is_scheduled``); both must follow the same law.
CHURN_MODES = {"monthly draws": [], "scheduled": ["health.churn_sensitivity=0"]}


def _churn_mode(cfg: DictConfig, mode: str) -> None:
    assert JourneyModel(cfg).churn_is_scheduled == (mode == "scheduled")


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(CHURN_MODES))
def test_aged_book_survival_is_shifted_beta_geometric_given_tenure(mode: str) -> None:
    cfg, monthly = monthly_table([*SBG_BASE, *CHURN_MODES[mode]])
    _churn_mode(cfg, mode)
    t = np.arange(T_COHORT + 1)
    shifted = []
    for name, pc in cfg.personas.items():
        n = round(pc.share * N_COHORT)
        rows = persona_rows(monthly, name)
        assert rows["month"].tolist() == list(range(1, T_COHORT + 1))
        # Only base churn acts: the cohort is active or churned, nothing else moves.
        assert (rows["n_active"] + rows["n_churned"] == n).all()
        assert (rows["new_customers"] == 0).all() and (rows["reactivated_customers"] == 0).all()
        assert pc.churn.concentration is not None
        age = cfg.initial.age_months
        right = aged_book_survival(pc.churn.mean, pc.churn.concentration, age, t)
        p, zmax = _cohort_check(rows, n, right)
        assert p > P_MIN, f"{name}: aged sBG rejected, p={p:.2g}"
        assert zmax < Z, f"{name}: survivors off Σ S(τ + t) / Σ S(τ) by {zmax:.1f} SE"
        # Power: the same checks reject a brand-new book (S(t): every account just signed), a
        # homogeneous cohort with the same mean, and the month-0 convention (stage counts
        # before the month's churn: S(t - 1) in month t).
        fresh = sbg_survival(pc.churn.mean, pc.churn.concentration, t)
        p_new, _ = _cohort_check(rows, n, fresh)
        assert p_new < P_WRONG, f"{name}: brand-new book not rejected, p={p_new:.2g}"
        p_geo, _ = _cohort_check(rows, n, sbg_survival(pc.churn.mean, None, t))
        assert p_geo < P_WRONG, f"{name}: geometric not rejected, p={p_geo:.2g}"
        survivors = rows["n_active"].to_numpy()[1:]  # months 2..T
        before = right[1:-1]  # S(t - 1) for t = 2..T
        sd = np.sqrt(n * before * (1 - before))
        # The aged enterprise book churns ~0.3% a month: one month's shift is within noise
        # there, so the shift check runs where it has power (and must run somewhere).
        if np.max(n * (before - right[2:]) / sd) > 2 * Z:
            shifted.append(name)
            z_shift = np.max(np.abs(survivors - n * before) / sd)
            assert z_shift > Z, f"{name}: S(t - 1) not rejected ({z_shift:.1f} SE)"
    assert len(shifted) >= 2, shifted


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(CHURN_MODES))
def test_null_concentration_cohort_survival_is_geometric(mode: str) -> None:
    names = list(load_config(["mechanisms=all_off"]).personas)
    overrides = [f"personas.{k}.churn.concentration=null" for k in names]
    cfg, monthly = monthly_table([*SBG_BASE, *overrides, *CHURN_MODES[mode]])
    _churn_mode(cfg, mode)
    t = np.arange(T_COHORT + 1)
    for name, pc in cfg.personas.items():
        n = round(pc.share * N_COHORT)
        rows = persona_rows(monthly, name)
        assert pc.churn.concentration is None
        p, zmax = _cohort_check(rows, n, (1.0 - pc.churn.mean) ** t)
        assert p > P_MIN, f"{name}: geometric rejected, p={p:.2g}"
        assert zmax < Z, f"{name}: survivors off (1 - mean)^t by {zmax:.1f} SE"
        # Power: a heterogeneous cohort (concentration 12) with the same mean is rejected.
        p_sbg, _ = _cohort_check(rows, n, sbg_survival(pc.churn.mean, 12.0, t))
        assert p_sbg < P_WRONG, f"{name}: sBG(c=12) not rejected, p={p_sbg:.2g}"


def test_month_one_is_after_one_month_of_churn() -> None:
    """Month counts from 1 and stage counts are at the end of the month: with churn 1 the
    whole book is gone in month 1; with churn 0 it is all still there in the last month."""
    base = [MARKET_MIX, "mechanisms=all_off", "market.size=1000", "initial.customers=1000"]
    base.append("months=3")
    base.append("replications=1")
    names = list(load_config(base).personas)
    _, gone = monthly_table([*base, *(f"personas.{k}.churn.mean=1.0" for k in names)])
    first = gone[gone["month"] == 1]
    assert (first["n_active"] == 0).all()
    assert (first["churned_customers"] == first["n_churned"]).all()
    assert first["n_churned"].sum() == 1000
    assert (first["mrr_end"] == 0).all() and (first["mrr_start"] > 0).all()
    _, kept = monthly_table([*base, *(f"personas.{k}.churn.mean=0.0" for k in names)])
    assert kept["month"].min() == 1
    assert (kept.groupby("month")["n_active"].sum() == 1000).all()
    assert (kept["churned_customers"] == 0).all()


# --------------------------------------------------------------------------- 2. Markov chain
# Two personas with constant monthly probabilities: Bass q = 0 and no channel spend (constant
# acquisition hazard p), null churn concentration, churn insensitive to health, no mechanism
# whose probabilities depend on state (support, success, price effect, expansion, referrals,
# annual contracts). Durations are 0 or 1 month, which a "entered this month" flag makes
# Markov. Solo: card-required trial decided in the month it starts (a share of would-be
# starters walks away; a share of non-buyers forgets to cancel, here with no extra early churn),
# self-serve onboarding (0 months). SMB: demo decided the month after it starts, guided
# onboarding (1 month).
MK_MARKET = 100_000
MK_BOOK = 5_000
MK_MONTHS = 24
MK_REPS = 8
MK_OVERRIDES = [
    *TWO_PERSONAS,
    "mechanisms=all_off",
    "mechanisms.acquisition=true",
    "mechanisms.onboarding=true",
    "mechanisms.involuntary_churn=true",
    "mechanisms.reactivation=true",
    "acquisition.bass.p=0.03",
    "acquisition.bass.q=0.0",
    *NO_CHANNELS,
    "health.churn_sensitivity=0.0",
    "pricing.billing.payment_failure_rate=0.05",
    "pricing.billing.dunning_recovery=0.4",
    "onboarding.paths.self_serve.months=0",
    "onboarding.paths.guided.months=1",
    "personas.solo.consideration={advance: 0.25, drop: 0.2, nurture: 0.05}",
    "personas.solo.decision.path=trial",
    "personas.solo.decision.months=0",
    "personas.solo.decision.card_required=true",
    "personas.solo.decision.card_start_factor=0.6",
    "personas.solo.decision.forgot_to_cancel=0.3",
    "personas.solo.decision.forgot_churn=0.0",
    "personas.solo.onboarding=self_serve",
    "personas.solo.churn={mean: 0.06, concentration: null}",
    "personas.solo.winback={rate: 0.15, window_months: 120}",
    "personas.smb.consideration={advance: 0.2, drop: 0.1, nurture: 0.03}",
    "personas.smb.decision.path=demo",
    "personas.smb.decision.months=1",
    "personas.smb.decision.card_required=false",
    "personas.smb.outside_utility=2.0",
    "personas.smb.onboarding=guided",
    "personas.smb.churn={mean: 0.04, concentration: null}",
    "personas.smb.winback={rate: 0.08, window_months: 120}",
    f"market.size={MK_MARKET}",
    f"initial.customers={MK_BOOK}",
    f"months={MK_MONTHS}",
    f"replications={MK_REPS}",
    "seed=777",
]

OLD, NEW = 0, 1  # state flag: entered the stage in an earlier month / in this month
N_STATES = 2 * len(STAGES)
PAYING = ("onboarding", "active", "advocate")


def _state(stage: str, flag: int) -> int:
    return 2 * STAGES.index(stage) + flag


def _phase(moves: list[tuple[tuple[str, ...], tuple[int, ...], dict[str, float]]]) -> np.ndarray:
    """One phase of the month as a transition matrix on (stage, entered-this-month) states.

    Each move is (source stages, source flags that take part, {destination stage: probability});
    moved accounts enter their destination this month (flag NEW); the rest stay put.
    """
    p = np.eye(N_STATES)
    for sources, flags, dests in moves:
        for stage in sources:
            for flag in flags:
                i = _state(stage, flag)
                for dest, prob in dests.items():
                    p[i, i] -= prob
                    p[i, _state(dest, NEW)] += prob
    return p


def _mnl_buy_probability(cfg: DictConfig, persona: str, extra_utility: float) -> float:
    """P(any plan) in the tier logit: plan utility value - sensitivity·price/WTP (+ extra)
    against the outside option. All plans here are priced per seat, so it is the same for all
    accounts."""
    pc = cfg.personas[persona]
    utils = []
    for plan, spec in cfg.pricing.plans.items():
        assert spec.per_seat
        price = spec.price * pc.price_multiplier
        utils.append(
            pc.plan_value[plan]
            - pc.price_sensitivity * price / pc.willingness_to_pay
            + extra_utility
        )
    w = np.exp(np.asarray(utils)).sum()
    return float(w / (w + np.exp(pc.outside_utility)))


def month_matrix(cfg: DictConfig, persona: str, entry_month_gates: bool = True) -> np.ndarray:
    """The monthly transition matrix of one persona's accounts: the product of the phase
    matrices in the model's step order, then "entered this month" flags reset.

    With ``entry_month_gates`` (the model's rule) a 1-month trial or onboarding ends, and a
    churner can be won back, only in a month after the one the account entered the stage;
    without, every phase acts on every account in the stage (a wrong chain, for power checks).
    """
    pc = cfg.personas[persona]
    card = pc.decision.path == "trial" and pc.decision.card_required
    # A card-required trial: would-be starters who will not give a card walk away (lost);
    # non-buyers who forget to cancel are billed (forgot_churn 0 here: no extra early churn).
    factor = pc.decision.card_start_factor if card else 1.0
    advance = pc.consideration.advance * factor
    drop = pc.consideration.drop + pc.consideration.advance * (1.0 - factor)
    buy = _mnl_buy_probability(cfg, persona, 0.0)
    if card:
        assert pc.decision.forgot_churn == 0.0
        buy += (1.0 - buy) * pc.decision.forgot_to_cancel
    both = (OLD, NEW)
    gated = (OLD,) if entry_month_gates else both
    decision_flags = {0: both, 1: gated}[pc.decision.months]
    onboarding_flags = {0: both, 1: gated}[cfg.onboarding.paths[pc.onboarding].months]
    billing = cfg.pricing.billing
    p_invol = billing.payment_failure_rate * (1.0 - billing.dunning_recovery)
    if not cfg.mechanisms.involuntary_churn:
        p_invol = 0.0
    phases = [
        # acquisition: Bass p (q = 0, no channel leads)
        _phase([(("unaware",), both, {"consideration": cfg.acquisition.bass.p})]),
        # consideration: nurture first, then every evaluator advances or drops out
        _phase([(("lost",), both, {"consideration": pc.consideration.nurture})]),
        _phase(
            [
                (
                    ("consideration",),
                    both,
                    {"decision": advance, "lost": drop},
                )
            ]
        ),
        # decision: trials / demos that are due choose a plan (→ onboarding) or are lost
        _phase([(("decision",), decision_flags, {"onboarding": buy, "lost": 1.0 - buy})]),
        # onboarding: due accounts activate (or not; both are active, churn ignores health)
        _phase([(("onboarding",), onboarding_flags, {"active": 1.0})]),
        # billing: failed payments not recovered by dunning
        _phase([(PAYING, both, {"churned": p_invol})]),
        # voluntary churn: base probability
        _phase([(PAYING, both, {"churned": pc.churn.mean})]),
        # win-back: accounts churned in an earlier month
        _phase([(("churned",), gated, {"active": pc.winback.rate})]),
    ]
    reset = np.zeros((N_STATES, N_STATES))
    for i in range(len(STAGES)):
        reset[2 * i, 2 * i] = 1.0
        reset[2 * i + NEW, 2 * i] = 1.0
    matrix = functools.reduce(np.matmul, [*phases, reset])
    assert np.allclose(matrix.sum(axis=1), 1.0) and (matrix >= -1e-15).all()
    return matrix


def _occupancy(matrix: np.ndarray, start: str, months: int) -> np.ndarray:
    """Stage probabilities (months + 1, stages) of one account starting in ``start``: π₀Pᵗ."""
    pi = np.zeros(N_STATES)
    pi[_state(start, OLD)] = 1.0
    out = [pi]
    for _ in range(months):
        pi = pi @ matrix
        out.append(pi)
    states = np.asarray(out)
    return states[:, 0::2] + states[:, 1::2]


#: With failed payments on, churn is drawn every month; without, churn months are scheduled.
MK_CHURN_MODES = {"monthly draws": [], "scheduled": ["mechanisms.involuntary_churn=false"]}


@pytest.mark.slow
@pytest.mark.parametrize("mode", list(MK_CHURN_MODES))
def test_stage_occupancy_matches_markov_chain(mode: str) -> None:
    cfg, monthly = monthly_table([*MK_OVERRIDES, *MK_CHURN_MODES[mode]])
    _churn_mode(cfg, mode)
    assert list(cfg.personas) == ["solo", "smb"]
    # The month-0 state of each replication: the book (active, or onboarding on its path), the
    # pipeline in flight and recent churners, every wait in it memoryless or due next month.
    models = [JourneyModel(cfg, r) for r in range(MK_REPS)]
    starts = {
        name: np.array([m.persona_agents[i].counts for m in models], dtype=float)
        for i, name in enumerate(cfg.personas)
    }
    for name, pc in cfg.personas.items():
        n_rows = round(pc.share * MK_MARKET)
        matrix = month_matrix(cfg, name)
        start = starts[name]  # (replication, stage)
        assert (start.sum(axis=1) == n_rows).all()
        assert (start[:, [STAGES.index(s) for s in ("consideration", "lost", "churned")]] > 0).all()

        def law(m: np.ndarray, start: np.ndarray = start) -> tuple[np.ndarray, np.ndarray]:
            """Mean over replications of the expected counts, and the variance of that mean:
            accounts are independent, so each replication's counts are a sum of multinomials,
            one per starting stage."""
            occ = np.stack([_occupancy(m, s, MK_MONTHS) for s in STAGES])  # (from, t, to)
            mean = np.einsum("rs,stk->tk", start, occ) / MK_REPS
            var = np.einsum("rs,stk->tk", start, occ * (1 - occ)) / MK_REPS**2
            return mean, var

        expected, var = law(matrix)
        rows = monthly[monthly["persona"] == name]
        assert rows["replication"].nunique() == MK_REPS
        observed = rows.groupby("month")[STAGE_COLS].mean().sort_index().to_numpy()
        se = np.sqrt(var[1:])

        def worst(expect: np.ndarray, obs: np.ndarray = observed, se: np.ndarray = se) -> float:
            dev = np.abs(obs - expect)
            # Where the variance is 0 the count is certain (e.g. no advocates): exact match.
            return float(np.max(np.where(se > 0, dev / np.maximum(se, 1e-300), dev * 1e12)))

        z = worst(expected[1:])
        assert z < Z, f"{name}: occupancy off π₀Pᵗ by {z:.1f} SE"
        # The chain moves enough to be tested: sizeable occupancy in the journey stages (solo
        # decides and onboards within the month: its decision and onboarding stages stay empty).
        busy = ["consideration", "active", "churned", "lost"]
        if name == "smb":
            busy += ["decision", "onboarding"]
        assert (expected[1:, [STAGES.index(s) for s in busy]].max(axis=0) > 100).all()
        # Power: the month-0 convention (occupancy before the month's moves) is rejected.
        assert worst(expected[:-1]) > Z, f"{name}: π₀Pᵗ⁻¹ not rejected"
        # Power: a chain that lets accounts move on in the month they entered a stage (a trial
        # or onboarding ends at once, this month's churners can be won back) is rejected.
        hasty, _ = law(month_matrix(cfg, name, entry_month_gates=False))
        assert worst(hasty[1:]) > Z, f"{name}: chain without entry-month gates not rejected"
