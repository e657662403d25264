"""Touchpoints: the levers of each journey stage as config (``touchpoints.<name>``).

A touchpoint (a webinar programme, security documentation, a QBR, a community ...) acts in one
stage, reaches a share of each persona's accounts in that stage per month (``reach``), costs
``cost.fixed_per_month`` $ a month plus ``cost.per_account`` $ per account it touches, and
changes named transitions (``TRANSITIONS``) by a relative ``lift``, or the decision's plan
utility by ``utility``; ``by_persona.<persona>`` replaces the lift and utility for one persona.

**Configured rates are today's, observed with today's touchpoints running.** Every rate of the
config (``personas.*.consideration.advance``, ``onboarding.paths.*.quality``, churn ...) was
measured while each touchpoint reached ``baseline_reach`` of its stage. A transition's rate in
the engine is therefore

    configured rate × Π over touchpoints (1 + reach × lift) / (1 + baseline_reach × lift)

per persona, clipped to [0, 1]. A shipped touchpoint has ``baseline_reach = reach``: its factor is
exactly 1 and the default scenario computes what it computed before touchpoints existed.
Switching a touchpoint off (``enabled: false`` or ``reach`` 0) removes its share of the observed
rates; a new touchpoint (``baseline_reach`` 0) adds its lift; a wider reach adds the extra
share. The decision's ``utility`` term is weighted the same way: utility × (reach -
baseline_reach) is added to every plan's utility (logit rule only).

Where each factor acts (one place per transition):

- ``advance``, ``drop``: consideration's monthly advance and drop probabilities (drawn when a
  prospect starts evaluating; scaled down together if they would sum above 1);
- ``trial_start``: the share of prospects coming to a card-required trial who start it
  (``decision.card_start_factor``; it is 1 without a card, so a lift cannot raise it there);
- ``trial_to_paid``: the probability the decision buys a plan (the outside option's weight is
  rescaled so P(buy) becomes min(factor × P(buy), 1); the plan shares among buyers stay);
- ``activation``: the onboarding path's activation probability;
- ``churn``: the monthly voluntary churn probability of monthly-billed accounts;
- ``renewal``: the probability an annual contract renews at term end;
- ``expansion``: the monthly expansion (upgrade / seats) probability;
- ``referral``: referrals per advocate per month.

Costs and reach are expected values, not draws: ``activity`` gives, per replication, month,
persona and touchpoint, accounts reached = reach × accounts in the stage at the month's end
(``active`` counts every account that is active or advocate) and cost = fixed share + per-account
cost × accounts reached (the fixed cost is split between the personas reached in proportion to
their reach). The monthly table's costs do not include touchpoints: the cost of a touchpoint
whose ``baseline_reach`` equals its ``reach`` is part of today's budget. A touchpoint draws no
random numbers.

Events of type ``touchpoint`` switch a touchpoint on or off, or change its reach, from a month
on (``simulator.mechanisms.events``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from simulator.bounds import Money, Number, OneOf, Prob, Section, Switch
from simulator.mechanisms.base import Mechanism
from simulator.stages import Stage

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

#: The transitions a touchpoint can lift (``touchpoints.<name>.lift.<transition>``).
TRANSITIONS: tuple[str, ...] = (
    "advance",
    "drop",
    "trial_start",
    "trial_to_paid",
    "activation",
    "churn",
    "renewal",
    "expansion",
    "referral",
)
#: The stages a touchpoint acts in; ``active`` reaches active and advocate accounts.
STAGES: tuple[str, ...] = ("consideration", "decision", "onboarding", "active", "advocate")
#: Monthly-table stage counts behind each stage's accounts.
STAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    "consideration": ("n_consideration",),
    "decision": ("n_decision",),
    "onboarding": ("n_onboarding",),
    "active": ("n_active", "n_advocate"),
    "advocate": ("n_advocate",),
}
#: Columns of the touchpoint activity table (``SimulationResult.touchpoints``).
ACTIVITY_COLUMNS: tuple[str, ...] = (
    "scenario",
    "replication",
    "month",
    "persona",
    "touchpoint",
    "stage",
    "reach",
    "accounts_reached",
    "cost",
)


def _transition(value: Any) -> str:
    if value not in TRANSITIONS:
        raise PydanticCustomError(
            "transition", "unknown transition {value}; transitions are {allowed}",
            {"value": repr(value), "allowed": ", ".join(TRANSITIONS)},
        )  # fmt: skip
    return str(value)


Transition = Annotated[str, BeforeValidator(_transition)]
#: A relative lift: the transition's probability × (1 + lift) at full reach; > -1.
Lift = Number(-1.0, 100.0, lo_open=True)


class TouchpointCost(Section):
    fixed_per_month: Money  # $ a month while the touchpoint runs (reach > 0)
    per_account: Money  # $ per account touched


class TouchpointEffect(Section):
    """A persona's own effect (``touchpoints.<name>.by_persona.<persona>``)."""

    lift: dict[Transition, Lift]  # relative lift per transition at full reach
    utility: Number(-20.0, 20.0)  # decision utility at full reach (logit rule)


