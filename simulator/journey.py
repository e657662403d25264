"""The journey as the engine saw it: stage flows, stays and the sampled event log.

Every stage change of an account goes through ``StageTrace.move`` (from ``PersonaAgent.move`` and
``PersonaAgent.start_paying``, ``simulator.personas``): one compiled pass over the rows that move
writes their stage and updates the persona's counts, and records, at a cost in proportion to the
rows that move (never to the market):

- **flows**: per month, an 8×8 matrix of accounts moving from stage i to stage j (the tidy
  table ``FLOWS``: one row per scenario, replication, month, persona and non-zero transition);
- **stays**: the completed stays in a stage, by months spent in it (the stage's ``stage_month``
  at exit: exact, the initial book's months before the run included; table ``STAYS``);
- **the event log** (``journey_log.share`` > 0): for a sampled share of accounts, one row per
  stage change and per touchpoint contact (``record_contact``), in the column convention of
  process-mining tools (``case:concept:name``, ``concept:name``, ``time:timestamp``; table
  ``JOURNEY_LOG``). Accounts are sampled by a hash of (seed, row), not by the random streams, so
  the simulation draws exactly the same numbers with the log on or off, and the same accounts
  are sampled in every replication and scenario of a seed.

Month 0 (the book and the pipeline built by ``simulator.book``) is the starting state, not a
flow: flows and stays count from month 1. The event log starts each sampled account that is
not unaware at month 0 with one row (``from_stage`` empty, ``to_stage`` its stage at month 0).

``journey_map`` turns flows and stays into the journey map: per persona (and in total), each
stage with its stock, entries, exits to each stage, conversion to the next stage of the
journey, drop-off and median months in stage.
"""

from __future__ import annotations

import functools
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numba import njit

from simulator.results import RUN_KEYS, Column, Table
from simulator.stages import N_STAGES, STAGE_NAMES, Stage
from simulator.text_columns import ARROW_STR, STR, text_columns

if TYPE_CHECKING:
    from simulator.personas import PersonaAgent

# ---------------------------------------------------------------------------- tables

#: Stage flows: accounts moving from one stage to another in a month.
FLOWS = Table(
    "flows",
    "one row per scenario, replication, month, persona and stage transition that happened",
    (
        *RUN_KEYS,
        Column("month", "key", "month", "int64", "simulated month, from 1"),
        Column("persona", "key", "", "str", "persona (segment) name"),
        Column("from_stage", "key", "", "str", "stage the accounts left"),
        Column("to_stage", "key", "", "str", "stage the accounts entered"),
        Column("accounts", "flow", "accounts", "int64", "accounts that moved this month"),
    ),
)

#: Completed stays: accounts that left a stage during the run, by the months they spent in it.
STAYS = Table(
    "stays",
    "one row per scenario, replication, persona, stage and months in stage of the exits",
    (
        *RUN_KEYS,
        Column("persona", "key", "", "str", "persona (segment) name"),
        Column("stage", "key", "", "str", "stage the accounts left"),
        Column(
            "months_in_stage",
            "key",
            "months",
            "int64",
            "exit month - month the account entered the stage (0: left in the month it came)",
        ),
        Column("accounts", "flow", "accounts", "int64", "accounts that left after that stay"),
    ),
)

#: The event log of the sampled accounts (``journey_log.share``).
JOURNEY_LOG = Table(
    "journey_log",
    "one row per stage change or touchpoint contact of a sampled account",
    (
        *RUN_KEYS,
        Column("account", "key", "", "int64", "the account's row in the population"),
        Column("persona", "key", "", "str", "persona (segment) name"),
        Column("month", "key", "month", "int64", "simulated month (0: the starting state)"),
        Column("from_stage", "key", "", "str", "stage before (empty at month 0 and contacts)"),
        Column("to_stage", "key", "", "str", "stage after (the stage now, for a contact)"),
        Column("touchpoint", "key", "", "str", "touchpoint of a contact (empty otherwise)"),
        Column("plan", "key", "", "str", "the account's plan then (empty: none)"),
        Column(
            "mrr",
            "stock",
            "$/month",
            "float64",
            "the account's MRR after the event (a churn: the MRR it left with)",
        ),
        Column("case:concept:name", "key", "", "str", "process-mining case: replication:account"),
        Column("concept:name", "key", "", "str", "activity: the stage entered, or the touchpoint"),
        Column(
            "time:timestamp",
            "key",
            "",
            "datetime64[ns]",
            "journey_log.start + month months",
        ),
    ),
)

_NO_TOUCHPOINT = -1
#: The event buffer's first capacity: events per sampled account, and at least (it doubles).
_BUFFER_PER_ROW, _MIN_BUFFER = 4, 64
#: ``StageTrace.move``'s defaults: no entry months given (the pass reads and writes the stage
#: columns), no sampled mask (no event log, or before month 1).
_NO_ENTRIES = np.empty(0, dtype=np.int16)
_NO_SAMPLE = np.empty(0, dtype=np.bool_)


