"""The journey as the engine saw it: stage flows, stays and the sampled event log.

Every stage change of an account goes through ``PersonaAgent.move`` or
``PersonaAgent._count_move`` (``simulator.personas``); each hands the moved rows to its persona's
``StageTrace``, which keeps, at a cost in proportion to the rows that move (never to the market):

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

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numba import njit

from simulator.results import Column, Table
from simulator.stages import N_STAGES, STAGE_NAMES

if TYPE_CHECKING:
    from simulator.personas import PersonaAgent

# ---------------------------------------------------------------------------- tables
_KEYS = (
    Column("scenario", "key", "", "str", "scenario name"),
    Column("replication", "key", "", "int64", "Monte Carlo replication, from 0"),
)

#: Stage flows: accounts moving from one stage to another in a month.
FLOWS = Table(
    "flows",
    "one row per scenario, replication, month, persona and stage transition that happened",
    (
        *_KEYS,
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
        *_KEYS,
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
        *_KEYS,
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
_NO_SOURCES = np.empty(0, dtype=np.uint8)


@njit(cache=True)
def _record_moves(
    flows: np.ndarray,
    stays: np.ndarray,
    stage: int,
    source: int,
    sources: np.ndarray,
    entered: np.ndarray,
    month: int,
) -> None:  # pragma: no cover (compiled)
    """Count ``entered.size`` accounts moving into ``stage`` from ``source`` (or, when it is
    -1, from ``sources[k]``): ``flows[from, stage]`` and ``stays[from, month - entered]``."""
    last = stays.shape[1] - 1
    for k in range(entered.size):
        s = source if source >= 0 else sources[k]
        d = month - entered[k]
        stays[s, min(max(d, 0), last)] += 1
        flows[s, stage] += 1


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


# ---------------------------------------------------------------------------- recorder
class StageTrace:
    """One persona's record of stage changes (see the module docstring).

    Attributes:
        month: the month being recorded (0: set-up, not recorded).
        history: (month, 8×8 flow matrix) per month, ``[from, to]`` accounts.
        stays: completed stays, ``[stage, months in stage]`` accounts.
        sampled: the persona's rows the event log follows (None: no log).
    """

    def __init__(self, start: int, size: int, seed: int, share: float) -> None:
        self.start = start
        self.month = 0
        self.flows = np.zeros((N_STAGES, N_STAGES), dtype=np.int64)
        self.history: list[tuple[int, np.ndarray]] = []
        self.stays = np.zeros((N_STAGES, 0), dtype=np.int64)  # sized at the first move
        self.sampled: np.ndarray | None = None
        if share > 0:
            self.sampled = sampled_accounts(seed, start, size, share)
        self.touchpoints: list[str] = []
        self._events: list[tuple[np.ndarray, ...]] = []

    @property
    def active(self) -> bool:
        return self.month > 0

    def begin_month(self, agent: PersonaAgent, month: int) -> None:
        """A new month's matrix; before month 1, the sampled accounts' starting stages."""
        if self.month == 0 and self.sampled is not None:
            rows = np.flatnonzero(self.sampled[: agent.aware])
            self._log(agent, 0, rows, -1, agent.pop.stage[rows], _NO_TOUCHPOINT)
        self.month = month
        self.flows = np.zeros((N_STAGES, N_STAGES), dtype=np.int64)
        self.history.append((month, self.flows))

    def moved(
        self,
        agent: PersonaAgent,
        idx: np.ndarray,
        stage: int,
        source: int | None,
        entered: np.ndarray,
        sources: np.ndarray | None = None,
    ) -> None:
        """Accounts ``idx`` (persona rows) enter ``stage``: all from ``source``, or each from
        its entry of ``sources``. ``entered``: the month each had entered the stage it
        leaves."""
        if self.stays.shape[1] == 0:  # the longest stay possible: from the oldest entry month
            oldest = int(agent.pop.stage_month.min()) if agent.size else 0
            width = agent.model.params.months + 1 - min(oldest, 0)
            self.stays = np.zeros((N_STAGES, width), dtype=np.int64)
        _record_moves(
            self.flows,
            self.stays,
            int(stage),
            -1 if source is None else int(source),
            _NO_SOURCES if sources is None else sources.view(np.uint8),
            entered,
            self.month,
        )
        if self.sampled is not None:
            pick = self.sampled[idx]
            if pick.any():
                rows = idx[pick]
                src = source if source is not None else sources[pick]  # type: ignore[index]
                self._log(agent, self.month, rows, src, stage, _NO_TOUCHPOINT)

    def contact(self, agent: PersonaAgent, idx: np.ndarray, touchpoint: str) -> None:
        """Sampled accounts among ``idx`` were reached by ``touchpoint`` this month."""
        if self.sampled is None or idx.size == 0:
            return
        idx = np.asarray(idx, dtype=np.int64)
        rows = idx[self.sampled[idx]]
        if rows.size == 0:
            return
        if touchpoint not in self.touchpoints:
            self.touchpoints.append(touchpoint)
        stage = agent.pop.stage[rows]
        code = self.touchpoints.index(touchpoint)
        self._log(agent, self.month, rows, -1, stage, code)

    def log_contacts(
        self, agent: PersonaAgent, rows: np.ndarray, which: np.ndarray, names: list[str]
    ) -> None:
        """Sampled accounts ``rows`` (persona rows) were reached this month, each by the
        touchpoint ``names[which[i]]``: one log row each (the bulk ``contact``)."""
        if rows.size == 0:
            return
        codes = np.empty(len(names), dtype=np.int64)
        for k, name in enumerate(names):
            if name not in self.touchpoints:
                self.touchpoints.append(name)
            codes[k] = self.touchpoints.index(name)
        self._log(agent, self.month, rows, -1, agent.pop.stage[rows], codes[which])

    def _log(
        self,
        agent: PersonaAgent,
        month: int,
        rows: np.ndarray,
        source: np.ndarray | int,
        stage: np.ndarray | int,
        touchpoint: np.ndarray | int,
    ) -> None:
        """Keep the events of ``rows`` (persona rows): the plan and MRR are read now, the rest
        is expanded into columns once, by ``events``."""
        pop = agent.pop
        self._events.append((month, rows, source, stage, touchpoint, pop.plan[rows], pop.mrr[rows]))

    def events(self) -> tuple[np.ndarray, ...] | None:
        """The logged events as columns (month, account, from, to, touchpoint, plan, mrr)."""
        if not self._events:
            return None
        sizes = [e[1].size for e in self._events]

        ends = np.cumsum(sizes)

        def column(k: int, dtype: type) -> np.ndarray:
            """Entry ``k`` of every event: a scalar per call, or an array per row."""
            values = [e[k] for e in self._events]
            out = np.repeat(
                np.array([0 if isinstance(v, np.ndarray) else v for v in values], dtype=dtype),
                sizes,
            )
            for i, v in enumerate(values):
                if isinstance(v, np.ndarray):
                    out[ends[i] - sizes[i] : ends[i]] = v
            return out

        return (
            np.repeat(np.array([e[0] for e in self._events], dtype=np.int64), sizes),
            np.concatenate([e[1] for e in self._events]).astype(np.int64) + self.start,
            column(2, np.int64),
            column(3, np.int64),
            column(4, np.int64),
            np.concatenate([e[5] for e in self._events]).astype(np.int64),
            np.concatenate([e[6] for e in self._events]).astype(np.float64),
        )


# ---------------------------------------------------------------------------- tables of a run
def _frame(table: Table, columns: dict[str, Any]) -> pd.DataFrame:
    out = {}
    for name, dtype in table.dtypes.items():
        values = columns[name]
        out[name] = values if dtype == "str" else np.asarray(values, dtype=dtype)
    return pd.DataFrame(out)


def _empty(table: Table) -> pd.DataFrame:
    return _frame(table, {name: [] for name in table.names})


def _names(names: list[str] | tuple[str, ...], codes: np.ndarray) -> np.ndarray:
    """Codes → names (object array); code -1 → empty."""
    return np.array([*names, ""], dtype=object)[codes]


def flows_frame(model: Any) -> pd.DataFrame:
    """The model's stage flows as the tidy ``FLOWS`` table (non-zero transitions only)."""
    parts: list[pd.DataFrame] = []
    for agent in model.persona_agents:
        hist = agent.trace.history
        if not hist:
            continue
        months = np.array([m for m, _ in hist], dtype=np.int64)
        cube = np.stack([f for _, f in hist])  # (month, from, to)
        m, i, j = np.nonzero(cube)
        parts.append(
            _frame(
                FLOWS,
                {
                    "scenario": np.full(m.size, model.scenario_name, dtype=object),
                    "replication": np.full(m.size, model.replication),
                    "month": months[m],
                    "persona": np.full(m.size, agent.persona.name, dtype=object),
                    "from_stage": _names(STAGE_NAMES, i),
                    "to_stage": _names(STAGE_NAMES, j),
                    "accounts": cube[m, i, j],
                },
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else _empty(FLOWS)


def stays_frame(model: Any) -> pd.DataFrame:
    """The model's completed stays as the tidy ``STAYS`` table (non-zero entries only)."""
    parts: list[pd.DataFrame] = []
    for agent in model.persona_agents:
        stays = agent.trace.stays
        s, d = np.nonzero(stays)
        parts.append(
            _frame(
                STAYS,
                {
                    "scenario": np.full(s.size, model.scenario_name, dtype=object),
                    "replication": np.full(s.size, model.replication),
                    "persona": np.full(s.size, agent.persona.name, dtype=object),
                    "stage": _names(STAGE_NAMES, s),
                    "months_in_stage": d,
                    "accounts": stays[s, d],
                },
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else _empty(STAYS)


def timestamps(start: Any, months: np.ndarray) -> np.ndarray:
    """``start`` + ``months`` calendar months, as datetime64[ns]."""
    base = pd.Timestamp(start)
    unique, where = np.unique(np.asarray(months, dtype=np.int64), return_inverse=True)
    stamps = np.array([base + pd.DateOffset(months=int(m)) for m in unique], dtype="datetime64[ns]")
    return stamps[where]


def log_frame(model: Any) -> pd.DataFrame:
    """The sampled accounts' event log as the ``JOURNEY_LOG`` table (empty with share 0), in
    month, account and event order."""
    plans = list(model.params.pricing.plans)
    stamps = timestamps(model.params.journey_log.start, np.arange(model.month + 1))
    parts: list[pd.DataFrame] = []
    for agent in model.persona_agents:
        cols = agent.trace.events()
        if cols is None:
            continue
        month, account, src, dst, tp, plan, mrr = cols
        n = month.size
        to_stage = _names(STAGE_NAMES, dst.astype(np.int64))
        touchpoint = _names(agent.trace.touchpoints, tp.astype(np.int64))
        case = (f"{model.replication}:" + pd.Series(account).astype(str)).to_numpy(object)
        parts.append(
            _frame(
                JOURNEY_LOG,
                {
                    "scenario": np.full(n, model.scenario_name, dtype=object),
                    "replication": np.full(n, model.replication),
                    "account": account,
                    "persona": np.full(n, agent.persona.name, dtype=object),
                    "month": month,
                    "from_stage": _names(STAGE_NAMES, src.astype(np.int64)),
                    "to_stage": to_stage,
                    "touchpoint": touchpoint,
                    "plan": _names(plans, plan.astype(np.int64)),
                    "mrr": mrr,
                    "case:concept:name": case,
                    "concept:name": np.where(touchpoint != "", touchpoint, to_stage),
                    "time:timestamp": stamps[month],
                },
            )
        )
    if not parts:
        return _empty(JOURNEY_LOG)
    log = pd.concat(parts, ignore_index=True)
    return log.sort_values(["month", "account"], kind="stable").reset_index(drop=True)


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
)


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
      still in the stage at the horizon are not in it (right-censored).

    Args:
        result: a ``SimulationResult`` (``monthly``, ``flows``, ``stays``).
    """
    monthly, flows, stays = result.monthly, result.flows, result.stays
    if flows is None or stays is None:
        raise ValueError("this result has no stage flows (saved before the journey map)")
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
    return pd.DataFrame(rows, columns=list(MAP_COLUMNS))


def format_map(table: pd.DataFrame, persona: str = "total") -> str:
    """The map of one persona as readable text (what ``task=map`` prints)."""
    t = table[table["persona"] == persona]
    head = (
        f"  {'stage':<14}{'start':>10}{'end':>10}{'entries':>10}{'exits':>10}"
        f"  {'next':<14}{'conv.':>7}{'drop':>7}{'median mo':>10}"
    )
    lines = [head]

    def pct(x: float) -> str:
        return "      -" if np.isnan(x) else f"{100 * x:6.1f}%"

    for r in t.itertuples():
        med = "-" if np.isnan(r.median_months_in_stage) else f"{r.median_months_in_stage:.0f}"
        lines.append(
            f"  {r.stage:<14}{r.accounts_start:>10,.0f}{r.accounts_end:>10,.0f}"
            f"{r.entries:>10,.0f}{r.exits:>10,.0f}  {r.next_stage or '-':<14}"
            f"{pct(r.conversion):>7}{pct(r.drop_off):>7}{med:>10}"
        )
    return "\n".join(lines)


__all__ = [
    "DROP_STAGE",
    "FLOWS",
    "JOURNEY_LOG",
    "MAP_COLUMNS",
    "NEXT_STAGE",
    "STAYS",
    "StageTrace",
    "flows_frame",
    "format_map",
    "journey_map",
    "log_frame",
    "sampled_accounts",
    "stays_frame",
]
