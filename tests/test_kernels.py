"""Compiled kernels (``simulator.kernels``): their draws are the streams' counter-based draws,
a row's draws never depend on other rows, scenarios share them, and the compiled cache lives
outside the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sizes import small

import simulator
from simulator import JourneyModel, kernels, load_config
from simulator.stages import Stage
from simulator.streams import STREAMS, RandomStreams


def test_kernel_row_uniform_equals_the_streams_row_uniform() -> None:
    rng = np.random.default_rng(7)
    for seed, rep in [(0, 0), (42, 3), (2**31 - 1, 17)]:
        s = RandomStreams(seed, rep)
        for _ in range(20):
            stream = STREAMS[int(rng.integers(len(STREAMS)))]
            month, persona, draw = (int(x) for x in rng.integers(0, 200, 3))
            rows = rng.integers(0, 2**40, 2_000)
            rows[:3] = (0, 1, 2**40)
            expected = s.row_uniform(stream, month, persona, rows, draw)
            key = np.uint64(s.row_key(stream, month, persona, draw))
            got = kernels.row_uniforms(key, rows)
            assert got.dtype == np.float32
            assert np.array_equal(got, expected)
            assert kernels.row_uniform(key, int(rows[5])) == expected[5]


def _book(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Random per-account columns for ``n`` rows (about 60% paying)."""
    rng = np.random.default_rng(seed)
    return {
        "stage": rng.choice(np.arange(8, dtype=np.int8), n),
        "annual": rng.random(n) < 0.3,
        "base_churn": (rng.random(n) * 0.2).astype(np.float32),
        "health": (rng.normal(size=n) * 2).astype(np.float32),
        "mrr": (rng.random(n) * 400).astype(np.float32),
        "seats": rng.integers(1, 30, n).astype(np.int32),
        "early_churn_end": rng.integers(0, 10, n).astype(np.int16),
    }


def _churn(rows: np.ndarray, b: dict[str, np.ndarray], key: np.uint64) -> np.ndarray:
    return kernels.monthly_churn(
        rows,
        b["stage"],
        b["annual"],
        b["base_churn"],
        b["health"],
        b["mrr"],
        b["seats"],
        b["early_churn_end"],
        5,
        0.4,
        0.5,
        60.0,
        0.1,
        key,
    )


def test_monthly_churn_is_the_churn_law_row_by_row() -> None:
    b = _book(200_000)
    key = np.uint64(RandomStreams(3, 0).row_key("churn", 5, 1, kernels.MONTHLY_DRAW))
    rows = kernels.paying_rows(b["stage"], b["stage"].size)
    assert np.array_equal(rows, np.flatnonzero((b["stage"] >= 3) & (b["stage"] <= 5)))
    got = _churn(rows, b, key)
    # The same law in numpy (simulator.mechanisms.churn.churn_probability, with_early_churn).
    sel = rows[~b["annual"][rows]]
    per_seat = b["mrr"][sel] / np.maximum(b["seats"][sel], 1)
    h = b["health"][sel].astype(np.float64) - 0.5 * np.maximum(per_seat / 60.0 - 1.0, 0.0)
    p = np.clip(b["base_churn"][sel] * np.exp(-0.4 * h), 0.0, 1.0)
    p = np.where(b["early_churn_end"][sel] > 5, 1.0 - (1.0 - p) * 0.9, p)
    expected = sel[kernels.row_uniforms(key, sel) < p]
    assert expected.size > 1_000
    assert np.array_equal(got, expected)


def test_a_rows_draws_do_not_depend_on_other_rows() -> None:
    """Drawing for a subset of rows gives those rows' draws (and outcomes) in the full set."""
    b = _book(100_000, seed=2)
    key = np.uint64(RandomStreams(9, 1).row_key("churn", 3, 0, kernels.MONTHLY_DRAW))
    rows = np.arange(b["stage"].size)
    subset = np.sort(np.random.default_rng(0).permutation(rows)[:20_000])
    assert np.array_equal(
        kernels.row_uniforms(key, subset), kernels.row_uniforms(key, rows)[subset]
    )
    full = _churn(rows, b, key)
    assert np.array_equal(_churn(subset, b, key), full[np.isin(full, subset)])


