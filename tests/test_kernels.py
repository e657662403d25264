"""Compiled kernels (``simulator.kernels``): their draws are the streams' counter-based draws,
a row's draws never depend on other rows, scenarios share them, and the compiled cache lives
outside the package."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sizes import size, small

import simulator
from simulator import JourneyModel, calendar, kernels, load_config
from simulator.kernels import accounts, funnel, kernel_digest, renewal, schedule
from simulator.kernels.core import update_paying_rows
from simulator.mechanisms.expansion import resize
from simulator.mechanisms.pricing import PriceBook
from simulator.params import params_of
from simulator.stages import Stage, is_paying
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
        1.0,
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
    assert cache == tmp_path / "xdg" / "journey-sim" / "numba" / kernel_digest()
    assert package not in cache.parents
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert Path(out.stdout.strip()) == tmp_path / "mine"


def test_the_cache_folder_changes_with_any_kernel_source(tmp_path: Path) -> None:
    """numba's cache checks only the file of the function it loads, so a kernel whose callee in
    another file changed would load stale machine code: the cache folder is named by a digest
    of every source file with compiled code. Editing a kernel file changes it; editing a file
    without kernels does not; the copy of the package has the package's digest."""
    package = Path(simulator.__file__).parent
    clone = tmp_path / "simulator"
    shutil.copytree(package, clone, ignore=shutil.ignore_patterns("__pycache__"))
    assert kernel_digest(clone) == kernel_digest()
    (clone / "formatting.py").write_text((clone / "formatting.py").read_text() + "\n# edit\n")
    assert kernel_digest(clone) == kernel_digest()
    core = clone / "kernels" / "core.py"
    core.write_text(core.read_text() + "\n# edit\n")
    assert kernel_digest(clone) != kernel_digest()


# ---------------------------------------------------------------------- the month's close (ledger)
@pytest.mark.parametrize("dense_share", [2.0, 0.25], ids=["indexed", "switching"])
def test_mrr_change_log_gives_the_retention_of_twelve_snapshots(monkeypatch, dense_share):
    """The month's close (``accounting.MrrLog``), which reads only the rows that have ever paid:
    at-risk count, and from the 12th close on, 12-month retention equal to the sums over a full
    copy of every account's MRR a year ago."""
    from simulator.mechanisms import accounting
    from simulator.mechanisms.accounting import MrrLog

    # The close reads the rows that have ever paid while they are fewer than ``DENSE_SHARE``
    # of the aware rows, then every row: 2.0 keeps the index, 0.25 drops it in month 2.
    monkeypatch.setattr(accounting, "DENSE_SHARE", dense_share)
    rng = np.random.default_rng(7)
    n = 500
    mrr = np.where(rng.random(n) < 0.1, rng.integers(1, 50, n) * 10.0, 0.0).astype(np.float32)
    annual = rng.random(n) < 0.3
    stage = np.where(mrr > 0, Stage.ACTIVE, Stage.CONSIDERATION).astype(np.int8)
    log = MrrLog(mrr, stage, int(np.count_nonzero(mrr > 0)), n)
    history = [mrr.copy()]
    for month in range(1, 31):  # churn, new accounts, price moves
        moved = rng.choice(n, 60, replace=False)
        mrr[moved] = np.where(rng.random(60) < 0.3, 0.0, rng.integers(1, 80, 60) * 5.0)
        # (health is 0 on the rows not paying, as in the model)
        health = np.where(mrr > 0, rng.normal(0.0, 0.5, n), 0.0).astype(np.float32)
        term_end = np.full(n, month + 5, dtype=np.int16)
        paying = np.flatnonzero(mrr > 0)
        threshold = -0.4 if month % 2 else 0.3  # (at risk below a negative or positive one)
        started = [np.flatnonzero((mrr > 0) & (history[-1] == 0))]  # (paying: MRR > 0)
        at_risk, year, deferred = log.close(
            mrr, health, n, started, paying.size, threshold, annual, term_end, month
        )
        assert started == []  # (taken)
        assert at_risk == np.count_nonzero((health < np.float32(threshold)) & (mrr > 0))
        ever = np.flatnonzero(np.any(np.array([*history, mrr]) != 0, axis=0))
        if dense_share * n > ever.size:  # (the rows the close reads)
            np.testing.assert_array_equal(log.paid_rows, ever)
        else:
            assert log.paid is None
        assert deferred == pytest.approx(4.0 * float(mrr[annual].sum(dtype=np.float64)))
        np.testing.assert_array_equal(log.snapshot, mrr)
        history.append(mrr.copy())
        if month < 12:
            assert year is None
            continue
        then = history[month - 12]
        paid = then > 0
        # won back: paying then and now, MRR 0 at a close in between
        left = np.any(np.array(history[month - 11 : month + 1]) == 0, axis=0) & paid & (mrr > 0)
        assert year == pytest.approx(
            (
                float(then[paid].sum(dtype=np.float64)),
                float(mrr[paid].sum(dtype=np.float64)),
                float(np.minimum(mrr, then).sum(dtype=np.float64)),
                float(mrr[left].sum(dtype=np.float64)),
                float(np.minimum(mrr, then)[left].sum(dtype=np.float64)),
            ),
            rel=1e-12,
        )


