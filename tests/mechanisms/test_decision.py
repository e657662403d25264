"""Decision: the share of deciders who buy, the plans they pick and their billing term against
the multinomial logit computed by hand from the config; freemium users re-decide every month.

Known answers (every account has one seat, so the logit is the same for every decider):

* P(plan j) = exp(u_j) / (exp(u_0) + Σ_k exp(u_k)), u_j = plan_value_j - price_sensitivity ×
  price_j / willingness_to_pay, u_0 = outside_utility (+ free_value on the free tier): buyers ~
  binomial(deciders, 1 - P(outside)), plans among buyers multinomial;
* a card-required trial is an opt-out default: a non-buyer is billed anyway with probability
  ``forgot_to_cancel``, so paying ~ binomial(deciders, b + (1 - b) × forgot_to_cancel),
  forgot-to-cancel ~ binomial(deciders, (1 - b) × forgot_to_cancel), b = 1 - P(outside); they
  take the logit's plan shares and monthly billing;
* annual billing among (choosing) buyers ~ binomial(buyers, logistic(logit + sensitivity ×
  discount)), and new MRR = Σ list price × (1 - discount if annual);
* freemium: a free user reached in month 1 buys in month 1 + k with probability b·s^k and
  leaves with (1 - b)·f·s^k, s = (1 - b)(1 - f), f = ``free_drop``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from known_answers import NO_CHANNELS, campaign_cohort, decide_at_once
from scipy import stats
from sizes import NO_PIPELINE, TWO_PERSONAS, size

from simulator import JourneyModel, load_config
from simulator.stages import Stage

Z = 4.0
P_MIN = 1e-4

#: Everyone reached decides in the month it is reached (solo: plain trial; smb: card-required
#: trial, whose starts are cut by card_start_factor); one seat each; nobody churns.
DECIDE_AT_ONCE = [
    *decide_at_once("solo", "smb"),
    *(f"personas.{k}.churn={{mean: 0.0, concentration: null}}" for k in ("solo", "smb")),
]
MONTHS = 6
FORGOT = 0.6
BUY = [
    *TWO_PERSONAS,
    NO_PIPELINE,
    *size(40_000, 0, MONTHS, 1),
    "seed=77",
    "mechanisms=all_off",
    "mechanisms.acquisition=true",
    "mechanisms.annual_contracts=true",
    "acquisition.bass.p=0.03",
    "acquisition.bass.q=0.0",
    *NO_CHANNELS,
    *DECIDE_AT_ONCE,
    "personas.solo.decision.card_required=false",
    "personas.smb.decision.card_required=true",
    f"personas.smb.decision.forgot_to_cancel={FORGOT}",
    # No extra early churn here: forgetters are told apart by their early-churn window.
    "personas.smb.decision.forgot_churn=0.0",
    "personas.smb.decision.forgot_months=3",
]


def _mnl(cfg, name: str, extra: float = 0.0, outside_extra: float = 0.0) -> np.ndarray:
    """(P(outside), P(plan) for each plan in rank order) for a one-seat account, by hand."""
    pc = cfg.personas[name]
    plans = sorted(cfg.pricing.plans.items(), key=lambda kv: kv[1].rank)
    utils = [pc.outside_utility + outside_extra]
    for plan, spec in plans:
        price = spec.price * pc.price_multiplier  # per seat or per account: one seat either way
        utils.append(
            pc.plan_value[plan] - pc.price_sensitivity * price / pc.willingness_to_pay + extra
        )
    w = np.exp(np.array(utils))
    return w / w.sum()


def _annual_p(cfg, name: str) -> float:
    a = cfg.personas[name].annual
    return 1.0 / (1.0 + math.exp(-(a.logit + a.discount_sensitivity * cfg.pricing.annual_discount)))


def _chisq_p(observed: np.ndarray, expected: np.ndarray) -> float:
    """Chi-square p-value with the cells expecting fewer than 5 pooled into one."""
    keep = expected >= 5
    obs, exp = observed[keep], expected[keep]
    if (~keep).any():
        obs = np.append(obs, observed[~keep].sum())
        exp = np.append(exp, expected[~keep].sum())
    return float(stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)


def _z(observed: float, n: float, p: float) -> float:
    return (observed - n * p) / math.sqrt(n * p * (1 - p))


def test_buyers_plans_and_terms_follow_the_hand_computed_logit() -> None:
    cfg = load_config(BUY)
    model = JourneyModel(cfg)
    prices = np.array(
        [s.price for _, s in sorted(cfg.pricing.plans.items(), key=lambda kv: kv[1].rank)]
    )
    disc = cfg.pricing.annual_discount
    decided = {a.persona.name: 0.0 for a in model.persona_agents}
    bought = dict.fromkeys(decided, 0.0)
    forgot = dict.fromkeys(decided, 0.0)
    for _ in range(MONTHS):
        model.step()
        for agent in model.persona_agents:
            name = agent.persona.name
            decided[name] += agent.flows.get("decisions", 0.0)
            bought[name] += agent.flows.get("new_customers", 0.0)
            forgot[name] += agent.flows.get("forgot_to_cancel", 0.0)
            # The month's buyers: paying rows that entered this month.
            pop = agent.pop
            new = np.flatnonzero(
                (pop.stage[: agent.aware] == Stage.ACTIVE)
                & (pop.stage_month[: agent.aware] == model.month)
            )
            assert new.size == agent.flows.get("new_customers", 0.0)
            assert (pop.seats[new] == 1).all()
            mrr = prices[pop.plan[new]] * np.where(pop.annual[new], 1 - disc, 1.0)
            assert agent.flows.get("new_mrr", 0.0) == pytest.approx(mrr.sum(), rel=1e-6)
    forgot_share = {"solo": 0.0, "smb": FORGOT}
    for agent in model.persona_agents:
        name = agent.persona.name
        probs = _mnl(cfg, name)
        b = 1 - probs[0]
        f = forgot_share[name]
        z = _z(bought[name], decided[name], b + (1 - b) * f)
        assert abs(z) < Z, f"{name}: paying off logit + forgot-to-cancel by {z:.1f} SE"
        pop = agent.pop
        paying = np.flatnonzero(pop.stage[: agent.aware] == Stage.ACTIVE)
        assert paying.size == bought[name] > 300
        plans = np.bincount(pop.plan[paying], minlength=prices.size)
        expected = paying.size * probs[1:] / probs[1:].sum()
        assert _chisq_p(plans, expected) > P_MIN, f"{name}: plans off the logit"
        forgetters = pop.early_churn_end[paying] > 0
        assert np.count_nonzero(forgetters) == forgot[name]
        if f > 0:
            z_f = _z(forgot[name], decided[name], (1 - b) * f)
            assert abs(z_f) < Z, f"{name}: forgot-to-cancel off by {z_f:.1f} SE"
            assert not pop.annual[paying[forgetters]].any()  # billed monthly, never annual
        else:
            assert forgot[name] == 0
        chose = paying[~forgetters]
        z_annual = _z(np.count_nonzero(pop.annual[chose]), chose.size, _annual_p(cfg, name))
        assert abs(z_annual) < Z, f"{name}: annual share off the logistic by {z_annual:.1f} SE"
    # Power: smb's forgot-to-cancel share left out is rejected, and so is the old card utility.
    naive = 1 - _mnl(cfg, "smb")[0]
    assert abs(_z(bought["smb"], decided["smb"], naive)) > 2 * Z
    old_rule = 1 - _mnl(cfg, "smb", 1.2)[0]
    assert abs(_z(bought["smb"], decided["smb"], old_rule)) > Z


FREE_VALUE, FREE_DROP, FREE_MONTHS = 0.5, 0.2, 10
FREEMIUM = [
    *TWO_PERSONAS,
    NO_PIPELINE,
    *campaign_cohort(FREE_MONTHS, seed=78),
    *DECIDE_AT_ONCE,
    "personas.solo.decision.path=freemium",
    f"personas.solo.decision.free_value={FREE_VALUE}",
    f"personas.solo.decision.free_drop={FREE_DROP}",
]


@pytest.mark.parametrize("replication", [0, 1])
def test_free_users_redecide_each_month_and_leave_with_free_drop(replication: int) -> None:
    cfg = load_config(FREEMIUM)
    model = JourneyModel(cfg, replication=replication)
    solo = model.persona_agents[0]
    assert solo.persona.name == "solo"
    bought, left, deciding = [], [], []
    for _ in range(FREE_MONTHS):
        lost_before = int(solo.counts[Stage.LOST])
        model.step()
        if model.month == 1:
            n = int(solo.flows["prospects"])
        bought.append(solo.flows.get("new_customers", 0.0))
        left.append(int(solo.counts[Stage.LOST]) - lost_before)
        deciding.append(solo.flows.get("decisions", 0.0))
    still = int(solo.counts[Stage.DECISION])
    b = 1 - _mnl(cfg, "solo", outside_extra=FREE_VALUE)[0]
    s = (1 - b) * (1 - FREE_DROP)
    k = np.arange(FREE_MONTHS)
    law = np.concatenate([b * s**k, (1 - b) * FREE_DROP * s**k, [s**FREE_MONTHS]])
    observed = np.concatenate([bought, left, [still]])
    assert observed.sum() == n > 1500
    # Those deciding each month are the cohort still on the free tier.
    gone = np.cumsum(np.add(bought, left))
    np.testing.assert_array_equal(deciding, n - np.concatenate([[0], gone[:-1]]))
    p = _chisq_p(observed, n * law)
    assert p > P_MIN, f"freemium re-decisions off the law, p={p:.2g}"
    z = _z(sum(bought), sum(bought) + sum(left), b / (b + (1 - b) * FREE_DROP))
    assert abs(z) < Z
    # Power: the free tier's value left out of the outside option is rejected.
    b_wrong = 1 - _mnl(cfg, "solo")[0]
    share_wrong = b_wrong / (b_wrong + (1 - b_wrong) * FREE_DROP)
    z_wrong = _z(sum(bought), sum(bought) + sum(left), share_wrong)
    assert abs(z_wrong) > Z
