"""Properties over random configs (hypothesis).

Valid configs: mechanisms switched on and off at random, persona, pricing, health and renewal
parameters drawn across their whole ranges (extremes included: churn 0 or 1, a price sensitivity
of 100, ten thousand seats, exponents that overflow), scheduled events. Every table must keep the
invariants of ``simulator.invariants`` (customers conserved, the MRR bridge closed and
continuous, no NaN or inf, counts and money non-negative) and seats must fit their dtype.

Invalid configs: one key given a value outside its range, of the wrong type, NaN or inf, or an
unknown key: always one ``ConfigError`` naming that key, never another exception.

Sizes: tiny populations (a few hundred to 3,000 accounts) and 2-5 months, so that several
hundred configs run in well under a minute once the kernels are compiled. ``PROPERTY_EXAMPLES``
scales the number of examples (CI nightly: ``PROPERTY_EXAMPLES=5000``).
"""

from __future__ import annotations

import math
import os
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import ConfigError, load_config
from simulator.book import split_by_share
from simulator.experiments.montecarlo import run_replication
from simulator.invariants import problems
from simulator.params import ScenarioParams, read_config, replace

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "300"))
PERSONAS = ("solo", "smb", "midmarket", "enterprise")
MECHANISMS = (
    "acquisition",
    "onboarding",
    "support",
    "success",
    "price_effect",
    "annual_contracts",
    "expansion",
    "referrals",
    "reactivation",
    "involuntary_churn",
)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

#: How many configs each property tried in this session (reported by ``test_examples_ran``).
TRIED: dict[str, int] = {"valid": 0, "invalid": 0}


@cache
def base() -> ScenarioParams:
    cfg = load_config(["market.size=1500", "initial.customers=60", "months=3", "replications=1"])
    return read_config(cfg)[0]


def prob(edge: float = 0.05) -> st.SearchStrategy[float]:
    """A probability, its ends drawn often."""
    return st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)) if edge else st.floats(0, 1)


@st.composite
def valid_changes(draw: st.DrawFn) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "seed": draw(st.integers(0, 2**31 - 1)),
        "months": draw(st.integers(1, 5)),
        "market.size": draw(st.integers(200, 3000)),
        "initial.customers": draw(st.integers(0, 150)),
    }
    for m in MECHANISMS:
        changes[f"mechanisms.{m}"] = draw(st.booleans())
    for name in draw(st.lists(st.sampled_from(PERSONAS), min_size=1, max_size=4, unique=True)):
        p = f"personas.{name}"
        changes[f"{p}.churn.mean"] = draw(prob())
        changes[f"{p}.churn.concentration"] = draw(
            st.one_of(st.none(), st.floats(1e-3, 1e6), st.just(1e6))
        )
        changes[f"{p}.seats.mean"] = draw(st.one_of(st.floats(1, 10_000), st.just(10_000.0)))
        changes[f"{p}.willingness_to_pay"] = draw(st.floats(0.01, 1e5))
        changes[f"{p}.price_sensitivity"] = draw(st.floats(0, 100))
        changes[f"{p}.price_multiplier"] = draw(st.floats(0, 10))
        changes[f"{p}.outside_utility"] = draw(st.floats(-50, 50))
        changes[f"{p}.expansion.rate"] = draw(prob())
        changes[f"{p}.expansion.seats_growth"] = draw(st.floats(0, 10))
        # expansion.rate + contraction.rate <= 1 (a rule of the schema)
        changes[f"{p}.contraction.rate"] = draw(prob()) * (1.0 - changes[f"{p}.expansion.rate"])
        changes[f"{p}.consideration.advance"] = draw(st.floats(0, 0.5))
        changes[f"{p}.consideration.drop"] = draw(st.floats(0, 0.5))
        changes[f"{p}.support.tickets_per_month"] = draw(st.floats(0, 1000))
        changes[f"{p}.annual.logit"] = draw(st.floats(-50, 50))
        changes[f"{p}.winback.rate"] = draw(prob())
        changes[f"{p}.advocacy.rate"] = draw(prob())
        changes[f"{p}.referrals.per_advocate"] = draw(st.floats(0, 100))
        changes[f"{p}.decision.months"] = draw(st.integers(0, 4))
    for key in (
        "churn_sensitivity",
        "price_gap_penalty",
        "price_increase_penalty",
        "activation_failure_penalty",
        "sla_breach_penalty",
    ):
        changes[f"health.{key}"] = draw(st.one_of(st.floats(0, 100), st.just(100.0)))
    changes["health.decay"] = draw(prob())
    changes["pricing.annual_discount"] = draw(prob())
    changes["pricing.billing.payment_failure_rate"] = draw(prob())
    changes["pricing.billing.dunning_recovery"] = draw(prob())
    changes["renewal.offer_save_rate"] = draw(prob())
    # Prices keep their rank order (a higher rank must cost more: a rule of the schema).
    low = draw(st.floats(0, 1e4))
    step = draw(st.lists(st.floats(0.01, 1e4), min_size=2, max_size=2))
    changes["pricing.plans.starter.price"] = low
    changes["pricing.plans.pro.price"] = low + step[0]
    changes["pricing.plans.enterprise.price"] = low + step[0] + step[1]
    return changes


