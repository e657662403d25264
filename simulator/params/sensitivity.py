"""Settings of a global sensitivity study (``sensitivity`` in ``configs/task/sensitivity.yaml``).

Validated with the rest of the run settings, before any model evaluation. Whether each
``parameters.<name>.key`` is a numeric key of the scenario, and its range inside the key's own
bounds, is checked against the scenario by ``simulator.experiments.sensitivity.check_problem``
(also before any evaluation).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from simulator.bounds import Number, Whole

#: Methods of ``simulator.sensitivity``.
METHODS: tuple[str, ...] = ("sobol", "morris")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ParameterRange(_Strict):
    """One input factor: a dotted scenario key sampled over [low, high] (uniformly, or uniformly
    in its logarithm with ``scale: log``)."""

    key: str = Field(min_length=1)  # dotted scenario key, e.g. pricing.plans.pro.price
    low: Number(-1e12, 1e12)
    high: Number(-1e12, 1e12)
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _range(self) -> ParameterRange:
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"scale log needs low > 0, got low {self.low:g}")
        return self


class SensitivitySettings(_Strict):
    """A Sobol (Saltelli sampling) or Morris study over named parameter ranges."""

    method: Literal["sobol", "morris"]
    # sobol: base sample size N (a power of 2, >= 32; N × (D + 2) evaluations, N × (2D + 2) with
    # second_order); morris: trajectories (N × (D + 1) evaluations)
    n: Whole(2, 1_048_576)
    metrics: list[str] = Field(min_length=1)  # names of simulator.metrics.METRICS
    parameters: dict[str, ParameterRange] = Field(min_length=1)
    replications: Whole(1, 100_000) | None = None  # per sample point; null: the config's
    seed: Whole(0, 2**32 - 1) | None = None  # sampler and bootstrap seed; null: the config's
    second_order: bool = False  # sobol: also the second-order indices S2
    levels: Whole(2, 1000) = 4  # morris: grid levels (even)
    conf_level: Number(0.5, 0.999) = 0.95  # confidence level of the bootstrap intervals
    resamples: Whole(10, 100_000) = 100  # bootstrap resamples of the intervals

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: list[str]) -> list[str]:
        from simulator.metrics import METRIC_BY_NAME

        unknown = [m for m in value if m not in METRIC_BY_NAME]
        if unknown:
            raise ValueError(
                f"unknown metric {', '.join(map(repr, unknown))}; "
                f"metrics are: {', '.join(METRIC_BY_NAME)}"
            )
        if len(set(value)) != len(value):
            raise ValueError(f"a metric is named twice in {value}")
        return value

    @field_validator("n")
    @classmethod
    def _sobol_power_of_two(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("method") == "sobol" and value < 32:
            raise ValueError(
                f"sobol needs n >= 32, got {value}: the two halves of a shorter Sobol' sequence "
                "are correlated and the indices are unreliable"
            )
        if info.data.get("method") == "sobol" and value & (value - 1):
            below = 2 ** int(math.log2(value))
            raise ValueError(
                f"sobol needs a power of 2 (the Sobol' sequence's balance), got {value}; "
                f"try {below} or {below * 2}"
            )
        return value

    @field_validator("levels")
    @classmethod
    def _morris_even_levels(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("method") == "morris" and value % 2:
            raise ValueError(f"morris needs an even number of levels, got {value}")
        return value

    @field_validator("parameters")
    @classmethod
    def _keys_once(cls, value: dict[str, ParameterRange]) -> dict[str, ParameterRange]:
        keys = [p.key for p in value.values()]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"key {', '.join(twice)} is named twice")
        return value
