"""Metric definitions (finance usage) against hand computations and closed forms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator import load_config, simulate
from simulator.formatting import format_value
from simulator.metrics import HEADLINE, METRICS, discounted_ltv, summarize
from simulator.results import MONTHLY_COLUMNS

SMALL = ["market.size=30000", "initial.customers=900", "months=12", "replications=2"]


def _hand_table() -> pd.DataFrame:
    """One persona, one replication, 13 months: 100 customers at $100, 5 churn and 10 join
    every month; 12 months ago 100 accounts paid $10,000, 80 of them pay $9,000 today."""
    rows = []
    customers = 100
    for month in range(1, 14):
        row = dict.fromkeys(MONTHLY_COLUMNS, 0)
        start = customers
        customers = start - 5 + 10
        row.update(
            scenario="hand",
            replication=0,
            month=month,
            persona="p",
            customers=customers,
            n_active=customers,
            new_customers=10,
            churned_customers=5,
            mrr_start=100.0 * start,
            new_mrr=1000.0,
            churned_mrr=500.0,
            mrr_end=100.0 * customers,
            arr=1200.0 * customers,
            revenue=100.0 * customers,
            recognised_revenue=100.0 * customers,
            cogs=10.0 * customers,
            support_cost=10.0 * customers,
            acquisition_cost=2000.0,
            referral_cost=600.0,  # fully loaded CAC: (2000 + 600) / 10 = 260
            tickets=100,
            sla_breaches=7,
            mrr_12m_ago=10_000.0 if month >= 13 else 0.0,
            retained_mrr_12m=9_000.0 if month >= 13 else 0.0,
            gross_retained_mrr_12m=8_500.0 if month >= 13 else 0.0,
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(MONTHLY_COLUMNS))


def test_metrics_on_a_hand_built_table() -> None:
    s = {k: v["median"] for k, v in summarize(_hand_table(), discount_rate=0.10).items()}
    assert list(s) == [m.name for m in METRICS] == list(HEADLINE)
    starts = np.arange(100, 100 + 5 * 13, 5)  # customers at the start of months 1..13
    logo = 5 * 13 / starts.sum()
    assert s["monthly_logo_churn"] == pytest.approx(logo)
    assert s["ending_customers"] == 165 and s["ending_mrr"] == 16_500
    assert s["ending_arr"] == 12 * 16_500
    assert s["nrr_12m"] == pytest.approx(0.9) and s["grr_12m"] == pytest.approx(0.85)
    assert s["arpa"] == pytest.approx(100.0)
    assert s["gross_margin"] == pytest.approx(0.8)
    assert s["cac"] == pytest.approx(260.0)
    assert s["ltv"] == pytest.approx(100 * 0.8 / logo)
    # Discounted LTV by hand: ARPA 100, GM 0.8, churn 5/start in month t, v = 1.1^(-1/12);
    # 13 months of margin on the survivors, then a geometric tail at the last 12 months' churn.
    v, alive, value = 1.1 ** (-1 / 12), 1.0, 0.0
    for t, start in enumerate(starts):
        value += 80.0 * alive * v**t
        alive *= 1 - 5 / start
    tail_churn = float(np.mean(5 / starts[1:]))
    value += 80.0 * alive * v**13 / (1 - (1 - tail_churn) * v)
    assert s["ltv_discounted"] == pytest.approx(value)
    assert s["ltv_to_cac"] == pytest.approx(100 * 0.8 / logo / 260)
    assert s["payback_months"] == pytest.approx(260 / 80)
    assert s["quick_ratio"] == pytest.approx(2.0)
    assert s["sla_breach_rate"] == pytest.approx(0.07)
    assert s["monthly_gross_mrr_churn"] == pytest.approx(500 * 13 / (100.0 * starts).sum())


def test_discounted_ltv_closed_forms() -> None:
    c, a, g = 0.03, 120.0, 0.8
    flat_c, flat_a = np.full(36, c), np.full(36, a)
    # No discounting, constant churn: the simple LTV a·g/c, whatever the horizon.
    assert discounted_ltv(flat_c, flat_a, g, 0.0) == pytest.approx(a * g / c)
    assert discounted_ltv(flat_c[:5], flat_a[:5], g, 0.0) == pytest.approx(a * g / c)
    # Annual rate r: monthly factor v = (1 + r)^(-1/12); Σ_t ((1 - c) v)^t = 1 / (1 - (1 - c) v).
    v = 1.1 ** (-1 / 12)
    assert discounted_ltv(flat_c, flat_a, g, 0.10) == pytest.approx(a * g / (1 - (1 - c) * v))
    # By hand, two months then the tail: churn 0.1 then 0.2, ARPA 100 then 200, no discounting.
    # Months 1-2: 100·1 + 200·0.9 = 280; tail from S(2) = 0.72 at ARPA 200, tail churn 0.15:
    # 200·0.72 / 0.15 = 960.
    assert discounted_ltv(np.array([0.1, 0.2]), np.array([100.0, 200.0]), 1.0, 0.0) == (
        pytest.approx(280 + 960)
    )
    assert np.isnan(discounted_ltv(np.zeros(12), flat_a[:12], g, 0.0))  # no churn: unbounded
    assert discounted_ltv(flat_c, flat_a, g, 0.10) < discounted_ltv(flat_c, flat_a, g, 0.0)


def test_discount_rate_is_required() -> None:
    with pytest.raises(TypeError):
        summarize(_hand_table())  # type: ignore[call-arg]


def test_discount_rate_reaches_discounted_ltv() -> None:
    """No discounting: the same hand computation as above with v = 1."""
    s = summarize(_hand_table(), discount_rate=0.0)["ltv_discounted"]["median"]
    starts = np.arange(100, 100 + 5 * 13, 5)
    alive, value = 1.0, 0.0
    for start in starts:
        value += 80.0 * alive
        alive *= 1 - 5 / start
    value += 80.0 * alive / float(np.mean(5 / starts[1:]))
    assert s == pytest.approx(value)


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (1_234_567.0, "money", "$1.23M"),
        (2.5e9, "money", "$2.50B"),
        (999.4, "money", "$999"),
        (-267_380.0, "money", "-$267.38k"),
        (-12.0, "money", "-$12"),
        (-0.3, "money", "$0"),
        (0.0345, "pct", "3.5%"),
        (-0.0002, "pct", "0.0%"),
        (-0.0012, "pct", "-0.1%"),
        (12_345.6, "count", "12,346"),
        (3.14159, "ratio", "3.14"),
        (float("nan"), "money", "n/a"),
        (float("inf"), "ratio", "n/a"),
    ],
)
def test_format_value(value: float, kind: str, text: str) -> None:
    assert format_value(value, kind) == text


def test_format_value_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown format kind"):
        format_value(1.0, "percent")


def test_summary_bands_order() -> None:
    res = simulate(load_config(SMALL), progress=False)
    for name, band in res.summary().items():
        if np.isfinite(band["median"]):
            assert band["p10"] <= band["median"] <= band["p90"], name
