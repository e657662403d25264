"""The ``journey-sim`` command: a thin ``@hydra.main`` over ``simulate``.

``journey-sim [overrides]`` runs one scenario and writes its outputs into the Hydra run
directory; ``journey-sim -m key=a,b,c`` sweeps and leaves one aggregated table in the sweep
directory. Bad input stops before any simulation with one message naming the key.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from simulator import __version__
from simulator.config import CONFIG_DIR, load_config
from simulator.errors import ConfigError
from simulator.metrics import (
    DEFAULT_DISCOUNT_RATE,
    HEADLINE,
    company_totals,
    format_value,
    replication_metrics,
)
from simulator.params import read_params
from simulator.runner import SimulationResult, load_checkpoint, simulate

#: Metrics the CLI prints after a run.
CLI_METRICS: tuple[str, ...] = (
    "ending_arr",
    "ending_customers",
    "monthly_logo_churn",
    "nrr_12m",
    "grr_12m",
    "ltv_to_cac",
    "payback_months",
    "sla_breach_rate",
)


def format_summary(result: SimulationResult, out_dir: Path | None) -> str:
    """The short, readable summary printed after a run."""
    p = result.params
    reps = int(result.monthly["replication"].nunique())
    lines = [
        f"journey-sim {__version__} · scenario {p.scenario_name} · {p.months} months · "
        f"{reps} replication{'s' if reps != 1 else ''} · seed {p.seed} · "
        f"market {p.market_size:,} accounts",
        "",
        f"  {'metric':<28}{'median':>12}    P10 – P90",
    ]
    summary = result.summary()
    for key in CLI_METRICS:
        label, kind = HEADLINE[key]
        s = summary[key]
        band = f"{format_value(s['p10'], kind)} – {format_value(s['p90'], kind)}"
        lines.append(f"  {label:<28}{format_value(s['median'], kind):>12}    {band}")
    if out_dir is not None:
        shown = os.path.relpath(out_dir) if out_dir.is_absolute() else str(out_dir)
        shown = shown if not shown.startswith("..") else str(out_dir)
        lines += ["", f"outputs: {shown}/"]
        files = ["monthly.parquet", "summary.json"]
        if (out_dir / "monthly.csv").exists():
            files.append("monthly.csv")
        plots = sorted((out_dir / "plots").glob("*.png"))
        files += [f"plots/{x.name}" for x in plots]
        lines.append("  " + "  ".join(files))
    return "\n".join(lines)


def run_task(cfg: DictConfig) -> int:
    """Run one scenario from a composed config; write outputs; print the summary."""
    for noisy in ("MESA", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        params = read_params(cfg)
    except ConfigError as exc:
        print(f"journey-sim: {exc}", file=sys.stderr)
        return 2
    for event in params.events:
        if event.month > params.months:
            print(
                f"journey-sim: note: events.{event.name} is in month {event.month}, after the "
                f"horizon ({params.months} months): it does not happen in this run",
                file=sys.stderr,
            )
    try:
        out_dir = Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        out_dir = Path("outputs") / params.scenario_name
    plain = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    try:
        result = simulate(plain, checkpoint_dir=out_dir)
    except KeyboardInterrupt:
        partial = load_checkpoint(out_dir)
        done = int(partial["replication"].nunique()) if len(partial) else 0
        if done:
            SimulationResult(
                partial,
                params,
                OmegaConf.to_container(plain, resolve=True),  # type: ignore[arg-type]
                meta={"interrupted": True},
            ).save(out_dir)
        print(
            f"\njourney-sim: interrupted; {done} of {params.replications} replications kept "
            f"in {out_dir}/",
            file=sys.stderr,
        )
        return 130
    result.save(out_dir)
    print(format_summary(result, out_dir))
    return 0


class SweepAggregator(Callback):
    """After a multirun, gather every job's monthly table into one tidy sweep table.

    Writes ``sweep_monthly.parquet`` (every job's rows, with ``job`` and one column per swept
    key) and ``sweep_summary.csv`` (headline metrics per job and replication) into the sweep
    directory.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        frames, metrics = [], []
        for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir()):
            table = job_dir / "monthly.parquet"
            overrides_file = job_dir / ".hydra" / "overrides.yaml"
            if not table.exists():
                continue
            monthly = pd.read_parquet(table)
            overrides = OmegaConf.load(overrides_file) if overrides_file.exists() else []
            swept = dict(str(o).split("=", 1) for o in overrides if "=" in str(o))
            job_config = job_dir / ".hydra" / "config.yaml"
            rate = (
                OmegaConf.select(
                    OmegaConf.load(job_config),
                    "finance.discount_rate",
                    default=DEFAULT_DISCOUNT_RATE,
                )
                if job_config.exists()
                else DEFAULT_DISCOUNT_RATE
            )
            per_rep = replication_metrics(company_totals(monthly), float(rate))
            for frame in (monthly, per_rep):
                frame.insert(0, "job", job_dir.name)
                for key, value in swept.items():
                    frame[key] = value
            frames.append(monthly)
            metrics.append(per_rep)
        if not frames:
            return
        pd.concat(frames, ignore_index=True).to_parquet(sweep_dir / "sweep_monthly.parquet")
        pd.concat(metrics, ignore_index=True).to_csv(sweep_dir / "sweep_summary.csv", index=False)
        print(f"journey-sim: sweep of {len(frames)} jobs aggregated in {sweep_dir}/")


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    code = run_task(cfg)
    if code:
        sys.exit(code)


def precheck(argv: list[str]) -> int:
    """Compose and validate a single run's overrides before Hydra starts any job.

    Unknown keys and bad values get the same one-message error as in the Python API (exit 2).
    Sweeps (``-m``), flags (``--help``, ``--cfg``…) and ``hydra.*`` overrides are left to Hydra.
    """
    if any(a.startswith("-") for a in argv):
        return 0
    overrides = [a for a in argv if not a.lstrip("+~").startswith("hydra.")]
    try:
        load_config(overrides)
    except ConfigError as exc:
        print(f"journey-sim: {exc}", file=sys.stderr)
        return 2
    return 0


def main() -> None:
    """Console entry point ``journey-sim``."""
    code = precheck(sys.argv[1:])
    if code:
        sys.exit(code)
    _hydra_main()


if __name__ == "__main__":
    main()
