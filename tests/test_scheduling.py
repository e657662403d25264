"""The engine's devices for touching only the accounts that move: geometric waiting times, month
calendars, counter-based per-row draws, the aware prefix and the incremental counters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sizes import size

from simulator import JourneyModel, load_config
from simulator.calendar import NEVER, Calendar, months_waiting
from simulator.kernels import row_uniforms
from simulator.stages import N_STAGES, Stage
from simulator.streams import RandomStreams


# --------------------------------------------------------------------------- waiting times
@pytest.mark.parametrize("p", [0.5, 0.07, 0.004])
def test_months_waiting_is_geometric(p: float) -> None:
    """P(K = k) = (1 - p)^k p: chi-square over k = 0..k_max and a pooled tail."""
    u = np.random.default_rng(5).random(400_000).astype(np.float32)
    for prob in (p, np.full(u.size, p)):  # scalar and per-account probabilities
        k = months_waiting(u, prob)
        k_max = int(np.ceil(np.log(1e-3) / np.log1p(-p)))
        observed = np.bincount(np.minimum(k, k_max + 1), minlength=k_max + 2)
        pmf = (1 - p) ** np.arange(k_max + 1) * p
        expected = np.append(pmf, (1 - p) ** (k_max + 1)) * u.size
        chi2 = (((observed - expected) ** 2) / expected).sum()
        assert stats.chi2.sf(chi2, k_max + 1) > 1e-4
        assert abs(k.mean() - (1 - p) / p) < 5 * np.sqrt((1 - p) / p**2 / u.size)


def test_months_waiting_edges() -> None:
    u = np.array([0.0, 0.5, 0.999999], dtype=np.float32)
    assert (months_waiting(u, 1.0) == 0).all()
    assert (months_waiting(u, 0.0) == NEVER).all()
    assert (months_waiting(u, np.array([1.0, 0.0, 0.5])) == [0, NEVER, 19]).all()
    # Inversion: a larger exit probability never waits longer (common random numbers).
    v = np.random.default_rng(1).random(1000).astype(np.float32)
    assert (months_waiting(v, 0.2) <= months_waiting(v, 0.1)).all()


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("p", [5e-324, 1e-320, 1e-310])
def test_months_waiting_at_a_vanishing_probability_is_never_and_silent(p: float) -> None:
    """1 / log(1 - p) overflows for p below ~5.6e-309 (the property tests drew such a p and
    numpy warned); the wait is NEVER, u = 0's is 0, and no warning is raised."""
    u = np.array([0.0, 1e-7, 0.5, 0.999999], dtype=np.float32)
    assert months_waiting(u, p).tolist() == [0, NEVER, NEVER, NEVER]
    assert months_waiting(u, np.full(4, p)).tolist() == [0, NEVER, NEVER, NEVER]


# --------------------------------------------------------------------------- calendars
@pytest.mark.parametrize("months", [1, 4, 64])
def test_calendar_returns_each_row_in_its_month_once(months: int) -> None:
    rng = np.random.default_rng(3)
    cal = Calendar(months)
    filed: dict[int, list[int]] = {}
    next_row = 0
    for month in range(40):
        # file rows for this month and later (some never, some far beyond 40)
        n = 50
        rows = np.arange(next_row, next_row + n)
        next_row += n
        waits = rng.geometric(0.1, size=n) - 1
        waits[:3] = [0, 100, NEVER]
        due = np.where(waits >= NEVER, NEVER, month + waits)
        cal.add(due, rows)
        cal.add(month + 2, np.array([next_row]))  # one scalar filing
        for m, r in zip(due.tolist(), rows.tolist(), strict=True):
            if m < NEVER:
                filed.setdefault(m, []).append(r)
        filed.setdefault(month + 2, []).append(next_row)
        next_row += 1
        got = cal.pop(month)
        assert sorted(got.tolist()) == sorted(filed.pop(month, []))
    # Months past any window (a live model stepped beyond its horizon) are still found.
    for month in range(40, 200):
        assert sorted(cal.pop(month).tolist()) == sorted(filed.pop(month, []))
    assert len(cal) == 0 and not filed


