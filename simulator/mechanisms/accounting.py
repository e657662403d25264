"""Accounting: close the month into one record per persona (stage counts, MRR bridge, costs).

Every flow a mechanism adds (``PersonaAgent.add``) must be an output column declared in
``simulator.results``: a record with an undeclared column raises (a typo would otherwise vanish
from the table). The accounting's own columns: the MRR bridge's ends, cost of goods, seats, the
at-risk count and 12-month retention (MRR of the accounts paying 12 months ago, then and now).

12-month retention reads an MRR change log (``MrrLog``), not twelve copies of every account's MRR:
each close logs the rows whose MRR changed that month with their MRR before it, so the MRR of a
row 12 months ago is the one logged at its first change since, or its MRR now if it has not
changed (4 bytes per account plus the changes of 12 months).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.kernels.ledger import close_rows, year_ago_sums
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


class MrrLog:
    """One persona's MRR at the last close (``snapshot``, $/month per row) and the rows whose
    MRR changed in each of the last 12 closes, with the MRR they had before (oldest first)."""

    def __init__(self, mrr: np.ndarray):
        self.snapshot = mrr.copy()
        self.changes: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=12)

    @property
    def nbytes(self) -> int:
        """Bytes held: the snapshot and the logged changes."""
        return self.snapshot.nbytes + sum(r.nbytes + o.nbytes for r, o in self.changes)

    def year_ago(self, mrr: np.ndarray, mrr_now: float) -> tuple[float, float, float]:
        """With 12 closes logged: MRR ($/month) of the accounts paying at the close 12 months
        ago, then; their MRR now; and now capped at then, per account (gross). ``mrr_now`` is
        the sum of ``mrr`` (the persona's MRR now, per row)."""
        rows = np.concatenate([r for r, _ in self.changes])
        old = np.concatenate([o for _, o in self.changes])
        return year_ago_sums(mrr, rows, old, mrr_now)


def start_history(model: JourneyModel) -> None:
    """The MRR change log of every persona, from the initial book (month 0)."""
    model.mrr_history = [MrrLog(a.pop.mrr) for a in model.persona_agents]


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
        # One pass over the aware rows: MRR now, health below the threshold, MRR changes.
        # Health is 0 on every account not paying, so the at-risk count needs no mask.
        log = model.mrr_history[k]
        mrr_now, below, rows, old = close_rows(
            agent.pop.mrr, agent.pop.health, log.snapshot, agent.aware, threshold
        )
        log.changes.append((rows, old))
        if threshold <= 0:
            f["at_risk"] = below
        else:
            f["at_risk"] = paying - (agent.aware - below)
        f["mrr_end"] = mrr_end
        if len(log.changes) == 12:  # 12-month retention: accounts paying 12 months ago
            then, retained, gross = log.year_ago(agent.pop.mrr, mrr_now)
            f["mrr_12m_ago"] = then
            f["retained_mrr_12m"] = retained
            f["gross_retained_mrr_12m"] = gross
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
