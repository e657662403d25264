"""Bad input stops before any simulation with one message naming the key (API and CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import run_cli

from simulator import ConfigError, load_config, simulate

SMALL = ["market.size=2000", "initial.customers=100", "months=2", "replications=1"]

BAD_VALUES = [
    ("personas.solo.churn.mean=1.5", "personas.solo.churn.mean", "[0, 1]"),
    ("personas.smb.churn.mean=-0.1", "personas.smb.churn.mean", "[0, 1]"),
    ("pricing.plans.pro.price=-5", "pricing.plans.pro.price", "[0, 1,000,000,000]"),
    ("personas.solo.share=0.6", "personas.*.share", "sum to 1"),
    ("pricing.annual_discount=1.5", "pricing.annual_discount", "[0, 1]"),
    ("acquisition.bass.p=2", "acquisition.bass.p", "[0, 1]"),
    ("months=0", "months", "[1, 1200]"),
    ("replications=0", "replications", "[1,"),
    ("personas.solo.onboarding=nowhere", "personas.solo.onboarding", "self_serve"),
    ("personas.solo.churn.concentration=0", "personas.solo.churn.concentration", "(0, 1,000,000]"),
    ("personas.enterprise.consideration.advance=0.9", "personas.enterprise.consideration", "<= 1"),
    ("initial.customers=300000", "initial.customers", "market.size"),
    ("mechanisms.support=maybe", "mechanisms.support", "true or false"),
    ("support.knowledge_base_deflection=1.2", "support.knowledge_base_deflection", "[0, 1]"),
    ("finance.discount_rate=-0.1", "finance.discount_rate", "[0, 10]"),
]

UNKNOWN_KEYS = [
    ("foo=1", "foo"),
    ("personas.bogus.share=0.1", "personas.bogus.share"),
    ("pricing.plans.platinum.price=99", "pricing.plans.platinum.price"),
    ("mechanisms.teleport=true", "mechanisms.teleport"),
    ("scenario=nope", "scenario"),
    # Keys added with "+" exist in the config but nothing reads them: still refused.
    ("+foo=1", "foo"),
    ("+personas.solo.churn.meen=0.1", "personas.solo.churn.meen"),
    ("+pricing.plans.pro.discount=0.1", "pricing.plans.pro.discount"),
    (
        "+events.x={type: price_change, month: 3, plan: pro, price: 5, grandfathr: true}",
        "events.x.grandfathr",
    ),
]


@pytest.mark.parametrize(("override", "key", "allowed"), BAD_VALUES)
def test_bad_value_names_key_and_range(override: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, override])
    message = str(info.value)
    assert key in message
    assert allowed in message
    assert len(info.value.problems) == 1


@pytest.mark.parametrize(("override", "key"), UNKNOWN_KEYS)
def test_unknown_key_or_option_names_it(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, override])
    assert key in str(info.value)


def test_added_unknown_key_lists_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, "+personas.solo.churn.meen=0.1"])
    assert len(info.value.problems) == 1
    assert "personas.solo.churn.meen: unknown key; allowed here: mean, concentration" in str(
        info.value
    )


def test_unknown_key_lists_what_is_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, "personas.solo.churn.meen=0.1"])
    assert "personas.solo.churn.meen" in str(info.value)
    assert "allowed here: mean, concentration" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, "scenario=nope"])
    assert "choose one of:" in str(info.value)
    assert "support_cut" in str(info.value)


def test_unknown_plan_in_persona_plan_values() -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, "+personas.solo.plan_value.platinum=1.0"])
    assert "personas.solo.plan_value.platinum" in str(info.value)


def test_event_with_unknown_plan_is_rejected() -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, "+events.rise={type: price_change, month: 2, plan: gold, price: 10}"])
    assert "events.rise.plan" in str(info.value)


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SMALL, "personas.solo.churn.mean=2", "pricing.plans.pro.price=-1"])
    keys = [k for k, _ in info.value.problems]
    assert keys == ["pricing.plans.pro.price", "personas.solo.churn.mean"] or set(keys) == {
        "pricing.plans.pro.price",
        "personas.solo.churn.mean",
    }


def test_simulate_validates_before_work() -> None:
    cfg = load_config(SMALL, validate=False)
    cfg.personas.solo.churn.mean = 3.0
    with pytest.raises(ConfigError, match=r"personas\.solo\.churn\.mean"):
        simulate(cfg)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("personas.solo.churn.mean=1.5", "personas.solo.churn.mean"),
        ("pricing.plans.pro.price=-5", "pricing.plans.pro.price"),
        ("personas.solo.share=0.9", "personas.*.share"),
        ("personas.bogus.share=0.1", "personas.bogus"),
        ("nonsense=3", "nonsense"),
    ],
)
def test_cli_bad_input_exits_nonzero_without_traceback(
    override: str, key: str, tmp_path: os.PathLike[str]
) -> None:
    proc = run_cli(*SMALL, override, cwd=str(tmp_path))
    assert proc.returncode == 2
    assert key in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    # Nothing was simulated: no outputs were written.
    assert not list(Path(tmp_path).rglob("monthly.parquet"))


def test_problems_hydra_refuses_and_bad_values_come_together() -> None:
    """An unknown key or option stops Hydra's composition; it is named, the rest is composed
    without it and validated, and every problem is in the one message."""
    with pytest.raises(ConfigError) as info:
        load_config(
            [*SMALL, "personas.solo.churn.meen=0.1", "months=0", "scenario=nope", "seed=-1"]
        )
    assert sorted(k for k, _ in info.value.problems) == [
        "months",
        "personas.solo.churn.meen",
        "scenario",
        "seed",
    ]


def test_sweep_reports_every_problem_at_once() -> None:
    from simulator.command_line import check_command_line

    problem = check_command_line(["-m", *SMALL, "personas.solo.churn.meen=1", "seed=1,-1"])
    assert problem is not None
    assert sorted(k for k, _ in problem.problems) == ["personas.solo.churn.meen", "seed"]
