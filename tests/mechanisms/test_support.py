"""Support: Erlang C and SLA breaches against closed forms; a thinner desk breaches more."""

from __future__ import annotations

import itertools
import math

import pytest
from mech_runs import totals

from simulator.mechanisms.support import erlang_c, sla_breach_probability


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
    assert sla_breach_probability(5, 10.0, 0.5, 0.25) == 1.0  # a = c: every ticket breaches
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
