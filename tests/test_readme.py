"""The README stays true: its step order, formula table, tasks and scenarios are the code's."""

from __future__ import annotations

from pathlib import Path

from simulator.config import CONFIG_DIR
from simulator.experiments.tasks import TASKS
from simulator.metrics import formula_table
from simulator.model import describe_steps

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_step_order_is_the_steps_table() -> None:
    assert describe_steps() in README


def test_formula_table_is_the_metric_registry() -> None:
    assert formula_table() in README


def test_every_task_and_scenario_is_named() -> None:
    for task in TASKS:
        assert f"| `{task}`" in README, task
    for scenario in sorted((CONFIG_DIR / "scenario").glob("*.yaml")):
        if scenario.stem != "baseline":
            assert f"scenario={scenario.stem}" in README, scenario.stem
