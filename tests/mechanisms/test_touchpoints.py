"""Touchpoints (``simulator.mechanisms.touchpoints``): known answers of the factor, a zero-effect
touchpoint worth exactly nothing, a known lift moving its transition's observed rate by the
known amount, switches and events, and schema errors that name the key."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sizes import TINY, TWO_PERSONAS, small

from simulator import load_config, simulate
from simulator.errors import ConfigError
from simulator.mechanisms import touchpoints as tp
from simulator.params import read_config

PERSONAS = ("solo", "smb", "midmarket", "enterprise")


def new_touchpoint(
    name: str,
    stage: str,
    lift: str,
    reach: float = 1.0,
    personas: tuple[str, ...] = PERSONAS,
    cost: str = "{fixed_per_month: 1000, per_account: 2}",
) -> str:
    """A ``+touchpoints.<name>=...`` override: a new touchpoint (baseline_reach 0)."""
    r = ", ".join(f"{p}: {reach}" for p in personas)
    b = ", ".join(f"{p}: 0.0" for p in personas)
    return (
        f"+touchpoints.{name}={{stage: {stage}, enabled: true, reach: {{{r}}}, "
        f"baseline_reach: {{{b}}}, cost: {cost}, lift: {lift}, utility: 0.0, by_persona: {{}}}}"
    )


# ---------------------------------------------------------------------------- the factor
def test_factor_is_the_ratio_of_reach_to_baseline_reach() -> None:
    params, _, _ = read_config(load_config(TINY))
    base = params.touchpoints["qbrs"]
    # Shipped: reach = baseline_reach, so every factor is exactly 1 and no utility is added.
    for persona in PERSONAS:
        f, u = tp.factors(params.touchpoints, persona, tp.reach_now(params.touchpoints, persona))
        assert f == dict.fromkeys(tp.TRANSITIONS, 1.0) and u == 0.0
    # Off: its share of today's churn is removed, 1 / (1 + baseline × lift).
    off = {"qbrs": base.model_copy(update={"enabled": False})}
    f, _ = tp.factors(off, "enterprise", tp.reach_now(off, "enterprise"))
    assert f["churn"] == pytest.approx(1.0 / (1.0 + 0.25 * -0.40))
    assert f["renewal"] == pytest.approx(1.0 / (1.0 + 0.25 * 0.10))
    # New (baseline 0) at reach 0.5 with a utility term: 1 + reach × lift; utility × reach.
    new = base.model_copy(
        update={"baseline_reach": {}, "reach": {"smb": 0.5}, "utility": 0.4, "lift": {"drop": -0.2}}
    )
    f, u = tp.factors({"x": new}, "smb", tp.reach_now({"x": new}, "smb"))
    assert f["drop"] == pytest.approx(0.9) and f["advance"] == 1.0
    assert u == pytest.approx(0.2)


def test_lifted_probabilities_stay_in_0_1() -> None:
    assert tp.lifted(0.3, 1.0) == 0.3
    assert tp.lifted(0.8, 1.5) == 1.0
    assert tp.lifted(0.5, 0.5) == 0.25
    w = np.array([[3.0, 1.0, 2.0], [1.0, 0.5, 0.5], [1.0, 0.0, 0.0]])
    tp.lift_buy_probability(w, 1.5)
    p_buy = w[:, 1:].sum(axis=1) / w.sum(axis=1)
    np.testing.assert_allclose(p_buy, [1.5 * 0.5, 0.75, 0.0])
    np.testing.assert_allclose(w[:2, 2] / w[:2, 1:].sum(axis=1), [2 / 3, 0.5])  # plan shares
    w = np.array([[1.0, 3.0]])
    tp.lift_buy_probability(w, 2.0)  # 2 × 0.75 > 1: everyone buys
    assert w[0, 0] == 0.0


# ---------------------------------------------------------------------------- known answers
def test_zero_effect_touchpoint_changes_nothing_but_its_cost() -> None:
    cfg = small(months=6)
    base = simulate(load_config(cfg), progress=False)
    zero = new_touchpoint("zero", "active", "{churn: 0.0, expansion: 0.0}", reach=0.5)
    with_zero = simulate(load_config([*cfg, zero]), progress=False)
    pd.testing.assert_frame_equal(base.monthly, with_zero.monthly)
    a, b = base.touchpoints, with_zero.touchpoints
    pd.testing.assert_frame_equal(a, b[b["touchpoint"] != "zero"].reset_index(drop=True))
    own = b[b["touchpoint"] == "zero"]
    paying = with_zero.monthly[["n_active", "n_advocate"]].sum(axis=1).to_numpy()
    np.testing.assert_allclose(own["accounts_reached"].to_numpy(), 0.5 * paying)
    # $1,000 a month split across the four personas, + $2 per account reached
    per_month = own.groupby(["replication", "month"])["cost"].sum()
    reached = own.groupby(["replication", "month"])["accounts_reached"].sum()
    np.testing.assert_allclose(per_month.to_numpy(), 1000.0 + 2.0 * reached.to_numpy())


def _activation_rate(monthly: pd.DataFrame, persona: str) -> tuple[float, int]:
    m = monthly[monthly["persona"] == persona]
    n = int(m["activations"].sum() + m["activation_failures"].sum())
    return float(m["activations"].sum()) / n, n


def test_known_activation_lift_moves_the_observed_activation_rate() -> None:
    """solo onboards self-serve (quality 0.65); a new touchpoint reaching every onboarding solo
    account with lift +0.2 makes it 0.78 (within 4 binomial standard errors)."""
    cfg = small(months=12)
    base = simulate(load_config(cfg), progress=False).monthly
    lift = new_touchpoint("kickoff", "onboarding", "{activation: 0.2}", personas=("solo",))
    lifted = simulate(load_config([*cfg, lift]), progress=False).monthly
    for monthly, expected in ((base, 0.65), (lifted, 0.65 * 1.2)):
        rate, n = _activation_rate(monthly, "solo")
        assert n > 300
        assert abs(rate - expected) < 4 * math.sqrt(expected * (1 - expected) / n), (rate, n)
    # smb is not reached: its accounts activate as before (same draws).
    assert _activation_rate(base, "smb") == _activation_rate(lifted, "smb")


def _churn_rate(monthly: pd.DataFrame, persona: str) -> tuple[float, float]:
    m = monthly[monthly["persona"] == persona]
    start = m["customers"] - m["new_customers"] - m["reactivated_customers"]
    start = start + m["churned_customers"]
    return float(m["churned_customers"].sum() / start.sum()), float(start.sum())


@pytest.mark.slow
def test_known_churn_lift_moves_the_observed_churn_rate() -> None:
    """Every mechanism off, everyone at the mean: monthly churn is the base 0.045 (smb); a new
    touchpoint reaching every paying smb account with lift +0.5 makes it 0.0675."""
    cfg = [
        *small(months=12, replications=3),
        "mechanisms=all_off",
        *(f"personas.{p}.churn.concentration=null" for p in PERSONAS),
    ]
    base = simulate(load_config(cfg), progress=False).monthly
    lift = new_touchpoint("nagging", "active", "{churn: 0.5}", personas=("smb",))
    lifted = simulate(load_config([*cfg, lift]), progress=False).monthly
    for monthly, expected in ((base, 0.045), (lifted, 0.045 * 1.5)):
        rate, n = _churn_rate(monthly, "smb")
        assert abs(rate - expected) < 4 * math.sqrt(expected * (1 - expected) / n), (rate, n)
    assert _churn_rate(base, "solo") == _churn_rate(lifted, "solo")


def test_switched_off_equals_never_having_it_and_an_event_stops_it() -> None:
    cfg = small(months=4)
    lift = new_touchpoint("boost", "onboarding", "{activation: 0.3}")
    never = simulate(load_config(cfg), progress=False).monthly
    disabled = simulate(
        load_config([*cfg, lift, "touchpoints.boost.enabled=false"]), progress=False
    ).monthly
    on = simulate(load_config([*cfg, lift]), progress=False).monthly
    pd.testing.assert_frame_equal(never, disabled)
    assert on["activations"].sum() > never["activations"].sum()
    # Switched off by an event from month 3: months 1-2 are the run with it on, exactly; from
    # month 3 its reach is 0 and onboarding activates at the configured rate again.
    event = (
        "+events.stop={type: touchpoint, month: 3, touchpoint: boost, enabled: false, reach: null}"
    )
    stopped = simulate(load_config([*cfg, lift, event]), progress=False)
    first = on[on["month"] < 3].reset_index(drop=True)
    early = stopped.monthly[stopped.monthly["month"] < 3].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, early)
    t = stopped.touchpoints.query("touchpoint == 'boost'")
    assert set(t[t["month"] >= 3]["reach"]) == {0.0} and set(t[t["month"] < 3]["reach"]) == {1.0}
    assert not stopped.monthly.equals(on)


def test_an_event_changes_reach_from_its_month() -> None:
    cfg = small(months=4)
    event = (
        "+events.wider={type: touchpoint, month: 3, touchpoint: qbrs, enabled: null, "
        "reach: {enterprise: 0.5}}"
    )
    res = simulate(load_config([*cfg, event]), progress=False)
    t = res.touchpoints.query("touchpoint == 'qbrs' and persona == 'enterprise'")
    assert set(t[t["month"] < 3]["reach"]) == {0.25}
    assert set(t[t["month"] >= 3]["reach"]) == {0.5}
    base = simulate(load_config(cfg), progress=False).monthly
    # Months 1-2 are the baseline's exactly; the wider reach acts from month 3.
    pd.testing.assert_frame_equal(
        base[base["month"] < 3].reset_index(drop=True),
        res.monthly[res.monthly["month"] < 3].reset_index(drop=True),
    )


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("touchpoints.qbrs.reach.enterprise=1.5", "touchpoints.qbrs.reach.enterprise", "[0, 1]"),
        ("touchpoints.qbrs.lift.churn=-1", "touchpoints.qbrs.lift.churn", "(-1, 100], got -1"),
        ("+touchpoints.qbrs.lift.upsell=0.1", "touchpoints.qbrs.lift", "unknown transition"),
        ("+touchpoints.qbrs.reach.nobody=0.1", "touchpoints.qbrs.reach.nobody", "unknown persona"),
        ("touchpoints.qbrs.stage=renewal", "touchpoints.qbrs.stage", "consideration, decision"),
        ("touchpoints.qbrs.cost.per_account=-5", "touchpoints.qbrs.cost.per_account", "got -5"),
        (
            "+events.x={type: touchpoint, month: 2, touchpoint: qbr, enabled: false, reach: null}",
            "events.x.touchpoint",
            "got 'qbr'",
        ),
    ],
)
def test_bad_touchpoints_name_the_key_value_and_range(override: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config([*TINY, override])
    problems = err.value.problems
    assert len(problems) == 1, problems
    assert problems[0][0].startswith(key), problems
    assert words in problems[0][1], problems


def test_removing_personas_keeps_the_shipped_touchpoints_valid() -> None:
    """The shipped touchpoints name the four default personas with reach = baseline reach (no
    effect): a config without two of them loads; a reach that differs for a missing persona is
    refused."""
    params, _, _ = read_config(load_config([*TINY, *TWO_PERSONAS]))
    assert set(params.personas) == {"solo", "smb"}
    with pytest.raises(ConfigError) as err:
        load_config([*TINY, *TWO_PERSONAS, "touchpoints.qbrs.reach.enterprise=0.5"])
    assert [k for k, _ in err.value.problems] == ["touchpoints.qbrs.reach.enterprise"]
