"""Scenario configuration: Hydra composition of ``configs/`` plus validation.

A user's own folder (``load_config(config_dir=DIR)`` or ``journey-sim --config-dir DIR``) is
searched *before* the packaged ``configs/``: a file there adds an option (``DIR/scenario/mine.yaml``
is ``scenario=mine``) or replaces the packaged file of the same name (``DIR/market/default.yaml``,
even ``DIR/config.yaml``); everything else comes from ``configs/``. ``hydra.searchpath=[...]``
folders keep Hydra's meaning, searched *after* them: a file there that an earlier folder hides
is refused. The API and the command line search the same folders (see ``hydra_arguments``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir
from hydra._internal.hydra import Hydra
from hydra._internal.utils import create_config_search_path
from hydra.core.config_search_path import SearchPathQuery
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from simulator.errors import ConfigError
from simulator.params import read_config

#: The Hydra config tree shipped with the project.
CONFIG_DIR: Path = Path(__file__).resolve().parents[1] / "configs"
_SEARCHPATH = "hydra.searchpath"


@dataclass(frozen=True)
class _Layout:
    """Where Hydra looks for configs, in order: the user's folder (if any), the packaged
    configs, then the ``hydra.searchpath`` folders (overrides pass them to Hydra as given)."""

    user: Path | None = None  # config_dir / --config-dir
    searchpath: tuple[str, ...] = ()

    def folders(self) -> list[Path]:
        """Local folders in search order (to find a config file by group and option)."""
        local = [folder_path(p) for p in self.searchpath if not p.startswith("pkg://")]
        return [*([self.user] if self.user else []), CONFIG_DIR, *local]


def folder_path(given: str) -> Path:
    return Path(given.removeprefix("file://")).expanduser().resolve()


def _layout(
    user: tuple[str, str] | None, searchpath: Sequence[str]
) -> tuple[_Layout, list[tuple[str, str]]]:
    """The search path for a user folder ``(key, path)`` and ``hydra.searchpath`` entries; a
    missing folder, and a searchpath file hidden by one of the same name earlier in the search
    path (Hydra would silently ignore it), are problems."""
    problems = []
    folder = folder_path(user[1]) if user else None
    if user and not folder.is_dir():  # type: ignore[union-attr]
        problems.append((user[0], f"no such folder: {folder} (given as {user[1]!r})"))
    layout = _Layout(folder if folder and folder.is_dir() else None, tuple(searchpath))
    earlier = [*([layout.user] if layout.user else []), CONFIG_DIR]
    for given in (p for p in searchpath if not p.startswith("pkg://")):
        if not folder_path(given).is_dir():
            problems.append(
                (_SEARCHPATH, f"no such folder: {folder_path(given)} (given as {given!r})")
            )
            continue
        for file in sorted(folder_path(given).rglob("*.yaml")):
            rel = file.relative_to(folder_path(given))
            hiding = next((d / rel for d in earlier if (d / rel).is_file()), None)
            if hiding and hiding.read_bytes() != file.read_bytes():
                why = "Hydra uses the first; rename yours, or pass its folder as --config-dir"
                problems.append((_SEARCHPATH, f"{file} is hidden by {hiding} ({why})"))
        earlier.append(folder_path(given))
    return layout, problems


@contextlib.contextmanager
def _hydra(layout: _Layout) -> Iterator[None]:
    """Hydra initialised as ``journey-sim`` sets it up (see ``hydra_arguments``)."""
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(layout.user or CONFIG_DIR)):
        if layout.user:  # as Hydra's --config-dir does: before the schema, after the main folder
            search = create_config_search_path(str(layout.user))
            search.prepend(
                provider="command-line",
                path=f"file://{CONFIG_DIR}",
                anchor=SearchPathQuery(provider="schema"),
            )
            GlobalHydra.instance().clear()  # the with block restores what was there before
            Hydra.create_main_hydra2(task_name="journey-sim", config_search_path=search)
        yield


def parse_overrides(overrides: Sequence[str]) -> list[Override]:
    """Hydra's reading of each override; one problem per override it cannot read."""
    parser = OverridesParser.create()
    parsed, problems = [], []
    for text in overrides:
        try:
            parsed.append(parser.parse_override(text))
        except HydraException as exc:
            detail = str(exc).splitlines()[0] if str(exc).strip() else "cannot be parsed"
            problems.append((text, f"not an override of the form key=value ({detail})"))
    if problems:
        raise ConfigError(problems)
    return parsed


