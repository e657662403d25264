"""Invariants every monthly table must satisfy, whatever the config: checked by the engine in
debug mode (``JOURNEY_SIM_DEBUG=1`` or ``simulate(..., debug=True)``: after every simulated
month) and by the tests (``tests/test_properties.py``).

- no NaN or infinite number in any column;
- stage counts are whole and non-negative, and they sum to the persona's share of the market in
  every month (customers are conserved: nobody appears or vanishes);
- flows of accounts, tickets, seats and money are non-negative (contraction and churned MRR are
  recorded as positive amounts), and so are the MRR stocks (money to 1e-6 $ + 1e-9 of the
  MRR: rounding);
- the MRR bridge closes in every row: mrr_end = mrr_start + new + expansion + reactivation −
  contraction − churned (to 1e-9 of the MRR, plus 1e-6 $);
- continuity: month m's ``mrr_start`` is month m − 1's ``mrr_end``, replication by replication
  and persona by persona;
- ``customers`` is n_onboarding + n_active + n_advocate and ``arr`` is 12 × ``mrr_end``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.results import MONTHLY, PAYING_COLUMNS, STAGE_COLUMNS


class InvariantError(AssertionError):
    """A monthly table broke an invariant (the engine's debug mode raises it)."""


#: Columns that can never be negative: every numeric column but the keys.
NON_NEGATIVE: tuple[str, ...] = tuple(
    c.name for c in MONTHLY.columns if c.kind != "key" and c.dtype != "str"
)

#: Money below zero by less than this ($, plus 1e-9 of the row's MRR) is rounding, as in the
#: bridge's tolerance: MRR kept as a running sum ends at -7e-21 when an account repriced from
#: $30 to $7e-21 churns, or at -1e-7 with plans at $1.5e-5 and $2,159
#: (tests/test_properties.py found both).
NEGATIVE_TOLERANCE = 1e-6

_BRIDGE_PLUS = ("new_mrr", "expansion_mrr", "reactivation_mrr")
_BRIDGE_MINUS = ("contraction_mrr", "churned_mrr")


def _where(frame: pd.DataFrame, bad: np.ndarray) -> str:
    row = frame.loc[bad].iloc[0]
    keys = ", ".join(f"{k} {row[k]}" for k in ("replication", "month", "persona") if k in row)
    return f"{int(bad.sum())} row(s), first at {keys}"


def _codes(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct values (sorted as pandas sorts them)."""
    return np.unique(values, return_inverse=True)[1].reshape(-1)


def problems(
    frame: pd.DataFrame, sizes: dict[str, int] | None = None, previous: pd.DataFrame | None = None
) -> list[str]:
    """Every invariant the monthly rows of ``frame`` break (empty list: none).

    Args:
        frame: rows of the monthly table (any months, replications, personas).
        sizes: accounts per persona (its share of the market); default: stage counts must
            add up to the same total in every month of a persona.
        previous: the rows of the month before ``frame``'s first (continuity across calls).

    Column by column in numpy (a few hundred microseconds a table): the engine's debug mode
    runs it after every month, the property tests on thousands of tables.
    """
    out: list[str] = []

    def col(name: str) -> np.ndarray:
        return frame[name].to_numpy(dtype=np.float64)

    numeric = [c for c in NON_NEGATIVE if c in frame.columns]
    values = np.column_stack([col(c) for c in numeric]) if numeric else np.zeros((len(frame), 0))
    finite = np.isfinite(values)
    if not finite.all():
        cols = [numeric[j] for j in np.flatnonzero(~finite.all(axis=0))]
        out.append(f"NaN or inf in {', '.join(cols)}: {_where(frame, ~finite.all(axis=1))}")
    mrr_start, mrr_end = col("mrr_start"), col("mrr_end")
    plus = np.column_stack([col(c) for c in _BRIDGE_PLUS])
    minus = np.column_stack([col(c) for c in _BRIDGE_MINUS])
    # Rounding: 1e-6 $ + 1e-9 of the row's largest MRR amount (x 12 for ARR); counts are whole,
    # so any negative count is <= -1. (fmax and nansum skip NaN, as pandas does.)
    scale = np.fmax.reduce(np.abs(np.column_stack([mrr_start, mrr_end, plus, minus])), axis=1)
    # ARR is 12 x MRR, so is its rounding: an MRR left at -1.2e-7 $ by a month that moved
    # 5e8 $ (its rounding) and kept after every account left is an ARR of -1.4e-6 $ (the
    # property tests found it, example 1,173 of 2,000)
    absolute = np.where(np.array(numeric) == "arr", 12.0, 1.0) * NEGATIVE_TOLERANCE
    tol = absolute[None, :] + 1e-9 * scale[:, None] * 12.0
    negative = values < -tol
    if negative.any():
        cols = [numeric[j] for j in np.flatnonzero(negative.any(axis=0))]
        out.append(f"negative {', '.join(cols)}: {_where(frame, negative.any(axis=1))}")
    stages = np.column_stack([col(c) for c in STAGE_COLUMNS])
    fractional = (stages != np.round(stages)).any(axis=1)
    if fractional.any():
        out.append(f"fractional stage counts: {_where(frame, fractional)}")
    total = stages.sum(axis=1)
    personas = frame["persona"].to_numpy()
    if sizes is not None:
        names, where = np.unique(personas, return_inverse=True)
        accounts = np.array([sizes.get(str(n), np.nan) for n in names], dtype=np.float64)
        bad = total != accounts[where.reshape(-1)]
        if bad.any():
            out.append(
                f"stage counts do not add up to the persona's accounts: {_where(frame, bad)}"
            )
    else:
        group = _codes(frame["replication"].to_numpy()) * (len(frame) + 1) + _codes(personas)
        groups, where = np.unique(group, return_inverse=True)
        where = where.reshape(-1)
        # each group's first total that is a number (NaN is reported above)
        known = ~np.isnan(total)
        found, first = np.unique(where[known], return_index=True)
        firsts = np.full(len(groups), np.nan)
        firsts[found] = total[known][first]
        bad = total != firsts[where]
        if bad.any():
            out.append(f"stage counts not conserved from month to month: {_where(frame, bad)}")
    gap = np.abs(mrr_start + np.nansum(plus, axis=1) - np.nansum(minus, axis=1) - mrr_end)
    tol = 1e-9 * np.fmax(np.abs(mrr_start), np.abs(mrr_end)) + 1e-6
    bad = ~(gap <= tol)
    if bad.any():
        out.append(f"MRR bridge open (max gap {np.nanmax(gap):.6g} $): {_where(frame, bad)}")
    if "customers" in frame.columns:
        paying = np.nansum(np.column_stack([col(c) for c in PAYING_COLUMNS]), axis=1)
        off = col("customers") != paying
        if off.any():
            out.append(f"customers is not the paying stages' sum: {_where(frame, off)}")
    if "arr" in frame.columns:
        bad = ~np.isclose(col("arr"), 12.0 * mrr_end, rtol=1e-12, atol=1e-6)
        if bad.any():
            out.append(f"arr is not 12 × mrr_end: {_where(frame, bad)}")
    both = frame if previous is None else pd.concat([previous, frame], ignore_index=True)
    if len(both) > 1:
        month = both["month"].to_numpy(dtype=np.float64)
        persona = _codes(both["persona"].to_numpy())
        replication = _codes(both["replication"].to_numpy())
        order = np.lexsort((month, persona, replication))  # stable, as sort_values(stable)
        month, persona, replication = month[order], persona[order], replication[order]
        start = both["mrr_start"].to_numpy(dtype=np.float64)[order]
        end = both["mrr_end"].to_numpy(dtype=np.float64)[order]
        later = np.zeros(len(both), dtype=bool)
        later[1:] = (persona[1:] == persona[:-1]) & (replication[1:] == replication[:-1])
        bad = np.zeros(len(both), dtype=bool)
        bad[1:] = later[1:] & ((start[1:] != end[:-1]) | (month[1:] - month[:-1] != 1))
        if bad.any():
            out.append(f"mrr_start is not last month's mrr_end: {_where(both.iloc[order], bad)}")
    return out


def check(
    frame: pd.DataFrame, sizes: dict[str, int] | None = None, previous: pd.DataFrame | None = None
) -> None:
    """Raise ``InvariantError`` naming every invariant ``frame`` breaks (see ``problems``)."""
    found = problems(frame, sizes, previous)
    if found:
        raise InvariantError("; ".join(found))
