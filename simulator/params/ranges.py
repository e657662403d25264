"""The schema's allowed range of a setting, by dotted config key.

Bounds live in the schema's types (``simulator.bounds``: ``Number``, ``Whole``, ``Prob``,
``Money``); ``range_of("support.agents")`` reads them back, so tools that offer a setting to a
person (the dashboard's sliders) offer exactly what validation accepts. Levels keyed by name
(``personas.<name>``, ``pricing.plans.<name>``) take any name.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from simulator.bounds import Range
from simulator.errors import ConfigError
from simulator.params.schema import ScenarioParams

__all__ = ["field_type", "is_switch", "range_of"]


def _members(tp: Any) -> list[Any]:
    """The non-None members of ``X | None`` (``[tp]`` otherwise)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return [tp]


def _bare(tp: Any) -> Any:
    """The type behind ``Annotated[...]`` and ``X | None``."""
    members = _members(tp)
    tp = members[0] if len(members) == 1 else tp
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def field_type(key: str, root: type[BaseModel] = ScenarioParams) -> Any:
    """The schema type (with its metadata) of the setting at a dotted config key.

    Raises:
        ConfigError: the key is not a setting of the schema.
    """
    tp: Any = root
    for part in key.split("."):
        bare = _bare(tp)
        if isinstance(bare, type) and issubclass(bare, BaseModel):
            field = bare.model_fields.get(part)
            if field is None:
                allowed = ", ".join(bare.model_fields)
                raise ConfigError([(key, f"unknown key; allowed at {part!r}: {allowed}")])
            ann = field.annotation
            tp = typing.Annotated[ann, *field.metadata] if field.metadata else ann
        elif typing.get_origin(bare) is dict:
            tp = typing.get_args(bare)[1]
        else:
            raise ConfigError([(key, f"unknown key: {part!r} is below a single value")])
    return tp


def range_of(key: str, root: type[BaseModel] = ScenarioParams) -> Range | None:
    """The allowed range of a numeric setting (None for a switch, a name or a mapping)."""
    for member in _members(field_type(key, root)):
        if typing.get_origin(member) is typing.Annotated:
            for meta in member.__metadata__:
                if isinstance(meta, Range):
                    return meta
    return None


def is_switch(key: str, root: type[BaseModel] = ScenarioParams) -> bool:
    """Whether the setting is true/false (``Switch``)."""
    return _bare(field_type(key, root)) is bool
