"""Compiled kernels (``simulator.kernels``): their draws are the streams' counter-based draws,
a row's draws never depend on other rows, scenarios share them, and the compiled cache lives
outside the package."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sizes import size, small

import simulator
from simulator import JourneyModel, kernels, load_config
from simulator.kernels import renewal
from simulator.mechanisms.expansion import resize
from simulator.mechanisms.pricing import PriceBook
from simulator.params import params_of
from simulator.stages import Stage
from simulator.streams import STREAMS, RandomStreams, rescale


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


# ---------------------------------------------------------------------- billing: renewals
# The renewal kernels (``simulator.kernels.renewal``) against the numpy code they replace
# (``PriceBook.account_mrr``, ``expansion.resize``, ``streams.rescale``): the same floats.
def _renewal_case(n: int, seed: int) -> tuple[SimpleNamespace, PriceBook]:
    """A price book with random prices and ``n`` random accounts (about 2/3 annual)."""
    rng = np.random.default_rng(seed)
    book = PriceBook(params_of(load_config(size(8_000, 300, 3, 1))).pricing)
    book.list_price = np.sort(rng.uniform(5, 150, book.n_plans))
    book.per_seat = rng.random(book.n_plans) < 0.7
    book.annual_discount = 0.17
    plan = rng.integers(0, book.n_plans, n).astype(np.int8)
    seats = rng.integers(1, 40, n).astype(np.int32)
    annual = rng.random(n) < 0.66
    list_mrr = book.account_mrr(plan, seats, annual, 1.3)
    pop = SimpleNamespace(
        stage=rng.choice(np.arange(8, dtype=np.int8), n),
        plan=plan,
        seats=seats,
        annual=annual,
        mrr=(list_mrr * rng.choice([0.5, 0.9, 1.0, 1.3], n)).astype(np.float32),
        term_end=rng.integers(0, 30, n).astype(np.int16),
        term_health=rng.normal(0, 6, n).astype(np.float32),
        price_locked=rng.random(n) < 0.3,
        renewal_offer=rng.random(n) < 0.3,
        offer_end=rng.integers(0, 4, n).astype(np.int16),
        base_churn=(rng.random(n) * 0.1).astype(np.float32),
    )
    return pop, book


@pytest.mark.parametrize("discount", [0.1, 1.0])
def test_renewal_quotes_are_the_renewal_law_in_numpy(discount: float) -> None:
    pop, book = _renewal_case(50_000, 11)
    due = np.sort(np.random.default_rng(1).choice(pop.plan.size, 20_000, replace=False))
    t, term, mult, wtp = 14, 12, 1.3, 60.0
    h_term, at_risk, post, base, exponents = renewal.renewal_quotes(
        due,
        pop.term_end,
        pop.term_health,
        pop.mrr,
        pop.plan,
        pop.seats,
        pop.price_locked,
        pop.renewal_offer,
        pop.base_churn,
        book.list_price,
        book.per_seat,
        mult,
        book.annual_discount,
        t,
        term,
        -0.4,
        discount,
        True,
        2.0,
        0.8,
        1.5,
        wtp,
    )
    # billing's renewal terms and churn.churn_probability's exponent, in numpy.
    months = np.maximum(t - np.maximum(pop.term_end[due].astype(np.int64) - term, 0), 1)
    h = pop.term_health[due].astype(np.float64) / months
    paid = pop.mrr[due].astype(np.float64)
    list_mrr = book.account_mrr(pop.plan[due], pop.seats[due], True, mult).astype(np.float64)
    locked, offered = pop.price_locked[due], pop.renewal_offer[due]
    if discount < 1.0:
        own = np.where(offered, paid / (1.0 - discount), paid)
    else:
        own, locked = paid, locked & ~offered
    expected = np.where(locked, own, list_mrr)
    expected = np.where(h < -0.4, expected * (1.0 - discount), expected)
    rise = np.where(paid > 0, np.maximum(expected / np.maximum(paid, 1e-9) - 1.0, 0.0), 0.0)
    gap = np.maximum(expected / np.maximum(pop.seats[due], 1) / wtp - 1.0, 0.0)
    x = -0.8 * (h - 2.0 * rise - 1.5 * gap)
    assert np.array_equal(h_term, h) and np.array_equal(at_risk, h < -0.4)
    assert np.array_equal(post, expected)
    assert np.array_equal(base, pop.base_churn[due].astype(np.float64))
    assert np.array_equal(exponents, np.stack([x, -h / 2.0]))
    assert 0 < at_risk.sum() < due.size and (post != paid).any()


def _renew_in_numpy(
    pop: SimpleNamespace,
    book: PriceBook,
    due: np.ndarray,
    u: np.ndarray,
    p_churn: np.ndarray,
    at_risk: np.ndarray,
    p_contract: np.ndarray,
    key: np.uint64,
) -> tuple[np.ndarray, ...]:
    """billing._renew before the kernel (numpy, with expansion.resize itself)."""
    churn = u < p_churn
    invol = ~churn & (rescale(u, p_churn, 1.0 - p_churn) < 0.05)
    keep = ~churn & ~invol
    renew = due[keep]
    persona = SimpleNamespace(price_multiplier=1.3, expansion=SimpleNamespace(seats_growth=0.3))
    agent = SimpleNamespace(
        pop=pop, persona=persona, paying_seats=0, model=SimpleNamespace(price_book=book)
    )
    mrr = pop.mrr[renew].astype(np.float64)
    v = kernels.row_uniforms(key, renew)
    shrink = v < p_contract[keep]
    mrr[shrink], downgrades, cuts = resize(
        agent, renew[shrink], rescale(v[shrink], 0.0, p_contract[keep][shrink]), -1, 0.5
    )
    list_mrr = book.account_mrr(pop.plan[renew], pop.seats[renew], True, 1.3)
    own = np.where(pop.renewal_offer[renew], mrr / 0.9, mrr)
    new_mrr = np.where(pop.price_locked[renew], own, list_mrr.astype(np.float64))
    new_mrr = np.where(at_risk[keep], new_mrr * 0.9, new_mrr)
    pop.renewal_offer[renew] = at_risk[keep]
    pop.term_end[renew] = 14 + 12
    pop.term_health[renew] = 0.0
    counts = (np.count_nonzero(at_risk[keep]), downgrades, cuts, agent.paying_seats)
    return due[churn], due[invol], renew, new_mrr, *counts


def test_renew_contracts_is_billings_numpy_renewal() -> None:
    pop, book = _renewal_case(50_000, 12)
    rng = np.random.default_rng(2)
    due = np.sort(rng.choice(pop.plan.size, 20_000, replace=False))
    u = rng.random(due.size).astype(np.float32)
    p_churn = rng.random(due.size) * 0.3
    p_churn[:3] = (0.0, 1.0, np.nan)
    at_risk = rng.random(due.size) < 0.3
    p_contract = rng.random(due.size) * 0.4
    key = np.uint64(RandomStreams(5, 0).row_key("billing", 14, 2))
    ours = copy.deepcopy(pop)
    got = renewal.renew_contracts(
        due,
        u,
        p_churn,
        at_risk,
        p_contract,
        0.05,
        True,
        ours.plan,
        ours.seats,
        ours.mrr,
        ours.annual,
        ours.price_locked,
        ours.renewal_offer,
        ours.offer_end,
        ours.term_end,
        ours.term_health,
        book.list_price,
        book.per_seat,
        1.3,
        book.annual_discount,
        0.1,
        0.5,
        0.3,
        14,
        12,
        key,
    )
    expected = _renew_in_numpy(pop, book, due, u, p_churn, at_risk, p_contract, key)
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert np.array_equal(a, b)
    for name in vars(pop):
        assert np.array_equal(getattr(ours, name), getattr(pop, name)), name
    assert all(n > 100 for n in (got[0].size, got[1].size, got[4], got[5], got[6]))


def test_monthly_reprices_are_billings_numpy_repricing() -> None:
    pop, book = _renewal_case(50_000, 13)
    rows = np.flatnonzero(np.random.default_rng(3).random(pop.plan.size) < 0.8)
    moved, target = renewal.monthly_reprices(
        rows,
        pop.stage,
        pop.annual,
        pop.price_locked,
        pop.plan,
        pop.seats,
        pop.mrr,
        pop.offer_end,
        2,
        book.list_price,
        book.per_seat,
        1.3,
        0.25,
    )
    paying = rows[(pop.stage[rows] >= Stage.ONBOARDING) & (pop.stage[rows] <= Stage.ADVOCATE)]
    monthly = paying[~pop.annual[paying]]
    cand = monthly[~pop.price_locked[monthly]]
    new = book.account_mrr(pop.plan[cand], pop.seats[cand], pop.annual[cand], 1.3)
    new = (new * np.where(pop.offer_end[cand] >= 2, 0.75, 1.0)).astype(np.float32)
    changed = np.abs(new - pop.mrr[cand]) > 1e-3
    assert np.array_equal(moved, cand[changed]) and np.array_equal(target, new[changed])
    assert 0 < moved.size < cand.size
