"""Settings of ``task=response`` (``response``): one key varied over a grid of values."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ResponseSettings(BaseModel):
    """A price-response curve: ``key`` (a dotted config key, e.g. ``pricing.plans.pro.price``)
    run at each of ``values`` (two or more, in the order given; the first is the reference of
    the paired changes). Each value is checked against the key's own range before any run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1)
    values: list[float | int | bool | str] = Field(min_length=2)
