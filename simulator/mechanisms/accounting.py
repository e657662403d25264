"""Accounting: close the month into one record per persona (stage counts, MRR bridge, costs).

Every flow a mechanism adds (``PersonaAgent.add``) must be an output column declared in
``simulator.results``: a record with an undeclared column raises (a typo would otherwise vanish
from the table). The accounting's own columns: the MRR bridge's ends, cost of goods, seats, the
at-risk count and 12-month retention (MRR of the accounts paying 12 months ago, then and now).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.mechanisms import success, support
from simulator.mechanisms.base import Mechanism
from simulator.results import FLOW_COLUMNS, STAGE_COLUMNS

if TYPE_CHECKING:
    from simulator.model import JourneyModel

#: Flow columns of a record, in table order; a mechanism may write these and no others.
FLOW_NAMES: tuple[str, ...] = tuple(FLOW_COLUMNS)
DECLARED_FLOWS: frozenset[str] = frozenset(FLOW_NAMES)


class UndeclaredColumnError(KeyError):
    """A mechanism wrote a flow column that ``simulator.results`` does not declare."""


def start_history(model: JourneyModel) -> None:
    """MRR snapshots at the end of the last 12 months (month 0 = the initial book), one array
    per persona over its aware rows (the other rows have MRR 0)."""
    model.mrr_history = deque(
        [[a.pop.mrr[: a.aware].copy() for a in model.persona_agents]], maxlen=12
    )


def close_month(model: JourneyModel) -> None:
    """Append this month's record of every persona to ``model.records``."""
    par = model.params
    agents = model.persona_agents
    threshold = par.health.at_risk_threshold
    n_paying = [a.n_paying for a in agents]
    if model.mechanisms[support.SWITCH]:
        support.allocate_cost(model, n_paying)
    if model.mechanisms[success.SWITCH]:
        success.allocate_cost(model, n_paying)
    # 12-month retention: MRR of accounts paying 12 months ago, then and now.
    year_ago = model.mrr_history[0] if len(model.mrr_history) == 12 else None
    for k, agent in enumerate(agents):
        f = agent.flows
        paying = n_paying[k]
        row: dict[str, Any] = {
            "scenario": model.scenario_name,
            "replication": model.replication,
            "month": model.month,
            "persona": agent.persona.name,
        }
        row.update(zip(STAGE_COLUMNS, agent.counts.tolist(), strict=True))
        mrr_end = agent.mrr_total
        seats = agent.paying_seats
        cogs = agent.persona.cogs
        f["cogs"] = (
            cogs.per_account * paying
            + cogs.per_seat * seats
            + par.pricing.cogs.payment_fee * f.get("revenue", 0.0)
        )
        f["seats"] = seats
        # Health is 0 on every account not paying, so one pass over the aware rows counts
        # the paying accounts below the threshold.
        health = agent.pop.health[: agent.aware]
        if threshold <= 0:
            f["at_risk"] = int(np.count_nonzero(health < threshold))
        else:
            f["at_risk"] = paying - int(np.count_nonzero(health >= threshold))
        f["mrr_end"] = mrr_end
        if year_ago is not None:
            # MRR is 0 on every row not paying, so no masks are needed: accounts paying a
            # year ago are those with MRR then > 0 (all among the aware rows then).
            then = year_ago[k]
            now = agent.pop.mrr[: then.size]
            f["mrr_12m_ago"] = float(then.sum(dtype=np.float64))
            f["retained_mrr_12m"] = float(
                np.where(then > 0, now, np.float32(0)).sum(dtype=np.float64)
            )
            f["gross_retained_mrr_12m"] = float(np.minimum(now, then).sum(dtype=np.float64))
        undeclared = f.keys() - DECLARED_FLOWS
        if undeclared:
            raise UndeclaredColumnError(
                f"flow column(s) {', '.join(sorted(undeclared))} written by persona "
                f"{agent.persona.name!r} are not declared in simulator.results"
            )
        row.update({col: f.get(col, 0.0) for col in FLOW_NAMES})
        row["customers"] = paying
        row["arr"] = 12.0 * mrr_end
        model.records.append(row)
    model.mrr_history.append([a.pop.mrr[: a.aware].copy() for a in agents])


MECHANISM = Mechanism(
    name="accounting",
    config=("pricing.cogs.*", "personas.*.cogs", "health.at_risk_threshold"),
    population=("mrr", "health"),
    outputs=(
        "mrr_start",
        "mrr_end",
        "cogs",
        "seats",
        "at_risk",
        "mrr_12m_ago",
        "retained_mrr_12m",
        "gross_retained_mrr_12m",
    ),
)
