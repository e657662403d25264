"""From a config tree to validated parameters, with every problem reported at once.

``scenario_params(tree)`` checks the scenario part against the schema and the cross-section
rules and raises one ``ConfigError`` listing every problem as ``key: message`` (full dotted key,
the value, what is allowed). ``replace(params, {dotted: value})`` makes a validated variant
without composing Hydra (optimisers and samplers call it thousands of times).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from simulator.errors import ConfigError
from simulator.params_next.rules import Problem, cross_section_problems
from simulator.params_next.schema import ScenarioParams


def _domain() -> dict[str, tuple[str, ...]]:
    """Names the rules check against, owned by the engine's mechanisms."""
    from simulator.params import MECHANISMS, SUPPORT_CHANNELS  # TODO(integration): mechanisms

    return {"mechanisms": MECHANISMS, "support_channels": SUPPORT_CHANNELS}


# ---------------------------------------------------------------------------- schema walking
def _unwrap(tp: Any) -> Any:
    """The model or container type behind Annotated[...] and X | None."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _type_at(root: Any, loc: tuple[Any, ...]) -> Any:
    """The schema type at a pydantic error location (None when the location is not in it)."""
    tp = root
    for part in loc:
        tp = _unwrap(tp)
        if _is_model(tp):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        elif typing.get_origin(tp) in (typing.Union, types.UnionType):  # tagged events
            members = [_unwrap(a) for a in typing.get_args(tp)]
            tp = next((m for m in members if _tag(m) == part), None)
            if tp is None:
                return None
        else:
            return None
    return _unwrap(tp)


def _tag(model: Any) -> str | None:
    """The literal ``type`` of an event model (its tag in a discriminated union)."""
    if not _is_model(model) or "type" not in model.model_fields:
        return None
    args = typing.get_args(model.model_fields["type"].annotation)
    return str(args[0]) if args else None


def _key(root: Any, loc: tuple[Any, ...]) -> str:
    """Dotted config key of an error location, without the tags of tagged unions."""
    parts: list[str] = []
    for i, part in enumerate(loc):
        parent = _unwrap(_type_at(root, loc[:i]))
        if typing.get_origin(parent) in (typing.Union, types.UnionType):
            continue  # the event type tag pydantic inserts
        parts.append(str(part))
    return ".".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _problem(root: Any, error: Mapping[str, Any]) -> Problem:
    loc = tuple(error["loc"])
    key = _key(root, loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return key, "missing"
    if kind == "extra_forbidden":
        parent = _type_at(root, loc[:-1])
        allowed = list(parent.model_fields) if _is_model(parent) else []
        extra = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return key, f"unknown key{extra}"
    if kind in ("model_type", "model_attributes_type"):
        model = _type_at(root, loc)
        keys = ", ".join(model.model_fields) if _is_model(model) else "its settings"
        return key, f"must be a mapping of {keys}; got {_show(value)}"
    if kind == "dict_type":
        return key, f"must be a mapping keyed by name; got {_show(value)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        union = _type_at(root, loc)
        tags = [_tag(_unwrap(a)) for a in typing.get_args(union)] if union is not None else []
        if kind == "union_tag_not_found":
            return f"{key}.type", "missing"
        got = error.get("ctx", {}).get("tag", value)
        return f"{key}.type", f"must be one of {', '.join(t for t in tags if t)}; got {got!r}"
    if kind == "literal_error":
        return key, f"{error['msg'].lower()}; got {_show(value)}"
    if error.get("ctx", {}).get("error") is not None or kind.startswith("value_error"):
        return key, str(error["msg"]).removeprefix("Value error, ")
    return key, str(error["msg"]) if kind in _CUSTOM else f"{error['msg']}; got {_show(value)}"


_CUSTOM = {"range", "number_type", "whole_number", "switch", "one_of", "name", "sum"}


def problems_of(model: type[BaseModel], tree: Any) -> list[Problem]:
    """Schema problems of ``tree`` against ``model`` (empty when it validates)."""
    try:
        model.model_validate(tree)
    except ValidationError as exc:
        return [_problem(model, e) for e in exc.errors(include_url=False)]
    return []


def _with_names(params: ScenarioParams) -> ScenarioParams:
    for index, (name, persona) in enumerate(params.personas.items()):
        persona._name = name
        persona._index = index
    return params


def check_scenario(tree: dict[str, Any]) -> list[Problem]:
    """Every problem of a scenario tree: schema, then the cross-section rules."""
    found = problems_of(ScenarioParams, tree)
    keys = [k for k, _ in found]

    def has_problem(key: str) -> bool:
        return any(k == key or k.startswith(key + ".") or key.startswith(k + ".") for k in keys)

    return found + cross_section_problems(tree, has_problem, **_domain())


def scenario_params(tree: dict[str, Any]) -> ScenarioParams:
    """Validated parameters of a scenario tree (plain dicts).

    Raises:
        ConfigError: every problem at once, one line each.
    """
    problems = check_scenario(tree)
    if problems:
        raise ConfigError(problems)
    return _with_names(ScenarioParams.model_validate(tree))


def _set(tree: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key that exists in ``tree``; an unknown key is a ``ConfigError``."""
    node: Any = tree
    *parents, last = key.split(".")
    for part in [*parents, last]:
        if not isinstance(node, dict) or part not in node:
            allowed = ", ".join(map(str, node)) if isinstance(node, dict) else ""
            raise ConfigError(
                [(key, "unknown key" + (f"; allowed here: {allowed}" if allowed else ""))]
            )
        if part is not last:
            node = node[part]
    node[last] = value


def replace(params: ScenarioParams, changes: Mapping[str, Any]) -> ScenarioParams:
    """A validated copy of ``params`` with ``changes`` applied, keyed by dotted config key.

    ``replace(params, {"pricing.plans.pro.price": 99, "months": 24})``. Only existing keys can
    change (a new persona or plan needs ``load_config``). A few milliseconds: no Hydra.

    Raises:
        ConfigError: an unknown key or a bad value, naming the key.
    """
    tree = params.model_dump()
    for key, value in changes.items():
        _set(tree, key, value)
    return scenario_params(tree)
