"""Persona agents: the core every mechanism shares.

Each ``PersonaAgent`` holds one persona's accounts (a contiguous slice of the population) and
the devices that keep a month's work proportional to the accounts that act, not to the market:

- **Aware prefix.** Unaware accounts are exchangeable (their seats and base churn are drawn at
  set-up and used only once they buy), so the ``k`` accounts that start evaluating in a month are
  the next ``k`` unaware rows: rows ``[0, aware)`` of a persona are every account that has ever
  been reached, rows ``[aware, size)`` are unaware.
- **Paying index.** Phases that act on most customers every month walk ``paying_rows()``, the
  paying rows of the prefix, brought up to date once a month and shared, in compiled loops
  (``simulator.kernels``). It is built by a scan of the prefix once, then updated from the
  rows that start paying (``move``, ``start_paying``): work in proportion to the customers,
  not to the aware prefix (which may grow to the whole market).
- **Scheduled transitions** (``simulator.calendar``): constant monthly exit probabilities
  become geometric waiting times drawn when an account enters the stage; fixed durations are
  filed the same way. ``due`` holds one calendar per scheduled transition, each declared by the
  mechanism that files or pops it.
- **Counters.** Stage counts, MRR and paying seats are updated where accounts move (``move``,
  ``start_paying``, ``end_paying``, ``reprice``), so the monthly accounting reads them instead of
  recounting the population.

The mechanisms (``simulator.mechanisms``) are functions that take the model and work on these
agents; random numbers come from named streams keyed by (stream, month, persona), counter-based
per row (``row_uniform``, or ``row_key`` for the draws made inside compiled kernels).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from simulator import kernels
from simulator.calendar import Calendar
from simulator.journey import StageTrace
from simulator.kernels.core import update_paying_rows
from simulator.kernels.spells import clear_spells, reprice_rows, spell_totals, start_spells
from simulator.stages import N_STAGES, NO_COHORT, Stage, is_paying

if TYPE_CHECKING:
    from simulator.mechanisms.pricing import PriceBook
    from simulator.model import JourneyModel
    from simulator.params import Persona
    from simulator.population import Population

#: Whether each stage (by code) is a paying one.
_PAYING: tuple[bool, ...] = tuple(bool(is_paying(s)) for s in Stage)
_NO_ROWS = np.empty(0, dtype=np.int64)


class PersonaAgent(mesa.Agent):
    """One persona (segment) and its accounts.

    Attributes:
        persona: the persona's validated parameters.
        index: the persona's number (config order), a key of every random stream.
        rows: the slice of population rows that belong to this persona.
        pop: views of the population arrays restricted to ``rows``.
        aware: accounts ever reached (rows ``[0, aware)``); the rest are unaware.
        counts: accounts per stage now (``Stage`` order), kept up to date by ``move``.
        start_counts: ``counts`` at the start of the month.
        mrr_total: MRR of the persona now, $/month, kept up to date where MRR changes.
        paying_seats: seats of paying accounts now.
        flows: this month's flows and money, by output column name (reset every month).
        due: rows due to leave a stage, by month: one calendar per scheduled transition.
    """

    def __init__(
        self, model: JourneyModel, persona: Persona, rows: slice, calendars: tuple[str, ...]
    ):
        super().__init__(model)
        self.persona = persona
        self.index: int = persona.index
        self.rows = rows
        self.size = rows.stop - rows.start
        self.pop: Population = model.population.view(rows)
        self.aware = 0
        self._prefix: tuple[int, Population] = (0, self.pop.view(slice(0, 0)))
        self.counts = np.zeros(N_STAGES, dtype=np.int64)
        self.counts[Stage.UNAWARE] = self.size
        self.start_counts = self.counts.copy()
        self.mrr_total = 0.0
        self.paying_seats = 0
        self.flows: dict[str, float] = {}
        self.due: dict[str, Calendar] = {name: Calendar() for name in calendars}
        self._paying_rows: tuple[int, np.ndarray] | None = None
        self._new_payers: list[np.ndarray] = []
        #: Rows that have entered a paying stage from a non-paying one since the month's
        #: close last took them (``accounting.MrrLog``; any order, repeats allowed).
        self.started_paying: list[np.ndarray] = []
        log = model.params.journey_log
        #: Stage flows, stays and the sampled event log (``simulator.journey``).
        self.trace = StageTrace(rows.start, self.size, model.params.seed, log.share)

    # ------------------------------------------------------------------ draws and flows
    @property
    def prefix(self) -> Population:
        """Views of the population arrays over the aware prefix (rows ``[0, aware)``), kept
        until the prefix grows."""
        size, view = self._prefix
        if size != self.aware:
            view = self.pop.view(slice(0, self.aware))
            self._prefix = (self.aware, view)
        return view

    def row_uniform(self, stream: str, rows: np.ndarray, draw: int = 0) -> np.ndarray:
        """One float32 uniform per entry of ``rows`` from ``stream`` this month, keyed by row:
        ``RandomStreams.row_uniform``, drawn by the compiled hash (``kernels.row_uniforms``)."""
        return kernels.row_uniforms(self.row_key(stream, draw), rows)

    def row_key(self, stream: str, draw: int = kernels.MONTHLY_DRAW) -> np.uint64:
        """The key of ``stream``'s counter-based draws this month (a kernel draws
        ``kernels.row_uniform(key, row)`` for the rows it needs)."""
        return self.model.streams.row_key_u64(stream, self.model.month, self.index, draw)

    def add(self, column: str, value: float) -> None:
        """Add ``value`` to this month's flow ``column`` (an output column name)."""
        self.flows[column] = self.flows.get(column, 0.0) + float(value)

    def begin_month(self) -> None:
        """Reset this month's flows; remember the stage counts and MRR at the start."""
        self.flows = {"mrr_start": self.mrr_total}
        self.start_counts = self.counts.copy()
        self.trace.begin_month(self, self.model.month)

    # ------------------------------------------------------------------ counters
    def paying_mask(self) -> np.ndarray:
        """Paying accounts among the aware prefix (the rest of the rows are unaware)."""
        return is_paying(self.pop.stage[: self.aware])

    def paying_rows(self) -> np.ndarray:
        """Rows of the paying accounts (int64, row order): one index per month, brought up to
        date when a phase first asks for it and shared by the phases after it. Accounts start
        paying only through ``move`` into a paying stage from another one (decision, win-back),
        which records the rows and makes the next call bring the index up to date, so later in
        the month it may only hold rows that have stopped paying since: its users check the
        stage. (The first index scans the aware prefix; later ones are the last index's rows
        still paying merged with the rows that have started paying since.)"""
        month = self.model.month
        index = self._paying_rows
        if index is not None and index[0] == month and not self._new_payers:
            return index[1]
        stage = self.pop.stage
        if index is None:
            rows = kernels.paying_rows(stage, self.aware)
        else:
            new = self._new_payers
            added = new[0] if len(new) == 1 else np.concatenate(new) if new else _NO_ROWS
            rows = update_paying_rows(index[1], added, stage)
        self._new_payers = []
        self._paying_rows = (month, rows)
        return rows

    @property
    def n_paying(self) -> int:
        """Paying accounts now: onboarding + active + advocate."""
        c = self.counts
        return int(c[Stage.ONBOARDING] + c[Stage.ACTIVE] + c[Stage.ADVOCATE])

    def recount(self) -> None:
        """Recompute the counters from the population (after set-up)."""
        pop = self.pop
        self.counts = np.bincount(pop.stage.view(np.uint8), minlength=N_STAGES).astype(np.int64)
        self.aware = self.size - int(self.counts[Stage.UNAWARE])
        if np.any(pop.stage[: self.aware] == Stage.UNAWARE):
            raise ValueError("unaware accounts must be the last rows of a persona")
        self._paying_rows = None
        self._new_payers = []
        paying = self.paying_mask()
        self.mrr_total = float(pop.mrr.sum(dtype=np.float64))
        self.paying_seats = int(pop.seats[: self.aware][paying].sum(dtype=np.int64))

    def move(self, idx: np.ndarray, stage: Stage, source: Stage | None = None) -> None:
        """Accounts ``idx`` enter ``stage`` this month (all from ``source`` when given): the
        one place an account's stage changes, with ``start_paying`` (see ``StageTrace.move``)."""
        if idx.size == 0:
            return
        self.trace.move(self, idx, int(stage), -1 if source is None else int(source))
        if _PAYING[stage] and (source is None or not _PAYING[source]):
            self._started_paying(idx)  # (some may already pay)

    def _started_paying(self, idx: np.ndarray) -> None:
        """Accounts ``idx`` entered a paying stage: recorded for the paying index
        (``paying_rows``) and for the month's close (``started_paying``)."""
        rows = idx.astype(np.int64)
        self._new_payers.append(rows)
        self.started_paying.append(rows)

    # ------------------------------------------------------------------ paying spells
    def start_paying(
        self,
        idx: np.ndarray,
        plan: np.ndarray,
        annual: np.ndarray,
        stage: Stage,
        source: Stage,
        first_churn_month: int,
        price_book: PriceBook | None = None,
    ) -> float:
        """Accounts ``idx`` (all in ``source``) start a paying spell in ``stage`` this month, on
        ``plan`` at today's list price (or ``price_book``'s: the book's own prices at month 0),
        billed annually where ``annual``: the initial book, new customers and won-back customers
        all start here. Churn can end the spell from ``first_churn_month`` on. Returns the MRR
        added ($/month), after any promotion's discount."""
        m = self.model
        pop = self.pop
        book = price_book or m.price_book
        entered = pop.stage_month[idx]  # (the kernel rewrites it)
        mrr, seats = start_spells(
            idx,
            plan,
            annual,
            int(stage),
            m.month,
            m.params.renewal.term_months,
            book.list_price,
            book.per_seat,
            self.persona.price_multiplier,
            book.annual_discount,
            pop.plan,
            pop.annual,
            pop.price_locked,
            pop.seats,
            pop.mrr,
            pop.term_end,
            pop.health,
            pop.term_health,
            pop.renewal_offer,
            pop.cohort_month,
            NO_COHORT,
            pop.stage,
            pop.stage_month,
        )
        self.trace.move(self, idx, int(stage), int(source), entered)
        if _PAYING[stage] and not _PAYING[source]:
            self._started_paying(idx)
        self.mrr_total += mrr
        self.paying_seats += seats
        for hook in m.paying_start_hooks:
            cut = hook(self, idx, first_churn_month)
            if cut:  # a promotion's discount (``pricing.promo_started``), off the persona's MRR
                mrr -= cut
        return mrr

    def end_paying(self, idx: np.ndarray, column: str, n_voluntary: int = 0) -> None:
        """Accounts ``idx`` churn: the first ``n_voluntary`` voluntarily, the rest as ``column``
        says (voluntary or involuntary)."""
        if idx.size == 0:
            return
        pop = self.pop
        mrr, seats = spell_totals(idx, pop.mrr, pop.seats)
        self.add("churned_customers", idx.size)
        if n_voluntary:
            self.add("churned_voluntary", n_voluntary)
        if n_voluntary < idx.size:
            self.add(column, idx.size - n_voluntary)
        self.add("churned_mrr", mrr)
        self.mrr_total -= mrr
        self.paying_seats -= seats
        for hook in self.model.paying_end_hooks:
            hook(self, idx)
        self.move(idx, Stage.CHURNED)
        if self.mrr_total != 0.0 and self.n_paying == 0:
            # Nobody pays: what the running sum still holds is its rounding (-1.9e-6 $ after a
            # month that moved 5e9 $; billed as negative cash). It goes out with the churn, so
            # the MRR is exactly 0 and the bridge stays closed.
            self.add("churned_mrr", self.mrr_total)
            self.mrr_total = 0.0
        # Health is only read on paying accounts; 0 elsewhere keeps the at-risk count one pass.
        clear_spells(
            idx,
            pop.mrr,
            pop.annual,
            pop.price_locked,
            pop.health,
            pop.early_churn_end,
            pop.term_health,
            pop.renewal_offer,
        )

    def reprice(self, idx: np.ndarray, new_mrr: np.ndarray, penalise: bool = True) -> None:
        """Move accounts ``idx`` to ``new_mrr`` ($/month); the change is expansion or
        contraction MRR. With the price effect on, a rise costs health (unless ``penalise`` is
        false: an annual renewal has already weighed the rise in its decision)."""
        if idx.size == 0:
            self.add("expansion_mrr", 0.0)
            self.add("contraction_mrr", 0.0)
            return
        penalty = self.model.price_increase_penalty
        expansion, contraction = reprice_rows(
            idx,
            np.asarray(new_mrr, dtype=np.float64),
            self.pop.mrr,
            self.pop.health,
            0.0 if penalty is None else float(penalty),
            penalty is not None and penalise,
        )
        self.add("expansion_mrr", expansion)
        self.add("contraction_mrr", contraction)
        self.mrr_total += expansion - contraction
