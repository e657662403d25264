"""Consideration: a cohort of prospects reached in one month (a one-month campaign, no Bass)
leaves consideration after a geometric time and advances or drops out in proportion to the
monthly probabilities; nurture brings lost prospects back.

Known answers:

* a prospect reached in month 1 leaves in month 1 + k with probability (1 - l)^k · l,
  l = advance + drop (k = 0: the month it was reached), and advances with probability
  advance / l: decisions started and prospects lost per month are one multinomial;
* a card-required trial leaves the time in consideration as it is and multiplies the share
  who advance by ``card_start_factor`` (the rest are lost): trial starts are the starts
  without a card × the factor;
* with drop = 1, every lost prospect comes back each later month with probability
  ``nurture`` (a geometric wait of at least one month, renewed at each return, is a Bernoulli
  process): nurtured prospects per month ~ binomial(cohort, nurture).
"""

from __future__ import annotations

import numpy as np
import pytest
from known_answers import campaign_cohort
from scipy import stats
from sizes import NO_PIPELINE, TWO_PERSONAS

from simulator import JourneyModel, load_config
from simulator.stages import Stage

Z = 4.0
P_MIN = 1e-4  # smallest acceptable chi-square p-value for the right law
MONTHS = 12

#: solo: plain trial; smb: card-required trial (advancing share × card_start_factor).
SOLO = {"advance": 0.2, "drop": 0.3}
SMB = {"advance": 0.25, "drop": 0.15, "factor": 0.6}
COHORT = [
    *TWO_PERSONAS,
    NO_PIPELINE,
    *campaign_cohort(MONTHS, seed=2024),  # 5,000 prospects in month 1, split 0.45 : 0.35
    f"personas.solo.consideration={{advance: {SOLO['advance']}, drop: {SOLO['drop']}, "
    "nurture: 0.0}",
    "personas.solo.decision.card_required=false",
    f"personas.smb.consideration={{advance: {SMB['advance']}, drop: {SMB['drop']}, nurture: 0.0}}",
    "personas.smb.decision.card_required=true",
    f"personas.smb.decision.card_start_factor={SMB['factor']}",
    # Deciders sit in a 24-month trial for the whole horizon.
    "personas.solo.decision.months=24",
    "personas.smb.decision.months=24",
]


def _leave_law(advance: float, drop: float, months: int, factor: float = 1.0) -> np.ndarray:
    """Probabilities of (advance in month 1..T, drop in month 1..T, still evaluating after T)
    for a prospect reached in month 1; a card-required trial keeps ``factor`` of the advancing
    ones (the rest are lost)."""
    leave = advance + drop
    stay = (1.0 - leave) ** np.arange(months)
    starts = advance * factor
    return np.concatenate([starts * stay, (leave - starts) * stay, [(1.0 - leave) ** months]])


def _cohort_flows(overrides: list[str], replication: int = 0) -> dict[str, np.ndarray]:
    """Per persona: (decisions started per month, prospects lost per month, still evaluating
    at the end, cohort size) from a live run."""
    model = JourneyModel(load_config(overrides), replication=replication)
    started = {a.persona.name: [] for a in model.persona_agents}
    lost = {a.persona.name: [] for a in model.persona_agents}
    cohort = {}
    for _ in range(MONTHS):
        model.step()
        for agent in model.persona_agents:
            name = agent.persona.name
            if model.month == 1:
                cohort[name] = int(agent.flows["prospects"])
            else:
                assert agent.flows.get("prospects", 0.0) == 0  # one cohort only
            started[name].append(agent.flows.get("decisions_started", 0.0))
            lost[name].append(agent.flows.get("prospects_lost", 0.0))
    out = {}
    for agent in model.persona_agents:
        name = agent.persona.name
        still = int(agent.counts[Stage.CONSIDERATION])
        assert int(agent.counts[Stage.DECISION]) == sum(started[name])
        assert int(agent.counts[Stage.LOST]) == sum(lost[name])
        out[name] = (np.array(started[name]), np.array(lost[name]), still, cohort[name])
    return out


