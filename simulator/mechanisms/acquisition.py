"""Acquisition: unaware accounts start evaluating (unaware → consideration).

Monthly hazard per unaware account of a persona: Bass p + q × adopters / persona market, where
adopters = paying customers + (advocate_weight - 1) × advocates at the start of the month; plus
channel leads / unaware accounts; plus expected referrals / unaware accounts (when ``referrals`` is
on). The number reached is binomial(unaware, hazard); they are the next unaware rows (the aware
prefix grows), and each one's source (organic, channel, referral) is drawn in proportion to its
part of the hazard.

- Channel leads, a saturating response to spend (diminishing returns): a channel with spend x
  ($/month), cost per lead c and saturation S (``saturation_leads``) brings
  S × (1 - exp(-x / (S × c))) leads a month (x / c for small spend, at most S; null S: x / c),
  split across personas by channel weight.
- Referrals: advocates × ``referrals.per_advocate`` × (1 + R / R_ref)^ε, R the referral reward,
  R_ref ``referral_reference_reward``, ε ``referral_reward_elasticity`` (``per_advocate`` is the
  rate with no reward).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator import attribution
from simulator.kernels import funnel
from simulator.mechanisms import advocacy, consideration, touchpoints
from simulator.mechanisms.base import Mechanism
from simulator.mechanisms.events import channel_spend
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

SWITCH = "acquisition"


def channel_shares(params: Any) -> dict[str, dict[str, float]]:
    """persona -> channel -> the persona's share of the channel's leads: its channel weight /
    all personas' weights (channels it has no weight on are left out)."""
    out: dict[str, dict[str, float]] = {}
    for p in params.persona_list:
        shares = {}
        for c in params.acquisition.channels:
            total = sum(q.channels[c] for q in params.persona_list)
            if total > 0 and p.channels[c] > 0:
                shares[c] = p.channels[c] / total
        out[p.name] = shares
    return out


def setup(model: JourneyModel) -> None:
    """Each persona's share of every channel's leads (``channel_shares``), in persona order."""
    shares = channel_shares(model.params)
    model.channel_share = [shares[p.name] for p in model.params.persona_list]


def channel_leads(spend: float, cost_per_lead: float, saturation: float | None) -> float:
    """Leads a month from ``spend`` $: S × (1 - exp(-spend / (S × cost_per_lead))), or
    spend / cost_per_lead with no saturation (S null)."""
    if saturation is None:
        return spend / cost_per_lead
    return saturation * -math.expm1(-spend / (saturation * cost_per_lead))


def month_leads(model: JourneyModel, spend: Mapping[str, float] | None = None) -> dict[str, float]:
    """Each channel's leads a month (``channel_leads``) at its ``spend`` ($/month; None: this
    month's, events included)."""
    channels = model.params.acquisition.channels
    return {
        c: channel_leads(
            channel_spend(model, c) if spend is None else spend[c],
            ch.cost_per_lead,
            ch.saturation_leads,
        )
        for c, ch in channels.items()
    }


def referral_multiplier(model: JourneyModel) -> float:
    """Referrals per advocate relative to no reward: (1 + reward / reference)^elasticity."""
    acq = model.params.acquisition
    ratio = 1.0 + acq.referral_reward / acq.referral_reference_reward
    return ratio**acq.referral_reward_elasticity


def hazards(
    model: JourneyModel,
    agent: PersonaAgent,
    counts: np.ndarray,
    spend: Mapping[str, float] | None = None,
    leads: Mapping[str, float] | None = None,
) -> tuple[float, ...]:
    """The parts (Bass, channel, referral) of the monthly hazard of an unaware account of
    ``agent``'s persona, given its stage counts and each channel's ``spend`` ($/month; None:
    this month's, events included). The warm start reads the hazard of the spend the company
    had (``initial.channel_spend``), not the scenario's. ``leads``: each channel's leads at
    that spend (``channel_leads``), when already known (the same for every persona)."""
    par = model.params
    n_unaware = int(counts[Stage.UNAWARE])
    if n_unaware == 0:
        return 0.0, 0.0, 0.0
    adopters = (
        counts[Stage.ONBOARDING]
        + counts[Stage.ACTIVE]
        + par.acquisition.advocate_weight * counts[Stage.ADVOCATE]
    )
    h_bass = min(1.0, par.acquisition.bass.p + par.acquisition.bass.q * adopters / agent.size)
    if leads is None:
        leads = month_leads(model, spend)
    persona_leads = sum(leads[c] * share for c, share in model.channel_share[agent.index].items())
    h_channel = min(1.0 - h_bass, persona_leads / n_unaware)
    h_referral = 0.0
    if model.mechanisms[advocacy.SWITCH]:
        per_advocate = agent.persona.referrals.per_advocate * referral_multiplier(model)
        f = touchpoints.factor(agent, "referral")  # touchpoints lift referrals per advocate
        per_advocate = per_advocate * f if f != 1.0 else per_advocate
        expected = counts[Stage.ADVOCATE] * per_advocate
        h_referral = min(1.0 - h_bass - h_channel, expected / n_unaware)
    return float(h_bass), float(h_channel), float(h_referral)


def acquire(model: JourneyModel) -> None:
    """Reach this month's prospects, persona by persona."""
    spend = {c: channel_spend(model, c) for c in model.params.acquisition.channels}
    leads = month_leads(model, spend)
    names = list(model.params.acquisition.channels)
    codes = {c: attribution.FIRST_CHANNEL + k for k, c in enumerate(names)}
    for agent in model.persona_agents:
        shares = model.channel_share[agent.index]
        counts = agent.start_counts
        if shares:  # the month's first cost: summed channel by channel, added once
            cost = 0.0
            for channel, share in shares.items():
                cost += spend[channel] * share
                attribution.add(agent, "channel_spend", codes[channel], spend[channel] * share)
            agent.add("acquisition_cost", cost)
        n_unaware = int(counts[Stage.UNAWARE])
        if n_unaware == 0:
            continue
        h_bass, h_channel, h_referral = hazards(model, agent, counts, spend, leads)
        hazard = min(1.0, h_bass + h_channel + h_referral)
        gen = model.streams.generator("acquisition", model.month, agent.index)
        reached = int(gen.binomial(n_unaware, hazard))
        if reached == 0:
            continue
        first = agent.aware
        agent.aware += reached
        referrals = funnel.assign_sources(
            first,
            reached,
            agent.pop.source,
            agent.row_key("acquisition", draw=0),
            np.float32(hazard),
            np.float32(h_bass),
            np.float32(h_bass + h_channel),
        )
        persona_leads = np.array([leads[c] * shares.get(c, 0.0) for c in names])
        attribution.assign(agent, first, reached, persona_leads)
        idx = np.arange(first, first + reached)
        agent.move(idx, Stage.CONSIDERATION, Stage.UNAWARE)
        consideration.schedule_consideration(agent, idx)
        agent.add("prospects", reached)
        agent.add("referrals", referrals)


MECHANISM = Mechanism(
    name="acquisition",
    switch=SWITCH,
    config=(
        "acquisition.bass.p",
        "acquisition.bass.q",
        "acquisition.advocate_weight",
        "acquisition.channels.*",
        "acquisition.referral_reward",
        "acquisition.referral_reference_reward",
        "acquisition.referral_reward_elasticity",
        "personas.*.channels",
        "personas.*.referrals.per_advocate",
    ),
    population=("stage", "source"),
    streams=("acquisition", attribution.STREAM),
    outputs=("acquisition_cost", "prospects", "referrals"),
    setup=setup,
)
