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


def problems(
    frame: pd.DataFrame, sizes: dict[str, int] | None = None, previous: pd.DataFrame | None = None
) -> list[str]:
    """Every invariant the monthly rows of ``frame`` break (empty list: none).

    Args:
        frame: rows of the monthly table (any months, replications, personas).
        sizes: accounts per persona (its share of the market); default: stage counts must
            add up to the same total in every month of a persona.
        previous: the rows of the month before ``frame``'s first (continuity across calls).
    """
    out: list[str] = []
    numeric = [c for c in NON_NEGATIVE if c in frame.columns]
    values = frame[numeric].to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        cols = [numeric[j] for j in np.flatnonzero(~finite.all(axis=0))]
        out.append(f"NaN or inf in {', '.join(cols)}: {_where(frame, ~finite.all(axis=1))}")
    # Rounding: 1e-6 $ + 1e-9 of the row's largest MRR amount (x 12 for ARR); counts are whole,
    # so any negative count is <= -1.
    scale = frame[["mrr_start", "mrr_end", *_BRIDGE_PLUS, *_BRIDGE_MINUS]].abs().max(axis=1)
    tol = NEGATIVE_TOLERANCE + 1e-9 * scale.to_numpy()[:, None] * 12.0
    negative = values < -tol
    if negative.any():
        cols = [numeric[j] for j in np.flatnonzero(negative.any(axis=0))]
        out.append(f"negative {', '.join(cols)}: {_where(frame, negative.any(axis=1))}")
    stages = frame[list(STAGE_COLUMNS)].to_numpy(dtype=np.float64)
    if (stages != np.round(stages)).any():
        out.append(
            f"fractional stage counts: {_where(frame, (stages != np.round(stages)).any(axis=1))}"
        )
    total = stages.sum(axis=1)
    if sizes is not None:
        want = frame["persona"].map(sizes).to_numpy(dtype=np.float64)
        bad = total != want
        if bad.any():
            out.append(
                f"stage counts do not add up to the persona's accounts: {_where(frame, bad)}"
            )
    else:
        first = (
            pd.Series(total, index=frame.index)
            .groupby([frame["replication"], frame["persona"]])
            .transform("first")
        )
        bad = (total != first.to_numpy()) & True
        if bad.any():
            out.append(f"stage counts not conserved from month to month: {_where(frame, bad)}")
    plus = frame[list(_BRIDGE_PLUS)].sum(axis=1)
    minus = frame[list(_BRIDGE_MINUS)].sum(axis=1)
    gap = (frame["mrr_start"] + plus - minus - frame["mrr_end"]).abs().to_numpy()
    tol = 1e-9 * frame[["mrr_start", "mrr_end"]].abs().max(axis=1).to_numpy() + 1e-6
    bad = ~(gap <= tol)
    if bad.any():
        out.append(f"MRR bridge open (max gap {np.nanmax(gap):.6g} $): {_where(frame, bad)}")
    paying = frame[list(PAYING_COLUMNS)].sum(axis=1).to_numpy()
    off = frame["customers"].to_numpy() != paying if "customers" in frame.columns else None
    if off is not None and off.any():
        out.append(f"customers is not the paying stages' sum: {_where(frame, off)}")
    if "arr" in frame.columns:
        bad = ~np.isclose(
            frame["arr"].to_numpy(), 12.0 * frame["mrr_end"].to_numpy(), rtol=1e-12, atol=1e-6
        )
        if bad.any():
            out.append(f"arr is not 12 × mrr_end: {_where(frame, bad)}")
    both = frame if previous is None else pd.concat([previous, frame], ignore_index=True)
    both = both.sort_values(["replication", "persona", "month"], kind="stable")
    prev_end = both.groupby(["replication", "persona"])["mrr_end"].shift(1)
    prev_month = both.groupby(["replication", "persona"])["month"].shift(1)
    later = prev_month.notna().to_numpy()
    if later.any():
        gaps = both["month"].to_numpy()[later] - prev_month.to_numpy()[later]
        jumps = both["mrr_start"].to_numpy()[later] != prev_end.to_numpy()[later]
        bad = np.zeros(len(both), dtype=bool)
        bad[np.flatnonzero(later)] = jumps | (gaps != 1)
        if bad.any():
            out.append(f"mrr_start is not last month's mrr_end: {_where(both, bad)}")
    return out


def check(
    frame: pd.DataFrame, sizes: dict[str, int] | None = None, previous: pd.DataFrame | None = None
) -> None:
    """Raise ``InvariantError`` naming every invariant ``frame`` breaks (see ``problems``)."""
    found = problems(frame, sizes, previous)
    if found:
        raise InvariantError("; ".join(found))