def _group_choices(parsed: Sequence[Override], layout: _Layout) -> list[tuple[str, str]]:
    """A config group chosen with something that is not an option name (``pricing=5``: Hydra
    raises a bare ValueError for it)."""
    problems = []
    for o in parsed:
        dirs = [d / o.key_or_group for d in layout.folders() if (d / o.key_or_group).is_dir()]
        if not dirs or o.is_sweep_override() or isinstance(o.value(), str | None):
            continue
        options = sorted({f.stem for d in dirs for f in d.glob("*.yaml")})
        choose = f"; choose one of: {', '.join(options)}" if options else ""
        problems.append((o.key_or_group, f"no option '{_value_text(o)}'{choose}"))
    return problems


def _value_text(override: Override) -> str:
    return override.input_line.partition("=")[2] if "=" in override.input_line else "(deleted)"


def duplicated_keys(parsed: Sequence[Override]) -> list[tuple[str, str]]:
    """One problem per key given more than once (Hydra would silently keep the last)."""
    seen: dict[str, list[str]] = {}
    for o in parsed:
        key = o.key_or_group + (f"@{o.package}" if o.package else "")
        seen.setdefault(key, []).append(_value_text(o))
    return [
        (key, f"given {len(vals)} times ({', '.join(vals[:-1])} and {vals[-1]}); give it once")
        for key, vals in seen.items()
        if len(vals) > 1
    ]


def _searchpath(parsed: Sequence[Override]) -> tuple[list[str], list[tuple[str, str]]]:
    """The folders of a ``hydra.searchpath=[...]`` override (Hydra reads it itself)."""
    for o in parsed:
        if o.key_or_group == _SEARCHPATH and not o.is_sweep_override():
            value = o.value()
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return value, []
            return [], [(_SEARCHPATH, f"must be a list of folders, got {_value_text(o)}")]
    return [], []


def _searchpath_overrides(layout: _Layout) -> list[str]:
    quoted = ", ".join(
        "'" + p.replace("\\", "\\\\").replace("'", "\\'") + "'" for p in layout.searchpath
    )
    return [f"{_SEARCHPATH}=[{quoted}]"] if layout.searchpath else []


def _file_of(layout: _Layout, group: str, option: str) -> str:
    for folder in layout.folders():
        path = folder / group / f"{option}.yaml"
        if path.is_file():
            return str(path)
    return f"{group}/{option}.yaml"