@pytest.mark.parametrize("replication", [0, 1])
def test_cohort_leaves_after_a_geometric_time_and_advances_with_its_share(
    replication: int,
) -> None:
    flows = _cohort_flows(COHORT, replication)
    laws = {
        "solo": (SOLO["advance"], SOLO["drop"], 1.0),
        "smb": (SMB["advance"], SMB["drop"], SMB["factor"]),
    }
    for name, (advance, drop, factor) in laws.items():
        started, lost, still, n = flows[name]
        assert n > 1500
        observed = np.concatenate([started, lost, [still]])
        assert observed.sum() == n
        law = _leave_law(advance, drop, MONTHS, factor)
        # Pool the sparse tail so every cell expects at least 5.
        expected = n * law
        keep = expected >= 5
        obs, exp = observed[keep], expected[keep]
        if (~keep).any():
            obs = np.append(obs, observed[~keep].sum())
            exp = np.append(exp, expected[~keep].sum())
        p = stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue
        assert p > P_MIN, f"{name}: leaving times off the geometric law, p={p:.2g}"
        # Share advancing among those who left: binomial(left, advance / (advance + drop)).
        left = started.sum() + lost.sum()
        share = factor * advance / (advance + drop)
        z = (started.sum() - left * share) / np.sqrt(left * share * (1 - share))
        assert abs(z) < Z, f"{name}: advance share off by {z:.1f} SE"
        # Mean months in consideration (truncated at the horizon) against the law.
        k = np.arange(MONTHS)
        leave = advance + drop
        mean_k = (k * (started + lost)).sum() / left
        pk = leave * (1 - leave) ** k / (1 - (1 - leave) ** MONTHS)
        sd_k = np.sqrt(((k - (k * pk).sum()) ** 2 * pk).sum() / left)
        assert abs(mean_k - (k * pk).sum()) < Z * sd_k
    # Power: ignoring the card-required factor for smb is rejected, and so is the old rule
    # (the factor on the monthly advance probability, which shortened nobody's stay).
    started, lost, still, n = flows["smb"]
    left = started.sum() + lost.sum()
    for advance in (SMB["advance"], SMB["advance"] * SMB["factor"]):
        naive = advance / (advance + SMB["drop"])
        z_naive = (started.sum() - left * naive) / np.sqrt(left * naive * (1 - naive))
        assert abs(z_naive) > Z


NURTURE = 0.15
NURTURED = [
    *COHORT,
    "personas.solo.consideration={advance: 0.0, drop: 1.0, nurture: 0.15}",
]


def test_lost_prospects_come_back_with_the_nurture_probability() -> None:
    """drop = 1: the cohort is lost in month 1; afterwards each lost prospect returns (and is
    lost again at once) with probability ``nurture`` every month."""
    model = JourneyModel(load_config(NURTURED))
    solo = model.persona_agents[0]
    assert solo.persona.name == "solo"
    model.step()
    n = int(solo.flows["prospects"])
    assert solo.flows.get("prospects_lost", 0.0) == n and solo.flows.get("nurtured", 0.0) == 0
    back = []
    for _ in range(MONTHS - 1):
        model.step()
        back.append(solo.flows.get("nurtured", 0.0))
        assert solo.flows.get("prospects_lost", 0.0) == back[-1]  # all lost again at once
        assert int(solo.counts[Stage.LOST]) == n
    back = np.array(back)
    sd = np.sqrt(n * NURTURE * (1 - NURTURE))
    assert (np.abs(back - n * NURTURE) < 5 * sd).all()
    z = (back.sum() - back.size * n * NURTURE) / (sd * np.sqrt(back.size))
    assert abs(z) < Z, f"nurtured prospects off binomial(n, nurture) by {z:.1f} SE"


def test_prospects_who_never_leave_consideration_stay_there() -> None:
    overrides = [*COHORT, "personas.solo.consideration={advance: 0.0, drop: 0.0, nurture: 0.0}"]
    model = JourneyModel(load_config(overrides))
    model.run(3)
    solo = model.persona_agents[0]
    assert int(solo.counts[Stage.CONSIDERATION]) == solo.aware > 0
