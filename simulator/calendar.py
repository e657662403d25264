"""Scheduled transitions: waiting times drawn once, rows kept in month buckets.

A stage whose monthly exit probability is constant for an account (nurture of lost prospects,
consideration, win-back of churned customers, and churn itself when health does not move it) need
not be drawn every month: the number of months an account stays is geometric, drawn once when it
enters the stage, and the account is filed under the month it leaves. The law is the same as one
Bernoulli draw per month (P(stay k months, then leave) = (1 - p)^k p), and a month's work is
proportional to the accounts that move, not to the accounts that wait. Fixed durations (trial or
sales cycle, onboarding) are filed the same way.
"""

from __future__ import annotations

import functools

import numpy as np

from simulator.kernels import schedule

#: Waiting time of an account that never leaves: exit probability 0, or a wait of 100,000 months
#: (over 8,000 years) or more, which no run reaches.
NEVER = 100_000
_FLOAT_MAX = float(np.finfo(np.float64).max)

_EMPTY = np.zeros(0, dtype=np.int64)
_BELOW_ONE = float(np.nextafter(1.0, 0.0))


def _is_scalar(x: object) -> bool:
    """``np.ndim(x) == 0``, without its wrapper for the usual arguments."""
    if isinstance(x, np.ndarray):
        return x.ndim == 0
    return isinstance(x, int | float | np.generic) or np.ndim(x) == 0