@pytest.mark.parametrize("months", [1, 3, 5, 64])
def test_calendar_returns_a_months_rows_in_the_order_they_were_filed(months: int) -> None:
    """Rows come out of ``pop`` in filing order (calls in turn, each call's rows in order),
    whether filed one month for all, one month per row, or after a geometric wait; with a
    span of buckets the run outgrows (rows wait in the far list, then move to their month)."""
    rng = np.random.default_rng(4)
    cal = Calendar(months)
    filed: dict[int, list[int]] = {}
    next_row = 0
    for month in range(60):
        for kind in rng.permutation(4):
            n = int(rng.integers(0, 40))
            rows = np.arange(next_row, next_row + n)[rng.permutation(n)]
            next_row += n
            if kind == 0:  # one month for all, near or far
                due = np.full(n, month + int(rng.integers(0, 12)))
                cal.add(int(due[0]) if n else month, rows)
            elif kind == 1:  # one month per row, some never
                due = month + rng.geometric(0.15, n) - 1
                due[rng.random(n) < 0.1] = NEVER
                cal.add(due, rows)
            else:  # a geometric wait, up to a last month (kind 2) or not
                key = np.uint64(rng.integers(0, 2**63))
                u = row_uniforms(key, rows)
                p = 0.2 if kind == 2 else rng.uniform(0.0, 0.4, n)
                last = month + 8 if kind == 2 else NEVER
                cal.add_drawn_waiting(month + 1, key, p, rows, last)
                due = month + 1 + months_waiting(u, p)
                due[due > last] = NEVER
            for m, r in zip(due.tolist(), rows.tolist(), strict=True):
                if m < NEVER:
                    filed.setdefault(m, []).append(r)
        if month % 3 == 1:  # the month's own rows filed before its pop, the rest after
            assert cal.pop(month).tolist() == filed.pop(month, [])
    for month in range(60, max(filed) + 1):
        assert cal.pop(month).tolist() == filed.pop(month, [])
    assert all(m < 60 for m in filed)  # months that were never popped


