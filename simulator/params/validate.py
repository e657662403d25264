"""From a config tree to validated parameters, with every problem reported at once.

``scenario_params(tree)`` checks the scenario part against the schema and the cross-section
rules and raises one ``ConfigError`` listing every problem as ``key: message`` (full dotted key,
the value, what is allowed). ``replace(params, {dotted: value})`` makes a validated variant
without composing Hydra (optimisers and samplers call it thousands of times).
"""

from __future__ import annotations

import copy
import types
import typing
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ValidationError

from simulator.errors import ConfigError
from simulator.params.rules import Problem, cross_section_problems
from simulator.params.run import RUN_KEYS, RunSettings, split_tree
from simulator.params.schema import ScenarioParams


def _domain() -> dict[str, tuple[str, ...]]:
    """Names the rules check against, owned by the engine's mechanisms."""
    from simulator.mechanisms import MECHANISMS, SUPPORT_CHANNELS

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
            field = _field(tp, str(part))
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


def _field(model: Any, key: str) -> Any:
    """The field of ``model`` whose config key (alias, else name) is ``key``."""
    for name, field in model.model_fields.items():
        if (field.alias or name) == key:
            return field
    return None


def _keys(model: Any) -> list[str]:
    """The config keys of a model's fields (aliases where set, e.g. ``_target_``)."""
    return [field.alias or name for name, field in model.model_fields.items()]


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
        allowed = _keys(parent) if _is_model(parent) else []
        extra = f"; allowed here: {', '.join(allowed)}" if allowed else ""
        return key, f"unknown key{extra}"
    if kind in ("model_type", "model_attributes_type"):
        model = _type_at(root, loc)
        keys = ", ".join(_keys(model)) if _is_model(model) else "its settings"
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
        expected = error.get("ctx", {}).get("expected", "")
        return key, f"must be one of {expected}; got {_show(value)}"
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

    from simulator.book_csv import book_problems

    found += cross_section_problems(tree, has_problem, **_domain())
    return found + book_problems(tree, has_problem) + _uncertainty_problems(tree, has_problem)


def _uncertainty_problems(tree: dict[str, Any], has_problem: Any) -> list[Problem]:
    """Each drawn parameter (``uncertainty.<name>``) names a number of the scenario, low <
    high, and the scenario is valid with the key at low, at high and at its bounds."""
    out: list[Problem] = []
    drawn = tree.get("uncertainty")
    if not isinstance(drawn, dict):
        return out
    for name, entry in drawn.items():
        k = f"uncertainty.{name}"
        if has_problem(k) or not isinstance(entry, dict):
            continue
        node: Any = tree
        for part in str(entry["key"]).split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, int | float) or isinstance(node, bool):
            out.append((f"{k}.key", f"{entry['key']!r} is not a numeric setting of the scenario"))
            continue
        if entry["low"] >= entry["high"]:
            out.append((f"{k}.high", f"must be > low ({entry['low']}), got {entry['high']}"))
            continue
        ends = {"low": entry["low"], "high": entry["high"]}
        if entry.get("bounds") is not None:
            a, b = entry["bounds"]
            if not a <= entry["low"] < entry["high"] <= b:
                out.append((f"{k}.bounds", f"must hold [low, high], got [{a}, {b}]"))
                continue
            ends |= {"bounds": a, "bounds ": b}
        for what, value in ends.items():
            trial = copy.deepcopy({**tree, "uncertainty": {}})
            _set(trial, str(entry["key"]), value)
            for key, message in check_scenario(trial):
                out.append((f"{k}.{what.strip()}", f"{entry['key']} = {value}: {key}: {message}"))
    return out + _correlation_problems(drawn, has_problem)


