"""Scenario configuration: Hydra composition of ``configs/`` plus validation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from simulator.errors import ConfigError
from simulator.params import ScenarioParams, read_params

#: The Hydra config tree shipped with the project.
CONFIG_DIR: Path = Path(__file__).resolve().parents[1] / "configs"


def _allowed_siblings(key: str) -> list[str]:
    """Keys that exist next to ``key`` in the default config (for the error message)."""
    parent, _, _ = key.rpartition(".")
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
            node = compose(config_name="config")
        for part in parent.split(".") if parent else []:
            if not isinstance(node, DictConfig) or part not in node:
                return _allowed_siblings(parent) if parent else []
            node = node[part]
    except (HydraException, OmegaConfBaseException):
        return []
    return [str(k) for k in node if k != "hydra"] if isinstance(node, DictConfig) else []


def hydra_error_to_config_error(exc: BaseException) -> ConfigError:
    """Turn a Hydra/OmegaConf composition error into one message naming the key and the
    allowed keys or options."""
    text = str(exc).strip()
    cause = str(exc.__cause__ or "")
    match = re.search(r"Could not override '([^']+)'", text) or re.search(r"full_key: (\S+)", text)
    key = match.group(1) if match else "overrides"
    detail = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if "not in struct" in text + cause:
        GlobalHydra.instance().clear()
        allowed = _allowed_siblings(key)
        detail = "unknown key" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    elif "Could not find" in text:
        group = re.search(r"Could not find '([^']+)'", text)
        key = group.group(1).split("/")[0] if group else key
        options = re.search(r"Available options in '[^']+':\s*(.*?)\s*Config search path", detail)
        chosen = group.group(1).split("/", 1)[-1] if group else "?"
        detail = f"no option '{chosen}'" + (
            f"; choose one of: {', '.join(options.group(1).split())}" if options else ""
        )
    return ConfigError([(key, detail)])


def load_config(
    overrides: Sequence[str] | None = None, config_name: str = "config", validate: bool = True
) -> DictConfig:
    """Compose the scenario config from ``configs/`` with Hydra overrides.

    Args:
        overrides: Hydra overrides, e.g. ``["pricing.plans.pro.price=49", "months=24"]`` or
            ``["scenario=price_increase"]``.
        config_name: the primary config file in ``configs/``.
        validate: check every value before returning (raises ``ConfigError``).

    Raises:
        ConfigError: unknown key, bad value or missing config option, naming the key.
    """
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
            cfg = compose(config_name=config_name, overrides=list(overrides or []))
    except (HydraException, OmegaConfBaseException) as exc:
        raise hydra_error_to_config_error(exc) from None
    cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    if validate:
        read_params(cfg)
    return cfg


def params_of(cfg: DictConfig | ScenarioParams) -> ScenarioParams:
    """Validated parameters of a config (pass-through for ``ScenarioParams``)."""
    return cfg if isinstance(cfg, ScenarioParams) else read_params(cfg)
