"""Willingness to pay across accounts and the known answer of the pricing studio (issue 12).

Known answers (``simulator.analytic``): with each account's WTP lognormal (median m, σ of
ln WTP) and the threshold rule (buy when WTP > price), one plan on offer and nothing else
making a payer, the take-rate new_customers / decisions at price p is binomial(decisions,
S(p)), S(p) = 1 - Φ((ln p - ln m) / σ); under the logit it is the mixed logit E_W[expit(v -
u_0 - s p / W)]. The revenue-maximising price p* solves λ(z*) = σ (λ the normal hazard), p* =
m exp(σ z*): checked against numeric maximisation. Bounds are 5 binomial standard errors, and
each check shows power: the same counts reject a nearby wrong answer.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import optimize, stats
from sizes import TINY

from simulator import ConfigError, load_config, simulate
from simulator import analytic as an
from simulator.kernels import funnel
from simulator.mechanisms import pricing
from simulator.params import params_of
from simulator.streams import RandomStreams

Z = 5.0
M, SIGMA = an.KNOWN_ANSWER_MEDIAN, an.KNOWN_ANSWER_SIGMA
#: 100,000 accounts reached at 2% a month for 6 months: ~11,400 decisions, one each.
KNOWN_SIZE = ["market.size=100000", "months=6", "replications=1", "seed=2026"]
PRICES = (40.0, 60.0, 79.0, 110.0, 160.0)


def _take(
    price: float, size: list[str] = KNOWN_SIZE, rule: str = "threshold"
) -> tuple[float, float, float]:
    """(decisions, buyers, new MRR) of the known-answer run at ``price``."""
    cfg = load_config([*an.known_answer_overrides(price, rule=rule), *size])
    m = simulate(cfg, progress=False).monthly
    return float(m["decisions"].sum()), float(m["new_customers"].sum()), float(m["new_mrr"].sum())


def _z(bought: float, n: float, p: float) -> float:
    return (bought - n * p) / math.sqrt(n * p * (1.0 - p))


# --------------------------------------------------------------------------- analytic
@pytest.mark.parametrize("sigma", [0.05, 0.3, 0.5, 1.0, 2.0])
def test_take_rate_is_the_lognormal_survival(sigma: float) -> None:
    prices = np.geomspace(1.0, 2_000.0, 60)
    want = stats.lognorm(s=sigma, scale=M).sf(prices)
    np.testing.assert_allclose(an.take_rate(prices, M, sigma), want, rtol=1e-10, atol=1e-300)
    assert an.take_rate(M, M, sigma) == pytest.approx(0.5, abs=1e-15)
    np.testing.assert_allclose(an.revenue_per_decision(prices, M, sigma), prices * want, rtol=1e-10)
    # σ = 0: everyone's WTP is the median; an account buys when its surplus is positive.
    assert list(an.take_rate(np.array([78.0, 79.0, 80.0]), M, 0.0)) == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("median", [30.0, 79.0, 190.0])
@pytest.mark.parametrize("sigma", [0.05, 0.3, 0.5, 0.8, 1.0, 2.0])
def test_optimal_price_is_the_numeric_maximum(median: float, sigma: float) -> None:
    p_star = an.optimal_price(median, sigma)
    # Numeric maximisation of p S(p) over ln p (independent of the hazard formula).
    res = optimize.minimize_scalar(
        lambda x: -float(an.revenue_per_decision(math.exp(x), median, sigma)),
        bounds=(math.log(median) - 12 * sigma - 1, math.log(median) + 3 * sigma + 1),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert math.exp(res.x) == pytest.approx(p_star, rel=1e-5)
    # First-order condition S(p*) = p* f(p*), and a dense grid finds nothing better.
    dist = stats.lognorm(s=sigma, scale=median)
    assert dist.sf(p_star) == pytest.approx(p_star * dist.pdf(p_star), rel=1e-9)
    grid = p_star * np.exp(np.linspace(-3, 3, 20_001) * sigma)
    assert an.revenue_per_decision(grid, median, sigma).max() <= an.optimal_revenue(
        median, sigma
    ) * (1 + 1e-12)
    # p* < median exactly when σ < λ(0) = √(2/π).
    assert (p_star < median) == (sigma < math.sqrt(2 / math.pi))


def test_the_known_answer_optimum_and_its_plateau() -> None:
    """The values the optimiser test is held to (median $79, σ 0.5)."""
    assert an.optimal_price(M, SIGMA) == pytest.approx(60.9767, abs=1e-4)
    assert an.optimal_revenue(M, SIGMA) == pytest.approx(42.5459, abs=1e-4)
    assert an.take_rate(an.optimal_price(M, SIGMA), M, SIGMA) == pytest.approx(0.6977, abs=1e-4)
    lo, hi = an.revenue_plateau(M, SIGMA, loss=0.01)
    assert lo < an.optimal_price(M, SIGMA) < hi
    assert (lo, hi) == pytest.approx((55.106, 67.235), abs=1e-3)
    target = 0.99 * an.optimal_revenue(M, SIGMA)
    for p in (lo, hi):
        assert an.revenue_per_decision(p, M, SIGMA) == pytest.approx(target, rel=1e-9)
    assert an.optimal_price(M, 0.0) == M
    with pytest.raises(ValueError, match="sigma"):
        an.optimal_price(M, -0.1)


def test_logit_take_rate_is_the_plain_logit_at_zero_spread() -> None:
    want = 1.0 / (1.0 + math.exp(2.9 - 2.0 + 1.5 * 60.0 / M))
    assert an.logit_take_rate(60.0, M, 0.0, 2.0, 2.9, 1.5) == pytest.approx(want, rel=1e-12)
    # Exact against brute-force integration over ln W.
    x = np.linspace(-12, 12, 200_001)
    buy = 1.0 / (1.0 + np.exp(2.9 - 2.0 + 1.5 * 60.0 / (M * np.exp(0.5 * x))))
    brute = float(np.trapezoid(buy * stats.norm.pdf(x), x))
    assert an.logit_take_rate(60.0, M, 0.5, 2.0, 2.9, 1.5) == pytest.approx(brute, rel=1e-9)


# --------------------------------------------------------------------------- draws
def test_account_wtp_is_lognormal_row_keyed_and_free_at_zero_spread() -> None:
    params = params_of(load_config(["personas.smb.willingness_to_pay_spread=0.5"]))
    smb, solo = params.personas["smb"], params.personas["solo"]
    streams = RandomStreams(42, 3, len(params.persona_list))
    rows = np.arange(200_000, dtype=np.int64)
    w = pricing.account_willingness_to_pay(streams, smb, rows)
    assert w.shape == rows.shape and np.isfinite(w).all() and (w > 0).all()
    ks = stats.kstest(w, stats.lognorm(s=0.5, scale=smb.willingness_to_pay).cdf)
    assert ks.pvalue > 1e-4
    assert stats.kstest(w, stats.lognorm(s=0.55, scale=smb.willingness_to_pay).cdf).pvalue < 1e-6
    # An account's WTP depends on its row alone: the same in any list of rows, in any month.
    some = np.array([199_999, 5, 77_777, 5], dtype=np.int64)
    np.testing.assert_array_equal(pricing.account_willingness_to_pay(streams, smb, some), w[some])
    # Another replication draws other values.
    other = pricing.account_willingness_to_pay(RandomStreams(42, 4, 4), smb, rows[:1000])
    assert not np.array_equal(other, w[:1000])
    # Spread 0: the persona's value for all, no draw.
    drawn: list[str] = []
    spy = RandomStreams(42, 3, 4)
    spy.row_uniform = lambda stream, *a, **k: drawn.append(stream)  # type: ignore[method-assign]
    assert list(pricing.account_willingness_to_pay(spy, solo, rows)) == [solo.willingness_to_pay]
    assert drawn == []


def test_threshold_kernel_buys_the_largest_positive_surplus() -> None:
    rng = np.random.default_rng(5)
    n = 3_000
    seats = rng.integers(1, 40, 5_000).astype(np.int32)
    rows = np.sort(rng.choice(5_000, n, replace=False)).astype(np.int64)
    list_price = np.array([30.0, 79.0, 158.0, 1200.0])
    per_seat = np.array([True, True, False, False])
    for wtp in (rng.lognormal(np.log(60), 1.0, n), np.array([20.0])):
        weights, best = funnel.threshold_weights(rows, seats, list_price, per_seat, 0.85, wtp)
        price = np.where(per_seat, list_price, list_price / seats[rows, None]) * 0.85
        surplus = np.broadcast_to(wtp, (n,))[:, None] - price
        want_best = surplus.argmax(axis=1)
        buy = surplus.max(axis=1) > 0
        np.testing.assert_array_equal(best, want_best)
        want = np.zeros((n, 5))
        want[np.arange(n), np.where(buy, 1 + want_best, 0)] = 1.0
        np.testing.assert_array_equal(weights, want)
        # decide_accounts: buyers take their best plan; a forgetter is billed on its best plan.
        ece = np.zeros(5_000, dtype=np.int16)
        src = np.zeros(5_000, dtype=np.int8)
        payers, plans, _, n_forgot, _, _, lost = funnel.decide_accounts(
            weights, rows, src, np.uint64(99), 0.0, 0.5, 3, ece, False, 0.0, best
        )
        assert 0 < np.count_nonzero(buy) < n
        assert n_forgot > 0 and payers.size == np.count_nonzero(buy) + n_forgot
        np.testing.assert_array_equal(plans, best[np.searchsorted(rows, payers)])
        assert np.intersect1d(lost, rows[buy]).size == 0


# --------------------------------------------------------------------------- the engine
def test_zero_spread_is_the_old_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spread 0 (the default) draws nothing from the new stream, and a vanishing spread
    (1e-9) leaves a small default run's monthly table identical: the per-account path reduces
    to the one-value path (the golden baseline checks the default run itself)."""
    drawn: set[str] = set()
    row_uniform = RandomStreams.row_uniform
    row_key = RandomStreams.row_key_u64

    def spy_uniform(self, stream, *args, **kwargs):  # type: ignore[no-untyped-def]
        drawn.add(stream)
        return row_uniform(self, stream, *args, **kwargs)

    def spy_key(self, stream, *args, **kwargs):  # type: ignore[no-untyped-def]
        drawn.add(stream)
        return row_key(self, stream, *args, **kwargs)

    monkeypatch.setattr(RandomStreams, "row_uniform", spy_uniform)
    monkeypatch.setattr(RandomStreams, "row_key_u64", spy_key)
    base = simulate(load_config(TINY), progress=False).monthly
    assert "decision" in drawn and pricing.WTP_STREAM not in drawn
    tiny = [f"personas.{k}.willingness_to_pay_spread=1e-9" for k in load_config([]).personas]
    spread = simulate(load_config([*TINY, *tiny]), progress=False).monthly
    assert pricing.WTP_STREAM in drawn
    assert base["decisions"].sum() > 100
    assert spread.equals(base)