@njit(cache=True, inline="always")
def _write_event(
    ev: np.ndarray,
    evf: np.ndarray,
    fill: int,
    month: int,
    row: int,
    source: int,
    stage: int,
    touchpoint: int,
    plan: int,
    mrr: float,
) -> int:  # pragma: no cover (compiled)
    """(compiled) One event in column ``fill`` of the event buffer (``ev`` rows: month, row,
    from stage, to stage, touchpoint code, plan; ``evf``: MRR); the next column."""
    ev[0, fill] = month
    ev[1, fill] = row
    ev[2, fill] = source
    ev[3, fill] = stage
    ev[4, fill] = touchpoint
    ev[5, fill] = plan
    evf[fill] = mrr
    return fill + 1


@njit(cache=True)
def _enter_stage(
    stage_of: np.ndarray,
    stage_month: np.ndarray,
    counts: np.ndarray,
    idx: np.ndarray,
    stage: int,
    source: int,
    month: int,
    entered: np.ndarray,
    flows: np.ndarray,
    stays: np.ndarray,
    sampled: np.ndarray,
    plan: np.ndarray,
    mrr: np.ndarray,
    ev: np.ndarray,
    evf: np.ndarray,
    fill: int,
) -> int:  # pragma: no cover (compiled)
    """(compiled) Accounts ``idx`` (persona rows, at least one) enter ``stage`` in ``month``,
    all from ``source`` or, when it is -1, each from its own stage (``stage_of``), in one pass:

    - the persona's stage ``counts``;
    - when recording (``stays`` has columns: from month 1), ``flows[from, stage]`` and
      ``stays[from, month - entered]``, and the events of the sampled rows (``sampled``, empty
      without a log) written into the event buffer (``ev`` rows: month, row, from, to,
      touchpoint, plan; ``evf``: MRR) from column ``fill`` (the caller leaves room for
      ``idx.size`` events);
    - ``stage_of`` and ``stage_month`` written, unless ``entered`` is given (``idx.size``
      entries: ``start_spells`` has written them; the months each had entered the stage it
      leaves).

    Returns the new fill."""
    n = idx.size
    written = entered.size == n
    record = stays.shape[1] > 0
    log = record and sampled.size > 0
    last = stays.shape[1] - 1
    for k in range(n):
        r = idx[k]
        s = source if source >= 0 else stage_of[r]
        counts[s] -= 1
        counts[stage] += 1
        if record:
            d = month - (entered[k] if written else stage_month[r])
            stays[s, min(max(d, 0), last)] += 1
            flows[s, stage] += 1
            if log and sampled[r]:
                fill = _write_event(ev, evf, fill, month, r, s, stage, -1, plan[r], mrr[r])
    if not written:
        for k in range(n):
            r = idx[k]
            stage_of[r] = stage
            stage_month[r] = month
    return fill


# ---------------------------------------------------------------------------- sampling
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = (np.uint64(k) for k in (11, 27, 30, 31))


@njit(cache=True, error_model="numpy")
def _mix(z: np.uint64) -> np.uint64:  # pragma: no cover (compiled)
    """splitmix64's finaliser (wrapping arithmetic)."""
    z = z + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, error_model="numpy")
def _sampled(seed: np.uint64, start: int, size: int, share: float) -> np.ndarray:
    """(compiled) ``sampled_accounts`` of rows ``start .. start + size - 1``."""
    key = _mix(seed)
    out = np.empty(size, dtype=np.bool_)
    for k in range(size):
        h = _mix(np.uint64(start + k) ^ key)
        out[k] = float(h >> _S11) * (1.0 / 9007199254740992.0) < share
    return out


