"""The built-in programmes as touchpoints: acquisition channels, onboarding paths, the
customer-success team and the knowledge base, each with the stage it acts in, the config
override that switches it off, the one that adds 10% of its spend or capacity, and the monthly
cost column its cost is read from.

The engine models these programmes in their own mechanisms (``acquisition``, ``onboarding``,
``success``, ``support``), not as ``touchpoints.<name>``: their effects are not a relative lift
but a lead response to spend, an activation probability, a capacity of accounts worked, a
deflection share. What makes them touchpoints here is what the audit and the activity table need
of a touchpoint: a name, a stage, a switch (``off``), a step of more of it (``more``) and a cost.
The default engine is untouched: a programme is only a set of config overrides.

=================  ===============  ======================================  ================
programme          stage            off                                     cost column
=================  ===============  ======================================  ================
``channel:<c>``    consideration    ``acquisition.channels.<c>.spend`` 0    acquisition_cost
``onboarding:<p>`` onboarding       its personas onboard on the cheapest    onboarding_cost
                                    path (``personas.<q>.onboarding``)
``customer_success`` active         ``success.csms`` 0                      success_cost
``knowledge_base`` active           ``support.knowledge_base_deflection`` 0 (none)
=================  ===============  ======================================  ================

``more`` (``step``, 0.10 by default) adds 10% to a channel's monthly spend, 10% to the CSM team's
capacity at the same cost per account worked (``success.accounts_per_csm`` and
``success.cost_per_csm`` × the same factor, the accounts rounded), 10% to the deflection share
(capped at 1). An onboarding path has no ``more``: its cost per account buys no activation in the
model (``onboarding.paths.<p>.quality`` is a probability, not a response to spend). The cheapest
path (the fallback of the others' ``off``) is not a programme, nor a path no persona uses.

A channel's ``off`` sets its configured spend to 0; ``campaign`` events on it still add their
spend, and a ``channel_spend`` event of the scenario still sets its spend from its month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

#: Programme kinds, in the order ``programmes`` lists them.
KINDS: tuple[str, ...] = ("channel", "onboarding", "customer_success", "knowledge_base")


@dataclass(frozen=True)
class Programme:
    """One built-in programme (module docstring).

    Attributes:
        name: ``channel:<c>``, ``onboarding:<path>``, ``customer_success``, ``knowledge_base``.
        kind: one of ``KINDS``.
        stage: the journey stage it acts in (as a touchpoint's ``stage``).
        off: config overrides (dotted keys) that switch it off.
        more: config overrides that add ``step`` of its spend or capacity (None: none).
        cost_column: the monthly-table column its cost is in (None: it has no cost).
        personas: the personas it acts on.
    """

    name: str
    kind: str
    stage: str
    off: dict[str, Any]
    more: dict[str, Any] | None
    cost_column: str | None
    personas: tuple[str, ...] = field(default=())


def programmes(params: Any, step: float = 0.10) -> dict[str, Programme]:
    """The scenario's built-in programmes by name (module docstring); ``step``: the share of
    spend or capacity ``more`` adds."""
    out: dict[str, Programme] = {}
    personas = list(params.personas)
    for c, ch in params.acquisition.channels.items():
        users = tuple(p for p in personas if params.personas[p].channels.get(c, 0) > 0)
        out[f"channel:{c}"] = Programme(
            f"channel:{c}",
            "channel",
            "consideration",
            off={f"acquisition.channels.{c}.spend": 0.0},
            more={f"acquisition.channels.{c}.spend": float(ch.spend) * (1.0 + step)},
            cost_column="acquisition_cost",
            personas=users,
        )
    paths = params.onboarding.paths
    if paths:
        fallback = min(paths, key=lambda k: (paths[k].cost, k))
        for path in paths:
            users = tuple(p for p in personas if params.personas[p].onboarding == path)
            if path == fallback or not users:
                continue
            out[f"onboarding:{path}"] = Programme(
                f"onboarding:{path}",
                "onboarding",
                "onboarding",
                off={f"personas.{p}.onboarding": fallback for p in users},
                more=None,
                cost_column="onboarding_cost",
                personas=users,
            )
    s = params.success
    per_csm = max(round(s.accounts_per_csm * (1.0 + step)), s.accounts_per_csm)
    factor = per_csm / s.accounts_per_csm if s.accounts_per_csm else 1.0
    out["customer_success"] = Programme(
        "customer_success",
        "customer_success",
        "active",
        off={"success.csms": 0},
        more={
            "success.accounts_per_csm": per_csm,
            "success.cost_per_csm": float(s.cost_per_csm) * factor,
        },
        cost_column="success_cost",
        personas=tuple(personas),
    )
    d = params.support.knowledge_base_deflection
    out["knowledge_base"] = Programme(
        "knowledge_base",
        "knowledge_base",
        "active",
        off={"support.knowledge_base_deflection": 0.0},
        more={"support.knowledge_base_deflection": min(float(d) * (1.0 + step), 1.0)},
        cost_column=None,
        personas=tuple(personas),
    )
    return out


def channel_spend_schedule(params: Any) -> dict[tuple[int, str], float]:
    """(month, channel) -> the channel's spend that month ($), ``channel_spend`` and
    ``campaign`` events included (``simulator.mechanisms.events.channel_spend``)."""
    from simulator.mechanisms.events import base_spend_schedule

    campaigns = [e for e in params.events.values() if e.type == "campaign"]
    out = base_spend_schedule(params)
    for (month, c), base in out.items():
        extra = sum(
            e.spend for e in campaigns if e.channel == c and e.month <= month < e.month + e.months
        )
        out[(month, c)] = base + float(extra)
    return out


def programme_activity(monthly: pd.DataFrame, params: Any) -> pd.DataFrame:
    """The programmes' activity and cost per scenario, replication, month, persona and programme,
    in the columns of the touchpoint activity table (``touchpoint`` holds the programme's name;
    ``reach`` is NaN: a programme has no reach share):

    - ``channel:<c>``: cost = the channel's spend that month × the persona's share of its leads;
      accounts reached = the channel's leads (``channel_leads`` at that spend) × the same share;
    - ``onboarding:<p>``: the persona's ``onboarding_cost`` on that path, accounts = cost / the
      path's cost per account;
    - ``customer_success``: ``success_cost``, accounts = ``accounts_worked``;
    - ``knowledge_base``: cost 0, accounts = tickets deflected (``tickets`` × d / (1 - d)).
    """
    from simulator.mechanisms.acquisition import channel_leads, channel_shares
    from simulator.mechanisms.events import deflection_schedule
    from simulator.mechanisms.touchpoints import ACTIVITY_COLUMNS

    if monthly.empty:
        return pd.DataFrame({c: [] for c in ACTIVITY_COLUMNS})
    keys = monthly[["scenario", "replication", "month", "persona"]].reset_index(drop=True)
    month, persona = keys["month"].to_numpy(), keys["persona"].to_numpy()
    spend = channel_spend_schedule(params)
    shares = channel_shares(params)
    frames = []

    def frame(prog: Programme, accounts: np.ndarray, cost: np.ndarray) -> None:
        frames.append(
            keys.assign(
                touchpoint=prog.name,
                stage=prog.stage,
                reach=np.nan,
                accounts_reached=np.asarray(accounts, dtype=float),
                cost=np.asarray(cost, dtype=float),
            )
        )

    for prog in programmes(params).values():
        if prog.kind == "channel":
            c = prog.name.split(":", 1)[1]
            ch = params.acquisition.channels[c]
            share = np.array([shares[p].get(c, 0.0) for p in persona])
            x = np.array([spend[(int(m), c)] for m in month])
            leads = np.array([channel_leads(v, ch.cost_per_lead, ch.saturation_leads) for v in x])
            frame(prog, leads * share, x * share)
        elif prog.kind == "onboarding":
            path = params.onboarding.paths[prog.name.split(":", 1)[1]]
            on = np.isin(persona, prog.personas)
            cost = np.where(on, monthly["onboarding_cost"].to_numpy(dtype=float), 0.0)
            accounts = cost / path.cost if path.cost > 0 else np.full(len(cost), np.nan)
            frame(prog, accounts, cost)
        elif prog.kind == "customer_success":
            frame(prog, monthly["accounts_worked"].to_numpy(), monthly["success_cost"].to_numpy())
        else:
            shares = deflection_schedule(params)  # knowledge_base events applied
            d = np.array([shares[int(m)] for m in month])
            tickets = monthly["tickets"].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                deflected = np.where(d < 1.0, tickets * d / (1.0 - d), np.nan)
            frame(prog, deflected, np.zeros(len(tickets)))
    return pd.concat(frames, ignore_index=True)[list(ACTIVITY_COLUMNS)]


__all__ = [
    "KINDS",
    "Programme",
    "channel_spend_schedule",
    "programme_activity",
    "programmes",
]
