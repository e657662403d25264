"""Properties over random configs (hypothesis).

Valid configs: mechanisms switched on and off at random, persona, pricing, health and renewal
parameters drawn across their whole ranges (extremes included: churn 0 or 1, a price sensitivity
of 100, ten thousand seats, exponents that overflow), scheduled events. Every table must keep the
invariants of ``simulator.invariants`` (customers conserved, the MRR bridge closed and
continuous, no NaN or inf, counts and money non-negative) and seats must fit their dtype.

Invalid configs: one key given a value outside its range, of the wrong type, NaN or inf, or an
unknown key: always one ``ConfigError`` naming that key, never another exception.

Invalid configs are drawn over every setting of the schema (about 300 keys, their bad values
read from the schema's own ranges), one to three at a time, sometimes with an unknown key.

Sizes: tiny populations (a few hundred to 3,000 accounts) and 1-5 months, configs built with
``replace`` (no Hydra compose: a few milliseconds), the invariants checked in numpy: about 18 ms
of CPU a valid config (a third drawing it, a third simulating it) and 4 ms an invalid one. So CI
(``CI`` set) runs 2,000 examples of each property (about 40 s and 10 s on one idle core), a
local run 300; ``PROPERTY_EXAMPLES`` sets the number. Hypothesis is derandomized (the same
examples on every run, no example database): CI is not flaky and a failure is reproducible.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st

from simulator import ConfigError, load_config
from simulator.book import split_by_share
from simulator.experiments.montecarlo import run_replication
from simulator.invariants import problems
from simulator.params import ScenarioParams, read_config, replace
from simulator.params.ranges import is_switch, range_of

BRIDGE = ("new_mrr", "expansion_mrr", "reactivation_mrr", "contraction_mrr", "churned_mrr")
EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "2000" if os.environ.get("CI") else "300"))
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
    # CI reports the failing config as drawn (the test prints it; derandomized, so a local run
    # finds the same one and shrinks it): shrinking one took over five minutes
    phases=[Phase.explicit, Phase.generate] if os.environ.get("CI") else list(Phase),
)

#: How many configs each property tried in this session (reported by ``test_examples_ran``).
TRIED: dict[str, int] = {"valid": 0, "refused": 0, "invalid": 0}


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
        assert str(exc).startswith("invalid configuration (")
        TRIED["refused"] += 1
        reject()  # not an example: hypothesis draws another, so every example is simulated
    TRIED["valid"] += 1
    frame = run_replication((params, 0))
    counts = split_by_share(params.market.size, [p.share for p in params.persona_list])
    sizes = {p.name: int(n) for p, n in zip(params.persona_list, counts, strict=True)}
    found = problems(frame, sizes)
    assert not found, f"{found}\nchanges: {changes}"
    assert len(frame) == params.months * len(params.persona_list)
    assert (frame["seats"] >= 0).all() and frame["seats"].max() < np.iinfo(np.int32).max


def _leaves(node: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


@cache
def settable_keys() -> dict[str, tuple[Any, ...]]:
    """Every setting of the base scenario (personas, plans, mechanisms...: about 300 keys)
    with values outside what the schema allows, read from the schema's own ranges: below and
    above the range, fractions of a whole number, NaN and infinities, text, a true/false
    for a number and a number for a true/false, a made-up name for a choice."""
    out: dict[str, tuple[Any, ...]] = {}
    for key in _leaves(base().model_dump()):
        bound = range_of(key)
        if bound is not None:
            bad: list[Any] = [math.nan, math.inf, -math.inf, "lots", [1]]
            step = max(1.0, abs(bound.lo), abs(bound.hi)) * 0.5
            if math.isfinite(bound.lo):
                bad += [bound.lo - step, bound.lo] if bound.lo_open else [bound.lo - step]
            if math.isfinite(bound.hi):
                bad += [bound.hi + step, bound.hi * 10 + 1]
            if bound.whole:
                bad += [bound.lo + 0.5, "3"]
            out[key] = tuple(bad)
        elif is_switch(key):
            out[key] = ("yes", 2, 0.5, None)
        elif isinstance(read(base(), key), str) and key != "scenario_name":
            out[key] = ("nonsense", 3, None)
    return out


def read(params: ScenarioParams, key: str) -> Any:
    node: Any = params.model_dump()
    for part in key.split("."):
        node = node[part]
    return node


@st.composite
def invalid_changes(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], str | None]:
    """1-3 settings given values the schema refuses, sometimes with an unknown key among them:
    (changes, the bad keys, the unknown key or None)."""
    table = settable_keys()
    keys = draw(st.lists(st.sampled_from(sorted(table)), min_size=1, max_size=3, unique=True))
    changes = {k: draw(st.sampled_from(table[k])) for k in keys}
    unknown = None
    if draw(st.integers(0, 4)) == 0:  # a typo, a new name, or a key below a single value
        base_key = draw(st.sampled_from(sorted(table)))
        unknown = draw(
            st.sampled_from([base_key + "x", base_key + ".deeper", "x" + base_key, "speed"])
        )
        changes = dict(list(changes.items())[: draw(st.integers(0, len(changes)))])
        changes[unknown] = 1
    return changes, keys, unknown


def _related(named: str, key: str) -> bool:
    """A problem reported at ``named`` is about setting ``key`` (itself, a part of it, or the
    section it is in: a cross-section rule of that section)."""
    section = key.rsplit(".", 1)[0]
    return named == key or named.startswith(key + ".") or named.startswith(section)


@SETTINGS
@given(case=invalid_changes())
def test_random_invalid_configs_are_one_clean_error(
    case: tuple[dict[str, Any], list[str], str | None],
) -> None:
    changes, keys, unknown = case
    TRIED["invalid"] += 1
    with pytest.raises(ConfigError) as err:
        replace(base(), changes)
    found = err.value.problems
    text = str(err.value)
    assert text.startswith("invalid configuration (") and "Traceback" not in text
    assert all("\n" not in message for _, message in found), found  # one line each
    if unknown is not None:  # the first unknown key stops the reading, named alone
        assert found == [(unknown, found[0][1])] and "unknown key" in found[0][1], found
        return
    # every bad setting named, and nothing named that is not about one of them
    for key in keys:
        assert any(named == key or named.startswith(key + ".") for named, _ in found), (key, found)
    for named, _ in found:
        assert any(_related(named, key) for key in keys), (named, changes, found)


def test_examples_ran() -> None:
    """Runs after the properties in the same worker or alone: says how many configs were tried
    (``pytest -s``)."""
    print(f"property configs tried in this worker: {TRIED}")


def test_rounding_left_in_the_mrr_of_a_persona_everyone_left_is_not_a_negative_arr() -> None:
    """Found by the valid-config property (example 1,173 of 2,000): a month that moved 5e8 $
    of MRR (every account churned) left -1.2e-7 $, its rounding, kept while nobody pays; the
    ARR, 12 x that, must be held to 12 x the money tolerance. A real negative ARR is still one."""
    frame = run_replication((replace(base(), {"months": 2}), 0))
    smb = frame["persona"] == "smb"
    frame.loc[smb, ["mrr_start", "mrr_end", "arr"]] = [-1.192093e-07, -1.192093e-07, -1.43e-06]
    frame.loc[smb, list(BRIDGE)] = 0.0
    frame.loc[smb & (frame["month"] == 1), "mrr_start"] = 0.0
    frame.loc[smb & (frame["month"] == 1), "contraction_mrr"] = 1.192093e-07
    assert problems(frame) == []
    frame.loc[smb & (frame["month"] == 2), "arr"] = -2e-5
    assert problems(frame) == [
        "negative arr: 1 row(s), first at replication 0, month 2, persona smb",
        "arr is not 12 × mrr_end: 1 row(s), first at replication 0, month 2, persona smb",
    ]


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


def test_a_persona_everyone_left_owes_exactly_nothing() -> None:
    """Found by the valid-config property (2,000 examples): every solo account churns in month
    1 (churn 1); the MRR kept as a running sum was left at -1.8e-12 $ (-1.9e-6 $ after a month
    that moved 5e9 $), billed as negative cash every month after. With nobody paying, the MRR
    is exactly 0 (the rounding goes out with the churned MRR) and so is the cash billed."""
    changes = {
        "seed": 1,
        "mechanisms.annual_contracts": False,
        "personas.solo.churn.mean": 1.0,
        "personas.solo.price_sensitivity": 0.0,
        "personas.solo.consideration.advance": 0.0,
        "personas.solo.support.tickets_per_month": 0.0,
        "personas.solo.winback.rate": 0.0,
        "pricing.plans.starter.price": 1e-06,
        "pricing.plans.enterprise.price": 2912.000001,
    }
    frame = run_replication((replace(base(), changes), 0))
    nobody = frame[frame["customers"] == 0]
    assert len(nobody) >= 2 and set(nobody["persona"]) >= {"solo"}
    assert (nobody[["mrr_end", "arr"]] == 0.0).all().all()
    assert (nobody.loc[nobody["month"] > 1, "revenue"] == 0.0).all()
    assert not problems(frame)
