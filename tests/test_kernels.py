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
from simulator.kernels import accounts
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


# ---------------------------------------------------------------------- accounts
# Expansion, contraction and customer success (``simulator.kernels.accounts``): known answers
# against the plain numpy formulas the kernels replace, equal to the last bit.

#: A price book of four plans in rank order, per seat except the dearest ($/month).
_LIST_PRICE = np.array([12.0, 30.0, 79.0, 158.0])
_PER_SEAT = np.array([True, True, True, False])
_ANNUAL_DISCOUNT = 0.15
_MULTIPLIER = 1.1


def _accounts(n: int, seed: int) -> dict[str, np.ndarray]:
    """Random paying accounts: plan, seats, billing, MRR near (and sometimes off) list."""
    rng = np.random.default_rng(seed)
    plan = rng.integers(0, 4, n).astype(np.int8)
    seats = rng.integers(1, 40, n).astype(np.int32)
    annual = rng.random(n) < 0.3
    units = np.where(_PER_SEAT[plan], seats, 1)
    disc = np.where(annual, 1.0 - _ANNUAL_DISCOUNT, 1.0)
    mrr = _LIST_PRICE[plan] * _MULTIPLIER * units * disc * rng.choice([0.5, 1.0, 1.0, 3.0], n)
    return {
        "stage": rng.choice(np.arange(8, dtype=np.int8), n),
        "health": (rng.normal(size=n) * 2).astype(np.float32),
        "plan": plan,
        "seats": seats,
        "annual": annual,
        "mrr": mrr.astype(np.float32),
        "price_locked": rng.random(n) < 0.5,
        "renewal_offer": rng.random(n) < 0.5,
        "offer_end": rng.integers(0, 9, n).astype(np.int16),
        "term_end": rng.integers(0, 20, n).astype(np.int16),
    }


def _book_mrr(plan: np.ndarray, seats: np.ndarray, annual: np.ndarray) -> np.ndarray:
    """``PriceBook.account_mrr`` of the test book (numpy)."""
    units = np.where(_PER_SEAT[plan], seats, 1)
    disc = np.where(annual, 1.0 - _ANNUAL_DISCOUNT, 1.0)
    return (_LIST_PRICE[plan] * _MULTIPLIER * units * disc).astype(np.float32)


def _numpy_tier_targets(a: dict[str, np.ndarray], rows: np.ndarray, direction: int) -> np.ndarray:
    """The nearest plan by rank in ``direction`` priced above (+1) or below (-1) what the
    account pays; -1: none (every plan for every account, then the first that qualifies)."""
    ranks = np.arange(_LIST_PRICE.size)
    price = _book_mrr(ranks[None, :], a["seats"][rows][:, None], a["annual"][rows][:, None])
    paid = a["mrr"][rows][:, None]
    plan = a["plan"][rows].astype(np.int64)[:, None]
    if direction > 0:
        ok = (price > paid) & (ranks[None, :] > plan)
        first = ok.argmax(axis=1)
    else:
        ok = (price < paid) & (ranks[None, :] < plan)
        first = ranks.size - 1 - ok[:, ::-1].argmax(axis=1)
    return np.where(ok.any(axis=1), first, -1)


def _numpy_resize(
    a: dict[str, np.ndarray], rows: np.ndarray, v: np.ndarray, direction: int, share: float
) -> tuple[np.ndarray, int, int]:
    """Resize in numpy (``simulator.mechanisms.expansion.resize``), seats growth 0.25: (new
    MRR, tier changes, change of seats); ``a`` is updated."""
    new_mrr = a["mrr"][rows].astype(np.float64)
    target = _numpy_tier_targets(a, rows, direction)
    tier = (v < share) & (target >= 0)
    moved = rows[tier]
    a["plan"][moved] = target[tier]
    for col in ("price_locked", "renewal_offer", "offer_end"):
        a[col][moved] = 0
    new_mrr[tier] = _book_mrr(a["plan"][moved], a["seats"][moved], a["annual"][moved])
    resized = rows[~tier]
    old = a["seats"][resized].copy()
    step = np.maximum(1, np.rint(old * 0.25)).astype(np.int32)
    if direction > 0:
        new = np.minimum(old.astype(np.int64) + step, accounts.MAX_SEATS).astype(np.int32)
    else:
        new = np.maximum(1, old - step)
    a["seats"][resized] = new
    scaled = a["mrr"][resized] * (new / np.maximum(old, 1))
    new_mrr[~tier] = np.where(_PER_SEAT[a["plan"][resized]], scaled, a["mrr"][resized])
    return new_mrr, int(tier.sum()), int((new.astype(np.int64) - old).sum())


