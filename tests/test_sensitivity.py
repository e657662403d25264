"""Global sensitivity (``simulator.sensitivity``): SALib's wiring on known answers, the model's
own indices where the answer is known, the same indices on a Dask cluster, and bad settings
refused before any evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest

from simulator import ConfigError, load_config
from simulator.experiments.executors import DaskExecutor, SerialExecutor
from simulator.experiments.sensitivity import (
    TABLE_COLUMNS,
    elementary_effects,
    sample,
    sensitivity,
    settings_of,
)
from simulator.params import read_config

PI = math.pi
ISHIGAMI = {"x1": (-PI, PI), "x2": (-PI, PI), "x3": (-PI, PI)}
# Analytic indices of f = sin x1 + 7 sin² x2 + 0.1 x3⁴ sin x1 on [-π, π]³ (Ishigami & Homma
# 1990; Saltelli et al. 2008, Global Sensitivity Analysis: The Primer, §4.5):
# V = a²/8 + b π⁴/5 + b² π⁸/18 + 1/2, V1 = (1 + b π⁴/5)²/2, V2 = a²/8, V13 = b² π⁸ (1/18 - 1/50).
_A, _B = 7.0, 0.1
_V = _A**2 / 8 + _B * PI**4 / 5 + _B**2 * PI**8 / 18 + 0.5
_V1, _V2 = (1 + _B * PI**4 / 5) ** 2 / 2, _A**2 / 8
_V13 = _B**2 * PI**8 * (1 / 18 - 1 / 50)
S1_ISHIGAMI = {"x1": _V1 / _V, "x2": _V2 / _V, "x3": 0.0}
ST_ISHIGAMI = {"x1": (_V1 + _V13) / _V, "x2": _V2 / _V, "x3": _V13 / _V}

# A small company over three months: one evaluation takes ~0.02 s.
TINY = ["market.size=5000", "initial.customers=150", "months=3", "replications=1", "progress=false"]
ONE_LEVER = {
    "pro_price": {"key": "pricing.plans.pro.price", "low": 40, "high": 120},
    "discount_rate": {"key": "finance.discount_rate", "low": 0.0, "high": 0.3},
}


def ishigami(values: dict[str, float]) -> dict[str, float]:
    x1, x2, x3 = values["x1"], values["x2"], values["x3"]
    return {"ending_arr": math.sin(x1) + _A * math.sin(x2) ** 2 + _B * x3**4 * math.sin(x1)}


def _index(result: Any, metric: str, parameter: str, index: str) -> pd.Series:
    t = result.table
    rows = t[(t["metric"] == metric) & (t["parameter"] == parameter) & (t["index"] == index)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_published_ishigami_values() -> None:
    # The values the literature quotes (S1 0.3139, 0.4424, 0; ST 0.5576, 0.4424, 0.2437).
    assert [round(S1_ISHIGAMI[x], 4) for x in ("x1", "x2", "x3")] == [0.3139, 0.4424, 0.0]
    assert [round(ST_ISHIGAMI[x], 4) for x in ("x1", "x2", "x3")] == [0.5576, 0.4424, 0.2437]


def test_sobol_indices_of_the_ishigami_function() -> None:
    """The Ishigami function through the same sampling, executor and analysis code as the
    simulator: S1 and ST within 0.03 of the analytic values, each inside its 95% interval."""
    res = sensitivity(None, ISHIGAMI, n=1024, model=ishigami, seed=7)
    assert list(res.table.columns) == list(TABLE_COLUMNS)
    assert res.evaluations == 1024 * (3 + 2)
    for name in ISHIGAMI:
        for index, want in (("S1", S1_ISHIGAMI[name]), ("ST", ST_ISHIGAMI[name])):
            row = _index(res, "ending_arr", name, index)
            assert abs(row.value - want) < 0.03, (name, index, row.value, want)
            assert row.ci_low <= want <= row.ci_high, (name, index, row.ci_low, row.ci_high)


def test_morris_on_the_ishigami_function_ranks_and_matches_salib() -> None:
    """Morris screening: x3 has the smallest μ* relative to σ (it acts only through its
    interaction with x1), and the elementary effects recomputed here reproduce SALib's μ*."""
    res = sensitivity(None, ISHIGAMI, method="morris", n=100, model=ishigami, seed=3)
    assert res.evaluations == 100 * 4
    x = res.samples[list(ISHIGAMI)].to_numpy()
    y = res.samples["ending_arr"].to_numpy()
    ee = elementary_effects(res.settings, x, y)
    for j, name in enumerate(ISHIGAMI):
        mu_star = _index(res, "ending_arr", name, "mu_star")
        assert np.mean(np.abs(ee[:, j])) == pytest.approx(mu_star.value, rel=1e-9)
        sigma = _index(res, "ending_arr", name, "sigma")
        assert np.std(ee[:, j], ddof=1) == pytest.approx(sigma.value, rel=1e-9)
        assert sigma.conf > 0
    ratio = {
        n: _index(res, "ending_arr", n, "mu_star").value
        / _index(res, "ending_arr", n, "sigma").value
        for n in ISHIGAMI
    }
    assert min(ratio, key=ratio.get) == "x3"


