"""Accounting: close the month into one record per persona (stage counts, MRR bridge, costs).

Every flow a mechanism adds (``PersonaAgent.add``) must be an output column declared in
``simulator.results``: a record with an undeclared column raises (a typo would otherwise vanish
from the table). The accounting's own columns: the MRR bridge's ends, cost of goods, seats, the
at-risk count, 12-month retention (MRR of the accounts paying 12 months ago, then and now; and
the part of it from accounts won back after leaving in between: MRR 0 at a close) and the
deferred revenue of annual terms billed up front.

12-month retention reads an MRR change log (``MrrLog``), not twelve copies of every account's MRR:
each close logs the rows whose MRR changed that month with their new MRR, and the MRR of every
account 12 months ago is rolled forward one logged month at a time (8 bytes per account plus
the changes of 12 months). A close reads only the rows that have ever paid (every other row
has MRR 0 then and now, and health 0), not the aware prefix.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.kernels.ledger import close_rows, roll_forward, union_rows
from simulator.mechanisms import success, support
from simulator.mechanisms.base import Mechanism
from simulator.results import FLOW_COLUMNS, STAGE_COLUMNS
from simulator.stages import is_paying

if TYPE_CHECKING:
    from simulator.model import JourneyModel

#: Flow columns of a record, in table order; a mechanism may write these and no others.
FLOW_NAMES: tuple[str, ...] = tuple(FLOW_COLUMNS)
DECLARED_FLOWS: frozenset[str] = frozenset(FLOW_NAMES)
_NO_FLOWS: dict[str, float] = dict.fromkeys(FLOW_NAMES, 0.0)


class UndeclaredColumnError(KeyError):
    """A mechanism wrote a flow column that ``simulator.results`` does not declare."""


#: ``MrrLog.left`` of a row never closed with MRR 0 after paying.
NEVER_LEFT = np.iinfo(np.int32).min
#: A close reads the rows that have ever paid, by their index, while they are fewer than this
#: share of the aware rows; from then on it reads every aware row in order (measured: an
#: indexed row costs about four times a row read in order, cache misses included).
DENSE_SHARE = 0.25
_ALL_ROWS = np.empty(0, dtype=np.int64)


class MrrLog:
    """One persona's MRR at the last close (``snapshot``), at the close 12 months before the
    next one (``year_ago``), both $/month per row, the rows whose MRR changed at each of
    the closes in between, with their MRR after the change (oldest first), each row's last
    month closed with its MRR changed to 0 (``left``: it stopped paying), and the rows that
    have ever paid (``paid_rows``, ascending: those paying or with MRR at the start, then
    every row that has started paying since; ``paid`` marks them) while they are few
    (``DENSE_SHARE``; then both are dropped and the close reads every aware row)."""

    def __init__(self, mrr: np.ndarray, stage: np.ndarray, n_paying: int, aware: int):
        self.snapshot = mrr.copy()
        self.year_ago = mrr.copy()
        self.left = np.full(mrr.size, NEVER_LEFT, dtype=np.int32)
        self.changes: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self.paid: np.ndarray | None = None  # (marks ``paid_rows``)
        self.paid_rows = _ALL_ROWS
        if DENSE_SHARE * aware > n_paying:  # (else every close reads all aware rows in order)
            self.paid = is_paying(stage) | (mrr != 0)
            self.paid_rows = np.flatnonzero(self.paid).astype(np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes held: the two snapshots, the months left, the rows that have paid and the
        logged changes."""
        logged = sum(r.nbytes + v.nbytes for r, v in self.changes)
        held = self.snapshot.nbytes + self.year_ago.nbytes + self.left.nbytes
        paid = self.paid_rows.nbytes + (0 if self.paid is None else self.paid.nbytes)
        return held + paid + logged

    def close(
        self,
        mrr: np.ndarray,
        health: np.ndarray,
        aware: int,
        started_paying: list[np.ndarray],
        n_paying: int,
        threshold: float,
        annual: np.ndarray,
        term_end: np.ndarray,
        month: int,
    ) -> tuple[int, tuple[float, float, float, float, float] | None, float]:
        """Close ``month`` over the aware rows ``[0, aware)``, with ``started_paying`` the rows
        that have started paying since the last close (taken: the list is emptied) and
        ``n_paying`` the paying accounts: the paying accounts with health below ``threshold``
        (at risk; health is 0 on every other row); from the 12th close on, 12-month retention
        (MRR then of the accounts paying 12 months ago, their MRR now, and now capped at then,
        per account; then the same two sums over those of them won back after leaving in
        between; ``None`` before); and the deferred revenue of annual terms at the end of the
        month ($)."""
        rows = _ALL_ROWS
        if self.paid is not None:
            started = np.concatenate(started_paying) if started_paying else _ALL_ROWS
            self.paid_rows = union_rows(self.paid_rows, started, self.paid)
            if DENSE_SHARE * aware > self.paid_rows.size:
                rows = self.paid_rows
            else:  # most aware rows have paid: a pass over them in order from now on
                self.paid = None
                self.paid_rows = _ALL_ROWS
        started_paying.clear()
        retention = len(self.changes) >= 11
        if len(self.changes) == 12:  # ``year_ago`` moves on to the close 12 months ago
            roll_forward(self.year_ago, *self.changes.popleft())
        below, changed, new, then, now, gross, won, won_gross, deferred = close_rows(
            mrr,
            health,
            self.snapshot,
            self.year_ago,
            self.left,
            annual,
            term_end,
            rows,
            aware,
            threshold,
            retention,
            month,
        )
        self.changes.append((changed, new))
        year = (then, now, gross, won, won_gross) if retention else None
        # Health is 0 on the rows not paying: below a positive threshold, every one of them
        # closed is counted too.
        closed = rows.size if rows.size else aware
        at_risk = below if threshold <= 0 else below - (closed - n_paying)
        return at_risk, year, deferred


def start_history(model: JourneyModel) -> None:
    """The MRR change log of every persona, from the initial book (month 0)."""
    model.mrr_history = [
        MrrLog(a.pop.mrr, a.pop.stage, a.n_paying, a.aware) for a in model.persona_agents
    ]
    for agent in model.persona_agents:  # (the book's rows: in the log already, not kept twice)
        agent.started_paying.clear()


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
        # One pass over the rows that have ever paid: health below the threshold, MRR
        # changes, retention, deferred revenue.
        pop = agent.pop
        f["at_risk"], year, deferred = model.mrr_history[k].close(
            pop.mrr,
            pop.health,
            agent.aware,
            agent.started_paying,
            paying,
            threshold,
            pop.annual,
            pop.term_end,
            model.month,
        )
        f["mrr_end"] = mrr_end
        if year is not None:  # 12-month retention: accounts paying 12 months ago
            f["mrr_12m_ago"], f["retained_mrr_12m"], f["gross_retained_mrr_12m"] = year[:3]
            f["won_back_mrr_12m"], f["gross_won_back_mrr_12m"] = year[3:]
        f["deferred_revenue"] = deferred
        undeclared = f.keys() - DECLARED_FLOWS
        if undeclared:
            raise UndeclaredColumnError(
                f"flow column(s) {', '.join(sorted(undeclared))} written by persona "
                f"{agent.persona.name!r} are not declared in simulator.results"
            )
        row.update(_NO_FLOWS)  # (every flow column, 0 where no mechanism wrote it)
        row.update(f)
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
        "won_back_mrr_12m",
        "gross_won_back_mrr_12m",
        "deferred_revenue",
    ),
)