def test_pairwise_sum_is_numpys_sum_to_the_last_bit() -> None:
    rng = np.random.default_rng(5)
    for n in [*range(0, 300), 1_000, 4_099, 65_537]:
        a = rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, n)
        for values in (a, a[a > 0]):
            expected = np.float64(values.sum())
            assert np.float64(accounts.pairwise_sum(values, values.size)).tobytes() == (
                expected.tobytes()
            )
        assert accounts.pairwise_sum(a, n // 3) == a[: n // 3].sum()


def test_tier_targets_and_resize_are_the_numpy_rules_row_by_row() -> None:
    for direction in (+1, -1):
        a = _accounts(20_000, seed=3 + direction)
        b = {k: v.copy() for k, v in a.items()}
        rows = np.flatnonzero(np.random.default_rng(1).random(20_000) < 0.5)
        v = np.random.default_rng(2).random(rows.size).astype(np.float32)
        targets = accounts.tier_targets(
            rows,
            direction,
            a["plan"],
            a["seats"],
            a["annual"],
            a["mrr"],
            _LIST_PRICE,
            _PER_SEAT,
            _ANNUAL_DISCOUNT,
            _MULTIPLIER,
        )
        assert np.array_equal(targets, _numpy_tier_targets(a, rows, direction))
        assert (targets >= 0).sum() > 1_000 and (targets < 0).sum() > 1_000
        got = accounts.resize_accounts(
            rows,
            v < 0.5,
            direction,
            0.25,
            a["plan"],
            a["seats"],
            a["annual"],
            a["mrr"],
            a["price_locked"],
            a["renewal_offer"],
            a["offer_end"],
            _LIST_PRICE,
            _PER_SEAT,
            _ANNUAL_DISCOUNT,
            _MULTIPLIER,
        )
        expected = _numpy_resize(b, rows, v, direction, 0.5)
        assert np.array_equal(got[0], expected[0])
        assert got[1:] == expected[1:]
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_expand_and_contract_is_draws_resize_and_reprice_in_numpy() -> None:
    """The kernel's totals and columns against the expansion draws, the numpy resize and
    ``PersonaAgent.reprice``'s rule (with a price-increase penalty of 2 and seats growth 0.25)."""
    a = _accounts(50_000, seed=11)
    b = {k: v.copy() for k, v in a.items()}
    key = np.uint64(RandomStreams(4, 0).row_key("expansion", 7, 2, kernels.MONTHLY_DRAW))
    rows = kernels.paying_rows(a["stage"], a["stage"].size)
    month, penalty = 7, 2.0
    got = accounts.expand_and_contract(
        rows,
        a["stage"],
        a["health"],
        a["plan"],
        a["seats"],
        a["annual"],
        a["mrr"],
        a["price_locked"],
        a["renewal_offer"],
        a["offer_end"],
        a["term_end"],
        _LIST_PRICE,
        _PER_SEAT,
        _ANNUAL_DISCOUNT,
        _MULTIPLIER,
        (0.1, 0.4, 0.25),
        (0.08, 0.6),
        month,
        penalty,
        key,
    )
    draws = kernels.expansion_draws(rows, b["stage"], b["annual"], b["health"], 0.1, 0.08, key)
    for (idx, v), share, direction, tally in zip(
        (draws[:2], draws[2:]), (0.4, 0.6), (+1, -1), got, strict=True
    ):
        assert idx.size > 500
        new_mrr, tiers, seats = _numpy_resize(b, idx, v, direction, share)
        old = b["mrr"][idx].astype(np.float64)
        new32 = new_mrr.astype(np.float32)
        delta = new32.astype(np.float64) - old
        rise = np.where(old > 0, np.maximum(delta, 0.0) / np.maximum(old, 1e-9), 0.0)
        b["health"][idx] -= (penalty * rise).astype(np.float32)
        b["mrr"][idx] = new32
        left = np.where(b["annual"][idx], np.maximum(b["term_end"][idx] - month, 0), 0)
        expected = (
            idx.size,
            delta[delta > 0].sum(),
            -delta[delta < 0].sum(),
            delta.sum(),
            tiers,
            idx.size - tiers,
            seats,
            (delta * left).sum(),
        )
        assert tally == expected
        assert tiers > 100 and idx.size - tiers > 100
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_at_risk_rows_are_the_masks_of_customer_success() -> None:
    a = _accounts(30_000, seed=8)
    rows = kernels.paying_rows(a["stage"], a["stage"].size)
    got = accounts.at_risk_rows(rows, a["stage"], a["health"], a["mrr"], -0.4, 50.0, 1_000)
    mask = (
        (a["stage"] >= Stage.ONBOARDING)
        & (a["stage"] <= Stage.ADVOCATE)
        & (a["health"] < -0.4)
        & (a["mrr"] >= 50.0)
    )
    assert got.size > 1_000
    assert np.array_equal(got, np.flatnonzero(mask) + 1_000)
