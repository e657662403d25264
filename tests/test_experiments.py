"""The run machinery: executors, checkpoints, progress and saved outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from simulator import load_config, simulate
from simulator.config import params_of
from simulator.results import MONTHLY_COLUMNS
from simulator.runner import load_checkpoint

SMALL = ["market.size=30000", "initial.customers=900", "months=12", "replications=3"]


def _table(overrides: list[str]) -> pd.DataFrame:
    return simulate(load_config([*SMALL, *overrides]), progress=False).monthly


def test_local_process_pool_equals_serial() -> None:
    serial = _table(["executor=serial"])
    pooled = _table(["executor=local", "executor.workers=2"])
    pd.testing.assert_frame_equal(serial, pooled, check_exact=True)


def test_checkpoint_writes_every_replication(tmp_path: Path) -> None:
    cfg = load_config([*SMALL, "months=4"])
    res = simulate(cfg, checkpoint_dir=tmp_path, progress=False)
    parts = sorted((tmp_path / "replications").glob("rep-*.parquet"))
    assert [p.name for p in parts] == ["rep-0000.parquet", "rep-0001.parquet", "rep-0002.parquet"]
    assert not list(tmp_path.rglob("*.tmp"))
    back = load_checkpoint(tmp_path).sort_values(["replication", "month", "persona"])
    want = res.monthly.sort_values(["replication", "month", "persona"])
    pd.testing.assert_frame_equal(
        back.reset_index(drop=True), want.reset_index(drop=True), check_exact=True
    )


def test_empty_checkpoint_reads_as_empty_table(tmp_path: Path) -> None:
    from simulator.results import MONTHLY_COLUMNS

    empty = load_checkpoint(tmp_path)
    assert len(empty) == 0 and list(empty.columns) == list(MONTHLY_COLUMNS)


def test_save_writes_table_summary_and_plots(tmp_path: Path) -> None:
    res = simulate(load_config([*SMALL, "months=13", "replications=2"]), progress=False)
    out = res.save(tmp_path / "run", csv=True)
    back = pd.read_parquet(out / "monthly.parquet")
    pd.testing.assert_frame_equal(back, res.monthly, check_exact=True)
    assert list(pd.read_csv(out / "monthly.csv").columns) == list(MONTHLY_COLUMNS)
    doc = json.loads((out / "summary.json").read_text())
    assert doc["seed"] == 42 and doc["months"] == 13 and doc["replications"] == 2
    assert doc["config"]["market"]["size"] == 30000
    assert {"python", "mesa", "numpy", "pandas", "hydra-core"} <= set(doc["versions"])
    assert "git_revision" in doc
    assert doc["summary"]["ending_arr"]["median"] == pytest.approx(
        res.summary()["ending_arr"]["median"]
    )
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert {"customers_by_stage.png", "mrr_bridge.png", "churn.png"} <= set(pngs)
    assert all((out / "plots" / p).stat().st_size > 5_000 for p in pngs)
    assert not list(out.rglob("*.tmp"))


def test_progress_counts_months_and_stays_quiet_when_off(capsys: pytest.CaptureFixture) -> None:
    from simulator.runner import run_replication

    params = params_of(load_config([*SMALL, "months=4", "replications=2"]))
    ticks: list[int] = []
    frame = run_replication((params, 0), on_month=lambda: ticks.append(1))
    assert len(ticks) == 4 and sorted(frame["month"].unique()) == [1, 2, 3, 4]
    simulate(params, progress=False)
    assert capsys.readouterr().err == ""
    simulate(params, progress=True)
    err = capsys.readouterr().err
    assert "baseline: 2 replications" in err and "/8" in err