def _correlation_problems(drawn: dict[str, Any], has_problem: Any) -> list[Problem]:
    """``uncertainty.<name>.correlation``: each names another entry, both sides agree when both
    give it, and the correlations form a positive semi-definite matrix."""
    import numpy as np

    out: list[Problem] = []
    names = sorted(n for n, e in drawn.items() if isinstance(e, dict))
    given: dict[tuple[str, str], float] = {}
    for name in names:
        corr = drawn[name].get("correlation") or {}
        k = f"uncertainty.{name}.correlation"
        if has_problem(k) or not isinstance(corr, dict):
            continue
        for other, rho in corr.items():
            if has_problem(f"{k}.{other}"):
                continue
            if other == name:
                out.append((f"{k}.{other}", "an entry's correlation with itself is 1; remove it"))
            elif other not in names:
                allowed = ", ".join(n for n in names if n != name) or "none"
                out.append(
                    (f"{k}.{other}", f"{other!r} is not an uncertainty entry; entries: {allowed}")
                )
            else:
                pair = (min(name, other), max(name, other))
                if pair in given and given[pair] != float(rho):
                    out.append(
                        (
                            f"{k}.{other}",
                            f"{rho} disagrees with uncertainty.{other}.correlation.{name} "
                            f"({given[pair]}); give it once, or equal on both sides",
                        )
                    )
                given[pair] = float(rho)
    if out or not given:
        return out
    index = {n: i for i, n in enumerate(names)}
    matrix = np.eye(len(names))
    for (a, b), rho in given.items():
        matrix[index[a], index[b]] = matrix[index[b], index[a]] = rho
    if np.linalg.eigvalsh(matrix).min() < -1e-9:
        pairs = ", ".join(f"{a}~{b} {rho:g}" for (a, b), rho in sorted(given.items()))
        out.append(
            (
                "uncertainty",
                f"the correlations ({pairs}) are not a valid correlation matrix (not positive "
                "semi-definite): lower them",
            )
        )
    return out


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

    ``replace(params, {"pricing.plans.pro.price": 59, "months": 24})``. Only existing keys can
    change (a new persona or plan needs ``load_config``). A few milliseconds: no Hydra.

    Raises:
        ConfigError: an unknown key or a bad value, naming the key.
    """
    tree = params.model_dump()
    for key, value in changes.items():
        _set(tree, key, value)
    return scenario_params(tree)


def _top_level(problems: list[Problem], tree: dict[str, Any]) -> list[Problem]:
    """Unknown top-level keys: list scenario and run keys together, and say what a scenario
    file that forgot its package line needs."""
    allowed = ", ".join([*_keys(ScenarioParams), *RUN_KEYS])
    landed = tree.get("scenario") if isinstance(tree.get("scenario"), dict) else {}
    out = []
    for key, message in problems:
        if message == "missing" and key in landed:
            continue  # it is there, under 'scenario.': the hint below says why
        if "." not in key and message.startswith("unknown key"):
            message = f"unknown key; allowed here: {allowed}"
            if key == "scenario" and isinstance(tree.get(key), dict):
                message = (
                    "a scenario file needs '# @package _global_' as its first line "
                    "(its keys landed under 'scenario.')"
                )
        out.append((key, message))
    return out


def plain_tree(cfg: DictConfig | Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """A config as plain dicts, interpolations resolved, without Hydra's own node; and one
    problem per ``${...}`` that cannot be resolved (its value is then None)."""
    problems: list[Problem] = []
    if isinstance(cfg, DictConfig):
        try:
            tree = OmegaConf.to_container(cfg, resolve=True)
        except OmegaConfBaseException:
            tree = OmegaConf.to_container(cfg, resolve=False)
            problems = _unresolvable(cfg, tree, "")
    else:
        tree = cfg
    if not isinstance(tree, Mapping):
        raise ConfigError([("config", f"must be a mapping of settings, got {_show(tree)}")])
    return {str(k): v for k, v in tree.items() if k != "hydra"}, problems


def _unresolvable(cfg: DictConfig, node: Any, prefix: str) -> list[Problem]:
    """Replace each interpolation of ``node`` (unresolved) that cannot be resolved by None;
    one problem each, naming the key and what it refers to."""
    out: list[Problem] = []
    items = node.items() if isinstance(node, dict) else []
    for name, value in items:
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            out += _unresolvable(cfg, value, key + ".")
        elif isinstance(value, str) and "${" in value:
            try:
                node[name] = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
            except OmegaConfBaseException:
                node[name] = None
                out.append((key, f"refers to {value}, which is not there"))
    return out


def read_config(
    cfg: DictConfig | Mapping[str, Any],
) -> tuple[ScenarioParams, RunSettings, dict[str, Any]]:
    """Validate a whole config in one pass: (scenario parameters, run settings, resolved tree).

    The scenario part (what is simulated) and the run part (``RUN_KEYS``: task, executor,
    progress, output) are separate models; their problems are reported together.

    Raises:
        ConfigError: every problem of both parts, one line each.
    """
    tree, unresolved = plain_tree(cfg)
    scenario, run = split_tree(tree)
    problems = _top_level(check_scenario(scenario), tree) + problems_of(RunSettings, run)
    if unresolved:  # their own line, instead of the type error of the None left in their place,
        # unless what they refer to has a problem of its own (that one line says it all)
        named = {k for k, _ in unresolved}
        problems = [p for p in problems if p[0] not in named]
        causes = [k for k, _ in problems]
        for key, message in unresolved:
            ref = message.split("${", 1)[1].split("}", 1)[0]
            if not any(ref == c or ref.startswith(c + ".") for c in causes):
                problems.append((key, message))
    if problems:
        raise ConfigError(problems)
    params = _with_names(ScenarioParams.model_validate(scenario))
    settings = RunSettings.model_validate(run)
    problems = _task_problems(params, settings)
    if problems:
        raise ConfigError(problems)
    return params, settings, tree


def _task_problems(params: ScenarioParams, settings: RunSettings) -> list[Problem]:
    """Problems of a task's settings against the scenario they act on, found with the rest
    (so the command line's pre-check reports them before any job starts): every value of a
    response grid must be a value its key accepts; an optimiser's space must fit the scenario."""
    problems: list[Problem] = []
    if settings.response is not None:
        for value in settings.response.values:
            try:
                replace(params, {settings.response.key: value})
            except ConfigError as exc:
                for k, m in exc.problems:
                    where = "response.key" if m.startswith("unknown key") else "response.values"
                    if (where, f"{k}: {m}") not in problems:  # an unknown key: said once
                        problems.append((where, f"{k}: {m}"))
    if settings.optimize is not None:
        from simulator.experiments.optimize import check_space

        problems += check_space(params, settings.optimize.space, prefix="optimize.")
    return problems


def run_settings(run: Mapping[str, Any]) -> RunSettings:
    """Validated run settings of the run part of a config (``ConfigError`` naming each key)."""
    problems = problems_of(RunSettings, dict(run))
    if problems:
        raise ConfigError(problems)
    return RunSettings.model_validate(dict(run))


def params_of(cfg: DictConfig | Mapping[str, Any] | ScenarioParams) -> ScenarioParams:
    """Validated scenario parameters of a config (``ScenarioParams`` pass through)."""
    return cfg if isinstance(cfg, ScenarioParams) else read_config(cfg)[0]