def months_waiting(u: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """Months an account stays before it leaves, when it leaves each month with probability
    ``p``: the number of failures before the first success, by inversion of uniforms ``u``
    (P(K >= k) = (1 - p)^k). ``NEVER`` where p <= 0; 0 where p >= 1."""
    log_u = np.log1p(np.negative(u, dtype=np.float64))
    if _is_scalar(p):
        p = float(p)
        if p <= 0.0:
            return np.full(log_u.shape, NEVER, dtype=np.int64)
        if p >= 1.0:
            return np.zeros(log_u.shape, dtype=np.int64)
        return schedule.waits(log_u.ravel(), _per_log_stay(p)).reshape(log_u.shape)
    p64, log_stay = _log_stay(p)
    if p64.shape != log_u.shape:
        log_u, p64, log_stay = np.broadcast_arrays(log_u, p64, log_stay)
    return schedule.waits_each(log_u.ravel(), p64.ravel(), log_stay.ravel()).reshape(log_u.shape)


@functools.lru_cache(maxsize=256)
def _per_log_stay(p: float) -> float:
    """1 / log(1 - p) of a monthly exit probability 0 < p < 1 (numpy's ``log1p``). For a p so
    small (below about 5.6e-309) that the reciprocal overflows, the most negative finite float:
    every wait is then NEVER except u = 0's, which is 0, as it is at any p."""
    log_stay = float(np.log1p(-p))
    if -log_stay * _FLOAT_MAX < 1.0:
        return -_FLOAT_MAX
    return 1.0 / log_stay


def _log_stay(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exit probabilities ``p`` per account (float64) and log(1 - p) of them clipped to [0, 1)
    (rows with p >= 1 wait 0 months whatever it is)."""
    p64 = np.asarray(p, dtype=np.float64)
    return p64, np.log1p(-np.clip(p64, 0.0, _BELOW_ONE))


def months_waiting_after_early(
    u: np.ndarray, p: np.ndarray | float, early: np.ndarray | float, n_early: np.ndarray
) -> np.ndarray:
    """``months_waiting`` when the monthly exit probability is ``early`` for the first
    ``n_early`` months and ``p`` afterwards, by inversion of the piecewise survival
    P(K >= k) = (1 - early)^min(k, n) (1 - p)^max(k - n, 0) with one uniform per account.
    Rows with ``n_early`` 0 get exactly ``months_waiting(u, p)``."""
    wait = months_waiting(u, p)
    n = np.asarray(n_early, dtype=np.int64)
    rows = np.flatnonzero(n > 0)
    if rows.size == 0:
        return wait
    u64 = np.asarray(u, dtype=np.float64)[rows]
    h = np.broadcast_to(np.asarray(early, dtype=np.float64), n.shape)[rows]
    p_late = np.broadcast_to(np.asarray(p, dtype=np.float64), n.shape)[rows]
    k_early = months_waiting(u64, h)
    inside = k_early < n[rows]
    # Past the early months, the uniform's part left over after surviving them is again
    # uniform: 1 - (1 - u) / (1 - early)^n.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        left = -np.expm1(np.log1p(-u64) - n[rows] * np.log1p(-np.minimum(h, 1.0)))
    left = np.clip(np.nan_to_num(left, nan=0.0), 0.0, np.nextafter(1.0, 0.0))
    late = np.minimum(n[rows] + months_waiting(left, p_late), NEVER)
    wait[rows] = np.where(inside, k_early, late)
    return wait


class _Pool:
    """Rows waiting in a calendar beyond its buckets, with their months, in filing order."""

    def __init__(self) -> None:
        self.months: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(r.size for r in self.rows)

    def add(self, months: np.ndarray, rows: np.ndarray) -> None:
        if rows.size:
            self.months.append(months)
            self.rows.append(rows)

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The months and rows, all of them (the pool is emptied)."""
        months, rows = self.months, self.rows
        self.months, self.rows = [], []
        if len(rows) == 1:
            return months[0], rows[0]
        return np.concatenate(months), np.concatenate(rows)


class Calendar:
    """Rows (numbers within one persona) due for one transition, bucketed by month.

    Rows due within the next ``window`` months sit in per-month buckets; those due before a
    horizon (``horizon`` windows ahead when it was last set) wait in a first pool, split again
    each time the window moves on; later ones wait in a second pool, split only when the window
    passes the horizon (it is then set again). Filing costs one pass over the rows
    (``kernels.schedule.file_months``) whatever the spread of months. A month's rows are always
    in one place, in the order they were filed, and come out of ``pop`` in that order.
    """

    def __init__(self, window: int = 6, horizon: int = 4):
        self.window = int(window)
        self.horizon = int(horizon)
        self._edge = 0  # months before the edge are in buckets
        self._horizon = 0  # months from the edge to before the horizon are in the first pool
        self._due: dict[int, list[np.ndarray]] = {}
        self._soon = _Pool()
        self._later = _Pool()

    def __len__(self) -> int:
        """Rows filed (for tests and memory figures)."""
        due = sum(p.size for parts in self._due.values() for p in parts)
        return due + len(self._soon) + len(self._later)

    def add(self, month: int | np.ndarray, rows: np.ndarray) -> None:
        """File ``rows`` under ``month`` (one month, or one per row). Months at or beyond
        ``NEVER`` are dropped: those accounts never leave."""
        if rows.size == 0:
            return
        if _is_scalar(month):
            m = int(month)
            if m < self._edge:
                self._due.setdefault(m, []).append(rows)
            elif m < NEVER:
                pool = self._soon if m < self._horizon else self._later
                pool.add(np.full(rows.size, m, dtype=np.int64), rows)
            return
        months = np.asarray(month, dtype=np.int64)
        self._file(*schedule.file_months(months, rows, self._edge, self._horizon))

    def add_waiting(
        self,
        first_month: int,
        u: np.ndarray,
        p: np.ndarray | float,
        rows: np.ndarray,
        last_month: int = NEVER,
    ) -> None:
        """File ``rows`` under ``first_month + months_waiting(u, p)`` (one uniform ``u`` per
        row; one exit probability ``p``, or one per row), those up to ``last_month`` only."""
        if rows.size == 0:
            return
        log_u = np.log1p(np.negative(u, dtype=np.float64))
        edge, horizon = self._edge, self._horizon
        if not _is_scalar(p):
            p64, log_stay = _log_stay(p)
            self._file(
                *schedule.file_waits_each(
                    log_u, p64, log_stay, first_month, last_month, rows, edge, horizon
                )
            )
            return
        p = float(p)
        if p <= 0.0:
            return
        if p >= 1.0:
            self.add(first_month, rows if first_month <= last_month else rows[:0])
            return
        self._file(
            *schedule.file_waits(
                log_u, _per_log_stay(p), first_month, last_month, rows, edge, horizon
            )
        )

    def pop(self, month: int) -> np.ndarray:
        """The rows due in ``month`` (removed from the calendar)."""
        if month >= self._edge:
            self._advance(month)
        parts = self._due.pop(month, None)
        if not parts:
            return _EMPTY
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _file(
        self, rows: np.ndarray, later: np.ndarray, first: int, starts: np.ndarray, n_soon: int
    ) -> None:
        """File rows sorted by ``schedule.file_months``: the first ones, grouped by month from
        ``first`` at offsets ``starts``, in the month buckets; the next ``n_soon`` in the first
        pool, the rest in the second (their months: ``later``)."""
        n_near = 0
        if starts.size:
            due = self._due
            ends = starts.tolist()
            for i in range(len(ends) - 1):
                a, b = ends[i], ends[i + 1]
                if b > a:
                    due.setdefault(first + i, []).append(rows[a:b])
            n_near = ends[-1]
        if later.size == 0:
            return
        if n_soon == later.size:
            self._soon.add(later, rows[n_near:] if n_near else rows)
        elif n_soon == 0:
            self._later.add(later, rows[n_near:] if n_near else rows)
        else:
            self._soon.add(later[:n_soon], rows[n_near : n_near + n_soon])
            self._later.add(later[n_soon:], rows[n_near + n_soon :])

    def _advance(self, month: int) -> None:
        """Move the window to start at ``month``: bucket the pooled rows now within it (and set
        the horizon again when the window passes it)."""
        self._edge = month + self.window
        passed = self._edge > self._horizon
        if passed:
            self._horizon = self._edge + self.horizon * self.window
        if self._soon.rows:
            self._file(*schedule.file_months(*self._soon.take(), self._edge, self._horizon))
        if passed and self._later.rows:
            self._file(*schedule.file_months(*self._later.take(), self._edge, self._horizon))