def test_only_the_parameter_that_acts_has_total_order_one() -> None:
    """Ending ARR depends on the Pro price and not at all on the finance discount rate (which
    only discounts LTV): with common random numbers ST(price) ≈ 1 and ST(discount) = 0 exactly;
    for the discounted LTV the discount rate matters."""
    res = sensitivity(
        load_config(TINY), ONE_LEVER, n=64, metric=["ending_arr", "ltv_discounted"], seed=5
    )
    assert res.evaluations == 64 * 4
    total = _index(res, "ending_arr", "pro_price", "ST")
    assert abs(total.value - 1.0) < 0.1, total.value
    for index in ("S1", "ST"):
        price = _index(res, "ending_arr", "pro_price", index)
        assert price.ci_low <= 1.0 <= price.ci_high, (index, price.ci_low, price.ci_high)
        inert = _index(res, "ending_arr", "discount_rate", index)
        assert inert.value == 0.0 and inert.conf == 0.0
    assert _index(res, "ltv_discounted", "discount_rate", "ST").value > 0.5
    # Every sample point ran with the scenario's seed: the same price gives the same ARR.
    same = res.samples.groupby("pro_price")["ending_arr"].nunique()
    assert (same == 1).all()


def test_dask_cluster_gives_the_indices_of_the_local_run() -> None:
    """A scheduler and two workers talking TCP on 127.0.0.1 (workers in threads of this process,
    which start in well under a second; ``tests/test_experiments.py`` runs worker processes):
    the same table and samples as the serial run with the same seed."""
    from distributed import LocalCluster

    cfg = load_config(TINY)
    kwargs: dict[str, Any] = {"n": 32, "metric": ["ending_arr", "nrr_12m"], "seed": 11}
    local = sensitivity(cfg, ONE_LEVER, executor=SerialExecutor(), **kwargs)
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        assert len(cluster.workers) == 2
        remote = sensitivity(
            cfg, ONE_LEVER, executor=DaskExecutor(cluster.scheduler_address, None), **kwargs
        )
    pd.testing.assert_frame_equal(remote.samples, local.samples, check_exact=True)
    pd.testing.assert_frame_equal(remote.table, local.table, check_exact=True)


class _Refuse:
    """An executor that fails the test if any job reaches it."""

    in_process = True

    def map_unordered(
        self, fn: Callable[[Any], Any], args: Sequence[Any]
    ) -> Generator[tuple[int, Any]]:
        raise AssertionError("an evaluation started")
        yield  # pragma: no cover


@pytest.mark.parametrize(
    ("problem", "options", "key", "words"),
    [
        ({"p": {"key": "pricing.plans.pro.prize", "low": 1, "high": 2}}, {},
         "sensitivity.parameters.p.key", "unknown key; allowed here: price, per_seat, rank"),
        ({"support.agents": (-3, 10)}, {},
         "sensitivity.parameters.support.agents.low", "got -3"),
        ({"pricing.annual_discount": (0.1, 1.5)}, {},
         "sensitivity.parameters.pricing.annual_discount.high", "got 1.5"),
        ({"pricing.plans.pro.price": (120, 40)}, {},
         "sensitivity.parameters.pricing.plans.pro.price", "low (120) must be below high (40)"),
        ({"pricing.plans.pro.price": (0, 40, "log")}, {},
         "sensitivity.parameters.pricing.plans.pro.price", "scale log needs low > 0"),
        ({"pricing.plans.pro.price": (40, 60, "cubic")}, {},
         "sensitivity.parameters.pricing.plans.pro.price.scale", "'cubic'"),
        ({"mechanisms.support": (0, 1)}, {},
         "sensitivity.parameters.mechanisms.support.key", "a switch"),
        ({"pricing.plans.pro.price": (40, 60)}, {"metric": "arr"},
         "sensitivity.metrics", "unknown metric 'arr'"),
        ({"pricing.plans.pro.price": (40, 60)}, {"n": 48},
         "sensitivity.n", "a power of 2 (the Sobol' sequence's balance), got 48"),
        ({"pricing.plans.pro.price": (40, 60)}, {"n": 16},
         "sensitivity.n", "n >= 32, got 16"),
        ({"pricing.plans.pro.price": (40, 60)}, {"method": "fast"},
         "sensitivity.method", "'fast'"),
        ({"pricing.plans.pro.price": (40, 60)}, {"method": "morris", "levels": 5},
         "sensitivity.levels", "even number of levels, got 5"),
        ({"pricing.plans.pro.price": (40, 60)}, {"colour": "red"},
         "sensitivity.colour", "unknown key"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_before_any_evaluation(
    problem: dict[str, Any], options: dict[str, Any], key: str, words: str
) -> None:
    cfg = load_config(TINY)
    with pytest.raises(ConfigError) as err:
        sensitivity(cfg, problem, executor=_Refuse(), **{"n": 32, **options})  # type: ignore[arg-type]
    assert [k for k, _ in err.value.problems] == [key], err.value.problems
    assert words in err.value.problems[0][1]


def _agents_and_reward(values: dict[str, float]) -> dict[str, float]:
    return {"ending_arr": values["support.agents"] + values["acquisition.referral_reward"]}


def test_whole_number_keys_are_rounded_and_log_scale_is_uniform_in_the_log() -> None:
    params = read_config(load_config(TINY))[0]
    problem = {"support.agents": (2, 12), "acquisition.referral_reward": (10, 1000, "log")}
    settings = settings_of(problem, method="sobol", metric="ending_arr", n=32)
    x = sample(settings, seed=1)
    assert x[:, 1].min() >= math.log(10) and x[:, 1].max() <= math.log(1000)
    res = sensitivity(params, problem, n=32, model=_agents_and_reward)
    agents = res.samples["support.agents"]
    assert set(agents) <= set(range(2, 13)) and agents.nunique() > 5
    assert (agents == agents.round()).all()
    rewards = res.samples["acquisition.referral_reward"]
    # uniform in the logarithm: about as many points below the geometric mean as above it
    assert 0.4 < float(np.mean(rewards < 100.0)) < 0.6