def test_simulated_take_rate_is_the_lognormal_survival() -> None:
    """Threshold rule, WTP lognormal ($79, σ 0.5): at each price the buyers are binomial
    (decisions, S(p)); every buyer pays the price (one seat, monthly, the one plan), so new
    MRR per decision is p S(p). Power: a σ of 0.6, a median 10% higher, or the logit rule on
    the same run are rejected by the same counts."""
    n_all = []
    wrong_z: dict[str, list[float]] = {"sigma 0.6": [], "median +10%": []}
    for price in PRICES:
        n, bought, new_mrr = _take(price)
        n_all.append(n)
        assert n > 10_000
        assert new_mrr == pytest.approx(price * bought, rel=1e-6)  # nothing else is billed
        s = float(an.take_rate(price, M, SIGMA))
        assert abs(_z(bought, n, s)) < Z, (price, bought / n, s)
        wrong_z["sigma 0.6"].append(_z(bought, n, float(an.take_rate(price, M, 0.6))))
        wrong_z["median +10%"].append(_z(bought, n, float(an.take_rate(price, 1.1 * M, SIGMA))))
    assert len(set(n_all)) == 1  # the same prospects decide at every price
    for name, zs in wrong_z.items():
        assert max(abs(z) for z in zs) > Z, (name, zs)
    # The logit on the same run: its own known answer (mixed logit), far from S(p).
    pc = load_config([]).personas[an.KNOWN_ANSWER_PERSONA]
    for price in (40.0, 110.0):
        n, bought, _ = _take(price, rule="logit")
        want = an.logit_take_rate(
            price, M, SIGMA, pc.plan_value.starter, pc.outside_utility, pc.price_sensitivity
        )
        assert abs(_z(bought, n, want)) < Z, (price, bought / n, want)
        assert abs(_z(bought, n, float(an.take_rate(price, M, SIGMA)))) > Z


