"""The typed schema: field names are the config keys, bounds live in the types, cross-section
rules name the key, every problem is reported at once, and ``replace`` makes validated variants
without Hydra. Each bad input listed in the structure issue has a case here."""

from __future__ import annotations

import math

import pytest

from simulator import ConfigError, load_config
from simulator.params import ScenarioParams, read_config, replace, scenario_params


@pytest.fixture(scope="module")
def params() -> ScenarioParams:
    return read_config(load_config([]))[0]


def _problems(params: ScenarioParams, changes: dict) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        replace(params, changes)
    return info.value.problems


def test_field_names_are_the_config_keys(params: ScenarioParams) -> None:
    cfg = load_config([])
    solo = params.personas["solo"]
    assert solo.consideration.advance == cfg.personas.solo.consideration.advance
    assert solo.decision.card_start_factor == cfg.personas.solo.decision.card_start_factor
    assert params.health.churn_sensitivity == cfg.health.churn_sensitivity
    assert params.pricing.plans["pro"].price == cfg.pricing.plans.pro.price
    assert params.support.knowledge_base_deflection == cfg.support.knowledge_base_deflection
    assert params.finance.discount_rate == cfg.finance.discount_rate
    assert [p.name for p in params.persona_list] == list(cfg.personas)
    assert [p.index for p in params.persona_list] == list(range(len(cfg.personas)))
    assert params.pricing.ranked == ("starter", "pro", "enterprise")


# (changes, key, words in the message): each must give exactly one problem.
BAD = [
    (
        {"pricing.plans.pro.price": math.inf},
        "pricing.plans.pro.price",
        "[0, 1,000,000,000], got inf",
    ),
    ({"pricing.plans.pro.price": 1e40}, "pricing.plans.pro.price", "got 1e+40"),
    ({"pricing.plans.pro.price": -5}, "pricing.plans.pro.price", "[0, 1,000,000,000], got -5"),
    (
        {"personas.solo.churn.concentration": math.inf},
        "personas.solo.churn.concentration",
        "(0, 1,000,000]",
    ),
    (
        {"personas.solo.churn.concentration": 0},
        "personas.solo.churn.concentration",
        "(0, 1,000,000]",
    ),
    ({"personas.solo.willingness_to_pay": math.inf}, "personas.solo.willingness_to_pay", "got inf"),
    ({"support.cost_per_agent": math.inf}, "support.cost_per_agent", "got inf"),
    (
        {"acquisition.channels.paid_ads.spend": math.inf},
        "acquisition.channels.paid_ads.spend",
        "got inf",
    ),
    ({"personas.solo.cogs.per_account": math.inf}, "personas.solo.cogs.per_account", "got inf"),
    ({"personas.solo.churn.mean": math.nan}, "personas.solo.churn.mean", "[0, 1], got nan"),
    (
        {"personas.solo.expansion.seats_growth": 1e9},
        "personas.solo.expansion.seats_growth",
        "[0, 10]",
    ),
    ({"seed": -1}, "seed", "[0, 9,223,372,036,854,775,807]"),
    ({"months": 2.5}, "months", "a whole number in [1, 1200], got 2.5"),
    ({"months": "ten"}, "months", "a whole number in [1, 1200], got 'ten'"),
    ({"market.size": 0}, "market.size", "[1, 200,000,000], got 0"),
    ({"personas.solo": 5}, "personas.solo", "must be a mapping of share, seats"),
    ({"personas.solo.churn": 5}, "personas.solo.churn", "must be a mapping of mean, concentration"),
    ({"pricing.plans": 5}, "pricing.plans", "must be a mapping keyed by name; got 5"),
    ({"pricing.plans.pro": 5}, "pricing.plans.pro", "must be a mapping of price, per_seat, rank"),
    (
        {"initial": 5},
        "initial",
        "must be a mapping of customers, mix, age_months",
    ),
    ({"mechanisms.support": "maybe"}, "mechanisms.support", "true or false, got 'maybe'"),
    (
        {"personas.solo.decision.path": "webinar"},
        "personas.solo.decision.path",
        "trial, demo, freemium",
    ),
    ({"personas.solo.onboarding": "nowhere"}, "personas.solo.onboarding", "self_serve, guided"),
    ({"personas.solo.share": 0.6}, "personas.*.share", "sum to 1, got 1.1"),
    (
        {"personas.solo.support.channel_mix.chat": 0.9},
        "personas.solo.support.channel_mix",
        "sum to 1",
    ),
    (
        {"personas.enterprise.consideration.advance": 0.9},
        "personas.enterprise.consideration",
        "<= 1",
    ),
    (
        {"personas.solo.expansion.rate": 0.7, "personas.solo.contraction.rate": 0.5},
        "personas.solo",
        "expansion.rate + contraction.rate",
    ),
    ({"initial.customers": 300_000}, "initial.customers", "<= market.size (200000)"),
    ({"pricing.plans.pro.rank": 0}, "pricing.plans", "distinct rank"),
    (
        {"personas.solo.churn.meen": 0.1},
        "personas.solo.churn.meen",
        "unknown key; allowed here: mean, concentration",
    ),
]


