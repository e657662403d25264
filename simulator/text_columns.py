"""String columns of the tables a run hands back, built from integer codes.

Every table of a replication (``simulator.results``: monthly, flows, stays, cohorts, channels, the
event log) has text columns drawn from a few names (scenario, persona, stage, channel, plan,
touchpoint). Built as Python strings, each row costs a Python object and pandas converts each
one again; ``text_columns`` builds them from (names, codes) with one arrow ``take`` for all the
columns of a table, in the dtype pandas gives a column of Python strings (``str`` on arrow from
pandas 3; ``object`` before, where it builds object arrays).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def _strings() -> Any:
    """The dtype pandas gives a column of Python strings."""
    return pd.Series(np.array(["x"], dtype=object)).dtype


#: The dtype of a string column (what pandas gives Python strings).
STR = _strings()
#: Whether pandas keeps string columns in arrow.
ARROW_STR = getattr(STR, "storage", None) == "pyarrow"


def text_columns(columns: Sequence[tuple[Sequence[str], np.ndarray]]) -> list[Any]:
    """(names, codes) per column, all of one length → string columns (code ``k`` → ``names[k]``,
    code -1 → empty) of the dtype pandas gives Python strings: one arrow ``take`` for all of
    them where pandas keeps strings in arrow (no Python object per row)."""
    if not ARROW_STR:
        return [np.array([*names, ""], dtype=object)[codes] for names, codes in columns]
    import pyarrow as pa
    import pyarrow.compute as pc

    n = columns[0][1].size
    words: list[str] = []
    index = np.empty((len(columns), n), dtype=np.int64)
    for k, (names, codes) in enumerate(columns):
        np.add(codes, len(words) + 1, out=index[k])  # code -1 → the "" before the names
        words += ["", *names]
    text = pc.take(pa.array(words, pa.large_string()), index.reshape(-1))
    return [pd.array(text.slice(k * n, n), dtype=STR) for k in range(len(columns))]


__all__ = ["ARROW_STR", "STR", "text_columns"]
