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
    clipped = np.minimum(np.maximum(p64, 0.0), _BELOW_ONE)  # (``np.clip``, without its overhead)
    return p64, np.log1p(np.negative(clipped, out=clipped), out=clipped)


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


class Calendar:
    """Rows (numbers within one persona) due for one transition, by month.

    Each month 0, 1, ... up to the buckets' span has a list of its rows, in the order they were
    filed; rows due in a month outside the span (negative, or past it) wait in one far list, in
    filing order, and move to their month's list when a ``pop`` beyond the span doubles it (so
    a month's rows are still in filing order). Filing and popping are compiled loops over the
    rows (``simulator.kernels.schedule``), whatever the spread of months; the slots popped rows
    free are reused.

    Args:
        months: the buckets' span at first (months 0 to ``months`` - 1); the span of a run's
            horizon keeps every row a run pops in a bucket.
    """

    def __init__(self, months: int = 64):
        self._slots = np.empty((3, 0), dtype=np.int32)  # row, month, next slot
        self._buckets = np.empty((max(int(months), 1), 3), dtype=np.int64)
        self._buckets[:, :2] = -1  # first and last slot of each month
        self._buckets[:, 2] = 0  # rows of each month
        self._meta = np.zeros(schedule.META_SIZE, dtype=np.int64)
        self._meta[[schedule.FAR_HEAD, schedule.FAR_TAIL, schedule.FREE_HEAD]] = -1
        self._available = 0  # slots free or never used

    def __len__(self) -> int:
        """Rows filed (for tests and memory figures)."""
        return int(self._meta[schedule.LIVE])

    def _room(self, n: int) -> np.ndarray:
        """The slots, with room for ``n`` more rows."""
        if n > self._available:
            old = self._slots
            size = max(2 * old.shape[1], old.shape[1] - self._available + n, 256)
            self._slots = np.empty((3, size), dtype=np.int32)
            self._slots[:, : old.shape[1]] = old
            self._available += size - old.shape[1]
        return self._slots

    def lists(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The month lists' arrays (``kernels.schedule``), with room for ``n`` more rows, for
        a kernel that files rows itself; it returns the slots available after, for
        ``filed``."""
        return self._room(n), self._buckets, self._meta

    def filed(self, available: int) -> None:
        """A kernel filed rows in ``lists``: ``available`` slots are left."""
        self._available = int(available)

    def add(self, month: int | np.ndarray, rows: np.ndarray) -> None:
        """File ``rows`` under ``month`` (one month, or one per row). Months at or beyond
        ``NEVER`` are dropped: those accounts never leave."""
        if rows.size == 0:
            return
        slots = self._room(rows.size)
        if _is_scalar(month):
            self._available = schedule.file_rows(
                int(month), _rows(rows), slots, self._buckets, self._meta
            )
            return
        months = np.asarray(month, dtype=np.int64)
        self._available = schedule.file_months(
            months, _rows(rows), slots, self._buckets, self._meta
        )

    def add_drawn_waiting(
        self,
        first_month: int,
        key: np.uint64,
        p: np.ndarray | float,
        rows: np.ndarray,
        last_month: int = NEVER,
    ) -> None:
        """File ``rows`` under ``first_month + months_waiting(u, p)``, those up to
        ``last_month`` only: one exit probability ``p``, or one per row, and each row's uniform
        u = ``kernels.row_uniform(key, row)`` (``RandomStreams.row_uniform`` under the stream's
        ``row_key``), drawn in the same compiled pass."""
        if rows.size == 0:
            return
        if _is_scalar(p):
            p = float(p)
            if p <= 0.0:
                return
            available = schedule.file_drawn_waits(
                key, _rows(rows), p, first_month, last_month, *self.lists(rows.size)
            )
        else:
            available = schedule.file_drawn_waits_each(
                key, _rows(rows), np.asarray(p, dtype=np.float64), first_month, last_month,
                *self.lists(rows.size),
            )  # fmt: skip
        self.filed(available)

    def pop(self, month: int) -> np.ndarray:
        """The rows due in ``month``, in the order they were filed (removed from the
        calendar)."""
        span = self._buckets.shape[0]
        if month >= span:  # a live model stepped past the span: double it
            while span <= month:
                span *= 2
            grown = np.empty((span, 3), dtype=np.int64)
            grown[: self._buckets.shape[0]] = self._buckets
            grown[self._buckets.shape[0] :, :2] = -1
            grown[self._buckets.shape[0] :, 2] = 0
            self._buckets = grown
            schedule.rehome_far(self._slots, grown, self._meta)
        if month < 0:
            rows = schedule.pop_far(month, self._slots, self._meta)
        else:
            rows = schedule.pop_month(month, self._slots, self._buckets, self._meta)
        self._available += rows.size
        return rows


def _rows(rows: np.ndarray) -> np.ndarray:
    """Rows as int64 (one compiled version of each filing kernel)."""
    return rows if rows.dtype == np.int64 else rows.astype(np.int64)
