"""Known answer (DESIGN §5): with certain conversion and no churn, finite-market adoption
follows the discrete Bass recursion, persona by persona (each persona's own market M_k)."""

from __future__ import annotations

import numpy as np
import pytest
from known_answers import NO_CHANNELS, Z, monthly_table, persona_rows
from sizes import MARKET_MIX

from simulator import load_config

# --------------------------------------------------------------------------- 3. discrete Bass
BASS_MARKET = 60_000
BASS_BOOK = 600
BASS_MONTHS = 24
BASS_REPS = 4
BASS_P = 0.005
BASS_Q = 0.6


def _bass_overrides(personas: list[str], plans: list[str]) -> list[str]:
    """Certain conversion: everyone reached advances, decides the same month and buys (outside
    option at -50 utility, price-insensitive); no churn, no onboarding stage, no channels."""
    out = [
        MARKET_MIX,  # each persona's book is its share of the book
        "mechanisms=all_off",
        "mechanisms.acquisition=true",
        f"acquisition.bass.p={BASS_P}",
        f"acquisition.bass.q={BASS_Q}",
        *NO_CHANNELS,
        f"market.size={BASS_MARKET}",
        f"initial.customers={BASS_BOOK}",
        f"months={BASS_MONTHS}",
        f"replications={BASS_REPS}",
        "seed=31337",
    ]
    for k in personas:
        out += [
            f"personas.{k}.consideration={{advance: 1.0, drop: 0.0, nurture: 0.0}}",
            f"personas.{k}.decision.path=trial",
            f"personas.{k}.decision.months=0",
            f"personas.{k}.decision.card_required=false",
            f"personas.{k}.outside_utility=-50",
            f"personas.{k}.price_sensitivity=0",
            f"personas.{k}.churn.mean=0.0",
            *(f"personas.{k}.plan_value.{plan}=10" for plan in plans),
        ]
    return out


def bass_path(n0: float, market: float, p: float, q: float, months: int) -> np.ndarray:
    """Discrete Bass: N(t+1) = N(t) + (p + q·N(t)/M)(M - N(t)), for t = 0..months."""
    n = [float(n0)]
    for _ in range(months):
        x = n[-1]
        n.append(x + (p + q * x / market) * (market - x))
    return np.asarray(n)


def bass_variance(n0: float, market: float, p: float, q: float, months: int) -> np.ndarray:
    """Variance of N(t) around the Bass path (linear-noise approximation): the new adopters
    of a month are binomial(M - N, h(N)), h(N) = p + qN/M, so
    Var N(t+1) = (1 + f'(N))² Var N(t) + (M - N) h (1 - h), f(N) = h(N)(M - N)."""
    path = bass_path(n0, market, p, q, months)
    var = [0.0]
    for x in path[:-1]:
        h = p + q * x / market
        slope = q * (market - x) / market - h
        var.append((1.0 + slope) ** 2 * var[-1] + (market - x) * h * (1.0 - h))
    return np.asarray(var)


@pytest.mark.slow
def test_certain_conversion_adoption_follows_discrete_bass() -> None:
    base = load_config(["mechanisms=all_off"])
    cfg, monthly = monthly_table(_bass_overrides(list(base.personas), list(base.pricing.plans)))
    assert (monthly["new_customers"] == monthly["prospects"]).all(), "conversion not certain"
    assert (monthly["churned_customers"] == 0).all()
    for name, pc in cfg.personas.items():
        market = round(pc.share * BASS_MARKET)  # the persona's own finite market M_k
        book = round(pc.share * BASS_BOOK)
        rows = monthly[monthly["persona"] == name]
        # 1. One step at a time, exactly: new adopters in month t are binomial(unaware at the
        #    end of t - 1, p + q·adopters(t - 1)/M_k).
        for rep in range(BASS_REPS):
            r = persona_rows(monthly, name, rep)
            adopters = np.concatenate([[book], r["n_active"].to_numpy()[:-1]])
            unaware = np.concatenate([[market - book], r["n_unaware"].to_numpy()[:-1]])
            h = BASS_P + BASS_Q * adopters / market
            dev = np.abs(r["new_customers"].to_numpy() - unaware * h)
            sd = np.sqrt(unaware * h * (1.0 - h))
            assert (dev <= Z * sd + 1e-9).all(), f"{name} rep {rep}: adoption hazard not Bass"
            assert (r["n_active"] + r["n_unaware"] == market).all()
        # 2. The whole path: mean adopters across replications against the Bass recursion.
        path = bass_path(book, market, BASS_P, BASS_Q, BASS_MONTHS)[1:]
        se = np.sqrt(bass_variance(book, market, BASS_P, BASS_Q, BASS_MONTHS)[1:] / BASS_REPS)
        mean = rows.groupby("month")["n_active"].mean().sort_index().to_numpy()
        z = np.abs(mean - path) / se
        assert z.max() < Z, f"{name}: adopters off the Bass path by {z.max():.1f} SE"
        assert path[-1] > 0.95 * market and path[5] < 0.5 * market  # the whole S-curve is run
        # Power: word of mouth over the whole market instead of the persona's is rejected.
        pooled = bass_path(book, market, BASS_P, BASS_Q * market / BASS_MARKET, BASS_MONTHS)
        assert (np.abs(mean - pooled[1:]) / se).max() > Z, f"{name}: pooled M not rejected"
