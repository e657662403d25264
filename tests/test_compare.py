"""``simulator.compare``: paired scenario comparison with common random numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sizes import TINY, size

import simulator
from simulator import ConfigError, compare, load_config
from simulator.experiments import compare as compare_module


@pytest.fixture(scope="module")
def price_rise() -> simulator.ComparisonResult:
    """Pro from $79 to $99 against the default, and a variant identical to the baseline."""
    cfg = load_config(size(20_000, 600, 24, 12))
    return compare(cfg, {"pro_up": ["pricing.plans.pro.price=99"], "same": {}})


def test_a_variant_identical_to_the_baseline_differs_by_exactly_zero(price_rise) -> None:
    same = price_rise.paired[price_rise.paired["variant"] == "same"]
    assert len(same) > 0
    finite = np.isfinite(same["baseline"].to_numpy(dtype=float))
    assert np.array_equal(
        same["value"].to_numpy(dtype=float)[finite], same["baseline"].to_numpy(dtype=float)[finite]
    )
    table = price_rise.table[price_rise.table["variant"] == "same"]
    defined = table[table["replications"] > 0]
    assert (defined["verdict"] == "no difference").all()


def test_pairing_removes_the_noise_the_scenarios_share(price_rise) -> None:
    """The paired difference of ending ARR varies far less than the difference of two
    independent runs would (sd of the paired difference vs sqrt(var_baseline + var_variant))."""
    p = price_rise.paired
    rows = p[(p["variant"] == "pro_up") & (p["persona"] == "total") & (p["metric"] == "ending_arr")]
    paired_sd = rows["difference"].std(ddof=1)
    unpaired_sd = np.sqrt(rows["baseline"].var(ddof=1) + rows["value"].var(ddof=1))
    assert paired_sd < 0.5 * unpaired_sd


def test_a_higher_price_lowers_conversion(price_rise) -> None:
    """Raising the Pro price, all else equal, lowers conversion (new customers / decisions)."""
    t = price_rise.table
    row = t[(t["variant"] == "pro_up") & (t["persona"] == "total") & (t["metric"] == "conversion")]
    assert row["diff_mean"].item() < 0
    assert row["verdict"].item() == "lower"
    assert row["ci90_high"].item() < 0


def test_the_table_holds_every_persona_and_the_company(price_rise) -> None:
    t = price_rise.table
    personas = set(price_rise.results["baseline"].monthly["persona"])
    assert set(t["persona"]) == personas | {"total"}
    assert set(compare_module.PRINTED) <= set(t["metric"])
    needed = t[(t["variant"] == "pro_up") & (t["metric"] == "ending_arr")]["replications_needed"]
    assert (needed > 0).all()
    text = price_rise.format()
    assert "pro_up" in text and "ending_arr" in text and "higher" in text


def test_save_writes_the_table_and_the_paired_differences(price_rise, tmp_path) -> None:
    out = price_rise.save(tmp_path / "cmp")
    for name in ("comparison.csv", "comparison.parquet", "paired.parquet"):
        assert (out / name).is_file()


def test_a_bad_variant_is_refused_before_any_simulation(monkeypatch) -> None:
    def never(*args, **kwargs):
        raise AssertionError("simulated before the variants were checked")

    monkeypatch.setattr(compare_module, "simulate", never)
    cfg = load_config(TINY)
    with pytest.raises(ConfigError, match=r"pricing\.plans\.pro\.prize"):
        compare(cfg, {"typo": ["pricing.plans.pro.prize=99"]})
    with pytest.raises(ConfigError, match=r"pricing\.plans\.pro\.price"):
        compare(cfg, {"negative": {"pricing.plans.pro.price": -5}})
    with pytest.raises(ConfigError, match="seed"):
        compare(cfg, {"other_seed": load_config([*TINY, "seed=7"])})
    with pytest.raises(ConfigError, match="baseline"):
        compare(cfg, {"baseline": {}})
