"""Composition-time bad input and user config folders: one message per problem, naming the key
(or the file and line), before any work starts; the Python API and the command line agree."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from simulator.command_line import check_command_line, hydra_arguments
from simulator.config import CONFIG_DIR, load_config
from simulator.errors import ConfigError

SMALL = ["market.size=2000", "initial.customers=100", "replications=1"]
MINE = "# @package _global_\nscenario_name: mine\nmonths: 3\n"


def problems(overrides: list[str], **kwargs: object) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        load_config(overrides, **kwargs)  # type: ignore[arg-type]
    return info.value.problems


def user_dir(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("# @package _global_\nmonths: [1, 2\n", 3, "not valid YAML"),
        ("# @package _global_\nmonths:\t3\n", 2, "a tab character"),
        ("# @package _global_\nmonths: 3\nseed: 1\nmonths: 4\n", 4, "key 'months' given twice"),
    ],
)
def test_bad_yaml_names_the_file_and_line(tmp_path: Path, text: str, line: int, says: str) -> None:
    folder = user_dir(tmp_path, {"scenario/broken.yaml": text})
    [(key, message)] = problems(["scenario=broken"], config_dir=folder)
    assert key == "scenario"
    assert f"{folder / 'scenario' / 'broken.yaml'}, line {line}" in message
    assert says in message


@pytest.mark.parametrize("header", ["", "# @package _global_\n"])
def test_list_valued_file_is_refused(tmp_path: Path, header: str) -> None:
    folder = user_dir(tmp_path, {"scenario/listy.yaml": header + "- months: 3\n- seed: 1\n"})
    [(key, message)] = problems(["scenario=listy"], config_dir=folder)
    assert key == "scenario"
    assert str(folder / "scenario" / "listy.yaml") in message and "holds a list" in message


def test_key_given_twice_is_refused_on_the_command_line() -> None:
    # In Python the last one wins: callers layer override lists (base + variant).
    assert load_config([*SMALL, "months=3", "months=4"]).months == 4
    error = check_command_line([*SMALL, "months=3", "months=4"])
    assert error is not None and error.problems == [
        ("months", "given 2 times (3 and 4); give it once")
    ]


def test_several_values_without_m_say_sweep() -> None:
    [(key, message)] = problems([*SMALL, "months=3,4"])
    assert key == "months" and "-m" in message


def test_unparsable_override_names_it() -> None:
    [(key, message)] = problems([*SMALL, "months=[1"])
    assert key == "months=[1" and "key=value" in message


@pytest.mark.parametrize(
    "override",
    ["initial=5", "pricing.plans=5", "pricing.plans.pro=5", "personas.solo=5"],
)
def test_mapping_replaced_by_a_number_composes_without_hydra_text(override: str) -> None:
    """Hydra accepts these; the value validator reports them (must be a mapping)."""
    cfg = load_config([*SMALL, override], validate=False)
    key, _, value = override.partition("=")
    assert OmegaConf.select(cfg, key) == int(value)


@pytest.mark.parametrize(
    "override", ["initial=5", "pricing.plans=5", "personas.solo=5", "personas.solo.churn=5"]
)
def test_mapping_replaced_by_a_number_is_one_problem(override: str) -> None:
    [(key, message)] = problems([*SMALL, override])
    assert key == override.partition("=")[0] and "mapping" in message


def test_market_size_zero_is_one_problem() -> None:
    assert [k for k, _ in problems(["market.size=0", "initial.customers=100"])] == ["market.size"]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("pricing=5", "no option '5'; choose one of: default"),
        ("scenario=3", "no option '3'; choose one of: annual_push, baseline"),
    ],
)
def test_group_chosen_with_a_number_names_the_options(override: str, words: str) -> None:
    """Hydra raises a bare ValueError for these; the group and its options are named."""
    [(key, message)] = problems([*SMALL, override])
    assert key == override.partition("=")[0] and words in message


def test_scenario_file_without_its_package_line_says_so(tmp_path: Path) -> None:
    folder = user_dir(tmp_path, {"scenario/nopkg.yaml": "scenario_name: nopkg\nmonths: 3\n"})
    [(key, message)] = problems([*SMALL, "scenario=nopkg"], config_dir=folder)
    assert key == "scenario" and "'# @package _global_' as its first line" in message


# --- user config folders ---------------------------------------------------------------------


def test_config_dir_adds_options_and_replaces_packaged_files(tmp_path: Path) -> None:
    folder = user_dir(tmp_path, {"scenario/mine.yaml": MINE, "market/default.yaml": "size: 4321\n"})
    cfg = load_config(["scenario=mine", "initial.customers=100"], config_dir=folder)
    assert cfg.scenario_name == "mine" and cfg.months == 3
    assert cfg.market.size == 4321  # the user's market/default.yaml is searched first
    assert cfg.pricing == load_config(["initial.customers=100"]).pricing  # the rest is packaged


def test_config_dir_with_its_own_config_yaml_is_used(tmp_path: Path) -> None:
    text = (CONFIG_DIR / "config.yaml").read_text().replace("months: 36", "months: 7")
    folder = user_dir(tmp_path, {"config.yaml": text})
    assert load_config(config_dir=folder).months == 7


def test_same_messages_with_a_config_dir(tmp_path: Path) -> None:
    folder = user_dir(tmp_path, {"scenario/mine.yaml": MINE})
    for overrides in (["foo=1"], ["personas.solo.churn.meen=0.1"], ["scenario=nope"]):
        plain = problems([*SMALL, *overrides])
        mine = problems([*SMALL, *overrides], config_dir=folder)
        assert [k for k, _ in mine] == [k for k, _ in plain]
        if overrides != ["scenario=nope"]:  # the options listed include 'mine'
            assert mine == plain
    [(key, message)] = problems([*SMALL, "scenario=nope"], config_dir=folder)
    assert key == "scenario" and "mine" in message and "baseline" in message


def test_allowed_keys_come_from_the_same_folders(tmp_path: Path) -> None:
    pricing = (CONFIG_DIR / "pricing" / "default.yaml").read_text()
    gold = "  gold: {price: 199, rank: 9, per_seat: true}\n"
    folder = user_dir(
        tmp_path, {"pricing/default.yaml": pricing.replace("plans:\n", "plans:\n" + gold, 1)}
    )
    found = dict(problems([*SMALL, "pricing.plans.platinum.price=1"], config_dir=folder))
    assert "gold" in found["pricing.plans.platinum.price"]  # the user's plans are allowed here
    # (and the user's new plan has no value in the packaged personas: named too, at once)
    assert found["personas.solo.plan_value.gold"] == "missing"


def test_missing_config_dir_is_named(tmp_path: Path) -> None:
    [(key, message)] = problems(SMALL, config_dir=tmp_path / "nope")
    assert key == "config_dir" and "no such folder" in message


def test_hydra_searchpath_finds_a_users_scenario(tmp_path: Path) -> None:
    folder = user_dir(tmp_path / "mine", {"scenario/mine.yaml": MINE})
    over = [*SMALL, f"hydra.searchpath=[file://{folder}]", "scenario=mine"]
    assert load_config(over).scenario_name == "mine"
    assert check_command_line(over) is None
    [(key, _)] = problems([*SMALL, f"hydra.searchpath=[file://{tmp_path / 'nope'}]"])
    assert key == "hydra.searchpath"


def test_hydra_searchpath_file_hidden_by_a_packaged_one_is_refused(tmp_path: Path) -> None:
    folder = user_dir(tmp_path, {"market/default.yaml": "size: 4321\n"})
    [(key, message)] = problems([*SMALL, f"hydra.searchpath=[file://{folder}]"])
    assert key == "hydra.searchpath" and "is hidden by" in message and "--config-dir" in message


# --- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--config-dir", "-cd"])
def test_command_line_config_dir(tmp_path: Path, flag: str) -> None:
    folder = user_dir(tmp_path / "mine", {"scenario/mine.yaml": MINE})
    assert check_command_line([flag, str(folder), *SMALL, "scenario=mine"]) is None
    error = check_command_line([flag, str(folder), *SMALL, "scenario=mine", "typo=3"])
    assert error is not None and [k for k, _ in error.problems] == ["typo"]
    error = check_command_line([flag, str(tmp_path / "nope"), *SMALL])
    assert error is not None and error.problems[0][0] == "--config-dir"


def test_sweep_checks_every_value_of_every_swept_key() -> None:
    assert check_command_line(["-m", *SMALL, "months=1,2", "scenario=baseline,support_cut"]) is None
    error = check_command_line(["-m", *SMALL, "months=1,2", "typo=3"])
    assert error is not None and [k for k, _ in error.problems] == ["typo"]
    error = check_command_line(
        ["-m", *SMALL, "scenario=baseline,nope", "pricing.plans.pro.price=99,-1", "seed=range(0,3)"]
    )
    assert error is not None
    assert [k for k, _ in error.problems] == ["scenario", "pricing.plans.pro.price"]
    assert "-1" in error.problems[1][1]


def test_flags_that_do_not_run_are_left_to_hydra() -> None:
    for argv in (["--help"], ["--cfg", "job", "foo=1"], ["--info"], ["--hydra-help"]):
        assert check_command_line(argv) is None


def test_hydra_arguments_put_the_users_folder_first(tmp_path: Path) -> None:
    argv = ["-cd", str(tmp_path), "months=3"]
    assert hydra_arguments(argv) == [
        f"--config-path={tmp_path.resolve()}",
        f"--config-dir={CONFIG_DIR}",
        "months=3",
    ]
    assert hydra_arguments(["months=3"]) == ["months=3"]


# The CLI's main() as it will call these functions (cli.py is being rewritten elsewhere).
MAIN = """
import sys
from simulator import cli
from simulator.command_line import check_command_line, hydra_arguments
if (error := check_command_line(sys.argv[1:])) is not None:
    print(f"journey-sim: {error}", file=sys.stderr)
    sys.exit(2)
