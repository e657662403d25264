"""``simulator.price_response``: metrics over a price grid, paired across the grid."""

from __future__ import annotations

import numpy as np
import pytest
from sizes import TINY, size

from simulator import ConfigError, load_config, price_response
from simulator.experiments import response as response_module


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
