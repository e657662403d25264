"""Helpers shared by the mechanism tests."""

from __future__ import annotations

import pandas as pd
from sizes import small

from simulator import load_config, simulate


def totals(overrides: list[str], months: int = 12) -> pd.DataFrame:
    """The monthly table of a small run (``sizes.small``) with ``overrides``."""
    return simulate(load_config([*small(months), *overrides]), progress=False).monthly