sys.argv[1:] = hydra_arguments(sys.argv[1:])
cli._hydra_main()
"""


def run_main(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", MAIN, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "CI": "true"},
        timeout=600,
    )


def test_cli_config_dir_runs_the_users_scenario(tmp_path: Path) -> None:
    folder = user_dir(
        tmp_path / "mine", {"scenario/mine.yaml": MINE, "market/default.yaml": "size: 3000\n"}
    )
    proc = run_main(
        "-cd", "mine", "scenario=mine", "initial.customers=100", "replications=1",
        "output.plots=false", "hydra.run.dir=run", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "scenario mine · 3 months" in proc.stdout and "market 3,000 accounts" in proc.stdout
    assert folder.is_dir()


@pytest.mark.parametrize(
    "args",
    [
        ["-m", *SMALL, "months=1,2", "typo=3"],
        ["-cd", "mine", *SMALL, "typo=3"],
        [*SMALL, "months=3", "months=4"],
    ],
)
def test_cli_bad_input_is_one_message_exit_2(tmp_path: Path, args: list[str]) -> None:
    user_dir(tmp_path / "mine", {"scenario/mine.yaml": MINE})
    proc = run_main(*args, "hydra.sweep.dir=sweep", "hydra.run.dir=run", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("journey-sim: invalid configuration (1 problem):\n  ")
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()