def test_a_price_change_leaves_other_personas_churn_draws_identical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Common random numbers with every mechanism on (personas coupled through the support
    desk, success team and reputation): a price change for one persona changes which of the
    others' accounts pay, never the draw an account gets in a month."""
    real = kernels.monthly_churn

    def run(overrides: list[str]) -> dict[tuple[int, int], float]:
        draws: dict[tuple[int, int], float] = {}  # (key, population row) -> uniform

        def recording(rows: np.ndarray, stage: np.ndarray, annual: np.ndarray, *rest):  # type: ignore[no-untyped-def]
            key = rest[-1]
            drawn = rows[((stage[rows] >= Stage.ONBOARDING) & (stage[rows] <= Stage.ADVOCATE))]
            drawn = drawn[~annual[drawn]]
            for r, u in zip(drawn.tolist(), kernels.row_uniforms(key, drawn).tolist(), strict=True):
                draws[(int(key), r)] = u
            return real(rows, stage, annual, *rest)

        monkeypatch.setattr(kernels, "monthly_churn", recording)
        model = JourneyModel(load_config([*small(8), *overrides]), replication=1)
        model.run()
        monkeypatch.setattr(kernels, "monthly_churn", real)
        assert not model.churn_is_scheduled
        keys = {
            int(np.uint64(model.streams.row_key("churn", t, k, kernels.MONTHLY_DRAW))): k
            for t in range(1, 9)
            for k in range(len(model.persona_agents))
        }
        assert model.persona_agents[0].persona.name == "solo"
        return {(keys[key], row): u for (key, row), u in draws.items() if keys[key] != 0}

    base = run([])
    dear = run(["personas.solo.price_multiplier=1.4"])
    common = base.keys() & dear.keys()
    assert len(common) > 0.9 * len(base)
    assert all(base[k] == dear[k] for k in common)


def test_the_compiled_cache_is_outside_the_package(tmp_path: Path) -> None:
    """Without NUMBA_CACHE_DIR the cache goes to the user's cache folder (XDG), not inside the
    installed package; a folder the user sets is kept."""
    package = Path(simulator.__file__).parent.resolve()
    code = "import numba.core.config as c, simulator.kernels; print(c.CACHE_DIR)"
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    cache = Path(out.stdout.strip())
    assert cache == tmp_path / "xdg" / "journey-sim" / "numba"
    assert package not in cache.parents
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert Path(out.stdout.strip()) == tmp_path / "mine"


# ---------------------------------------------------------------------- the month's close (ledger)
def test_mrr_change_log_gives_the_retention_of_twelve_snapshots():
    """12-month retention from the change log equals the sums over a full snapshot a year ago."""
    from simulator.kernels.ledger import close_rows, year_ago_sums

    rng = np.random.default_rng(7)
    n = 500
    mrr = np.where(rng.random(n) < 0.5, rng.integers(1, 50, n) * 10.0, 0.0).astype(np.float32)
    health = np.zeros(n, dtype=np.float32)
    snapshot = mrr.copy()
    year_ago = mrr.copy()
    log = []
    for _ in range(12):  # a year of changes: churn, new accounts, price moves
        moved = rng.choice(n, 60, replace=False)
        mrr[moved] = np.where(rng.random(60) < 0.3, 0.0, rng.integers(1, 80, 60) * 5.0)
        total, below, rows, old = close_rows(mrr, health, snapshot, n, -0.5)
        assert total == pytest.approx(float(mrr.sum(dtype=np.float64)))
        assert below == 0
        np.testing.assert_array_equal(snapshot, mrr)
        log.append((rows, old))
    rows = np.concatenate([r for r, _ in log])
    old = np.concatenate([o for _, o in log])
    then, retained, gross = year_ago_sums(mrr, rows, old, float(mrr.sum(dtype=np.float64)))
    paid = year_ago > 0
    assert then == pytest.approx(float(year_ago[paid].sum(dtype=np.float64)))
    assert retained == pytest.approx(float(mrr[paid].sum(dtype=np.float64)))
    assert gross == pytest.approx(float(np.minimum(mrr, year_ago).sum(dtype=np.float64)))
