"""The golden baseline: every case's monthly table is byte-identical to the stored digest.

A failure here means simulated numbers changed. If that was the purpose of the change, run
``make baseline`` in a commit of its own and say why in its message.
"""

from __future__ import annotations

import json

import pytest
from golden_baseline import BASELINE_FILE, SIZE, cases, key_figures, table_digest

from simulator import load_config, simulate

STORED = json.loads(BASELINE_FILE.read_text())


def test_every_case_is_stored() -> None:
    assert set(STORED) == set(cases())


@pytest.mark.parametrize("case", sorted(cases()))
def test_monthly_table_is_unchanged(case: str) -> None:
    monthly = simulate(load_config([*SIZE, *cases()[case]]), progress=False).monthly
    stored = STORED[case]
    assert key_figures(monthly) == {k: v for k, v in stored.items() if k != "digest"}
    assert table_digest(monthly) == stored["digest"]