def test_union_rows_merges_sorted_rows_once_each():
    """``ledger.union_rows``: the sorted union of the rows known and other rows (sorted, or in
    any order with repeats), each row once, the marks brought up to date; the known array
    itself when nothing is new."""
    from simulator.kernels.ledger import union_rows

    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        known = np.flatnonzero(rng.random(n) < rng.random()).astype(np.int64)
        rows = np.flatnonzero(rng.random(n) < rng.random()).astype(np.int64)
        seen = np.zeros(n, dtype=bool)
        seen[known] = True
        out = union_rows(known, rows, seen)
        np.testing.assert_array_equal(out, np.union1d(known, rows))
        np.testing.assert_array_equal(np.flatnonzero(seen), out)
        assert union_rows(out, rows, seen) is out
        more = rng.integers(0, n, int(rng.integers(0, 20)))  # (any order, repeats)
        np.testing.assert_array_equal(union_rows(out, more, seen), np.union1d(out, more))


# ====================================================================== funnel
# Kernels of simulator/kernels/funnel.py (decision, consideration, acquisition, onboarding):
# known answers from the plain numpy formulas they replace.

_BELOW_ONE = np.nextafter(1.0, 0.0)


def _numpy_logit(
    seats: np.ndarray,
    extra: np.ndarray | float,
    outside: float,
    list_price: np.ndarray,
    per_seat: np.ndarray,
    values: np.ndarray,
    terms: tuple[float, float, float],
) -> np.ndarray:
    multiplier, sensitivity, wtp = terms
    price = (
        np.where(
            per_seat[None, :],
            list_price[None, :],
            list_price[None, :] / np.maximum(seats[:, None], 1),
        )
        * multiplier
    )
    util = np.empty((seats.size, 1 + list_price.size))
    util[:, 0] = outside
    util[:, 1:] = (
        values[None, :]
        - sensitivity * price / wtp
        + np.asarray(extra, dtype=np.float64).reshape(-1, 1)
    )
    util -= util.max(axis=1, keepdims=True)
    np.exp(util, out=util)
    util /= util.sum(axis=1, keepdims=True)
    return util


