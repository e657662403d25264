"""The model: the step table is the one documented order, per-step timings, and live stepping
gives the same table as ``simulate``."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sizes import TINY, small

import simulator.model
from simulator import JourneyModel, load_config, simulate
from simulator.model import STEPS, describe_steps
from simulator.results import MONTHLY_COLUMNS


def test_docstring_step_order_is_the_step_table() -> None:
    doc = simulator.model.__doc__ or ""
    assert describe_steps() in doc
    listed = re.findall(r"^\s*\d+\.\s+(\w+)", doc, flags=re.MULTILINE)
    assert listed == [s.name for s in STEPS]
    assert len({s.name for s in STEPS}) == len(STEPS)


def test_step_timings_cover_every_active_step_and_change_nothing() -> None:
    cfg = load_config([*TINY, "mechanisms.success=false"])
    timed, plain = JourneyModel(cfg), JourneyModel(cfg)
    timings: dict[str, float] = {}
    for _ in range(3):
        timed.step(timings)
        plain.step()
    assert list(timings) == [s.name for s in STEPS if s.name != "success"]
    assert all(t >= 0.0 for t in timings.values())
    assert timed.steps == plain.steps == 3  # Mesa's clock advances either way
    pd.testing.assert_frame_equal(pd.DataFrame(timed.records), pd.DataFrame(plain.records))


def test_live_stepping_equals_simulate() -> None:
    cfg = load_config(small(replications=1))
    model = JourneyModel(cfg, replication=0)
    counts, mrrs = [], []
    for _ in range(12):
        model.step()
        counts.append(model.stage_counts)
        mrrs.append(model.mrr)
    assert model.month == 12
    table = simulate(cfg, progress=False).monthly
    by_month = table.groupby("month")
    for month, (sc, mrr) in enumerate(zip(counts, mrrs, strict=True), start=1):
        g = by_month.get_group(month)
        assert sum(sc.values()) == 30000
        for stage, n in sc.items():
            assert g[f"n_{stage}"].sum() == n
        assert g["mrr_end"].sum() == pytest.approx(mrr, rel=1e-9)
    pd.testing.assert_frame_equal(
        pd.DataFrame(model.records)[list(MONTHLY_COLUMNS)].astype(table.dtypes.to_dict()),
        table,
        check_exact=True,
    )


def test_importing_the_engine_leaves_plotting_and_scipy_stats_out() -> None:
    """``import simulator`` (what every pool worker does first) imports neither matplotlib nor
    scipy.stats (about half a second between them): the report and plots import matplotlib
    when they draw, the support desk's ticket table uses scipy.special."""
    import subprocess
    import sys

    code = (
        "import sys, simulator.experiments.montecarlo, simulator\n"
        "print(sorted(m for m in ('matplotlib', 'scipy.stats') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_ticket_table_is_scipy_stats_poisson_cdf() -> None:
    """``support.poisson_cdf`` (scipy.special.pdtr) equals scipy.stats.poisson.cdf bit for bit."""
    from scipy import stats

    from simulator.mechanisms.support import poisson_cdf

    for rate in (0.01, 0.35, 1.2, 7.5, 42.0, 400.0):
        cdf = poisson_cdf(rate)
        expected = stats.poisson.cdf(np.arange(cdf.size), rate).astype(np.float32)
        np.testing.assert_array_equal(cdf, expected)