def _yaml_problem(exc: yaml.YAMLError, layout: _Layout) -> tuple[str, str]:
    """A config file that is not valid YAML: its group (the key), the file, line and problem."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = str(getattr(exc, "problem", None) or exc).strip()
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if "\t" in problem or "'\\t'" in problem:
        problem = "a tab character; YAML indents with spaces only"
    elif problem.startswith("found duplicate key"):
        problem = f"key '{problem.removeprefix('found duplicate key').strip()}' given twice"
    else:
        problem = f"not valid YAML: {problem}"
        if context and start and mark and start.line != mark.line:
            problem += f" ({context} that starts on line {start.line + 1})"
    if mark is None:
        return ("config", problem)
    path = Path(mark.name)
    root = next((d for d in layout.folders() if path.is_relative_to(d)), path.parent)
    group = str(path.parent.relative_to(root)) if path.is_relative_to(root) else "."
    key = "config" if group == "." else group
    return (key, f"{path}, line {mark.line + 1}, column {mark.column + 1}: {problem}")


def _allowed_siblings(
    key: str, layout: _Layout | None = None, config_name: str = "config"
) -> list[str]:
    """Keys that exist next to ``key`` in the default config (for the error message), composed
    from the same config folders as the load."""
    layout = layout or _Layout()
    parent, _, _ = key.rpartition(".")
    try:
        with _hydra(layout):
            node = compose(config_name=config_name, overrides=_searchpath_overrides(layout))
        for part in parent.split(".") if parent else []:
            if not isinstance(node, DictConfig) or part not in node:
                return _allowed_siblings(parent, layout, config_name) if parent else []
            node = node[part]
    except (HydraException, OmegaConfBaseException, yaml.YAMLError):
        return []
    return [str(k) for k in node if k != "hydra"] if isinstance(node, DictConfig) else []


def hydra_error_to_config_error(
    exc: BaseException, layout: _Layout | None = None, config_name: str = "config"
) -> ConfigError:
    """Turn a Hydra/OmegaConf composition error into one message naming the key and the
    allowed keys or options."""
    text = str(exc).strip()
    cause = str(exc.__cause__ or "")
    match = re.search(r"Could not override '([^']+)'", text) or re.search(r"full_key: (\S+)", text)
    key = match.group(1) if match else "overrides"
    detail = " ".join(line.strip() for line in text.splitlines() if line.strip())
    merge = re.search(r"In '([^']+)': .*Cannot merge (\w+)Config with (\w+)Config", detail)
    if "not in struct" in text + cause:
        GlobalHydra.instance().clear()
        allowed = _allowed_siblings(key, layout, config_name)
        detail = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    elif "Could not find" in text:
        group = re.search(r"Could not find '([^']+)'", text)
        key = group.group(1).split("/")[0] if group else key
        options = re.search(r"Available options in '[^']+':\s*(.*?)\s*Config search path", detail)
        chosen = group.group(1).split("/", 1)[-1] if group else "?"
        detail = f"no option '{chosen}'" + (
            f"; choose one of: {', '.join(options.group(1).split())}" if options else ""
        )
    elif merge:
        group, _, option = merge.group(1).rpartition("/")
        key = group or merge.group(1)
        file = _file_of(layout or _Layout(), group, option)
        detail = f"{file} holds a {merge.group(3).lower()}; a config file holds key: value lines"
    elif "Ambiguous value for argument" in text:
        key = re.search(r"argument '([^'=]+)", text).group(1)  # type: ignore[union-attr]
        detail = "several values are a sweep: add -m, or write a list as [a,b]"
    return ConfigError([(key, detail)])


def _list_files(cfg: DictConfig, layout: _Layout) -> list[tuple[str, str]]:
    """Config files whose top level is a list (they compose as a list under their group)."""
    choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    problems = []
    for group, option in choices.items():
        if group.startswith("hydra/") or option is None:
            continue
        if isinstance(OmegaConf.select(cfg, group.replace("/", "."), default=None), ListConfig):
            file = _file_of(layout, group, str(option))
            problems.append((group, f"{file} holds a list; a config file holds key: value lines"))
    return problems


def without_hydra(cfg: DictConfig) -> DictConfig:
    return OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])


def compose_config(
    overrides: Sequence[str],
    config_name: str,
    user: tuple[str, str] | None,
    validate: bool,
    keep_hydra: bool = False,
) -> DictConfig:
    """Compose (and validate); with ``keep_hydra`` the ``hydra`` node stays, unvalidated."""
    parsed = parse_overrides(overrides)
    folders, problems = _searchpath(parsed)
    layout, missing = _layout(user, folders)
    problems += missing + _group_choices(parsed, layout)
    if problems:
        raise ConfigError(problems)
    cfg, problems = _compose(list(overrides), parsed, layout, config_name)
    listed = _list_files(cfg, layout) if cfg is not None else []
    if cfg is None or listed or (problems and keep_hydra):  # nothing (sound) to validate
        raise ConfigError(problems + listed)
    if keep_hydra:
        return cfg
    cfg = without_hydra(cfg)
    if validate:
        try:
            read_config(cfg)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return cfg


def _compose(
    overrides: list[str], parsed: list[Override], layout: _Layout, config_name: str
) -> tuple[DictConfig | None, list[tuple[str, str]]]:
    """Compose with Hydra; an override Hydra refuses (unknown key, missing option) is a
    problem, and the rest is composed again without it, so every problem is found at once.
    (None, problems) when nothing composes (a config file that is not valid YAML)."""
    problems: list[tuple[str, str]] = []
    while True:
        try:
            with _hydra(layout):
                return compose(config_name, overrides, return_hydra_config=True), problems
        except (HydraException, OmegaConfBaseException) as exc:
            problem = hydra_error_to_config_error(exc, layout, config_name).problems[0]
        except yaml.YAMLError as exc:
            return None, [*problems, _yaml_problem(exc, layout)]
        problems.append(problem)
        culprit = next((i for i, o in enumerate(parsed) if o.key_or_group == problem[0]), None)
        if culprit is None:
            return None, problems
        del overrides[culprit], parsed[culprit]


def load_config(
    overrides: Sequence[str] | None = None,
    config_name: str = "config",
    validate: bool = True,
    config_dir: str | Path | None = None,
) -> DictConfig:
    """Compose the scenario config from ``configs/`` with Hydra overrides.

    Args:
        overrides: Hydra overrides, e.g. ``["pricing.plans.pro.price=49", "months=24"]`` or
            ``["scenario=price_increase"]``; a key given again wins (so lists can be layered:
            base + variant; the command line refuses it instead). ``hydra.searchpath=[...]``
            adds folders searched after the packaged configs, as in Hydra; a file there that
            one earlier in the search path hides is refused.
        config_name: the primary config file.
        validate: check every value before returning (raises ``ConfigError``).
        config_dir: a folder of the user's own configs, searched before the packaged
            ``configs/``: ``DIR/scenario/mine.yaml`` is ``scenario=mine``, and a file with a
            packaged name (``DIR/personas/default.yaml``, ``DIR/config.yaml``) replaces it.
            ``journey-sim --config-dir DIR`` means the same.

    Raises:
        ConfigError: unknown key, bad value, missing config option or folder,
            or a config file that is not valid YAML or not a mapping; every problem named.
    """
    user = ("config_dir", str(config_dir)) if config_dir is not None else None
    return compose_config(list(overrides or []), config_name, user, validate)