@njit(cache=True, error_model="numpy")
def _contacts(
    seed: np.uint64,
    start: int,
    rows: np.ndarray,
    stage: np.ndarray,
    month: int,
    reach: np.ndarray,
    reaches: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover (compiled)
    """(compiled) ``contacts``: the (row, touchpoint) pairs reached this month."""
    n = 0
    hit_rows = np.empty(rows.size * reach.size, dtype=np.int64)
    hit_tps = np.empty(rows.size * reach.size, dtype=np.int64)
    for k in range(reach.size):
        if reach[k] <= 0.0:
            continue
        salt = np.uint64((month << 20) ^ (k + 1))
        key = _mix(seed ^ _mix(salt))
        for i in range(rows.size):
            if not reaches[k, stage[i]]:
                continue
            h = _mix(np.uint64(rows[i] + start) ^ key)
            if float(h >> _S11) * (1.0 / 9007199254740992.0) < reach[k]:
                hit_rows[n] = rows[i]
                hit_tps[n] = k
                n += 1
    return hit_rows[:n], hit_tps[:n]


@njit(cache=True, error_model="numpy")
def _log_contacts(
    seed: np.uint64,
    rows: np.ndarray,
    begin: np.ndarray,
    end: np.ndarray,
    stage: np.ndarray,
    month: int,
    reach: np.ndarray,
    by_stage: np.ndarray,
    stage_tps: np.ndarray,
    plan: np.ndarray,
    mrr: np.ndarray,
    ev: np.ndarray,
    evf: np.ndarray,
    fill: int,
) -> int:  # pragma: no cover (compiled)
    """(compiled) The contacts of ``contacts`` with population rows ``rows[begin[p]:end[p]]``
    of each persona ``p`` (reach ``reach[p, touchpoint]``) written straight into the event buffer
    (``ev`` rows: month, account, from, to, touchpoint, plan; ``evf``: MRR) from column
    ``fill``, each account's in touchpoint order. The touchpoints acting in stage ``s`` are
    ``stage_tps[by_stage[s] : by_stage[s + 1]]``, so an account in a stage no touchpoint
    reaches (unaware, lost, churned) costs one look-up. Returns the new fill, or -1 when the
    buffer is full (the caller grows it and calls again: columns past ``fill`` are scratch)."""
    keys = np.empty(reach.shape[1], dtype=np.uint64)
    for k in range(reach.shape[1]):
        keys[k] = _mix(seed ^ _mix(np.uint64((month << 20) ^ (k + 1))))
    cap = ev.shape[1]
    for q in range(begin.size):
        for i in range(begin[q], end[q]):
            r = rows[i]
            st = stage[r]
            for j in range(by_stage[st], by_stage[st + 1]):
                k = stage_tps[j]
                p = reach[q, k]
                if p <= 0.0:
                    continue
                h = _mix(np.uint64(r) ^ keys[k])
                if float(h >> _S11) * (1.0 / 9007199254740992.0) < p:
                    if fill >= cap:
                        return -1
                    fill = _write_event(ev, evf, fill, month, r, -1, st, k, plan[r], mrr[r])
    return fill


def contacts(
    seed: int,
    start: int,
    rows: np.ndarray,
    stage: np.ndarray,
    month: int,
    reach: np.ndarray,
    reaches: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Which touchpoints reach which of the persona rows ``rows`` (population rows ``start`` +
    row; their stages ``stage``) in ``month``: touchpoint ``k`` reaches a row in a stage it acts
    in (``reaches[k, stage]``) when a uniform from a hash of (seed, month, k, row) is below
    ``reach[k]``. Like ``sampled_accounts``, independent of the random streams: logging contacts
    changes no number of the run. Returns (rows reached, touchpoint index of each)."""
    return _contacts(
        np.uint64(seed),
        int(start),
        np.asarray(rows, dtype=np.int64),
        np.asarray(stage, dtype=np.int64),
        int(month),
        np.asarray(reach, dtype=np.float64),
        np.asarray(reaches, dtype=np.bool_),
    )


def sampled_accounts(seed: int, start: int, size: int, share: float) -> np.ndarray:
    """Which of the accounts (population rows) ``start .. start + size - 1`` the event log
    follows: a uniform from a hash of (seed, row) (splitmix64) below ``share``. Deterministic,
    independent of the random streams and of the replication; about ``share`` of any set of
    rows, and a larger share keeps the accounts of a smaller one."""
    if share <= 0:
        return np.zeros(size, dtype=bool)
    return _sampled(np.uint64(seed), int(start), int(size), float(share))


@functools.lru_cache(maxsize=32)
def _sample(seed: int, start: int, size: int, share: float) -> tuple[np.ndarray, np.ndarray]:
    """``sampled_accounts`` and its sorted rows, read-only: the same in every replication of a
    seed, so computed once per persona."""
    mask = sampled_accounts(seed, start, size, share)
    rows = np.flatnonzero(mask).astype(np.int64)
    mask.flags.writeable = False
    rows.flags.writeable = False
    return mask, rows


# ---------------------------------------------------------------------------- recorder
class _EventBuffer:
    """A growing buffer of events, written by compiled code: ``_ev[:, :_fill]`` holds (month,
    row, from, to, touchpoint code, plan) per event, ``_evf`` the MRR; rows are population rows
    less ``start``; ``touchpoints`` names the codes."""

    start = 0
    touchpoints: list[str]
    _ev: np.ndarray
    _evf: np.ndarray
    _fill = 0

    def _grow(self, need: int) -> None:
        """Room for ``need`` more events."""
        cap = max(2 * self._ev.shape[1], self._fill + need, _MIN_BUFFER)
        ev = np.empty((6, cap), dtype=np.int64)
        evf = np.empty(cap, dtype=np.float64)
        ev[:, : self._fill] = self._ev[:, : self._fill]
        evf[: self._fill] = self._evf[: self._fill]
        self._ev, self._evf = ev, evf


class ContactLog(_EventBuffer):
    """The touchpoints' monthly contacts with the sampled accounts of every persona (the event
    log's contact rows): one compiled pass a month over the sampled rows of the personas' aware
    prefixes (the population rows ``rows``, each persona's sorted, persona after persona),
    written into one buffer (``log_frame`` sorts it in with the personas')."""

    def __init__(self, model: Any, names: list[str], by_stage: np.ndarray, stage_tps: np.ndarray):
        self.agents = list(model.persona_agents)
        self.sampled = [
            a.trace.sampled_rows if a.trace.sampled_rows is not None else np.empty(0, np.int64)
            for a in self.agents
        ]
        self.rows = np.concatenate(
            [np.empty(0, np.int64)]
            + [r + a.rows.start for r, a in zip(self.sampled, self.agents, strict=True)]
        )
        #: persona p's sampled rows are ``rows[begin[p] : begin[p] + len(sampled[p])]``
        self.begin = np.cumsum([0] + [r.size for r in self.sampled[:-1]]).astype(np.int64)
        #: a touchpoint acts on unaware accounts: every sampled row is looked at, not only the
        #: aware prefix's (unaware accounts are the last rows of a persona)
        self.all_rows = bool(by_stage[Stage.UNAWARE + 1] > by_stage[Stage.UNAWARE])
        self.touchpoints = list(names)
        self.by_stage, self.stage_tps = by_stage, stage_tps
        self.traces = [a.trace for a in self.agents]
        #: (month, each persona buffer's fill then): the personas' events of that month past
        #: their fill came after the month's contacts (``record_contact`` between months).
        self.marks: list[tuple[int, list[int]]] = []
        cap = max(_MIN_BUFFER, _BUFFER_PER_ROW * self.rows.size)  # (untouched pages cost nothing)
        self._ev = np.empty((6, cap), dtype=np.int64)
        self._evf = np.empty(cap, dtype=np.float64)

    def log(self, model: Any, reach: np.ndarray) -> None:
        """This month's contacts: touchpoint ``k`` reaches a sampled account of persona ``p``
        (``model.persona_agents[p]``) in a stage it acts in with probability ``reach[p, k]``
        (as ``contacts``)."""
        if self.rows.size == 0:
            return
        self.marks.append((model.month, [t._fill for t in self.traces]))
        size = [
            r.size if self.all_rows else int(np.searchsorted(r, a.aware))
            for r, a in zip(self.sampled, self.agents, strict=True)
        ]
        end = self.begin + np.array(size, dtype=np.int64)
        pop = model.population
        args = (np.uint64(model.params.seed), self.rows, self.begin, end, pop.stage, model.month)
        args += (reach, self.by_stage, self.stage_tps, pop.plan, pop.mrr)
        while True:
            fill = _log_contacts(*args, self._ev, self._evf, self._fill)
            if fill >= 0:
                break
            self._grow(self._ev.shape[1])
        self._fill = fill


class StageTrace(_EventBuffer):
    """One persona's record of stage changes (see the module docstring).

    The event log is kept in a growing buffer written by compiled code (``_enter_stage``,
    ``_log_contacts``): a move's events are written in the pass that moves the rows (a look-up
    of ``sampled`` per row, no Python work per event) and the month's contacts in one pass over
    the sampled rows (``sampled_rows``, sorted), never a pass over the persona's accounts.

    Attributes:
        month: the month being recorded (0: set-up, not recorded).
        history: (month, 8×8 flow matrix) per month, ``[from, to]`` accounts.
        stays: completed stays, ``[stage, months in stage]`` accounts.
        sampled: the persona's rows the event log follows (None: no log).
        sampled_rows: the same rows as a sorted index (None: no log).
        touchpoints: the names behind the event buffer's touchpoint codes.
    """

    def __init__(self, start: int, size: int, seed: int, share: float) -> None:
        self.start = start
        self.month = 0
        self.flows = np.zeros((N_STAGES, N_STAGES), dtype=np.int64)
        self.history: list[tuple[int, np.ndarray]] = []
        self.stays = np.zeros((N_STAGES, 0), dtype=np.int64)  # sized at the first move
        self.sampled: np.ndarray | None = None
        self.sampled_rows: np.ndarray | None = None
        if share > 0:
            self.sampled, self.sampled_rows = _sample(int(seed), int(start), int(size), share)
        self.touchpoints: list[str] = []
        self._codes: dict[str, int] = {}
        # The event buffer: (month, persona row, from, to, touchpoint code, plan) and the MRR.
        rows = 0 if self.sampled_rows is None else self.sampled_rows.size
        cap = max(_MIN_BUFFER, _BUFFER_PER_ROW * rows) if rows else 0
        self._ev = np.empty((6, cap), dtype=np.int64)
        self._evf = np.empty(cap, dtype=np.float64)
        self._fill = 0

    @property
    def active(self) -> bool:
        """Recording: from month 1 (the set-up's moves are the starting state, not flows)."""
        return self.month > 0

    def code(self, touchpoint: str) -> int:
        """The buffer's code of ``touchpoint`` (a new one is added)."""
        c = self._codes.get(touchpoint)
        if c is None:
            c = self._codes[touchpoint] = len(self.touchpoints)
            self.touchpoints.append(touchpoint)
        return c

    def begin_month(self, agent: PersonaAgent, month: int) -> None:
        """A new month's matrix; before month 1, the sampled accounts' starting stages."""
        if self.month == 0 and self.sampled_rows is not None:
            rows = self.sampled_rows[: np.searchsorted(self.sampled_rows, agent.aware)]
            self._log(agent, 0, rows, -1, agent.pop.stage[rows], _NO_TOUCHPOINT)
        self.month = month
        self.flows = np.zeros((N_STAGES, N_STAGES), dtype=np.int64)
        self.history.append((month, self.flows))

    def move(
        self,
        agent: PersonaAgent,
        idx: np.ndarray,
        stage: int,
        source: int,
        entered: np.ndarray = _NO_ENTRIES,
    ) -> None:
        """Accounts ``idx`` (persona rows, at least one) enter ``stage`` this month, all from
        ``source`` or, when it is -1, each from its own stage: the persona's stage counts, the
        accounts' stage and entry month and, from month 1, their flows, stays and sampled
        events, in one compiled pass (``_enter_stage``). ``entered``: given when the stage
        columns are already written (``start_spells``), the month each had entered the stage
        it leaves."""
        if self.active and self.stays.shape[1] == 0:
            # the longest stay possible: from the oldest entry month
            oldest = int(agent.pop.stage_month.min()) if agent.size else 0
            width = agent.model.params.months + 1 - min(oldest, 0)
            self.stays = np.zeros((N_STAGES, width), dtype=np.int64)
        pop = agent.pop
        sampled = _NO_SAMPLE
        if self.sampled is not None and self.active:
            sampled = self.sampled
            if self._fill + idx.size > self._ev.shape[1]:
                self._grow(idx.size)
        self._fill = _enter_stage(
            pop.stage, pop.stage_month, agent.counts, idx, stage, source, self.month, entered,
            self.flows, self.stays, sampled, pop.plan, pop.mrr, self._ev, self._evf, self._fill,
        )  # fmt: skip

    def contact(self, agent: PersonaAgent, idx: np.ndarray, touchpoint: str) -> None:
        """Sampled accounts among ``idx`` were reached by ``touchpoint`` this month."""
        if self.sampled is None or idx.size == 0:
            return
        idx = np.asarray(idx, dtype=np.int64)
        rows = idx[self.sampled[idx]]
        if rows.size == 0:
            return
        self._log(agent, self.month, rows, -1, agent.pop.stage[rows], self.code(touchpoint))

    def _log(
        self,
        agent: PersonaAgent,
        month: int,
        rows: np.ndarray,
        source: np.ndarray | int,
        stage: np.ndarray | int,
        touchpoint: np.ndarray | int,
    ) -> None:
        """Keep the events of ``rows`` (persona rows); the plan and MRR are read now."""
        n = rows.size
        if self._fill + n > self._ev.shape[1]:
            self._grow(n)
        pop = agent.pop
        ev = self._ev[:, self._fill : self._fill + n]
        ev[0] = month
        ev[1] = rows
        ev[2] = source
        ev[3] = stage
        ev[4] = touchpoint
        ev[5] = pop.plan[rows]
        self._evf[self._fill : self._fill + n] = pop.mrr[rows]
        self._fill += n

    def events(self) -> tuple[np.ndarray, ...] | None:
        """The logged events as columns (month, account, from, to, touchpoint, plan, mrr), in
        the order they were logged (views of the buffer but the account)."""
        if self._fill == 0:
            return None
        ev = self._ev[:, : self._fill]
        return (ev[0], ev[1] + self.start, ev[2], ev[3], ev[4], ev[5], self._evf[: self._fill])


# ---------------------------------------------------------------------------- tables of a run
def _frame(table: Table, columns: dict[str, Any]) -> pd.DataFrame:
    out = {}
    for name, dtype in table.dtypes.items():
        values = columns[name]
        out[name] = values if dtype == "str" else np.asarray(values, dtype=dtype)
    return pd.DataFrame(out)


def _empty(table: Table) -> pd.DataFrame:
    return _frame(table, {name: [] for name in table.names})


def flows_frame(model: Any) -> pd.DataFrame:
    """The model's stage flows as the tidy ``FLOWS`` table (non-zero transitions only), month by
    month, persona after persona, then by from stage and to stage (the order of the result's
    table: the tables of replications are joined without a sort)."""
    months, persona, src, dst, accounts = [], [], [], [], []
    for p, agent in enumerate(model.persona_agents):
        hist = agent.trace.history
        if not hist:
            continue
        cube = np.stack([f for _, f in hist])  # (month, from, to)
        m, i, j = np.nonzero(cube)
        months.append(np.array([mo for mo, _ in hist], dtype=np.int64)[m])
        persona.append(np.full(m.size, p, dtype=np.int64))
        src.append(i)
        dst.append(j)
        accounts.append(cube[m, i, j])
    if not months:
        return _empty(FLOWS)
    month = np.concatenate(months)
    persona_codes = np.concatenate(persona)
    order = np.lexsort((persona_codes, month))  # (stable: by stage within a persona-month)
    n = persona_codes.size
    names = [a.persona.name for a in model.persona_agents]
    scenario, persona_name, from_stage, to_stage = text_columns(
        [
            ([model.scenario_name], np.zeros(n, dtype=np.int64)),
            (names, persona_codes[order]),
            (STAGE_NAMES, np.concatenate(src)[order]),
            (STAGE_NAMES, np.concatenate(dst)[order]),
        ]
    )
    columns = {
        "scenario": scenario,
        "replication": np.full(n, model.replication),
        "month": month[order],
        "persona": persona_name,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "accounts": np.concatenate(accounts)[order],
    }
    return _frame(FLOWS, columns)


def stays_frame(model: Any) -> pd.DataFrame:
    """The model's completed stays as the tidy ``STAYS`` table (non-zero entries only), persona
    after persona, each by stage and months in stage."""
    persona, stage, months, accounts = [], [], [], []
    for p, agent in enumerate(model.persona_agents):
        stays = agent.trace.stays
        s, d = np.nonzero(stays)
        persona.append(np.full(s.size, p, dtype=np.int64))
        stage.append(s)
        months.append(d)
        accounts.append(stays[s, d])
    persona_codes = np.concatenate([np.empty(0, np.int64), *persona])
    n = persona_codes.size
    if n == 0:
        return _empty(STAYS)
    names = [a.persona.name for a in model.persona_agents]
    scenario, persona_name, stage_name = text_columns(
        [
            ([model.scenario_name], np.zeros(n, dtype=np.int64)),
            (names, persona_codes),
            (STAGE_NAMES, np.concatenate(stage)),
        ]
    )
    columns = {
        "scenario": scenario,
        "replication": np.full(n, model.replication),
        "persona": persona_name,
        "stage": stage_name,
        "months_in_stage": np.concatenate(months),
        "accounts": np.concatenate(accounts),
    }
    return _frame(STAYS, columns)


def timestamps(start: Any, months: np.ndarray) -> np.ndarray:
    """``start`` + ``months`` calendar months, as datetime64[ns]."""
    months = np.asarray(months, dtype=np.int64)
    if months.size and months.min() >= 0:
        span = _month_stamps(str(pd.Timestamp(start)), int(months.max()) + 1)
        return span[months]
    return _timestamps(start, months)


@functools.lru_cache(maxsize=16)
def _month_stamps(start: str, months: int) -> np.ndarray:
    """``start`` + 0 .. ``months`` - 1 calendar months (the same for every replication)."""
    out = _timestamps(start, np.arange(months))
    out.flags.writeable = False
    return out


def _timestamps(start: Any, months: np.ndarray) -> np.ndarray:
    base = pd.Timestamp(start)
    unique, where = np.unique(np.asarray(months, dtype=np.int64), return_inverse=True)
    stamps = np.array([base + pd.DateOffset(months=int(m)) for m in unique], dtype="datetime64[ns]")
    return stamps[where]


@njit(cache=True)
def _case_text(prefix: np.ndarray, account: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(compiled) The arrow buffers (offsets, UTF-8 bytes) of the strings ``prefix`` + the
    decimal digits of ``account[i]`` (>= 0)."""
    n = account.size
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    digits = np.empty(20, dtype=np.uint8)
    data = np.empty(n * (prefix.size + 20), dtype=np.uint8)
    o = 0
    for i in range(n):
        for j in range(prefix.size):
            data[o + j] = prefix[j]
        o += prefix.size
        v = np.uint64(account[i])
        d = 0
        while True:
            digits[d] = np.uint8(48 + v % np.uint64(10))
            v = v // np.uint64(10)
            d += 1
            if v == 0:
                break
        for j in range(d):
            data[o + j] = digits[d - 1 - j]
        o += d
        offsets[i + 1] = o
    return offsets, data[:o]


def _cases(replication: int, account: np.ndarray) -> Any:
    """The process-mining case ids ``<replication>:<account>``, as ``_text`` builds columns."""
    if not ARROW_STR:
        return (f"{replication}:" + pd.Series(account).astype(str)).to_numpy(object)
    import pyarrow as pa

    offsets, data = _case_text(np.frombuffer(f"{replication}:".encode(), np.uint8), account)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pd.array(pa.Array.from_buffers(pa.large_string(), account.size, buffers), dtype=STR)


def log_frame(model: Any) -> pd.DataFrame:
    """The sampled accounts' event log as the ``JOURNEY_LOG`` table (empty with share 0), in
    month, account and event order. The personas' event buffers are joined and sorted as
    integer codes; the text columns are built from their codes in one pass (``text_columns``)."""
    traces = [a.trace for a in model.persona_agents]
    contacts = getattr(model, "contact_log", None)
    buffers = [*traces, *([contacts] if contacts is not None else [])]
    # Each event's place in its month: 0 logged during the month, 1 the month's contacts (at
    # its end), 2 logged for that month after them (``record_contact`` between months).
    phases = [np.zeros(b._fill, dtype=np.int64) for b in traces]
    if contacts is not None:
        phases.append(np.ones(contacts._fill, dtype=np.int64))
        if contacts.marks:
            months = np.array([m for m, _ in contacts.marks], dtype=np.int64)
            for k, trace in enumerate(traces):
                mark = np.full(model.month + 2, np.iinfo(np.int64).max, dtype=np.int64)
                mark[months] = [fills[k] for _, fills in contacts.marks]
                at = np.arange(trace._fill)
                phases[k][at >= mark[trace._ev[0, : trace._fill]]] = 2
    keep = [k for k, b in enumerate(buffers) if b._fill]
    buffers, phase = [buffers[k] for k in keep], [phases[k] for k in keep]
    if not buffers:
        return _empty(JOURNEY_LOG)
    touchpoints: list[str] = []
    for b in buffers:
        touchpoints += [n for n in b.touchpoints if n not in touchpoints]
    sizes = [b._fill for b in buffers]
    ev = np.concatenate([b._ev[:, : b._fill] for b in buffers], axis=1)
    mrr = np.concatenate([b._evf[: b._fill] for b in buffers])
    phase = np.concatenate(phase)
    ev[1] += np.repeat(np.array([b.start for b in buffers], dtype=np.int64), sizes)
    starts = np.array([a.rows.start for a in model.persona_agents], dtype=np.int64)
    persona = np.searchsorted(starts, ev[1], side="right") - 1
    # touchpoint codes: each buffer's own → the joined list's (-1: none stays -1)
    remap = [np.array([touchpoints.index(n) for n in b.touchpoints], np.int64) for b in buffers]
    if any(r.size for r in remap):
        base = np.concatenate([[0], np.cumsum([r.size for r in remap])])
        joined = np.concatenate(remap)
        tp = ev[4]
        own = tp >= 0
        tp[own] = joined[(tp + np.repeat(base[:-1], sizes))[own]]
    # Sorted by month and account, each account's events in the order they were logged (a
    # unique key sorts faster than a stable sort; it fits in int64 in any run that fits in
    # memory, else the stable sort).
    n = mrr.size
    span = int(ev[1].max()) + 1
    if (int(ev[0].max()) + 1) * span * 3 * n < 2**62:
        key = ev[0] * span
        key += ev[1]
        key *= 3
        key += phase
        key *= n
        key += np.arange(n)
        order = np.argsort(key)
    else:  # pragma: no cover (beyond any run's size)
        order = np.lexsort((phase, ev[1], ev[0]))
    ev, mrr, persona = ev[:, order], mrr[order], persona[order]
    month, account, src, dst, tp, plan = ev
    stamps = timestamps(model.params.journey_log.start, np.arange(model.month + 1))
    texts = text_columns(
        [
            ([model.scenario_name], np.zeros(n, dtype=np.int64)),
            ([a.persona.name for a in model.persona_agents], persona),
            (STAGE_NAMES, src),
            (STAGE_NAMES, dst),
            (touchpoints, tp),
            (list(model.params.pricing.plans), plan),
            # the touchpoint of a contact, else the stage entered
            ([*touchpoints, *STAGE_NAMES], np.where(tp >= 0, tp, len(touchpoints) + dst)),
        ]
    )
    scenario, persona_name, from_stage, to_stage, touchpoint, plan_name, concept = texts
    frame = {
        "scenario": scenario,
        "replication": np.full(n, model.replication, dtype=np.int64),
        "account": account,
        "persona": persona_name,
        "month": month,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "touchpoint": touchpoint,
        "plan": plan_name,
        "mrr": mrr,
        "case:concept:name": _cases(model.replication, account),
        "concept:name": concept,
        "time:timestamp": stamps[month],
    }
    return pd.DataFrame({name: frame[name] for name in JOURNEY_LOG.names})


# ---------------------------------------------------------------------------- the journey map
#: The next stage of the journey from each stage (the conversion a map shows).
NEXT_STAGE: dict[str, str | None] = {
    "unaware": "consideration",
    "consideration": "decision",
    "decision": "onboarding",
    "onboarding": "active",
    "active": "advocate",
    "advocate": None,
    "churned": "active",  # win-back
    "lost": "consideration",  # nurture
}

#: Where an account leaves the journey from each stage (the drop-off a map shows).
DROP_STAGE: dict[str, str | None] = {
    "unaware": None,
    "consideration": "lost",
    "decision": "lost",
    "onboarding": "churned",
    "active": "churned",
    "advocate": "churned",
    "churned": None,
    "lost": None,
}

#: Columns of the journey map, in order.
MAP_COLUMNS: tuple[str, ...] = (
    "persona",
    "stage",
    "accounts_start",
    "accounts_end",
    "entries",
    "exits",
    "next_stage",
    "to_next",
    "conversion",
    "drop_off",
    "median_months_in_stage",
    *(f"to_{s}" for s in STAGE_NAMES),
    "conversion_p10",
    "conversion_p90",
    "drop_off_p10",
    "drop_off_p90",
)
#: The bands of ``journey_map``: P10 and P90 across replications of these columns.
BANDS: tuple[str, ...] = ("conversion", "drop_off")


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    if weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, cum[-1] / 2.0)])


def journey_map(result: Any) -> pd.DataFrame:
    """The journey map of a run: per persona and ``total``, one row per stage.

    Counts are means over replications (accounts). Columns:

    - ``accounts_start``: accounts in the stage at month 0 (``n_<stage>`` at month 1 less the
      month's inflows plus its outflows); ``accounts_end``: at the end of the horizon;
    - ``entries``, ``exits``: accounts that entered and left the stage over the horizon (a
      re-entry counts again); ``to_<stage>``: exits to each stage;
    - ``next_stage``, ``to_next``: the next stage of the journey (``NEXT_STAGE``) and the exits
      to it; ``conversion`` = to_next / (accounts_start + entries), the share of the accounts
      that were in the stage during the run that moved on to the next one;
    - ``drop_off`` = exits to ``lost`` (prospects) or ``churned`` (customers) / (accounts_start
      + entries);
    - ``median_months_in_stage``: median months spent in the stage by the accounts that left it
      during the run (completed stays, all replications pooled; exact: exit month minus the
      month the account entered, which for the month-0 book can be before the run). Accounts
      still in the stage at the horizon are not in it (right-censored);
    - ``conversion_p10``, ``conversion_p90``, ``drop_off_p10``, ``drop_off_p90``: the 10th and
      90th percentiles across replications of each replication's own conversion and drop-off
      (NaN where the stage has none).

    Args:
        result: a ``SimulationResult`` (``monthly``, ``flows``, ``stays``).
    """
    monthly, flows, stays = result.monthly, result.flows, result.stays
    if flows is None or stays is None:
        raise ValueError("this result has no stage flows (saved before the journey map)")
    table = _map_table(monthly, flows, stays)
    per_rep = []
    for r in monthly["replication"].unique():
        one = _map_table(
            monthly[monthly["replication"] == r],
            flows[flows["replication"] == r],
            stays[stays["replication"] == r],
        )
        per_rep.append(one[list(BANDS)].to_numpy(dtype=float))
    cube = np.stack(per_rep)  # (replication, row, band)
    with warnings.catch_warnings():  # a stage with no conversion in any replication: NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        p10, p90 = np.nanpercentile(cube, [10, 90], axis=0)
    for k, band in enumerate(BANDS):
        table[f"{band}_p10"] = p10[:, k]
        table[f"{band}_p90"] = p90[:, k]
    return table[list(MAP_COLUMNS)]


def _map_table(monthly: pd.DataFrame, flows: pd.DataFrame, stays: pd.DataFrame) -> pd.DataFrame:
    """``journey_map`` but the bands, of the replications in ``monthly`` (means over them)."""
    reps = max(int(monthly["replication"].nunique()), 1)
    personas = list(dict.fromkeys(monthly["persona"]))
    names = list(STAGE_NAMES)
    last = int(monthly["month"].max())
    rows: list[dict[str, Any]] = []
    for who in [*personas, "total"]:
        mon = monthly if who == "total" else monthly[monthly["persona"] == who]
        flo = flows if who == "total" else flows[flows["persona"] == who]
        sta = stays if who == "total" else stays[stays["persona"] == who]
        matrix = (
            flo.pivot_table(
                index="from_stage", columns="to_stage", values="accounts", aggfunc="sum"
            )
            .reindex(index=names, columns=names)
            .fillna(0)
            .to_numpy(dtype=np.float64)
        ) / reps
        first = flo[flo["month"] == 1]
        in1 = first.groupby("to_stage")["accounts"].sum().reindex(names, fill_value=0)
        out1 = first.groupby("from_stage")["accounts"].sum().reindex(names, fill_value=0)
        for k, stage in enumerate(names):
            col = f"n_{stage}"
            n1 = mon.loc[mon["month"] == 1, col].sum()
            start = (n1 - in1[stage] + out1[stage]) / reps
            end = mon.loc[mon["month"] == last, col].sum() / reps
            entries = matrix[:, k].sum()
            exits = matrix[k, :].sum()
            nxt, drop = NEXT_STAGE[stage], DROP_STAGE[stage]
            reached = start + entries
            to_next = matrix[k, names.index(nxt)] if nxt else 0.0
            dropped = matrix[k, names.index(drop)] if drop else 0.0
            s = sta[sta["stage"] == stage]
            row = {
                "persona": who,
                "stage": stage,
                "accounts_start": start,
                "accounts_end": end,
                "entries": entries,
                "exits": exits,
                "next_stage": nxt or "",
                "to_next": to_next,
                "conversion": to_next / reached if reached > 0 and nxt else float("nan"),
                "drop_off": dropped / reached if reached > 0 and drop else float("nan"),
                "median_months_in_stage": _weighted_median(
                    s["months_in_stage"].to_numpy(), s["accounts"].to_numpy()
                ),
            }
            row |= {f"to_{t}": matrix[k, j] for j, t in enumerate(names)}
            rows.append(row)
    return pd.DataFrame(rows, columns=[c for c in MAP_COLUMNS if not c.endswith(("_p10", "_p90"))])


def format_map(table: pd.DataFrame, persona: str = "total") -> str:
    """The map of one persona as readable text (what ``task=map`` prints): conversion and
    drop-off with their P10-P90 across replications."""
    t = table[table["persona"] == persona]
    missing = [c for c in MAP_COLUMNS if c.endswith(("_p10", "_p90")) and c not in t]
    t = t.assign(**dict.fromkeys(missing, np.nan))  # (a table saved before the bands)
    head = (
        f"  {'stage':<14}{'start':>10}{'end':>10}{'entries':>10}{'exits':>10}"
        f"  {'next':<14}{'conv. [P10, P90]':>22}{'drop [P10, P90]':>22}{'median mo':>10}"
    )
    lines = [head]

    def pct(x: float, lo: float, hi: float) -> str:
        if np.isnan(x):
            return "-"
        if np.isnan(lo) or np.isnan(hi):
            return f"{100 * x:.1f}%"
        return f"{100 * x:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"

    for r in t.itertuples():
        med = "-" if np.isnan(r.median_months_in_stage) else f"{r.median_months_in_stage:.0f}"
        conv = pct(r.conversion, r.conversion_p10, r.conversion_p90)
        drop = pct(r.drop_off, r.drop_off_p10, r.drop_off_p90)
        lines.append(
            f"  {r.stage:<14}{r.accounts_start:>10,.0f}{r.accounts_end:>10,.0f}"
            f"{r.entries:>10,.0f}{r.exits:>10,.0f}  {r.next_stage or '-':<14}"
            f"{conv:>22}{drop:>22}{med:>10}"
        )
    return "\n".join(lines)


__all__ = [
    "BANDS",
    "DROP_STAGE",
    "FLOWS",
    "JOURNEY_LOG",
    "MAP_COLUMNS",
    "NEXT_STAGE",
    "STAYS",
    "ContactLog",
    "StageTrace",
    "flows_frame",
    "format_map",
    "journey_map",
    "log_frame",
    "sampled_accounts",
    "stays_frame",
]
