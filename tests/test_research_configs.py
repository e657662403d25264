"""Every config under ``configs/`` and ``experiments/`` composes: the packaged groups, the
Hydra launcher options (the SLURM example only where the submitit plugin is installed), and the
studies' configs."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from simulator import load_config
from simulator.config import CONFIG_DIR
from simulator.params import read_config
from simulator.params.run import TASKS_WITH_DIR

ROOT = Path(__file__).resolve().parents[1]
GROUPS = sorted(
    (p.parent.relative_to(CONFIG_DIR).as_posix(), p.stem)
    for p in CONFIG_DIR.rglob("*.yaml")
    if p.parent != CONFIG_DIR
    and not p.parent.relative_to(CONFIG_DIR).as_posix().startswith("hydra")
)
#: Study configs: experiments/<study>/<group>/<option>.yaml, run with --config-dir.
STUDIES = sorted((ROOT / "experiments").glob("*/*/*.yaml"))


@pytest.mark.parametrize(("group", "option"), GROUPS, ids=lambda x: str(x))
def test_every_packaged_option_composes_and_validates(group: str, option: str) -> None:
    needs_dir = ["dir=x"] if group == "task" and option in TASKS_WITH_DIR else []
    needs_data = ["data=x.csv"] if (group, option) == ("task", "calibrate") else []
    read_config(load_config([f"{group}={option}", *needs_dir, *needs_data]))


def _hydra_node(overrides: list[str]) -> object:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        return compose("config", overrides=overrides, return_hydra_config=True).hydra


def test_the_pool_launcher_composes() -> None:
    node = _hydra_node(["hydra/launcher=pool", "hydra.launcher.workers=3"])
    assert node.launcher._target_.endswith("pool_launcher.PoolLauncher")
    assert node.launcher.workers == 3


def test_the_slurm_launcher_example_composes() -> None:
    """Hydra's submitit launcher is a dev dependency: this test never skips."""
    node = _hydra_node(["hydra/launcher=slurm", "hydra.launcher.partition=compute"])
    assert "submitit" in node.launcher._target_.lower()
    assert node.launcher.partition == "compute"


def test_there_are_at_least_three_studies() -> None:
    studies = {p.parts[-3] for p in STUDIES}
    assert len(studies) >= 3, studies
    for study in studies:
        readme = ROOT / "experiments" / study / "README.md"
        assert readme.is_file(), study
        assert "--config-dir experiments/" + study in readme.read_text()


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_study_config_composes(path: Path) -> None:
    """A study's config is an option of a packaged group (scenario, task) in the study's own
    folder, which its README passes as --config-dir: it composes and validates."""
    study, group = path.parents[1], path.parent.name
    needs_dir = ["dir=x"] if group == "task" and path.stem in ("replay", "aggregate") else []
    read_config(load_config([f"{group}={path.stem}", *needs_dir], config_dir=study))
