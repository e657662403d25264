"""Building blocks against closed forms, mechanism switches, directions of effect, the live
model, the metric definitions and the saved outputs."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from simulator import JourneyModel, load_config, simulate
from simulator.config import params_of
from simulator.model import split_by_share
from simulator.pricing import PriceBook, annual_probability, choice_probabilities, choose
from simulator.results import MONTHLY_COLUMNS
from simulator.support import erlang_c, sla_breach_probability

SMALL = ["market.size=30000", "initial.customers=900", "months=12", "replications=2"]


# --------------------------------------------------------------------------- Erlang C
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


# --------------------------------------------------------------------------- pricing
def _persona(name: str = "smb"):
    params = params_of(load_config([]))
    return params, next(p for p in params.personas if p.name == name)


def test_choice_probabilities_are_the_logit() -> None:
    params, p = _persona("smb")
    book = PriceBook(params.plans, params.annual_discount)
    seats = np.array([1, 6, 40])
    probs = choice_probabilities(p, book, seats, extra_utility=0.3)
    assert probs.shape == (3, 1 + len(params.plans))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    for i, s in enumerate(seats):
        utils = [p.outside_utility]
        for j, plan in enumerate(params.plans):
            per_seat = plan.price * p.price_multiplier / (1 if plan.per_seat else s)
            utils.append(
                p.plan_value[j] - p.price_sensitivity * per_seat / p.willingness_to_pay + 0.3
            )
        w = np.exp(np.array(utils))
        np.testing.assert_allclose(probs[i], w / w.sum(), rtol=1e-12)
    # A dearer persona buys less.
    dear = replace(p, price_multiplier=1.5)
    cheap = choice_probabilities(p, book, seats)
    assert (choice_probabilities(dear, book, seats)[:, 0] > cheap[:, 0]).all()


def test_choose_follows_the_probabilities() -> None:
    rng = np.random.default_rng(3)
    n = 200_000
    probs = np.tile([0.5, 0.2, 0.25, 0.05], (n, 1))
    idx, fresh = choose(probs, rng.random(n))
    counts = np.bincount(idx, minlength=4)
    se = np.sqrt(n * probs[0] * (1 - probs[0]))
    assert (np.abs(counts - n * probs[0]) < 5 * se).all()
    # The rescaled uniform is again uniform on [0, 1) and independent of the choice.
    assert fresh.min() >= 0.0 and fresh.max() < 1.0
    for k in range(4):
        part = fresh[idx == k]
        assert abs(part.mean() - 0.5) < 5 * math.sqrt(1 / 12 / part.size)
    # Boundaries: u just below a cumulative step stays in the lower option.
    idx2, _ = choose(np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0.4999, 0.5]))
    assert idx2.tolist() == [0, 1]


def test_annual_probability_is_logistic() -> None:
    _, p = _persona("smb")
    z = p.annual_logit + p.annual_discount_sensitivity * 0.2
    assert annual_probability(p, 0.2) == pytest.approx(1 / (1 + math.exp(-z)))
    assert annual_probability(p, 0.3) > annual_probability(p, 0.1)


def test_split_by_share_is_exact() -> None:
    assert split_by_share(10, [0.5, 0.5]) == [5, 5]
    assert split_by_share(19997, [0.5, 0.32, 0.14, 0.04]) == [9998, 6399, 2800, 800]
    for total in (0, 1, 7, 1001, 999_983):
        parts = split_by_share(total, [0.5, 0.32, 0.14, 0.04])
        assert sum(parts) == total
        shares = [0.5, 0.32, 0.14, 0.04]
        assert all(abs(x - s * total) < 1 for x, s in zip(parts, shares, strict=True))


# --------------------------------------------------------------------------- switches
def _totals(overrides: list[str]) -> pd.DataFrame:
    return simulate(load_config([*SMALL, *overrides]), progress=False).monthly


# A small market with a thin desk and keen referrers, so every flow moves within a year.
BUSY = [
    "support.agents=1",
    *(f"personas.{k}.referrals.per_advocate=5" for k in ("solo", "smb", "midmarket")),
    *(f"personas.{k}.advocacy.rate=0.3" for k in ("solo", "smb", "midmarket")),
]


@pytest.fixture(scope="module")
def baseline() -> pd.DataFrame:
    return _totals(BUSY)


@pytest.mark.parametrize(
    ("switch", "columns"),
    [
        ("expansion", ["expansion_mrr", "upgrades", "seat_expansions", "downgrades"]),
        ("reactivation", ["reactivated_customers", "reactivation_mrr"]),
        ("referrals", ["referral_cost", "referrals", "new_advocates", "n_advocate"]),
        ("support", ["tickets", "sla_breaches", "support_cost", "accounts_breached"]),
        ("success", ["success_cost", "accounts_worked"]),
        ("involuntary_churn", ["churned_involuntary"]),
        ("annual_contracts", ["renewals_due", "renewals", "renewal_offers"]),
        ("onboarding", ["onboarding_cost", "activation_failures", "n_onboarding"]),
        ("acquisition", ["prospects", "new_customers", "acquisition_cost", "n_consideration"]),
    ],
)
def test_mechanism_switch_turns_its_flows_off(
    baseline: pd.DataFrame, switch: str, columns: list[str]
) -> None:
    off = _totals([*BUSY, f"mechanisms.{switch}=false"])
    for col in columns:
        assert baseline[col].sum() > 0, f"{col} is 0 even with {switch} on"
        assert off[col].sum() == 0, f"{col} moves with {switch} off"


def test_contraction_needs_expansion_or_renewal_discounts(baseline: pd.DataFrame) -> None:
    """Contraction MRR comes from downgrades and seat cuts (expansion) and from at-risk
    renewal discounts (annual contracts); with both off and no price event, it is 0."""
    assert baseline["contraction_mrr"].sum() > 0
    off = _totals([*BUSY, "mechanisms.expansion=false", "mechanisms.annual_contracts=false"])
    assert off["contraction_mrr"].sum() == 0
    assert off["seat_contractions"].sum() == 0


def test_all_off_leaves_only_base_churn() -> None:
    m = _totals(["mechanisms=all_off"])
    moving = ["new_customers", "expansion_mrr", "contraction_mrr", "reactivated_customers"]
    moving += ["tickets", "referral_cost", "renewals_due", "churned_involuntary", "prospects"]
    assert (m[moving].to_numpy() == 0).all()
    assert m["churned_voluntary"].sum() > 0


# --------------------------------------------------------------------------- directions
def _company(m: pd.DataFrame) -> pd.DataFrame:
    return m.groupby(["replication", "month"])[list(m.columns[4:])].sum()


def test_price_rise_means_fewer_new_customers_and_more_mrr_per_account() -> None:
    base = _totals(["months=18"])
    dear = _totals(["months=18", "pricing.plans.pro.price=59"])
    late_new = lambda m: m.loc[m["month"] >= 7, "new_customers"].sum()  # noqa: E731
    assert late_new(dear) < late_new(base)
    new_mrr_per_account = lambda m: m["new_mrr"].sum() / m["new_customers"].sum()  # noqa: E731
    assert new_mrr_per_account(dear) > new_mrr_per_account(base)


def test_better_onboarding_lowers_churn() -> None:
    base = _totals(["months=18"])
    better = _totals(["months=18", "scenario=better_onboarding"])
    assert better["activations"].sum() > base["activations"].sum()
    assert better["activation_failures"].sum() < base["activation_failures"].sum()
    rate = lambda m: m["churned_customers"].sum() / m["customers"].sum()  # noqa: E731
    assert rate(better) < rate(base)
    assert better["onboarding_cost"].sum() > base["onboarding_cost"].sum()


def test_support_cut_breaches_more() -> None:
    base = _totals(["months=12"])
    cut = _totals(["months=12", "scenario=support_cut"])
    assert cut["sla_breaches"].sum() > base["sla_breaches"].sum()
    assert cut["support_cost"].sum() < base["support_cost"].sum()
    assert cut["accounts_breached"].sum() > base["accounts_breached"].sum()


def test_annual_push_moves_more_accounts_to_annual_terms() -> None:
    base = _totals(["months=18"])
    push = _totals(["months=18", "scenario=annual_push"])
    assert push["renewals_due"].sum() > base["renewals_due"].sum()


# --------------------------------------------------------------------------- live model
def test_live_stepping_equals_simulate() -> None:
    cfg = load_config([*SMALL, "replications=1"])
    model = JourneyModel(cfg, replication=0)
    counts, mrrs = [], []
    for _ in range(12):
        model.step()
        counts.append(model.stage_counts)
        mrrs.append(model.mrr)
    assert model.month == 12
    table = simulate(cfg, progress=False).monthly
    by_month = table.groupby("month")
    for month, (sc, mrr) in enumerate(zip(counts, mrrs, strict=True), start=1):
        g = by_month.get_group(month)
        assert sum(sc.values()) == 30000
        for stage, n in sc.items():
            assert g[f"n_{stage}"].sum() == n
        assert g["mrr_end"].sum() == pytest.approx(mrr, rel=1e-9)
    pd.testing.assert_frame_equal(
        pd.DataFrame(model.records)[list(MONTHLY_COLUMNS)].astype(table.dtypes.to_dict()),
        table,
        check_exact=True,
    )


# --------------------------------------------------------------------------- metrics
# --------------------------------------------------------------------------- outputs
