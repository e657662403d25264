"""Run settings: how a study runs (task, executor, progress, outputs), apart from what it
simulates.

``RunSettings`` is validated in the same pass as the scenario's parameters; its field names are
the config keys (``RUN_KEYS`` at the top of the config) and every value comes from ``configs/``
(``configs/task/``, ``configs/executor/``, ``progress`` and ``output`` in ``config.yaml``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simulator.bounds import Switch, Whole
from simulator.params.audit import AuditSettings
from simulator.params.dashboard import DashboardSettings
from simulator.params.optimize import OptimizeSettings
from simulator.params.response import ResponseSettings
from simulator.params.sensitivity import SensitivitySettings

#: Executors by their ``_target_`` in ``configs/executor/``, with the settings each one takes.
EXECUTOR_SETTINGS: dict[str, tuple[str, ...]] = {
    "simulator.experiments.executors.SerialExecutor": (),
    "simulator.experiments.executors.LocalExecutor": ("workers",),
    "simulator.experiments.executors.DaskExecutor": ("address", "workers"),
}

ExecutorTarget = Literal[
    "simulator.experiments.executors.SerialExecutor",
    "simulator.experiments.executors.LocalExecutor",
    "simulator.experiments.executors.DaskExecutor",
]

#: Tasks of ``journey-sim task=<name>``; each has a config in ``configs/task/``.
TaskName = Literal[
    "run",
    "replay",
    "aggregate",
    "compare",
    "optimize",
    "calibrate",
    "dashboard",
    "sensitivity",
    "response",
    "cohorts",
    "report",
    "map",
    "audit",
]

#: Settings that belong to one task (its config in ``configs/task/`` sets them; null elsewhere).
TASK_SETTINGS: dict[str, tuple[str, ...]] = {
    "optimize": ("optimize",),
    "calibrate": ("data", "funnel", "holdout", "match", "calibrate"),
    "dashboard": ("dashboard",),
    "sensitivity": ("sensitivity",),
    "response": ("response",),
    "audit": ("audit",),
}
#: The default of a task's required setting: null, still validated (missing = not given).
_TASK_SETTING: Any = Field(default=None, validate_default=True)
#: What a task says when one of its required settings is missing.
REQUIRED_SETTINGS: dict[str, str] = {
    "optimize": "task=optimize needs its settings (configs/task/optimize.yaml)",
    "data": "task=calibrate needs data=<cohort-retention CSV>",
    "dashboard": "task=dashboard needs dashboard (configs/task/dashboard.yaml)",
    "sensitivity": "task=sensitivity needs sensitivity (configs/task/sensitivity.yaml)",
    "response": "task=response needs response (configs/task/response.yaml)",
    "audit": "task=audit needs audit (configs/task/audit.yaml)",
}

#: Tasks that read an earlier run or sweep from ``dir``.
TASKS_WITH_DIR: tuple[str, ...] = ("replay", "aggregate", "cohorts")
#: Tasks that may read an earlier run from ``dir`` (else they run the scenario themselves).
TASKS_WITH_OPTIONAL_DIR: tuple[str, ...] = ("report",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ExecutorSettings(_Strict):
    """Where replications run (``executor``): in this process, a local process pool, or a Dask
    ``distributed`` cluster (a loopback ``LocalCluster``, or an existing scheduler)."""

    target: ExecutorTarget = Field(alias="_target_")
    workers: Whole(1, 4096) | None = None  # worker processes (local, dask)
    address: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _settings_of_this_executor(self) -> ExecutorSettings:
        takes = EXECUTOR_SETTINGS[self.target]
        name = self.target.rsplit(".", 1)[1]
        for key in ("workers", "address"):
            if getattr(self, key) is not None and key not in takes:
                raise ValueError(f"{key} is not a setting of {name} (it takes: {_or_none(takes)})")
        if "workers" in takes and self.workers is None and self.address is None:
            raise ValueError(f"{name} needs workers (number of worker processes)")
        return self

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the executor's constructor."""
        return {k: getattr(self, k) for k in EXECUTOR_SETTINGS[self.target]}


class OutputSettings(_Strict):
    """What a run writes besides ``monthly.parquet`` and ``summary.json`` (``output``)."""

    csv: bool
    plots: bool