@pytest.mark.parametrize("rule", ["threshold", "logit"])
def test_take_rate_never_rises_with_price(rule: str) -> None:
    """Common random numbers across a price grid: the same accounts decide with the same WTP
    and uniforms, so the number of buyers never rises with the price (it falls overall)."""
    grid = (45.0, 50.0, 55.0, 60.0, 61.0, 70.0, 85.0, 100.0)
    runs = [_take(p, ["market.size=30000", *KNOWN_SIZE[1:]], rule=rule) for p in grid]
    decisions = {n for n, _, _ in runs}
    bought = [b for _, b, _ in runs]
    assert len(decisions) == 1
    assert all(b2 <= b1 for b1, b2 in itertools.pairwise(bought)), bought
    assert bought[-1] < bought[0]


BAD = [
    ("personas.solo.willingness_to_pay_spread=-0.2", "personas.solo.willingness_to_pay_spread",
     "[0, 5]"),
    ("personas.smb.willingness_to_pay_spread=7", "personas.smb.willingness_to_pay_spread",
     "[0, 5]"),
    ("personas.smb.decision.rule=probit", "personas.smb.decision.rule", "logit, threshold"),
]  # fmt: skip


@pytest.mark.parametrize(("override", "key", "allowed"), BAD)
def test_bad_values_are_refused_naming_the_key(override: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*TINY, override])
    assert len(info.value.problems) == 1
    assert key in str(info.value) and allowed in str(info.value)