@st.composite
def events(draw: st.DrawFn, months: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(draw(st.integers(0, 3))):
        month = draw(st.integers(1, max(months, 1)))
        kind = draw(st.sampled_from(["price_change", "support_capacity", "success_capacity"]))
        if kind == "price_change":
            out[f"e{i}"] = {
                "type": kind,
                "month": month,
                "plan": "starter",
                "price": draw(st.floats(0, 1.0)),
                "grandfather": draw(st.booleans()),
            }
        elif kind == "support_capacity":
            out[f"e{i}"] = {"type": kind, "month": month, "agents": draw(st.integers(0, 50))}
        else:
            out[f"e{i}"] = {"type": kind, "month": month, "csms": draw(st.integers(0, 20))}
    return out


@SETTINGS
@given(data=st.data())
def test_random_valid_configs_keep_every_invariant(data: st.DataObject) -> None:
    changes = data.draw(valid_changes())
    try:
        params = replace(base(), changes)
        params = replace(params, {"events": data.draw(events(params.months))})
    except ConfigError as exc:  # a combination a cross-section rule refuses (shares, mixes)
        assert len(str(exc)) > 0
        return
    TRIED["valid"] += 1
    frame = run_replication((params, 0))
    counts = split_by_share(params.market.size, [p.share for p in params.persona_list])
    sizes = {p.name: int(n) for p, n in zip(params.persona_list, counts, strict=True)}
    found = problems(frame, sizes)
    assert not found, f"{found}\nchanges: {changes}"
    assert len(frame) == params.months * len(params.persona_list)
    assert (frame["seats"] >= 0).all() and frame["seats"].max() < np.iinfo(np.int32).max


BAD_VALUES: dict[str, list[Any]] = {
    "prob": [-0.1, 1.5, math.nan, math.inf, "high"],
    "money": [-1.0, math.nan, -math.inf, "free"],
    "whole": [-1, 2.5, "many", math.nan],
}
KEYS: dict[str, str] = {
    "personas.solo.churn.mean": "prob",
    "personas.smb.expansion.rate": "prob",
    "personas.midmarket.contraction.rate": "prob",
    "pricing.annual_discount": "prob",
    "health.decay": "prob",
    "pricing.plans.pro.price": "money",
    "personas.enterprise.cogs.per_seat": "money",
    "months": "whole",
    "market.size": "whole",
    "initial.customers": "whole",
    "personas.solo.decision.months": "whole",
    "support.agents": "whole",
}


@SETTINGS
@given(
    key=st.sampled_from(sorted(KEYS)),
    pick=st.integers(0, 10),
    unknown=st.booleans(),
)
def test_random_invalid_configs_are_one_clean_error(key: str, pick: int, unknown: bool) -> None:
    TRIED["invalid"] += 1
    if unknown:
        key, value = key + "x", 1
    else:
        values = BAD_VALUES[KEYS[key]]
        value = values[pick % len(values)]
    with pytest.raises(ConfigError) as err:
        replace(base(), {key: value})
    named = [k for k, _ in err.value.problems]
    assert named and all(k.startswith(key.rsplit(".", 1)[0]) for k in named), err.value.problems
    assert key in str(err.value) or key.rsplit(".", 1)[0] in str(err.value)


def test_examples_ran() -> None:
    """Runs after the properties in the same worker or alone: says how many configs were tried
    (``pytest -s``)."""
    print(f"property configs tried in this worker: {TRIED}")


def test_a_book_nobody_would_buy_has_no_nan_probabilities() -> None:
    """Every plan's choice probability underflows to 0 (WTP far below the book's prices): the
    book's accounts go to the plan they pay least for (the logit's limit), with no NaN."""
    params = replace(
        base(),
        {"personas.solo.willingness_to_pay": 0.03125, "initial.customers": 20, "months": 1},
    )
    with np.errstate(invalid="raise"):
        run_replication((params, 0))


def test_debug_mode_gives_the_same_table_and_each_invariant_catches_its_break() -> None:
    from simulator.invariants import InvariantError, check

    params = replace(base(), {"months": 3, "initial.customers": 100})
    frame = run_replication((params, 0))
    pd.testing.assert_frame_equal(run_replication((params, 0, True)), frame, check_exact=True)
    check(frame)
    breaks = {
        "NaN or inf in revenue": ("revenue", math.nan),
        "negative cogs": ("cogs", -5.0),
        "not conserved": ("n_lost", None),
        "MRR bridge open": ("new_mrr", None),
        "mrr_start is not last month's mrr_end": ("mrr_start", None),
    }
    for words, (column, value) in breaks.items():
        bad = frame.copy()
        row = bad.index[(bad["month"] == 2) & (bad["persona"] == "smb")][0]
        if value is not None:
            bad.loc[row, column] = value
        elif column == "mrr_start":  # the bridge kept closed, the chain broken
            bad.loc[row, ["mrr_start", "mrr_end"]] += 1.0
        else:
            bad.loc[row, column] += 1.0
        with pytest.raises(InvariantError, match=words):
            check(bad)
