"""The ``journey-sim`` command line checked before Hydra starts any job.

``check_command_line`` composes and validates a run, or every value of every swept key of a
``-m`` sweep, with the same folders and messages as ``load_config``; ``hydra_arguments`` hands
Hydra a command line that searches those folders in the same order.
"""

from __future__ import annotations

import contextlib
import io
import itertools
from collections.abc import Sequence
from typing import Any

from hydra._internal.utils import get_args_parser
from hydra.core.override_parser.types import Override
from omegaconf import OmegaConf

from simulator.config import (
    CONFIG_DIR,
    compose_config,
    duplicated_keys,
    folder_path,
    parse_overrides,
    without_hydra,
)
from simulator.errors import ConfigError
from simulator.params import params_of


def _cli_args(argv: Sequence[str]) -> Any:
    """Hydra's own reading of a command line (None if Hydra would refuse it; Hydra says why)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return get_args_parser().parse_args(list(argv))
    except SystemExit:
        return None


def _problems(call: Any, *args: Any, **kwargs: Any) -> tuple[Any, list[tuple[str, str]]]:
    try:
        return call(*args, **kwargs), []
    except ConfigError as exc:
        return None, list(exc.problems)


def _check_sweep(
    overrides: list[str], config_name: str, user: tuple[str, str] | None, validate: bool
) -> None:
    """Check a ``-m`` sweep before Hydra starts a job: every job (each combination of the
    swept values, as Hydra's sweeper will run them), so a value that is only bad beside
    another one (shares that no longer sum to 1) stops the sweep before job 0; raise
    ``ConfigError`` with every problem, each once.

    Config groups and Hydra's own keys are composed once per combination of their values;
    plain keys are set on that composed config (``params_of``, a few ms a job)."""
    parsed = parse_overrides(overrides)
    base: list[str] = []
    swept: list[tuple[int, Override, list[str], list[Any]]] = []
    for text, o in zip(overrides, parsed, strict=True):
        if o.is_discrete_sweep():
            values = list(o.sweep_string_iterator())
            if values:
                swept.append((len(base), o, values, list(o.sweep_iterator())))
                base.append(f"{o.get_key_element()}={values[0]}")
        elif not o.is_sweep_override():  # interval()/glob() sweeps are left to the sweeper
            base.append(text)
    problems = _problems(compose_config, base, config_name, user, validate)[1]
    full = None if problems else compose_config(base, config_name, user, False, keep_hydra=True)
    choices = OmegaConf.select(full, "hydra.runtime.choices", default={}) if full else {}

    def composed(o: Override) -> bool:
        return bool(o.package or o.is_delete() or o.is_hydra_override()) or (
            o.key_or_group in choices
        )

    if full is None:  # the base does not compose: each value of each swept key once
        for i, o, texts, _ in swept:
            for text in texts[1:]:
                job = [*base[:i], f"{o.get_key_element()}={text}", *base[i + 1 :]]
                problems += _problems(compose_config, job, config_name, user, True)[1]
        raise ConfigError(list(dict.fromkeys(problems)))
    slow = [s for s in swept if composed(s[1])]
    fast = [s for s in swept if s not in slow]
    later: list[tuple[str, str]] = []  # problems of plain keys, after those of composing
    for slow_values in itertools.product(*(list(zip(s[2], s[3], strict=True)) for s in slow)):
        job = list(base)
        for (i, o, _, _), (text, _) in zip(slow, slow_values, strict=True):
            job[i] = f"{o.get_key_element()}={text}"
        if slow:
            found = _problems(compose_config, job, config_name, user, True)[1]
            problems += found
            if found:
                continue
            cfg = compose_config(job, config_name, user, False, keep_hydra=True)
        else:
            cfg = full
        for fast_values in itertools.product(*(s[3] for s in fast)):
            if slow and not fast:
                break  # the composed job was validated above
            variant = without_hydra(cfg)
            for (_, o, _, _), value in zip(fast, fast_values, strict=True):
                OmegaConf.update(variant, o.key_or_group, value, force_add=True)
            later += _problems(params_of, variant)[1]
    problems += later
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))


#: Command-line flags that do not run a scenario, or replace the packaged configs: left to Hydra.
_LEFT_TO_HYDRA = ("help", "hydra_help", "cfg", "info", "shell_completion", "experimental_rerun")
_LEFT_TO_HYDRA = (*_LEFT_TO_HYDRA, "config_path")


def check_command_line(argv: list[str]) -> ConfigError | None:
    """The problems of a ``journey-sim`` command line, found before Hydra starts any job.

    A plain run is composed and validated as ``load_config`` would; a ``-m`` sweep has each
    value of each swept key checked. ``--config-dir``/``-cd`` and ``hydra.searchpath`` folders
    are searched as in ``load_config`` (see ``hydra_arguments``); a key given twice is
    refused. ``--help``, ``--cfg``, ``--info``, ``--config-path`` and the like are left to Hydra,
    and so is a command line Hydra itself cannot read.
    """
    args = _cli_args(argv)
    if args is None or any(getattr(args, flag, None) for flag in _LEFT_TO_HYDRA):
        return None
    config_name = args.config_name or "config"
    user = ("--config-dir", args.config_dir) if args.config_dir else None
    overrides = list(args.overrides)
    try:
        problems = duplicated_keys(
            parse_overrides(overrides)
        )  # and the rest, composed with the last value
        check = _check_sweep if args.multirun else compose_config
        problems += _problems(check, overrides, config_name, user, True)[1]
    except ConfigError as exc:  # an override that cannot be parsed
        return exc
    return ConfigError(problems) if problems else None


def hydra_arguments(argv: list[str]) -> list[str]:
    """The command line to hand to Hydra so that it searches the folders ``load_config``
    searches, in the same order: ``--config-dir DIR`` becomes ``--config-path=DIR
    --config-dir=<packaged configs>`` (DIR first, then the packaged configs; Hydra's own
    ``--config-dir`` would search DIR after them). Unchanged otherwise."""
    args = _cli_args(argv)
    if args is None or args.config_path or not args.config_dir:
        return list(argv)
    if not folder_path(args.config_dir).is_dir():
        return list(argv)
    out, skip = [], False
    for arg in argv:
        if skip or arg.startswith(("--config-dir=", "-cd=")):
            skip = False
            continue
        skip = arg in ("--config-dir", "-cd")
        if not skip:
            out.append(arg)
    return [f"--config-path={folder_path(args.config_dir)}", f"--config-dir={CONFIG_DIR}", *out]
