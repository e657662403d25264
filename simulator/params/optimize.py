"""Settings of a price optimisation (``optimize`` in ``configs/task/optimize.yaml``; the
arguments of ``simulator.optimize``): the search space, the objective, the constraints, the
budget and the fresh re-evaluation of the optimum.

These models check each setting on its own (types, ranges, names); whether a space key exists
in the scenario and its bounds are valid values of it is checked against the scenario by
``simulator.experiments.optimize.check_space``, also before any trial runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulator.bounds import Number, OneOf, Switch, Whole
from simulator.metrics import METRIC_BY_NAME

#: Objectives an optimisation can maximise: metrics of ``simulator.metrics.METRICS`` (company
#: total, mean over the search replications).
OBJECTIVES: tuple[str, ...] = ("ending_arr", "discounted_gross_profit", "ltv_to_cac")
#: Optuna samplers by name: tree-structured Parzen estimator (constraint-aware) or random.
SAMPLERS: tuple[str, ...] = ("tpe", "random")
#: Keys a search may not vary: every trial runs the base's seed, replications and horizon.
FIXED_KEYS: tuple[str, ...] = ("seed", "replications", "months", "scenario_name")
#: A constraint is ``max_<metric>`` (metric ≤ bound) or ``min_<metric>`` (metric ≥ bound).
CONSTRAINT_PREFIXES: tuple[str, ...] = ("max_", "min_")
_BIG = 1e15


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimension(_Strict):
    """One searched setting: a dotted scenario key and its range.

    ``step`` restricts the values to ``low + k × step``; ``log`` samples the range on a log
    scale (``low`` > 0, no step). A key whose value is a whole number (a trial length in
    months) is searched over whole numbers.
    """

    key: str = Field(min_length=1)
    low: Number(-_BIG, _BIG)
    high: Number(-_BIG, _BIG)
    step: Number(0, _BIG, lo_open=True) | None = None
    log: Switch = False

    @model_validator(mode="after")
    def _a_range(self) -> Dimension:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.step is not None:
            raise ValueError("log and step cannot be combined (give one or the other)")
        if self.log and self.low <= 0:
            raise ValueError(f"a log scale needs low > 0, got {self.low:g}")
        if self.step is not None and self.step > self.high - self.low:
            raise ValueError(
                f"step ({self.step:g}) is wider than the range [{self.low:g}, {self.high:g}]"
            )
        if self.key.split(".")[0] in FIXED_KEYS:
            raise ValueError(
                f"{self.key} cannot be searched: every trial keeps the base's "
                f"{', '.join(FIXED_KEYS[:3])} (common random numbers, one horizon)"
            )
        return self


def dimension_spec(name: str, spec: Any) -> Any:
    """The Python shorthands of a dimension: ``(low, high)`` or a mapping without ``key``
    (the name is the key)."""
    if isinstance(spec, tuple | list) and len(spec) == 2:
        return {"key": name, "low": spec[0], "high": spec[1]}
    if isinstance(spec, Mapping) and "key" not in spec:
        return {"key": name, **spec}
    return spec


class OptimizeSettings(_Strict):
    """A price optimisation (``optimize``)."""

    objective: OneOf(*OBJECTIVES)  # maximised
    space: dict[str, Dimension]  # name -> searched key and range
    constraints: dict[str, Number(-_BIG, _BIG) | None]  # max_<metric> / min_<metric>: bound
    trials: Whole(1, 100_000)  # trials of the search (the baseline's point first if inside)
    batch: Whole(1, 1024)  # trials asked at once and evaluated together through the executor
    sampler: OneOf(*SAMPLERS)
    sampler_seed: Whole(0, 2**32 - 1)  # seed of Optuna's sampler
    fresh_replications: Whole(2, 100_000) | None  # re-evaluation; null: the search's
    fresh_seed: Whole(0, 2**63 - 1) | None  # re-evaluation seed; null: the base seed + 1
    top: Whole(1, 100)  # best feasible trials re-evaluated beside the baseline

    @field_validator("space", mode="before")
    @classmethod
    def _shorthands(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): dimension_spec(str(k), v) for k, v in value.items()}
        return value

    @field_validator("space")
    @classmethod
    def _not_empty(cls, value: dict[str, Dimension]) -> dict[str, Dimension]:
        if not value:
            raise ValueError("needs one or more keys to search: {name: {key, low, high}}")
        keys = [d.key for d in value.values()]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} is searched twice")
        return value

    @field_validator("constraints")
    @classmethod
    def _known_metrics(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        for name in value:
            prefix = next((p for p in CONSTRAINT_PREFIXES if name.startswith(p)), None)
            metric = name[len(prefix) :] if prefix else None
            if metric not in METRIC_BY_NAME:
                raise ValueError(
                    f"unknown constraint {name!r}: max_<metric> or min_<metric>, the metric one "
                    f"of {', '.join(METRIC_BY_NAME)}"
                )
        return value

    def active_constraints(self) -> dict[str, float]:
        """The constraints that are set (a null bound is off)."""
        return {k: float(v) for k, v in self.constraints.items() if v is not None}