class Touchpoint(Section):
    """One touchpoint (module docstring)."""

    stage: OneOf(*STAGES)  # the stage whose accounts it reaches
    enabled: Switch  # false: reach 0 (its share of today's rates is removed)
    reach: dict[str, Prob]  # share of the stage's accounts reached a month, by persona
    baseline_reach: dict[str, Prob]  # the reach behind today's configured rates, by persona
    cost: TouchpointCost
    lift: dict[Transition, Lift]  # relative lift per transition at full reach
    utility: Number(-20.0, 20.0)  # decision utility at full reach (logit rule)
    by_persona: dict[str, TouchpointEffect]  # persona -> its own lift and utility

    def effect(self, persona: str) -> tuple[dict[str, float], float]:
        """The lift by transition and the utility that act on ``persona``."""
        own = self.by_persona.get(persona)
        return (dict(own.lift), own.utility) if own else (dict(self.lift), self.utility)


# ---------------------------------------------------------------------------- the factors
def reach_now(
    touchpoints: dict[str, Touchpoint],
    persona: str,
    state: dict[str, tuple[bool, dict[str, float] | None]] | None = None,
) -> dict[str, float]:
    """Each touchpoint's reach of ``persona`` now: 0 when switched off; ``state`` holds the
    events' changes (name -> (enabled, reach by persona or None))."""
    out = {}
    for name, tp in touchpoints.items():
        enabled, reach = (state or {}).get(name, (tp.enabled, None))
        out[name] = float((reach if reach is not None else tp.reach).get(persona, 0.0))
        if not enabled:
            out[name] = 0.0
    return out


def factors(
    touchpoints: dict[str, Touchpoint], persona: str, reach: dict[str, float]
) -> tuple[dict[str, float], float]:
    """``persona``'s factor on each transition (1.0 exactly where no touchpoint differs from
    its baseline) and its extra decision utility (module docstring)."""
    out = dict.fromkeys(TRANSITIONS, 1.0)
    utility = 0.0
    for name, tp in touchpoints.items():
        r = reach[name]
        b = float(tp.baseline_reach.get(persona, 0.0))
        if r == b:
            continue
        lift, u = tp.effect(persona)
        for transition, x in lift.items():
            if x != 0.0:
                out[transition] *= (1.0 + r * x) / (1.0 + b * x)
        utility += u * (r - b)
    return out, utility


def moves_churn(params: Any) -> bool:
    """Touchpoints move churn during a paying spell when one with a churn lift differs from
    its baseline, or a touchpoint event may change one."""
    tps = params.touchpoints
    if any(e.type == "touchpoint" for e in params.events.values()):
        return any(
            any(tp.effect(p)[0].get("churn", 0.0) for p in params.personas) for tp in tps.values()
        )
    return any(f != 1.0 for p in params.personas for f in _churn_factor(params, p))