class CalibrateSettings(_Strict):
    """``task=calibrate``'s own switches (``calibrate``)."""

    uncertainty: Switch  # also write uncertainty.* so runs draw churn from the fit's uncertainty


class RunSettings(_Strict):
    """How a study runs; the top-level keys ``RUN_KEYS`` of the config."""

    task: TaskName
    dir: str | None
    executor: ExecutorSettings
    progress: Literal["auto", True, False]
    output: OutputSettings
    scenarios: list[str] | None = None  # task=compare: scenario names, the baseline first
    # Settings read by one task only (``TASK_SETTINGS``), null for every other task.
    optimize: OptimizeSettings | None = _TASK_SETTING  # task=optimize: the search
    data: str | None = _TASK_SETTING  # task=calibrate: cohort-retention CSV (persona, cohort, ...)
    funnel: str | None = None  # task=calibrate: funnel counts CSV (persona, leads, trials, paid)
    holdout: Whole(1, 10_000) | None = None  # task=calibrate: backtest fit on periods 0..K
    match: Literal["engine", "base"] | None = None  # task=calibrate: how fits map to base churn
    calibrate: CalibrateSettings | None = None  # task=calibrate: uncertainty written or not
    dashboard: DashboardSettings | None = _TASK_SETTING  # task=dashboard: host and port
    sensitivity: SensitivitySettings | None = _TASK_SETTING  # task=sensitivity: factors, method
    response: ResponseSettings | None = _TASK_SETTING  # task=response: the key and its grid
    audit: AuditSettings | None = _TASK_SETTING  # task=audit: reach step, touchpoints, drop-offs

    @field_validator(*(k for keys in TASK_SETTINGS.values() for k in keys), mode="after")
    @classmethod
    def _read_by_its_task(cls, value: Any, info: ValidationInfo) -> Any:
        """A task's own setting: required by it when ``REQUIRED_SETTINGS`` says so, and
        refused (not silently ignored) under any other task."""
        task = info.data.get("task")
        key = info.field_name
        owner = next(t for t, keys in TASK_SETTINGS.items() if key in keys)
        if task == owner and not value and key in REQUIRED_SETTINGS:
            raise ValueError(REQUIRED_SETTINGS[key])
        if task is not None and task != owner and value is not None:
            raise ValueError(f"only task={owner} reads {key}")
        return value

    @field_validator("scenarios")
    @classmethod
    def _scenarios_for_compare(
        cls, value: list[str] | None, info: ValidationInfo
    ) -> list[str] | None:
        task = info.data.get("task")
        if task == "compare" and (value is None or len(value) < 2):
            raise ValueError("task=compare needs scenarios=[baseline,variant,...] (two or more)")
        if task == "compare" and len(set(value or [])) != len(value or []):
            raise ValueError(f"a scenario is named twice in {value}")
        if task is not None and task != "compare" and value is not None:
            raise ValueError("only task=compare reads scenarios")
        return value

    @field_validator("dir")
    @classmethod
    def _dir_for_tasks_that_read_one(cls, value: str | None, info: ValidationInfo) -> str | None:
        task = info.data.get("task")
        if task in TASKS_WITH_DIR and not value:
            raise ValueError(f"task={task} needs dir=<directory of the run or sweep>")
        readers = (*TASKS_WITH_DIR, *TASKS_WITH_OPTIONAL_DIR)
        if task is not None and task not in readers and value is not None:
            raise ValueError(
                f"only task={' or '.join(readers)} reads dir; task={task} writes into hydra.run.dir"
            )
        return value


#: Top-level config keys that belong to ``RunSettings`` (the rest is the scenario).
RUN_KEYS: tuple[str, ...] = tuple(RunSettings.model_fields)


def _or_none(keys: tuple[str, ...]) -> str:
    return ", ".join(keys) if keys else "nothing"


def split_tree(tree: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(scenario part, run part) of a resolved config tree; ``hydra`` is dropped."""
    scenario = {k: v for k, v in tree.items() if k not in RUN_KEYS and k != "hydra"}
    run = {k: v for k, v in tree.items() if k in RUN_KEYS}
    return scenario, run