@pytest.mark.parametrize(
    ("changes", "key", "words"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)]
)
def test_bad_value_gives_one_line_naming_key_value_and_range(
    params: ScenarioParams, changes: dict, key: str, words: str
) -> None:
    problems = _problems(params, changes)
    assert len(problems) == 1, problems
    assert problems[0][0] == key
    assert words in problems[0][1]


def test_every_problem_at_once_without_cascades(params: ScenarioParams) -> None:
    problems = _problems(
        params,
        {
            "personas.solo.churn.mean": 2,
            "pricing.plans.pro.price": -1,
            "market.size": 0,
            "months": 0,
        },
    )
    assert sorted(k for k, _ in problems) == sorted(
        ["personas.solo.churn.mean", "pricing.plans.pro.price", "market.size", "months"]
    )


def test_events_are_checked_by_type(params: ScenarioParams) -> None:
    tree = params.model_dump()
    tree["events"] = {
        "rise": {
            "type": "price_change",
            "month": 3,
            "plan": "gold",
            "price": 5,
            "grandfather": True,
        },
        "typo": {"type": "price_change", "month": 3, "plan": "pro", "price": 5, "grandfathr": True},
        "what": {"type": "teleport", "month": 2},
        "hire": {"type": "support_capacity", "month": 0, "agents": 3},
    }
    with pytest.raises(ConfigError) as info:
        scenario_params(tree)
    found = dict(info.value.problems)
    assert "starter, pro, enterprise; got 'gold'" in found["events.rise.plan"]
    assert found["events.typo.grandfathr"].startswith("unknown key; allowed here: type, month")
    assert found["events.typo.grandfather"] == "missing"
    assert "price_change, annual_discount, support_capacity" in found["events.what.type"]
    assert "[1, 100,000], got 0" in found["events.hire.month"]
    assert len(found) == 5


def test_replace_changes_only_what_it_names(params: ScenarioParams) -> None:
    dear = replace(params, {"pricing.plans.pro.price": 59, "months": 24})
    assert dear.pricing.plans["pro"].price == 59.0 and dear.months == 24
    assert params.pricing.plans["pro"].price != 59.0  # the original is untouched
    assert dear.model_dump(exclude={"pricing", "months"}) == params.model_dump(
        exclude={"pricing", "months"}
    )
    assert [p.name for p in dear.persona_list] == [p.name for p in params.persona_list]


def test_replace_refuses_unknown_keys_with_what_is_allowed(params: ScenarioParams) -> None:
    problems = _problems(params, {"pricing.plans.platinum.price": 99})
    assert problems == [
        ("pricing.plans.platinum.price", "unknown key; allowed here: starter, pro, enterprise")
    ]


def test_parameters_are_frozen(params: ScenarioParams) -> None:
    with pytest.raises(ValueError, match="frozen"):
        params.months = 3  # type: ignore[misc]