def _churn_factor(params: Any, persona: str) -> list[float]:
    f, _ = factors(params.touchpoints, persona, reach_now(params.touchpoints, persona))
    return [f["churn"]]


def setup(model: JourneyModel) -> None:
    """Each persona's factors at the scenario's touchpoints (events change them)."""
    model.touchpoint_state = {}
    tps = model.params.touchpoints
    # The touchpoints acting in each stage code s (the event log's contacts):
    # stage_tps[by_stage[s] : by_stage[s + 1]].
    acting = [[k for k, tp in enumerate(tps.values()) if s in STAGE_CODES[tp.stage]] for s in Stage]
    by_stage = np.concatenate([[0], np.cumsum([len(a) for a in acting])]).astype(np.int64)
    stage_tps = np.array([k for a in acting for k in a], dtype=np.int64)
    model.contact_log = None
    if tps and model.params.journey_log.share > 0:
        from simulator.journey import ContactLog

        model.contact_log = ContactLog(model, list(tps), by_stage, stage_tps)
    refresh(model)


def refresh(model: JourneyModel) -> None:
    """Recompute each persona's factors and decision utility from the touchpoints now."""
    tps = model.params.touchpoints
    model.touchpoint_factors = {}
    model.touchpoint_utility = {}
    model.touchpoint_reach = {}  # persona -> each touchpoint's reach now (config order)
    for p in model.params.personas:
        now = reach_now(tps, p, model.touchpoint_state)
        f, u = factors(tps, p, now)
        model.touchpoint_factors[p] = f
        model.touchpoint_utility[p] = u
        model.touchpoint_reach[p] = np.array(list(now.values()), dtype=np.float64)
    # The same factors by persona index (``factor`` is called a few dozen times a month).
    model.touchpoint_factors_of = [
        model.touchpoint_factors[p.name] for p in model.params.persona_list
    ]
    # Each persona's (row, in persona order) reach of every touchpoint: the event log's contacts.
    reach = [model.touchpoint_reach[p.name] for p in model.params.persona_list]
    model.touchpoint_reach_matrix = np.stack(reach) if reach else np.zeros((0, len(tps)))


def factor(agent: PersonaAgent, transition: str) -> float:
    """The persona's factor on ``transition`` this month (1.0: no touchpoint differs)."""
    return agent.model.touchpoint_factors_of[agent.index][transition]


def lifted(p: float, f: float) -> float:
    """Probability ``p`` × factor ``f``, clipped to [0, 1] (``p`` itself when ``f`` is 1)."""
    return p if f == 1.0 else min(max(p * f, 0.0), 1.0)


def lift_buy_probability(weights: np.ndarray, f: float) -> None:
    """Rescale the outside option's weight (column 0) of decision ``weights`` in place so that
    each account's probability of buying a plan becomes min(f × P(buy), 1); the plan shares
    among buyers stay."""
    if f == 1.0 or weights.size == 0:
        return
    plans = weights[:, 1:].sum(axis=1)
    total = plans + weights[:, 0]
    p = np.divide(plans, total, out=np.zeros_like(plans), where=total > 0)
    q = np.clip(p * f, 0.0, 1.0)
    ok = q > 0
    weights[ok, 0] = plans[ok] * (1.0 - q[ok]) / q[ok]


# ---------------------------------------------------------------------------- event log
#: Stage codes each touchpoint stage reaches (``active`` reaches active and advocate accounts).
STAGE_CODES: dict[str, tuple[int, ...]] = {
    "consideration": (Stage.CONSIDERATION,),
    "decision": (Stage.DECISION,),
    "onboarding": (Stage.ONBOARDING,),
    "active": (Stage.ACTIVE, Stage.ADVOCATE),
    "advocate": (Stage.ADVOCATE,),
}


