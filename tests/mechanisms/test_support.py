"""Support: Erlang C and SLA breaches against closed forms and quadrature; breaches continuous
and increasing across full load; the backlog conserved; a hire and a cut move breaches beyond
noise (paired runs)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from mech_runs import totals
from scipy import integrate
from sizes import size, small

from simulator import JourneyModel, load_config, simulate
from simulator.mechanisms.support import (
    SupportDesk,
    critical_wait,
    erlang_c,
    sla_breach_probability,
)


def _erlang_c_textbook(c: int, a: float) -> float:
    """C(c, a) = (aᶜ/c! · c/(c - a)) / (Σ_{k<c} aᵏ/k! + aᶜ/c! · c/(c - a))."""
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def test_erlang_c_known_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = ρ
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0)
    assert erlang_c(5, 4.0) == pytest.approx(0.5541, abs=1e-4)
    for c, a in [(3, 2.2), (10, 7.5), (40, 35.0), (60, 55.0)]:
        assert erlang_c(c, a) == pytest.approx(_erlang_c_textbook(c, a), rel=1e-9)
    assert erlang_c(4, 0.0) == 0.0
    assert erlang_c(4, 4.0) == 1.0 and erlang_c(4, 9.0) == 1.0  # overloaded: everyone waits
    assert erlang_c(0, 1.0) == 1.0


def test_sla_breach_probability_closed_form() -> None:
    # M/M/1 with λ = 1/h, mean handle 0.5 h: ρ = 0.5, P(W > t) = ρ e^{-(1 - ρ) t / 0.5}.
    assert sla_breach_probability(1, 1.0, 0.5, 1.0) == pytest.approx(0.5 * math.exp(-1.0))
    p = sla_breach_probability(5, 8.0, 0.5, 0.25)  # a = 4
    assert p == pytest.approx(_erlang_c_textbook(5, 4.0) * math.exp(-(5 - 4) * 0.25 / 0.5))
    assert sla_breach_probability(5, 0.0, 0.5, 0.25) == 0.0
    # The stationary limit (no month: open_hours infinite): at a = c every ticket breaches.
    assert sla_breach_probability(5, 10.0, 0.5, 0.25) == 1.0
    # More agents, or a longer SLA, never breaches more.
    by_agents = [sla_breach_probability(c, 8.0, 0.5, 0.25) for c in range(5, 15)]
    assert all(x >= y for x, y in itertools.pairwise(by_agents))
    assert sla_breach_probability(5, 8.0, 0.5, 1.0) < p


def test_support_cut_breaches_more() -> None:
    base = totals([], months=12)
    cut = totals(["scenario=support_cut"], months=12)
    assert cut["sla_breaches"].sum() > base["sla_breaches"].sum()
    assert cut["support_cost"].sum() < base["support_cost"].sum()
    assert cut["accounts_breached"].sum() > base["accounts_breached"].sum()


# ---------------------------------------------------------------- a month-long queue with a backlog
H = 168.0  # open hours a month
H_EFF = 0.25 / 0.67  # a 15-minute mean handle time per productive hour (33% shrinkage)


def _breach(c: int, load: float, t: float, backlog_hours: float = 0.0, h: float = H_EFF) -> float:
    return sla_breach_probability(c, load / h, h, t, backlog_hours=backlog_hours, open_hours=H)


def _by_quadrature(c: int, load: float, h: float, t: float, backlog_hours: float) -> float:
    """(1/H) ∫ P(D(s) + V > t) ds by numerical quadrature, D and V as in the module docstring,
    written out independently of the closed form."""
    w_star = 4.0 / 3.0 * math.sqrt(H * h / (math.pi * c))
    cw = _erlang_c_textbook(c, load) if load < c else 1.0
    theta = max(max(c - load, 0.0) / h, 1.0 / w_star)

    def p(s: float) -> float:
        d = max(0.0, backlog_hours / c + (load - c) * s / c)
        return 1.0 if d > t else cw * math.exp(-theta * (t - d))

    breaks = [x for x in np.linspace(0.0, H, 2001)]
    return sum(integrate.quad(p, a, b)[0] for a, b in itertools.pairwise(breaks)) / H


def test_erlang_c_textbook_values_hold_below_saturation_in_a_month() -> None:
    """Below saturation, a month-long desk without backlog is the stationary Erlang C answer."""
    for c, load, t in [(5, 3.5, 0.1), (5, 4.0, 0.05), (10, 8.0, 0.1), (3, 1.5, 4.0), (1, 0.5, 1.0)]:
        expected = _erlang_c_textbook(c, load) * math.exp(-(c - load) * t / H_EFF)
        assert _breach(c, load, t) == pytest.approx(expected, rel=1e-12), (c, load, t)


def test_at_full_load_the_wait_is_the_critical_wait() -> None:
    """At load 1 without backlog every ticket waits (C = 1) an exponential time with the mean
    w* a critically loaded desk builds in a month: P(breach) = exp(-t / w*)."""
    c = 5
    w_star = 4.0 / 3.0 * math.sqrt(H * H_EFF / (math.pi * c))
    assert critical_wait(c, H_EFF, H) == pytest.approx(w_star)
    for t in (0.05, 0.1, 4.0):
        assert _breach(c, float(c), t) == pytest.approx(math.exp(-t / w_star), rel=1e-12)
    assert _breach(c, float(c), 4.0) == pytest.approx(0.2, abs=0.03)  # email still mostly met


@pytest.mark.parametrize(
    ("c", "load", "t", "backlog_hours"),
    [
        (5, 6.0, 4.0, 0.0),  # overloaded: the wait grows through the month
        (5, 5.5, 0.1, 30.0),  # overloaded with a backlog
        (5, 3.5, 4.0, 60.0),  # a backlog drained within the month
        (5, 4.9, 4.0, 600.0),  # a backlog the month cannot drain
        (3, 2.95, 0.1, 5.0),  # near load 1, the critical-wait cap binding
    ],
)
def test_breach_probability_matches_quadrature(
    c: int, load: float, t: float, backlog_hours: float
) -> None:
    got = _breach(c, load, t, backlog_hours)
    assert got == pytest.approx(_by_quadrature(c, load, H_EFF, t, backlog_hours), abs=1e-6)


@pytest.mark.parametrize("t", [0.05, 0.1, 4.0])
@pytest.mark.parametrize("backlog_hours", [0.0, 10.0])
def test_breach_probability_continuous_and_increasing_across_full_load(
    t: float, backlog_hours: float
) -> None:
    c = 5
    # No jump at load 1: from just below and just above.
    below, above = _breach(c, c - 1e-9, t, backlog_hours), _breach(c, c + 1e-9, t, backlog_hours)
    assert abs(above - below) < 1e-6
    # Increasing in load on [0.5 c, 1.5 c]; halving the step halves the largest step in P
    # (a continuous function: no jump anywhere on the grid).
    jumps = []
    for n in (2001, 4001):
        loads = np.linspace(0.5 * c, 1.5 * c, n)
        p = np.array([_breach(c, a, t, backlog_hours) for a in loads])
        assert np.all(np.diff(p) >= -1e-12)
        assert 0.0 <= p[0] < p[-1] <= 1.0
        jumps.append(np.diff(p).max())
    assert jumps[1] < 0.6 * jumps[0]
    # Above full load breaches keep rising towards 1 (and are 1 once the wait for the backlog
    # alone exceeds the SLA).
    rising = _breach(c, 1.2 * c, t, backlog_hours) - _breach(c, 1.05 * c, t, backlog_hours)
    assert rising > 0 or _breach(c, 1.05 * c, t, backlog_hours) == 1.0
    assert _breach(c, 3.0 * c, t, backlog_hours) > 0.95


def test_a_longer_sla_never_breaches_more_and_more_backlog_or_fewer_agents_breach_more() -> None:
    slas = [0.0, 0.05, 0.1, 0.5, 1.0, 4.0, 24.0]
    for load, backlog in itertools.product([1.0, 3.0, 4.5, 4.99, 5.0, 5.5, 8.0], [0, 20, 400]):
        p = [_breach(5, load, t, backlog) for t in slas]
        assert all(x >= y for x, y in itertools.pairwise(p)), (load, backlog, p)
    # The 4-hour email SLA breaches later (at a higher load) than the 6-minute chat SLA.
    assert _breach(5, 5.0, 4.0) < 0.5 < _breach(5, 5.0, 0.1)
    for load in (3.0, 5.0, 6.0):
        by_backlog = [_breach(5, load, 4.0, b) for b in (0, 10, 50, 200, 1000)]
        assert all(x <= y for x, y in itertools.pairwise(by_backlog))
    arrivals = 5.0 / H_EFF
    by_agents = [
        sla_breach_probability(c, arrivals, H_EFF, 0.1, open_hours=H) for c in range(3, 12)
    ]
    assert all(x >= y for x, y in itertools.pairwise(by_agents))
    assert sla_breach_probability(0, arrivals, H_EFF, 4.0, open_hours=H) == 1.0


def _desk(agents: int, backlog: np.ndarray) -> SupportDesk:
    model = JourneyModel(load_config([*small(1), f"support.agents={agents}"]))
    desk = model.support_desk
    desk.backlog = backlog.copy()
    return desk


def test_desk_works_the_backlog_first_and_carries_the_rest() -> None:
    """Hand-computed month: 2 agents × 168 h × 0.67 = 225.12 hours; chat 12, email 18, phone
    15 minutes."""
    n = len(load_config(small(1)).personas)
    backlog = np.zeros((n, 3))
    backlog[0] = [100.0, 200.0, 0.0]  # 20 + 60 = 80 hours of work
    arrivals = np.zeros((n, 3))
    arrivals[1] = [300.0, 300.0, 200.0]  # 60 + 90 + 50 = 200 hours
    desk = _desk(2, backlog)
    desk.serve(arrivals)
    capacity = 2 * 168 * 0.67
    assert desk.capacity_hours == pytest.approx(capacity)
    done = (capacity - 80.0) / 200.0  # share of this month's arrivals worked
    assert desk.worked[0] == pytest.approx([100.0, 200.0, 0.0])  # the backlog first
    assert desk.worked[1] == pytest.approx(arrivals[1] * done)
    assert desk.backlog[1] == pytest.approx(arrivals[1] * (1 - done))
    assert desk.backlog.sum() == pytest.approx(backlog.sum() + arrivals.sum() - desk.worked.sum())
    assert desk.utilisation == pytest.approx(1.0)
    assert desk.hours_worked.sum() == pytest.approx(capacity)
    # A desk with room clears everything and is busy for the work's share of its hours.
    roomy = _desk(10, backlog)
    roomy.serve(arrivals)
    assert roomy.backlog.sum() == 0.0
    assert roomy.utilisation == pytest.approx(280.0 / (10 * 168 * 0.67))


def test_backlog_conservation_every_month_of_a_run() -> None:
    """backlog_end = backlog_start + arrivals − worked, never negative, in every row (persona,
    replication, month) of a run whose desk is cut below its load."""
    m = simulate(
        load_config([*size(200_000, 3000, 36, 1), "scenario=support_cut"]), progress=False
    ).monthly.sort_values(["replication", "persona", "month"])
    start = m.groupby(["replication", "persona"])["support_backlog"].shift(1, fill_value=0.0)
    expected = start + m["tickets"] - m["tickets_worked"]
    assert np.allclose(m["support_backlog"], expected, rtol=1e-9, atol=1e-6)
    assert (m["support_backlog"] >= 0).all() and (m["tickets_worked"] >= 0).all()
    desk = m.groupby(["replication", "month"])[["support_backlog", "support_hours"]].sum()
    assert desk["support_backlog"].max() > 100  # the cut desk falls behind
    # Hours worked never exceed the hours available.
    hours = m.groupby(["replication", "month"])[["support_hours", "support_capacity_hours"]].sum()
    assert (hours["support_hours"] <= hours["support_capacity_hours"] * (1 + 1e-9)).all()


def _paired(overrides: list[str], replications: int = 6) -> np.ndarray:
    """Per replication (same seeds): the SLA breach rate of the default-size run over 36
    months (the default desk has room in year 1 and fills in year 3) with ``overrides`` minus
    the baseline's."""
    rates = []
    for extra in ([], overrides):
        m = simulate(
            load_config([*size(200_000, 3000, 36, replications), *extra]), progress=False
        ).monthly
        g = m.groupby("replication")[["sla_breaches", "tickets"]].sum().sort_index()
        rates.append((g["sla_breaches"] / g["tickets"]).to_numpy())
    return rates[1] - rates[0]


def test_a_hire_lowers_breaches_and_a_cut_raises_them_beyond_noise() -> None:
    """Paired runs, 6 replications: the P10–P90 of the paired difference in the SLA breach
    rate lies entirely on one side of 0."""
    agents = load_config(small(1)).support.agents
    hire = _paired([f"+events.hire={{type: support_capacity, month: 4, agents: {agents + 3}}}"])
    cut = _paired(["scenario=support_cut"])
    assert np.percentile(hire, 90) < 0 and np.median(hire) < -0.02
    assert np.percentile(cut, 10) > 0 and np.median(cut) > 0.05