def _numpy_choose(probs: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    idx = np.minimum((u[:, None] >= cdf).sum(axis=1), probs.shape[1] - 1)
    rows = np.arange(idx.size)
    lo = np.where(idx > 0, cdf[rows, np.maximum(idx - 1, 0)], 0.0)
    width = probs[rows, idx]
    return idx, np.clip((u - lo) / np.maximum(width, 1e-300), 0.0, _BELOW_ONE)


def test_funnel_pairwise_sum_is_numpys_row_sum() -> None:
    rng = np.random.default_rng(3)
    for n in [*range(1, 40), 127, 128, 129, 136, 255, 256, 257, 1000, 1031, 5000, 33_333]:
        a = rng.random((2, n)) ** 3 * rng.choice([1e-3, 1.0, 1e3], size=(2, n))
        for i in range(2):
            assert kernels.core.pairwise_sum(a[i], 0, n) == a[i : i + 1].sum(axis=1)[0]
        sub = a[:, 1:]  # a strided view, as the decision's plan shares
        got = np.array([kernels.core.pairwise_sum(a[i], 1, n - 1) for i in range(2)])
        assert np.array_equal(got, sub.sum(axis=1))


def test_funnel_logit_and_choice_equal_the_numpy_formulas() -> None:
    from types import SimpleNamespace

    from simulator.mechanisms.pricing import choice_probabilities, choose

    rng = np.random.default_rng(5)
    for plans in (1, 3, 7, 9):
        for _ in range(5):
            n = int(rng.integers(1, 400))
            seats = rng.integers(0, 40, n).astype(np.int32)
            values = rng.normal(size=plans)
            prices = rng.uniform(5, 300, plans)
            book = SimpleNamespace(
                list_price=prices,
                decision_price=prices,  # (no usage plan: the decision weighs the list price)
                per_seat=rng.random(plans) < 0.5,
                plan_values=lambda persona, values=values: values,
            )
            persona = SimpleNamespace(
                outside_utility=float(rng.normal()),
                price_multiplier=float(rng.uniform(0.5, 2)),
                price_sensitivity=float(rng.uniform(0, 3)),
                willingness_to_pay=float(rng.uniform(10, 200)),
            )
            terms = (
                persona.price_multiplier,
                persona.price_sensitivity,
                persona.willingness_to_pay,
            )
            for extra in (0.0, 0.37, rng.normal(size=n)):
                got = choice_probabilities(persona, book, seats, extra, outside_extra=0.25)  # type: ignore[arg-type]
                want = _numpy_logit(
                    seats,
                    extra,
                    persona.outside_utility + 0.25,
                    book.list_price,
                    book.per_seat,
                    book.plan_values(persona),
                    terms,
                )
                assert np.array_equal(got, want)
            u32 = rng.random(n, dtype=np.float32)
            for u in (u32, rng.random(n), np.float64(u32)):
                for p in (want, want[:, 1:]):
                    idx, v = choose(p, u)
                    want_idx, want_v = _numpy_choose(p, u)
                    assert np.array_equal(idx, want_idx)
                    assert np.array_equal(v, want_v)


def test_funnel_decide_accounts_equals_the_numpy_decision() -> None:
    """The decision's outcomes row for row: buyers, plans, annual billing, forgot-to-cancel
    (plan from the plan shares, early churn end), free tier stays and losses."""
    from simulator.streams import rescale

    rng = np.random.default_rng(11)
    size = 5_000
    for forgot_p, freemium, free_drop, annual_p in [
        (0.0, False, 0.0, 0.0),
        (0.36, False, 0.0, 0.4),
        (0.0, True, 0.2, 0.3),
        (0.5, True, 0.7, 0.0),
    ]:
        for plans in (3, 8):
            n = 700
            rows = np.sort(rng.choice(size, n, replace=False)).astype(np.int64)
            source = rng.integers(0, 4, size).astype(np.int8)
            util = rng.normal(size=(n, 1 + plans)) * 2
            util -= util.max(axis=1, keepdims=True)
            np.exp(util, out=util)
            key = np.uint64(0x1234_5678_9ABC_DEF1)
            ece = np.zeros(size, dtype=np.int16)
            # The numpy formulas (simulator.mechanisms.decision before the kernel).
            probs = util / util.sum(axis=1, keepdims=True)
            choice, v = _numpy_choose(probs, kernels.row_uniforms(key, rows))
            buy = choice > 0
            annual = np.zeros(n, dtype=np.bool_)
            annual[buy] = v[buy] < annual_p
            forgot = (choice == 0) & (v < forgot_p)
            if forgot.any():
                shares = probs[forgot, 1:]
                shares = shares / np.maximum(shares.sum(axis=1, keepdims=True), 1e-300)
                plan, _ = _numpy_choose(shares, rescale(v[forgot], 0.0, forgot_p))
                choice[forgot] = plan + 1
            pays = buy | forgot
            non_buyers = rows[~pays]
            leaves = v[~pays] < free_drop if freemium else np.ones(non_buyers.size, np.bool_)

            no_plan = np.empty(0, dtype=np.int8)  # the logit: forgetters' plans from the shares
            got = funnel.decide_accounts(
                util.copy(),
                rows,
                source,
                key,
                annual_p,
                forgot_p,
                9,
                ece,
                freemium,
                free_drop,
                no_plan,
            )
            payers, plan_got, annual_got, n_forgot, n_referred, stay, lost = got
            assert np.array_equal(payers, rows[pays])
            assert np.array_equal(plan_got, (choice[pays] - 1).astype(np.int8))
            assert np.array_equal(annual_got, annual[pays])
            assert n_forgot == np.count_nonzero(forgot)
            assert n_referred == np.count_nonzero(source[rows[pays]] == 3)
            assert np.array_equal(np.flatnonzero(ece), np.sort(rows[forgot]))
            assert np.array_equal(stay, non_buyers[~leaves])
            assert np.array_equal(lost, non_buyers[leaves])
            if forgot_p > 0:
                assert n_forgot > 0


def test_funnel_sort_evaluators_equals_the_numpy_split() -> None:
    """Consideration's draws: the advancing and dropping rows, their first uniforms and exit
    probabilities, as the numpy formulas (scalar and per-account exit probability)."""
    from simulator.streams import RandomStreams

    streams = RandomStreams(7, 2)
    rng = np.random.default_rng(2)
    size = 4_000
    source = rng.integers(0, 4, size).astype(np.int8)
    for advance, boosted, drop, factor in [
        (0.4, 0.4, 0.35, 1.0),
        (0.15, 0.3, 0.3, 0.3),
        (0.15, 0.6, 0.25, 1.0),
        (0.0, 0.0, 0.0, 1.0),
    ]:
        for referred in (True, False):
            rows = rng.choice(size, 900, replace=False).astype(np.int64)
            src = source.copy()
            if not referred:
                src[src == 3] = 1
            u, v = streams.row_uniform_pair("consideration", 3, 1, rows)
            per_account = boosted > advance and bool((src[rows] == 3).any())
            a = np.where(src[rows] == 3, boosted, advance) if per_account else advance
            leave = np.asarray(a + drop, dtype=np.float64)
            share = np.divide(
                a, leave, out=np.zeros(leave.shape), where=leave > 0, dtype=np.float64
            )
            goes = v < share * factor
            key = np.uint64(streams.row_key("consideration", 3, 1))
            out, u_got, leave_got, n_adv, per_got = funnel.sort_evaluators(
                rows, src, key, advance, boosted, drop, factor
            )
            order = np.concatenate([np.flatnonzero(goes), np.flatnonzero(~goes)])
            assert per_got == per_account
            assert n_adv == np.count_nonzero(goes)
            assert np.array_equal(out, rows[order])
            assert np.array_equal(u_got, u[order])
            assert np.array_equal(leave_got, np.broadcast_to(leave, rows.shape)[order])


def test_funnel_schedule_evaluators_files_each_row_after_its_geometric_wait() -> None:
    """Consideration's filing in one kernel: each row of ``sort_evaluators`` under the first
    month + ``calendar.months_waiting`` of its first uniform at its exit probability (numpy's
    logarithms), advancing rows in one calendar and dropping ones in the other, in order."""
    from simulator.calendar import Calendar, months_waiting

    rng = np.random.default_rng(5)
    size = 4_000
    source = rng.integers(0, 4, size).astype(np.int8)
    key = np.uint64(123_456_789)
    for advance, boosted, drop, factor in [
        (0.4, 0.4, 0.35, 1.0),
        (0.15, 0.3, 0.3, 0.3),
        (0.15, 0.6, 0.25, 1.0),
        (0.6, 0.6, 0.4, 1.0),  # everyone leaves at once
        (1e-310, 1e-310, 0.0, 1.0),  # 1 / log(1 - p) overflows: nobody is due
        (0.0, 0.0, 0.0, 1.0),  # nobody leaves
    ]:
        rows = rng.choice(size, 900, replace=False).astype(np.int64)
        out, u, leave, n_adv, per_account = funnel.sort_evaluators(
            rows, source, key, advance, boosted, drop, factor
        )
        months = 4 + months_waiting(u, leave if per_account else advance + drop)
        cals = Calendar(), Calendar()
        filed = funnel.schedule_evaluators(
            rows, source, key, advance, boosted, drop, factor, 4,
            cals[0].lists(rows.size), cals[1].lists(rows.size),
        )  # fmt: skip
        for cal, available in zip(cals, filed, strict=True):
            cal.filed(available)
        for cal, part in ((cals[0], slice(0, n_adv)), (cals[1], slice(n_adv, None))):
            assert _filed(cal, months[part]) == _file_in_python(months[part], out[part])
            assert len(cal) == 0


def test_funnel_assign_sources_and_activate_equal_the_numpy_formulas() -> None:
    rng = np.random.default_rng(4)
    key = np.uint64(987_654_321)
    for h_bass, h_channel, h_referral in [
        (0.01, 0.02, 0.005),
        (0.3, 0.0, 0.7),
        (0.1000000020, 0.2, 0.0),
    ]:
        hazard = min(1.0, h_bass + h_channel + h_referral)
        source = np.zeros(3_000, dtype=np.int8)
        n_ref = funnel.assign_sources(
            100,
            2_000,
            source,
            key,
            np.float32(hazard),
            np.float32(h_bass),
            np.float32(h_bass + h_channel),
        )
        idx = np.arange(100, 2_100)
        v = kernels.row_uniforms(key, idx) * np.float32(hazard)
        want = np.where(v < h_bass, 1, np.where(v < h_bass + h_channel, 2, 3)).astype(np.int8)
        assert np.array_equal(source[idx], want)
        assert not source[:100].any() and not source[2_100:].any()
        assert n_ref == np.count_nonzero(want == 3)

    b = _book(3_000)
    rows = rng.choice(3_000, 1_000, replace=False).astype(np.int64)
    for quality in (0.0, 0.55, 0.1000000020, 1.0):
        health = b["health"].copy()
        kept, activated = funnel.activate(
            rows, b["stage"], health, key, np.float32(quality), np.float32(0.3), np.float32(0.7)
        )
        want_rows = rows[b["stage"][rows] == Stage.ONBOARDING]
        ok = kernels.row_uniforms(key, want_rows) < quality
        want_health = b["health"].copy()
        want_health[want_rows] += np.where(ok, 0.3, -0.7).astype(np.float32)
        assert np.array_equal(kept, want_rows)
        assert activated == np.count_nonzero(ok)
        assert np.array_equal(health, want_health)


def test_funnel_end_offers_prices_as_the_price_book() -> None:
    """Ending win-back offers: list MRR from ``PriceBook.account_mrr``, grandfathered accounts
    at their MRR / (1 - discount) in float32, only offers filed for this month."""
    from simulator.mechanisms.pricing import PriceBook
    from simulator.params import params_of

    book = PriceBook(params_of(load_config([])).pricing)
    book.list_price = book.list_price * 1.013
    book.annual_discount = 0.17
    rng = np.random.default_rng(8)
    size = 2_000
    b = _book(size)
    plan = rng.integers(0, book.n_plans, size).astype(np.int8)
    locked = rng.random(size) < 0.3
    offer_end = rng.integers(5, 8, size).astype(np.int16)
    rows = rng.choice(size, 600, replace=False).astype(np.int64)
    due = rows[offer_end[rows] == 6]
    kept = np.float32(1.0 - 0.25)
    got_rows, new = funnel.end_offers(
        rows,
        offer_end,
        6,
        plan,
        b["seats"],
        b["annual"],
        locked,
        b["mrr"],
        book.list_price,
        book.per_seat,
        1.3,
        book.annual_discount,
        kept,
    )
    assert due.size > 0
    assert np.array_equal(got_rows, due)
    assert not np.any(offer_end[due])
    list_mrr = book.account_mrr(plan[due], b["seats"][due], b["annual"][due], 1.3)
    assert np.array_equal(new, np.where(locked[due], b["mrr"][due] / kept, list_mrr))


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
            assert np.float64(kernels.core.array_sum(values, values.size)).tobytes() == (
                expected.tobytes()
            )
        assert kernels.core.array_sum(a, n // 3) == a[: n // 3].sum()


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
    annual = rows[a["annual"][rows]]
    annual_before = a["mrr"][annual].sum(dtype=np.float64)
    *got, recognised = accounts.expand_and_contract(
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
    # The annual accounts' change of MRR, as numpy sums their MRR before and after.
    assert annual.size > 1_000
    assert recognised == a["mrr"][annual].sum(dtype=np.float64) - annual_before != 0.0


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


def test_tabulated_row_keys_equal_the_scalar_formula():
    """``RandomStreams.row_key_u64`` (a table per block of months) gives the keys of the scalar
    SplitMix64 formula for every stream, month (negative ones too), persona and draw."""
    streams = RandomStreams(12345, 6, 4)
    for stream in STREAMS:
        for month in (-33, -1, 0, 1, 31, 32, 95):
            for persona in (0, 3, 7):
                for draw in (0, 1, 3, 4):
                    expected = streams._row_key(stream, month, persona, draw)
                    assert streams.row_key(stream, month, persona, draw) == expected


# ---------------------------------------------------------------------- billing and paying spells
# (round 2) ``spells.start_spells`` against ``PersonaAgent.start_paying``'s numpy code, and
# ``renewal.renewal_stays`` against billing's numpy clips: the same floats.
def test_start_spells_is_start_payings_numpy() -> None:
    from simulator.kernels.spells import start_spells
    from simulator.stages import NO_COHORT

    pop, book = _renewal_case(50_000, 21)
    rng = np.random.default_rng(3)
    pop.cohort_month = np.where(rng.random(50_000) < 0.5, NO_COHORT, 3).astype(np.int16)
    pop.health = rng.normal(0, 1, 50_000).astype(np.float32)
    pop.stage_month = np.zeros(50_000, dtype=np.int16)
    idx = np.sort(rng.choice(50_000, 5_000, replace=False))
    plan = rng.integers(0, book.n_plans, idx.size).astype(np.int8)
    annual = rng.random(idx.size) < 0.4
    ours = copy.deepcopy(pop)
    mrr, seats = start_spells(
        idx,
        plan,
        annual,
        int(Stage.ONBOARDING),
        9,
        12,
        book.list_price,
        book.per_seat,
        1.3,
        book.annual_discount,
        ours.plan,
        ours.annual,
        ours.price_locked,
        ours.seats,
        ours.mrr,
        ours.term_end,
        ours.health,
        ours.term_health,
        ours.renewal_offer,
        ours.cohort_month,
        NO_COHORT,
        ours.stage,
        ours.stage_month,
    )
    # start_paying before the kernel (numpy), then move.
    pop.plan[idx] = plan
    pop.annual[idx] = annual
    pop.price_locked[idx] = False
    pop.mrr[idx] = book.account_mrr(plan, pop.seats[idx], annual, 1.3)
    pop.term_end[idx] = np.where(annual, 9 + 12, 0)
    pop.health[idx] = 0.0
    pop.term_health[idx] = 0.0
    pop.renewal_offer[idx] = False
    first = pop.cohort_month[idx] == NO_COHORT
    pop.cohort_month[idx[first]] = 9
    pop.stage[idx] = Stage.ONBOARDING
    pop.stage_month[idx] = 9
    assert mrr == pop.mrr[idx].sum(dtype=np.float64)
    assert seats == pop.seats[idx].sum(dtype=np.int64)
    for name in vars(pop):
        assert np.array_equal(getattr(ours, name), getattr(pop, name)), name
    assert 0 < first.sum() < idx.size


def test_renewal_stays_are_billings_numpy_clips() -> None:
    rng = np.random.default_rng(4)
    n = 10_000
    base = rng.random(n) * 0.2
    grow = np.exp(rng.normal(0, 3, (2, n)))
    base[:4] = (0.0, 0.0, 0.1, 0.1)
    grow[:, :4] = np.inf
    got = renewal.renewal_stays(base, grow, 0.04)
    with np.errstate(invalid="ignore"):
        p = np.minimum(np.maximum(base * grow[0], 0.0), 1.0)
        c = np.minimum(0.04 * grow[1], 0.5)
    assert np.array_equal(got, np.stack([1.0 - p, 1.0 - c]), equal_nan=True)
    assert np.isnan(got[0, :2]).all() and (got[0] == 0.0).any() and (got[1] == 0.5).any()
    no_contraction = renewal.renewal_stays(base, grow, 0.0)[1]
    assert np.isnan(no_contraction[:4]).all() and (no_contraction[4:] == 1.0).all()  # 0 × inf


# ====================================================================== scheduled transitions
def _waits_in_numpy(u: np.ndarray, p: np.ndarray | float) -> np.ndarray:
    """``calendar.months_waiting`` in plain numpy (its formulas before the kernels)."""
    log_u = np.log1p(-np.asarray(u, dtype=np.float64))
    if np.ndim(p) == 0:
        p = float(p)
        if p <= 0.0:
            return np.full(log_u.shape, calendar.NEVER, dtype=np.int64)
        if p >= 1.0:
            return np.zeros(log_u.shape, dtype=np.int64)
        k = np.floor(log_u * (1.0 / np.log1p(-p)))
        return np.minimum(k, calendar.NEVER).astype(np.int64)
    p64 = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = np.floor(log_u / np.log1p(-np.clip(p64, 0.0, 1.0)))
    k = np.where(p64 >= 1.0, 0.0, np.where(p64 <= 0.0, np.inf, k))
    finite = np.isfinite(k) & (k < calendar.NEVER)
    out = np.full(k.shape, calendar.NEVER, dtype=np.int64)
    out[finite] = k[finite]
    return out


def _uniforms_and_probabilities(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 uniforms (0 and the largest below 1 among them) and exit probabilities with the
    edge cases (0, 1, below 0, above 1, NaN, tiny, near 1)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n).astype(np.float32)
    u[:2] = (0.0, np.nextafter(np.float32(1.0), np.float32(0.0)))
    p = rng.choice([0.3, 0.05, 0.004, 1e-6], n) * rng.random(n)
    p[2:12] = (0.0, 1.0, -0.1, 1.5, np.nan, 1e-300, 5e-324, np.nextafter(1.0, 0.0), 0.5, 1e-9)
    return u, p


def test_kernel_schedule_constants_are_the_calendars() -> None:
    assert schedule.NEVER == calendar.NEVER


def test_months_waiting_kernels_are_the_numpy_formula() -> None:
    u, p = _uniforms_and_probabilities(20_000, 41)
    assert np.array_equal(calendar.months_waiting(u, p), _waits_in_numpy(u, p))
    for q in (0.5, 0.07, 0.004, 1e-9, 0.0, 1.0, -1.0, 2.0, np.nextafter(1.0, 0.0)):
        assert np.array_equal(calendar.months_waiting(u, q), _waits_in_numpy(u, q)), q
    assert calendar.months_waiting(u[:0], 0.1).size == 0
    # Broadcast: one uniform, several probabilities.
    assert np.array_equal(calendar.months_waiting(u[5], p[:20]), _waits_in_numpy(u[5], p[:20]))


def _filed(cal: calendar.Calendar, months: np.ndarray) -> dict[int, list[int]]:
    """Every month's rows in ``cal`` (popped), for the months in ``months``."""
    return {m: cal.pop(m).tolist() for m in sorted(set(months.tolist())) if m < calendar.NEVER}


def _file_in_python(months: np.ndarray, rows: np.ndarray) -> dict[int, list[int]]:
    """The filing in plain Python: each month before NEVER, its rows in order."""
    out: dict[int, list[int]] = {m: [] for m in set(months.tolist()) if m < calendar.NEVER}
    for m, r in zip(months.tolist(), rows.tolist(), strict=True):
        if m < calendar.NEVER:
            out[m].append(r)
    return out


def test_file_months_files_each_row_under_its_month_in_order() -> None:
    rng = np.random.default_rng(8)
    for span in (1, 6, 64):
        months = rng.integers(-3, 90, 5_000)
        months[:4] = (calendar.NEVER, calendar.NEVER + 1, span, span - 1)
        rows = rng.permutation(20_000)[:5_000]
        cal = calendar.Calendar(span)
        cal._available = schedule.file_months(
            months, rows, cal._room(rows.size), cal._buckets, cal._meta
        )
        assert len(cal) == 4_998 and cal._available == cal._slots.shape[1] - 4_998
        assert _filed(cal, months) == _file_in_python(months, rows)
        assert len(cal) == 0
    empty = np.zeros(0, dtype=np.int64)
    cal = calendar.Calendar()
    assert schedule.file_months(empty, empty, cal._room(0), cal._buckets, cal._meta) == 0
    # Filing without room first is refused, not written past the slots.
    rows = np.arange(3, dtype=np.int64)
    with pytest.raises(ValueError, match="no room"):
        schedule.file_months(rows, rows, cal._slots, cal._buckets, cal._meta)


def test_add_drawn_waiting_files_first_month_plus_the_wait_of_the_rows_uniforms() -> None:
    """The calendar's filing with the uniforms drawn in the kernel: each row under the first
    month + ``months_waiting`` (numpy's formula) of its uniform of the stream's key
    (``RandomStreams.row_uniform``), up to the last month, in order; one exit probability or
    one per row, edge cases included."""
    from simulator.streams import RandomStreams

    streams = RandomStreams(11, 3)
    rows = np.random.default_rng(12).permutation(30_000)[:6_000].astype(np.int64)
    u = streams.row_uniform("churn", 5, 2, rows)
    key = streams.row_key_u64("churn", 5, 2)
    _, p = _uniforms_and_probabilities(rows.size, 44)
    for q in (0.3, 0.01, 1.0, 1.5, 0.0, -0.2, 1e-310, p):
        for first, last, span in ((6, calendar.NEVER, 8), (6, 14, 64)):
            with np.errstate(over="ignore"):  # (1 / log(1 - 1e-310) overflows: NEVER)
                months = first + _waits_in_numpy(u, q)
            months = np.where(months <= last, months, calendar.NEVER)
            cal = calendar.Calendar(span)
            cal.add_drawn_waiting(first, key, q, rows, last)
            assert len(cal) == np.count_nonzero(months < calendar.NEVER)
            assert _filed(cal, months) == _file_in_python(months, rows)
            assert len(cal) == 0


def test_start_offers_is_the_numpy_discount() -> None:
    rng = np.random.default_rng(10)
    n = 40_000
    mrr = (rng.gamma(2.0, 60.0, n) * rng.choice([1, 0.01, 100], n)).astype(np.float32)
    offer_end = rng.integers(0, 5, n).astype(np.int16)
    for n_rows in (0, 1, 7, 130, 5_000, 8_192, 30_001):
        rows = rng.permutation(n)[:n_rows]
        expected_mrr, expected_end = mrr.copy(), offer_end.copy()
        full = expected_mrr[rows].astype(np.float64)
        expected_mrr[rows] = (full * (1.0 - 0.2)).astype(np.float32)
        cut = float(full.sum() - expected_mrr[rows].sum(dtype=np.float64))
        expected_end[rows] = 14
        got = schedule.start_offers(rows, mrr, offer_end, 1.0 - 0.2, 14)
        assert got == cut and (cut > 0 or n_rows == 0)
        assert np.array_equal(mrr, expected_mrr) and np.array_equal(offer_end, expected_end)


# ====================================================================== slope: index and close
# The paying index brought up to date from the rows that start paying, and the month's close over
# the paying and recently paying rows: the same as a scan of the whole aware prefix.


def test_update_paying_rows_is_a_scan_of_the_prefix() -> None:
    rng = np.random.default_rng(11)
    n = 5_000
    paying_codes = [int(s) for s in (Stage.ONBOARDING, Stage.ACTIVE, Stage.ADVOCATE)]
    other_codes = [int(s) for s in Stage if int(s) not in paying_codes]
    for share, n_added in ((0.1, 0), (0.1, 1), (0.3, 40), (0.0, 25), (0.9, 300)):
        stage = rng.choice(other_codes, n).astype(np.int8)
        paying = rng.random(n) < share
        stage[paying] = rng.choice(paying_codes, int(paying.sum()))
        index = kernels.paying_rows(stage, n)
        # some stop paying, some start (with repeats, and some that stop again)
        stopped = rng.choice(index, index.size // 5, replace=False) if index.size else index
        stage[stopped] = int(Stage.CHURNED)
        added = rng.integers(0, n, n_added).astype(np.int64)
        stage[added] = int(Stage.ACTIVE)
        again = added[: n_added // 4]
        stage[again] = int(Stage.LOST)
        added = np.concatenate([added, added[: n_added // 3]])
        got = update_paying_rows(index, added, stage)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, kernels.paying_rows(stage, n))


def _sequential_sum(values: np.ndarray) -> float:
    """The float64 sum of ``values`` added one at a time in order (as the close does)."""
    return float(np.cumsum(values.astype(np.float64))[-1]) if values.size else 0.0


def test_every_close_of_a_run_is_the_formula_over_the_prefix(monkeypatch) -> None:
    """Every close of a model run (``MrrLog.close``) against the formulas over the whole aware
    prefix in numpy: at-risk count, the change log and 12-month retention, to the last bit;
    and the paying index, brought up to date from the rows that start paying, holds every
    paying row."""
    from simulator.mechanisms import accounting
    from simulator.mechanisms.accounting import MrrLog

    snapshots: dict[int, list[np.ndarray]] = {}
    closes = []
    modes: set[str] = set()
    close = MrrLog.close

    def checked(self, mrr, health, n, started, n_paying, threshold, annual, term_end, month):
        past = snapshots.setdefault(id(self), [self.snapshot.copy()])
        at_risk, year, deferred = close(
            self, mrr, health, n, started, n_paying, threshold, annual, term_end, month
        )
        assert started == []  # (taken, in either way of reading the rows)
        agent = next(a for a in model.persona_agents if a.pop.mrr is mrr)
        assert n == agent.aware
        paying = is_paying(agent.pop.stage[:n])
        assert n_paying == np.count_nonzero(paying)
        # Health and MRR are 0 on every row not paying: the close over the rows that have
        # ever paid is the close over the whole prefix.
        assert not np.any(health[:n][~paying]) and not np.any(mrr[:n][~paying])
        if self.paid is not None:  # (while few have paid, the close reads only them)
            assert np.all(np.diff(self.paid_rows) > 0)
            assert set(np.flatnonzero(paying).tolist()) <= set(self.paid_rows.tolist())
            modes.add("indexed")
        else:
            modes.add("in order")
        billed_ahead = (annual[:n] & (mrr[:n] > 0)) * (term_end[:n].astype(np.int64) - month - 1)
        assert deferred == pytest.approx(_sequential_sum(mrr[:n] * billed_ahead), rel=1e-12)
        assert deferred >= 0.0
        assert at_risk == np.count_nonzero(health[:n][paying] < np.float32(threshold))
        rows, new = self.changes[-1]
        changed = np.flatnonzero(mrr[:n] != past[-1][:n])
        np.testing.assert_array_equal(rows, changed)
        np.testing.assert_array_equal(new, mrr[changed])
        past.append(mrr.copy())
        if len(past) < 13:
            assert year is None
        else:
            then, now = past[-13][:n], mrr[:n]
            paid = then > 0
            left = np.any(np.array([x[:n] for x in past[-12:]]) == 0, axis=0)
            won = paid & (now > 0) & left
            assert year == (
                _sequential_sum(then[paid]),
                _sequential_sum(now[paid]),
                _sequential_sum(np.minimum(now[paid], then[paid])),
                _sequential_sum(now[won]),
                _sequential_sum(np.minimum(now[won], then[won])),
            )
        closes.append(n)
        return at_risk, year, deferred

    monkeypatch.setattr(MrrLog, "close", checked)
    # (a share at which some personas' closes read every aware row before the run ends)
    monkeypatch.setattr(accounting, "DENSE_SHARE", 0.15)
    params = params_of(load_config(size(6_000, 400, 30, 1)))
    model = JourneyModel(params, 3)
    for _ in range(params.months):
        model.step()
        for agent in model.persona_agents:
            every = kernels.paying_rows(agent.pop.stage, agent.aware)
            assert set(every.tolist()) <= set(agent.paying_rows().tolist())
    assert len(closes) == params.months * len(model.persona_agents)
    assert modes == {"indexed", "in order"}  # (both ways of reading the rows were checked)