def log_contacts(model: JourneyModel) -> None:
    """At the end of a month, each touchpoint's contacts with the accounts the event log
    follows (``journey_log.share``): a sampled account in the touchpoint's stage is reached
    with probability ``reach`` (a hash of seed, month, touchpoint and account, not a draw:
    the run's numbers do not change; ``simulator.journey.contacts``) and gets a row in the
    log. One compiled pass a month over every persona's sampled rows
    (``simulator.journey.ContactLog``); nothing without a log or touchpoints."""
    tps = model.params.touchpoints
    if not tps or model.params.journey_log.share <= 0:
        return
    model.contact_log.log(model, model.touchpoint_reach_matrix)


# ---------------------------------------------------------------------------- activity and cost
def reach_schedule(params: Any) -> dict[tuple[int, str], dict[str, float]]:
    """(month, persona) -> each touchpoint's reach that month (events applied in order)."""
    tps = params.touchpoints
    events = sorted(
        ((e.month, k, e) for k, e in params.events.items() if e.type == "touchpoint"),
        key=lambda x: (x[0], x[1]),
    )
    state: dict[str, tuple[bool, dict[str, float] | None]] = {}
    out = {}
    for month in range(1, params.months + 1):
        for m, _, e in events:
            if m == month:
                state[e.touchpoint] = apply_change(tps[e.touchpoint], state, e)
        for p in params.personas:
            out[(month, p)] = reach_now(tps, p, state)
    return out


def apply_change(
    tp: Touchpoint, state: dict[str, tuple[bool, dict[str, float] | None]], event: Any
) -> tuple[bool, dict[str, float] | None]:
    """A touchpoint's (enabled, reach) after a ``touchpoint`` event."""
    enabled, reach = state.get(event.touchpoint, (tp.enabled, None))
    if event.enabled is not None:
        enabled = event.enabled
    if event.reach is not None:
        reach = {**(reach if reach is not None else tp.reach), **event.reach}
    return enabled, reach


def activity(monthly: pd.DataFrame, params: Any, programmes: bool = False) -> pd.DataFrame:
    """Touchpoint activity and cost per scenario, replication, month, persona and touchpoint
    (``ACTIVITY_COLUMNS``; module docstring): expected accounts reached and $ cost. With
    ``programmes``, the built-in programmes' rows too (``simulator.programmes``:
    ``programme_activity``) and a ``kind`` column (touchpoint / programme)."""
    if programmes:
        from simulator.programmes import programme_activity

        parts = [
            activity(monthly, params).assign(kind="touchpoint"),
            programme_activity(monthly, params).assign(kind="programme"),
        ]
        return pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    tps = params.touchpoints
    if not tps or monthly.empty:
        return pd.DataFrame({c: [] for c in ACTIVITY_COLUMNS})
    schedule = reach_schedule(params)
    frames = []
    for name, tp in tps.items():
        stock = monthly[list(STAGE_COLUMNS[tp.stage])].sum(axis=1).to_numpy(dtype=float)
        months, personas = monthly["month"], monthly["persona"]
        reach = np.array([schedule[(m, p)][name] for m, p in zip(months, personas, strict=True)])
        reached = reach * stock
        # The fixed cost, split between the personas reached in proportion to their reach.
        key = monthly[["replication", "month"]].assign(r=reach)
        total_reach = key.groupby(["replication", "month"])["r"].transform("sum").to_numpy()
        share = np.divide(reach, total_reach, out=np.zeros_like(reach), where=total_reach > 0)
        cost = tp.cost.fixed_per_month * share + tp.cost.per_account * reached
        frames.append(
            pd.DataFrame(
                {
                    "scenario": monthly["scenario"].to_numpy(),
                    "replication": monthly["replication"].to_numpy(),
                    "month": monthly["month"].to_numpy(),
                    "persona": monthly["persona"].to_numpy(),
                    "touchpoint": name,
                    "stage": tp.stage,
                    "reach": reach,
                    "accounts_reached": reached,
                    "cost": cost,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)[list(ACTIVITY_COLUMNS)]


MECHANISM = Mechanism(
    name="touchpoints",
    config=("touchpoints.*",),
    moves_churn=moves_churn,
    setup=setup,
)