def test_calendar_reuses_freed_slots_and_keeps_negative_past_and_far_months() -> None:
    """Against a dict of lists: rows filed under negative months, months already popped or
    far past the buckets (10,000) come out of ``pop`` of that month in filing order, and the
    slots that popped rows free are reused (the store stays near the rows waiting)."""
    rng = np.random.default_rng(12)
    cal = Calendar(8)
    filed: dict[int, list[int]] = {}
    most = 0
    for month in range(200):
        n = int(rng.integers(0, 60))
        rows = rng.integers(0, 2**31 - 1, n)
        due = month + rng.integers(-3, 6, n)
        due[: n // 10] = rng.choice([-7, -1, 10_000, NEVER - 1, NEVER], n // 10)
        cal.add(due, rows)
        for m, r in zip(due.tolist(), rows.tolist(), strict=True):
            if m < NEVER:
                filed.setdefault(m, []).append(r)
        assert cal.pop(month).tolist() == filed.pop(month, [])
        assert len(cal) == sum(len(v) for v in filed.values())
        most = max(most, len(cal))
    assert cal._slots.shape[1] <= 2 * most + 256  # freed slots were reused
    for month in (-7, -1, 10_000, NEVER - 1, 150):
        assert cal.pop(month).tolist() == filed.pop(month, [])
    assert cal.pop(10_000).size == 0 and cal.pop(-7).size == 0
    assert len(cal) == sum(len(v) for v in filed.values())


# --------------------------------------------------------------------------- per-row draws
def test_row_uniform_is_uniform_keyed_by_row_and_independent() -> None:
    s = RandomStreams(42, 0)
    rows = np.arange(200_000)
    u = s.row_uniform("churn", 3, 1, rows)
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    # A row's value does not depend on which other rows are drawn, or in which order.
    some = np.random.default_rng(0).permutation(rows)[:5000]
    assert np.array_equal(s.row_uniform("churn", 3, 1, some), u[some])
    # Different keys give unrelated values; the pair's second uniform is a fresh one.
    first, second = s.row_uniform_pair("churn", 3, 1, rows)
    assert np.array_equal(first, u)
    others = [
        second,
        s.row_uniform("churn", 3, 1, rows, draw=1),
        s.row_uniform("churn", 4, 1, rows),
        s.row_uniform("churn", 3, 2, rows),
        s.row_uniform("winback", 3, 1, rows),
        RandomStreams(42, 1).row_uniform("churn", 3, 1, rows),
        RandomStreams(43, 0).row_uniform("churn", 3, 1, rows),
    ]
    for v in others:
        assert abs(np.corrcoef(u, v)[0, 1]) < 0.02
        assert stats.kstest(v, "uniform").pvalue > 1e-4
    # Neighbouring rows are not correlated.
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02
    with pytest.raises(KeyError):
        s.row_uniform("nonsense", 3, 1, rows)


# --------------------------------------------------------------------------- counters
BUSY = [
    *size(30_000, 3_000, 30, 1),
    "mechanisms.annual_contracts=true",
    *(f"personas.{k}.advocacy.rate=0.3" for k in ("solo", "smb", "midmarket")),
    "personas.solo.winback={rate: 0.2, window_months: 6}",
]


SCHEDULED = [
    "health.churn_sensitivity=0",
    "mechanisms.annual_contracts=false",
    "mechanisms.involuntary_churn=false",
]


@pytest.mark.parametrize("extra", [[], SCHEDULED], ids=["monthly churn draws", "scheduled churn"])
def test_counters_match_the_population_every_month(extra: list[str]) -> None:
    """Stage counts, MRR and paying seats kept at the transition sites equal a recount of the
    population after every month; rows [0, aware) are all reached, the rest all unaware."""
    cfg = load_config([*BUSY, *extra])
    model = JourneyModel(cfg)
    assert model.churn_is_scheduled == bool(extra)
    moved = 0
    for _ in range(cfg.months):
        model.step()
        for agent in model.persona_agents:
            pop = agent.pop
            counts = np.bincount(pop.stage.view(np.uint8), minlength=N_STAGES)
            assert np.array_equal(agent.counts, counts)
            assert agent.mrr_total == pytest.approx(float(pop.mrr.sum(dtype=np.float64)), 1e-9)
            paying = (pop.stage >= Stage.ONBOARDING) & (pop.stage <= Stage.ADVOCATE)
            assert agent.paying_seats == int(pop.seats[paying].sum())
            assert (pop.stage[: agent.aware] != Stage.UNAWARE).all()
            assert (pop.stage[agent.aware :] == Stage.UNAWARE).all()
            assert (pop.health[~paying] == 0).all()
            moved += int(counts[Stage.CHURNED] + counts[Stage.ADVOCATE])
        total = model.records[-1]
        assert total["month"] == model.month
    assert moved > 0


def test_live_model_runs_past_its_horizon() -> None:
    """A dashboard may step a model beyond ``months``: transitions filed for later months (and
    those beyond any calendar window) still happen."""
    cfg = load_config([*size(30_000, 3_000, 6, 1), *SCHEDULED])
    model = JourneyModel(cfg)
    model.run(60)
    assert model.month == 60 and len(model.records) == 60 * len(model.persona_agents)
    last = model.records[-len(model.persona_agents) :]
    assert sum(r["churned_customers"] for r in last) > 0
    assert sum(r["reactivated_customers"] for r in model.records[-40:]) > 0
    for agent in model.persona_agents:
        counts = np.bincount(agent.pop.stage.view(np.uint8), minlength=N_STAGES)
        assert np.array_equal(agent.counts, counts)
