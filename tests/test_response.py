"""``simulator.price_response``: metrics over a price grid, paired across the grid."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli
from sizes import TINY, size

from simulator import ConfigError, load_config, price_response
from simulator.experiments import response as response_module
from simulator.formatting import format_value


@pytest.fixture(scope="module")
def pro_curve() -> response_module.ResponseResult:
    return price_response(
        load_config(size(20_000, 600, 24, 8)), "pricing.plans.pro.price", [49, 79, 109, 139]
    )


def test_raising_a_price_lowers_conversion(pro_curve) -> None:
    """Conversion falls at every step up the grid (mean over replications, paired)."""
    t = pro_curve.per_replication
    conv = t[(t["persona"] == "total") & (t["metric"] == "conversion")]
    means = conv.groupby("grid_value", sort=False)["value"].mean().to_numpy()
    assert np.all(np.diff(means) < 0), means


def test_the_first_grid_point_changes_by_exactly_zero_and_every_point_is_reported(
    pro_curve,
) -> None:
    table = pro_curve.table
    first = table[table["grid_value"] == 49]
    finite = first[np.isfinite(first["change_p50"].to_numpy(dtype=float))]
    assert (finite[["change_p10", "change_p50", "change_p90"]].to_numpy() == 0).all()
    assert sorted(set(table["grid_value"])) == [49, 79, 109, 139]
    assert "total" in set(table["persona"])


def test_plot_and_save(pro_curve, tmp_path) -> None:
    fig = pro_curve.plot()
    assert len(fig.axes) == len(response_module.CURVE_METRICS)
    out = pro_curve.save(tmp_path / "curve")
    assert (out / "response.csv").is_file() and (out / "response_replications.parquet").is_file()


def test_a_bad_grid_is_refused_before_any_simulation(monkeypatch) -> None:
    def never(*args, **kwargs):
        raise AssertionError("simulated before the grid was checked")

    monkeypatch.setattr(response_module, "simulate", never)
    cfg = load_config(TINY)
    with pytest.raises(ConfigError, match=r"pricing\.plans\.pro\.price"):
        price_response(cfg, "pricing.plans.pro.price", [79, -1])
    with pytest.raises(ConfigError, match="two or more"):
        price_response(cfg, "pricing.plans.pro.price", [79])


def test_format_prints_one_line_per_grid_value_with_its_medians(pro_curve) -> None:
    text = pro_curve.format()
    lines = text.splitlines()
    assert lines[0].startswith("pricing.plans.pro.price: response (total, 8 replications")
    assert [line.split()[0] for line in lines[2:]] == ["49", "79", "109", "139"]
    t = pro_curve.table
    arr = t[(t["persona"] == "total") & (t["metric"] == "ending_arr") & (t["grid_value"] == 139)]
    assert format_value(float(arr["median"].iloc[0]), "money") in lines[-1]
    assert lines[2].endswith("$0 / $0 / $0")  # the reference is paired with itself


def test_the_response_task_prints_the_curve_and_writes_its_files(tmp_path) -> None:
    proc = run_cli(
        "task=response",
        *TINY,
        "response.values=[59,99]",
        "output.plots=false",
        "hydra.run.dir=out",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pricing.plans.pro.price: response (total, 2 replications" in proc.stdout
    assert (tmp_path / "out" / "response.csv").is_file()
    assert (tmp_path / "out" / "response_replications.parquet").is_file()


def test_the_response_task_refuses_a_bad_value_in_one_line(tmp_path) -> None:
    """Checked with the rest of the command line, before Hydra makes a run folder."""
    proc = run_cli("task=response", *TINY, "response.values=[59,-5]", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[1:] == [
        "  response.values: pricing.plans.pro.price: must be in [0, 1,000,000,000], got -5"
    ]
    assert not (tmp_path / "outputs").exists()
    proc = run_cli("task=response", *TINY, "response.key=pricing.plans.gold.price", cwd=tmp_path)
    assert proc.returncode == 2 and "response.key: pricing.plans.gold.price: unknown key" in (
        proc.stderr
    )
