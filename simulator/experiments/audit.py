"""``audit``: what each touchpoint is worth, and where the journey loses the most accounts.

For every touchpoint (``simulator.mechanisms.touchpoints``) the audit runs two paired variants of
the scenario with common random numbers (``simulator.experiments.compare``: same seed, same
replications, so replication ``r`` of each variant differs from the baseline's only where the
touchpoint acts):

- **ablation**: the touchpoint switched off (``enabled: false``). Its value is baseline -
  variant, replication by replication: incremental customers at the horizon (paying accounts),
  ARR at the horizon ($/year), gross profit over the horizon (revenue billed - COGS - support
  cost, $, as ``compare``), the touchpoint cost it adds (every touchpoint's cost in
  ``SimulationResult.touchpoints``, $ over the horizon: switching one off also changes the
  accounts the others touch), net value = gross profit - cost, and ROI = net value / cost.
- **marginal**: its reach + ``reach_step`` (points, for every persona it reaches, capped at 1).
  Its cost is the extra spend on the touchpoint itself (per-account cost × the extra accounts
  reached); return per extra dollar = (extra gross profit - the other touchpoints' extra cost) /
  that extra spend (1.0 pays back within the horizon); undefined (n/a) for a touchpoint whose
  reach costs nothing extra (no per-account cost), whose net value is its measure then.

Each measure is reported as the median and P10-P90 of the paired differences across
replications, per persona and in total (``persona == "total"``). Gross profit counts the horizon
only; the ARR at the horizon is what carries on. The ranking orders touchpoints by the median net
value of the ablation (company total).

**Programmes** (``simulator.programmes``): the built-in programmes, each acquisition channel,
each onboarding path but the cheapest, the customer-success team and the knowledge base, are
audited the same way, in the same tables with ``kind`` = ``programme`` (``touchpoint`` for
the others): the ablation applies the programme's ``off`` overrides, the marginal analysis its
``more`` (+``spend_step`` of its spend or capacity; none for an onboarding path). A programme's
cost is its own monthly cost column (channel spend in ``acquisition_cost``, ``onboarding_cost``,
``success_cost``; the knowledge base has none), paired like the rest, plus the change of every
touchpoint's cost: cost = baseline - variant of both; the marginal's extra spend is the change of
its own column.

"Areas to optimise" are the baseline's stage transitions with the most accounts lost, per
persona: consideration → decision (prospects lost), decision → paying (deciders who do not buy),
onboarding → activation (failures), annual renewal (contracts not renewed), paying → churned
(customers at month 0 + new + reactivated who churned), with the share lost (drop-off).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from simulator.errors import ConfigError
from simulator.experiments.compare import _num, compare
from simulator.experiments.executors import Executor, make_executor
from simulator.params import ScenarioParams, read_config

#: Measures of the audit table, per analysis (ablation, marginal).
MEASURES: tuple[str, ...] = (
    "incremental_customers",
    "incremental_arr",
    "incremental_gross_profit",
    "cost",
    "net_value",
    "roi",
    "return_per_dollar",
)
#: Columns of ``AuditResult.table``.
TABLE_COLUMNS: tuple[str, ...] = (
    "analysis",
    "kind",
    "touchpoint",
    "stage",
    "persona",
    "measure",
    "replications",
    "median",
    "p10",
    "p90",
    "mean",
)
#: The stage transitions of the drop-off table: (name, entered, lost) from the monthly flows.
TRANSITIONS: tuple[str, ...] = (
    "consideration → decision",
    "decision → paying",
    "onboarding → activation",
    "annual renewal",
    "paying → churned",
)
#: Short names of the measures in ``AuditResult.ranking`` and ``marginal``.
SHORT: dict[str, str] = {
    "incremental_customers": "customers",
    "incremental_arr": "arr",
    "incremental_gross_profit": "gross_profit",
    "cost": "cost",
    "net_value": "net_value",
    "roi": "roi",
    "return_per_dollar": "return_per_dollar",
}
#: Columns of ``AuditResult.ranking`` and ``marginal``: median, P10 and P90 of each measure.
RANKING_COLUMNS: tuple[str, ...] = (
    "rank",
    "kind",
    "touchpoint",
    "stage",
    *(f"{s}_{stat}" for s in SHORT.values() for stat in ("median", "p10", "p90")),
)
_METRICS = {
    "ending_customers": "incremental_customers",
    "ending_arr": "incremental_arr",
    "gross_profit": "incremental_gross_profit",
}


@dataclass
class AuditResult:
    """The outputs of ``audit``.

    Attributes:
        table: one row per analysis (ablation, marginal), touchpoint, persona (``total`` for the
            company) and measure: median, P10, P90 and mean over replications (``TABLE_COLUMNS``).
        per_replication: the paired values behind it, one row per analysis, touchpoint,
            persona and replication, a column per measure.
        ranking: the touchpoints ranked by the median net value of their ablation (total).
        marginal: the touchpoints ranked by median return per extra dollar (total).
        dropoffs: the baseline's stage transitions, per persona and total: accounts entering,
            lost and the drop-off share (median over replications), most accounts lost first.
        months, replications, reach_step, spend_step: what the audit ran.
    """

    table: pd.DataFrame
    per_replication: pd.DataFrame
    ranking: pd.DataFrame
    marginal: pd.DataFrame
    dropoffs: pd.DataFrame
    months: int
    replications: int
    reach_step: float
    drop_offs: int = 8
    spend_step: float = 0.10

    def format(self) -> str:
        """The printed audit: the ranking, the marginal returns and the largest drop-offs."""
        lines = [
            f"touchpoint audit: {self.months} months, {self.replications} replications, "
            "paired with common random numbers; company total, median [P10, P90]",
            "",
            "value of each touchpoint and programme (baseline - it switched off):",
            f"  {'#':>2}  {'touchpoint':<26}{'kind':<11}{'customers':>22}{'ARR at horizon':>28}"
            f"{'net value':>28}{'cost':>11}{'ROI':>8}",
        ]
        for r in self.ranking.itertuples():
            lines.append(
                f"  {r.rank:>2}  {r.touchpoint:<26}{r.kind:<11}"
                f"{_band(r.customers_median, r.customers_p10, r.customers_p90):>22}"
                f"{_band(r.arr_median, r.arr_p10, r.arr_p90):>28}"
                f"{_band(r.net_value_median, r.net_value_p10, r.net_value_p90):>28}"
                f"{_num(r.cost_median):>11}{_num(r.roi_median):>8}"
            )
        lines += [
            "",
            f"marginal return per extra dollar (touchpoints: reach + {self.reach_step:g};"
            f" programmes: spend or capacity + {self.spend_step:.0%}):",
            f"  {'touchpoint':<26}{'kind':<11}{'extra cost':>12}{'extra gross profit':>30}"
            f"{'$ per $':>10}",
        ]
        for r in self.marginal.itertuples():
            gp = _band(r.gross_profit_median, r.gross_profit_p10, r.gross_profit_p90)
            lines.append(
                f"  {r.touchpoint:<26}{r.kind:<11}{_num(r.cost_median):>12}{gp:>30}"
                f"{_num(r.return_per_dollar_median):>10}"
            )
        lines += [
            "",
            "  (extra cost: the extra spend on the touchpoint or programme; $ per $: extra gross"
            " profit net of the touchpoints' other extra cost per extra dollar; n/a: its extra"
            " reach costs nothing; onboarding paths have no marginal step)",
            "",
            "areas to optimise (stage transitions with the most accounts lost):",
            f"  {'persona':<12}{'transition':<28}{'entered':>10}{'lost':>10}{'drop-off':>10}",
        ]
        shown = self.dropoffs[self.dropoffs["persona"] != "total"].head(self.drop_offs)
        for r in shown.itertuples():
            lines.append(
                f"  {r.persona:<12}{r.transition:<28}{_num(r.entered):>10}{_num(r.lost):>10}"
                f"{r.drop_off:>10.1%}"
            )
        return "\n".join(lines)

    def save(self, directory: str | Path, *, plots: bool = True) -> Path:
        """Write ``audit.csv`` / ``audit.parquet`` (``table``), ``per_replication.parquet``,
        ``ranking.csv``, ``marginal.csv``, ``dropoffs.csv`` and ``plots/audit.png``, each
        atomically."""
        from simulator.experiments.jobs import atomic_write

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "audit.csv", lambda p: self.table.to_csv(p, index=False))
        atomic_write(out / "audit.parquet", lambda p: self.table.to_parquet(p, index=False))
        atomic_write(
            out / "per_replication.parquet",
            lambda p: self.per_replication.to_parquet(p, index=False),
        )
        atomic_write(out / "ranking.csv", lambda p: self.ranking.to_csv(p, index=False))
        atomic_write(out / "marginal.csv", lambda p: self.marginal.to_csv(p, index=False))
        atomic_write(out / "dropoffs.csv", lambda p: self.dropoffs.to_csv(p, index=False))
        if plots:
            import matplotlib.pyplot as plt

            from simulator.plots import plot_audit

            fig = plot_audit(self.ranking)
            (out / "plots").mkdir(parents=True, exist_ok=True)
            fig.tight_layout()
            atomic_write(
                out / "plots" / "audit.png", lambda p: fig.savefig(p, dpi=110, format="png")
            )
            plt.close(fig)
        return out


def _band(median: float, p10: float, p90: float) -> str:
    return f"{_num(median)} [{_num(p10)}, {_num(p90)}]"


def check_audit(
    params: ScenarioParams,
    touchpoints: Sequence[str] | None,
    programmes: Sequence[str] | None = (),
) -> list[str]:
    """The touchpoints to audit (every one of the scenario when ``touchpoints`` is None).

    Raises:
        ConfigError: a name that is not a touchpoint of the scenario, or nothing to audit
            (no touchpoint and no programme: ``programmes`` as ``check_programmes``).
    """
    known = list(params.touchpoints)
    names = known if touchpoints is None else list(touchpoints)
    problems = [
        (
            "audit.touchpoints",
            f"unknown touchpoint {n!r}; touchpoints are {', '.join(known) or 'none'}",
        )
        for n in names
        if n not in known
    ]
    try:
        progs = check_programmes(params, programmes)
    except ConfigError as exc:
        problems += exc.problems
        progs = []
    problems += [
        (
            "audit.programmes",
            f"{n!r} is a touchpoint's name and a programme's: rename the touchpoint",
        )
        for n in progs
        if n in known
    ]
    if not names and not progs and not problems:
        problems.append(
            ("audit.touchpoints", "no touchpoint or programme to audit (touchpoints is empty)")
        )
    if problems:
        raise ConfigError(problems)
    return names


def check_programmes(params: ScenarioParams, programmes: Sequence[str] | None) -> list[str]:
    """The built-in programmes to audit (``simulator.programmes``; every one when None).

    Raises:
        ConfigError: a name that is not a programme of the scenario.
    """
    from simulator.programmes import programmes as built_in

    known = list(built_in(params))
    names = known if programmes is None else list(programmes)
    problems = [
        ("audit.programmes", f"unknown programme {n!r}; programmes are {', '.join(known)}")
        for n in names
        if n not in known
    ]
    if problems:
        raise ConfigError(problems)
    return names


def audit(
    cfg: DictConfig | ScenarioParams,
    *,
    touchpoints: Sequence[str] | None = None,
    programmes: Sequence[str] | None = None,
    reach_step: float = 0.10,
    spend_step: float = 0.10,
    drop_offs: int = 8,
    executor: Executor | None = None,
    progress: bool | None = False,
) -> AuditResult:
    """Audit the scenario's touchpoints and built-in programmes (module docstring).

    Args:
        cfg: the scenario (``load_config(...)`` or validated parameters); its seed and
            replications are every variant's.
        touchpoints: the touchpoints to audit (default: every one of the scenario).
        programmes: the built-in programmes to audit (``simulator.programmes``: e.g.
            ``channel:paid_ads``, ``onboarding:guided``, ``customer_success``,
            ``knowledge_base``; default: every one; ``[]``: none).
        reach_step: reach added to every persona a touchpoint reaches for its marginal return
            (share, in (0, 1]).
        spend_step: share of a programme's spend or capacity added for its marginal return
            (in (0, 1]).
        drop_offs: how many stage transitions ``format`` lists as areas to optimise.
        executor: where replications run (default: the config's ``executor``; serial for
            parameters).
        progress: a progress bar per scenario.

    Raises:
        ConfigError: an unknown touchpoint or programme, a bad ``reach_step`` or
            ``spend_step``, before any simulation.
    """
    from simulator.programmes import programmes as built_in

    if isinstance(cfg, DictConfig):
        params, settings, _ = read_config(cfg)
        executor = executor or make_executor(settings.executor)
    else:
        params = cfg
    for key, step in (("audit.reach_step", reach_step), ("audit.spend_step", spend_step)):
        if not (isinstance(step, int | float) and 0 < step <= 1):
            raise ConfigError([(key, f"must be in (0, 1], got {step!r}")])
    names = check_audit(params, touchpoints, programmes)
    progs = {n: built_in(params, spend_step)[n] for n in check_programmes(params, programmes)}
    variants: dict[str, dict[str, Any]] = {}
    for name in names:
        tp = params.touchpoints[name]
        variants[f"off:{name}"] = {f"touchpoints.{name}.enabled": False}
        variants[f"more:{name}"] = {
            f"touchpoints.{name}.reach.{p}": min(r + reach_step, 1.0)
            for p, r in tp.reach.items()
            if r > 0
        }
    for name, prog in progs.items():
        variants[f"off:{name}"] = dict(prog.off)
        if prog.more is not None:
            variants[f"more:{name}"] = dict(prog.more)
    cmp = compare(params, variants, executor=executor, progress=progress)
    activity = {n: r.touchpoints for n, r in cmp.results.items()}
    monthly = {n: r.monthly for n, r in cmp.results.items()}
    base_cost = _costs(activity["baseline"])
    audited = [("touchpoint", n, params.touchpoints[n].stage, None) for n in names]
    audited += [("programme", n, p.stage, p.cost_column) for n, p in progs.items()]
    rows = []
    for kind, name, stage, column in audited:
        for analysis, key, sign in (("ablation", "off", -1.0), ("marginal", "more", 1.0)):
            variant = f"{key}:{name}"
            if variant not in variants:
                continue  # (an onboarding path has no marginal step)
            paired = cmp.paired[cmp.paired["variant"] == variant]
            wide = paired.pivot_table(
                index=["persona", "replication"], columns="metric", values="difference"
            )
            wide = (sign * wide[list(_METRICS)]).rename(columns=_METRICS)
            # every touchpoint's cost, and the audited one's own cost: its touchpoint cost, or
            # the programme's monthly cost column (added to the touchpoints' for a programme)
            cost = sign * (_costs(activity[variant]) - base_cost)
            if kind == "touchpoint":
                own = sign * (_costs(activity[variant], name) - _costs(activity["baseline"], name))
            elif column is None:
                own = cost * 0.0
            else:
                own = sign * (
                    _column(monthly[variant], column) - _column(monthly["baseline"], column)
                )
                cost = cost.add(own, fill_value=0.0)
            cost = cost.reindex(wide.index).fillna(0.0)
            own = own.reindex(wide.index).fillna(0.0)
            # sums of the same costs in another order differ in the last bits: those are 0
            cost = cost.where(cost.abs() > 1e-6, 0.0)
            own = own.where(own.abs() > 1e-6, 0.0)
            # ablation: all the cost it adds; marginal: the extra spend on it (the touchpoints'
            # other extra cost is taken off the gross profit it adds)
            wide["cost"] = cost if analysis == "ablation" else own
            wide["net_value"] = wide["incremental_gross_profit"] - cost
            c = wide["cost"].to_numpy()
            wide["roi"] = np.divide(
                wide["net_value"].to_numpy(), c, out=np.full(len(c), np.nan), where=c != 0
            )
            gain = (wide["incremental_gross_profit"] - (cost - own)).to_numpy()
            wide["return_per_dollar"] = np.divide(
                gain, own.to_numpy(), out=np.full(len(c), np.nan), where=own.to_numpy() > 1e-9
            )
            rows.append(
                wide.reset_index().assign(
                    analysis=analysis, kind=kind, touchpoint=name, stage=stage
                )
            )
    per_rep = pd.concat(rows, ignore_index=True)
    lead = ["analysis", "kind", "touchpoint", "stage", "persona", "replication"]
    per_rep = per_rep[[*lead, *MEASURES]]
    table = _summary(per_rep)
    base = cmp.results["baseline"]
    return AuditResult(
        table=table,
        per_replication=per_rep,
        ranking=_ranking(table, "ablation", "net_value"),
        marginal=_ranking(table, "marginal", "return_per_dollar"),
        dropoffs=dropoffs(base.monthly),
        months=params.months,
        replications=params.replications,
        reach_step=float(reach_step),
        drop_offs=int(drop_offs),
        spend_step=float(spend_step),
    )


def _column(monthly: pd.DataFrame, column: str) -> pd.Series:
    """A monthly column summed over the horizon per (persona, replication), with ``total``."""
    by = monthly.groupby(["persona", "replication"])[column].sum()
    total = monthly.groupby("replication")[column].sum()
    total.index = pd.MultiIndex.from_product([["total"], total.index], names=by.index.names)
    return pd.concat([by, total])


def _costs(activity: pd.DataFrame, touchpoint: str | None = None) -> pd.Series:
    """Touchpoint cost over the horizon per (persona, replication), with ``total``: of every
    touchpoint, or of ``touchpoint`` alone."""
    if touchpoint is not None:
        activity = activity[activity["touchpoint"] == touchpoint]
    by = activity.groupby(["persona", "replication"])["cost"].sum()
    total = activity.groupby("replication")["cost"].sum()
    total.index = pd.MultiIndex.from_product([["total"], total.index], names=by.index.names)
    return pd.concat([by, total])


def _summary(per_rep: pd.DataFrame) -> pd.DataFrame:
    long = per_rep.melt(
        id_vars=["analysis", "kind", "touchpoint", "stage", "persona", "replication"],
        var_name="measure",
        value_name="value",
    )
    rows = []
    for keys, g in long.groupby(
        ["analysis", "kind", "touchpoint", "stage", "persona", "measure"], sort=False
    ):
        v = g["value"].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        stats = (np.median(v), *np.percentile(v, [10, 90]), v.mean()) if v.size else (np.nan,) * 4
        rows.append((*keys, int(v.size), *(float(x) + 0.0 for x in stats)))  # (no -0.0)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _ranking(table: pd.DataFrame, analysis: str, by: str) -> pd.DataFrame:
    """One row per touchpoint (company total): median, P10, P90 of the main measures, sorted by
    the median of ``by`` (largest first; undefined last)."""
    t = table[(table["analysis"] == analysis) & (table["persona"] == "total")]
    short = SHORT
    wide = t.pivot_table(
        index=["kind", "touchpoint", "stage"], columns="measure", values=["median", "p10", "p90"]
    )
    out = pd.DataFrame(index=wide.index)
    for measure, label in short.items():
        for stat in ("median", "p10", "p90"):
            col = (stat, measure)
            out[f"{label}_{stat}"] = wide[col] if col in wide.columns else np.nan
    out = out.reset_index()
    key = f"{short[by]}_median"
    out = out.sort_values(key, ascending=False, na_position="last", kind="stable")
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)[list(RANKING_COLUMNS)]


def dropoffs(monthly: pd.DataFrame) -> pd.DataFrame:
    """The stage transitions of a run (module docstring), per persona and total: accounts that
    entered and were lost over the horizon and the share lost (median over replications), most
    accounts lost first."""
    sums = monthly.groupby(["persona", "replication"], sort=False)[
        [
            "decisions_started",
            "prospects_lost",
            "decisions",
            "new_customers",
            "activations",
            "activation_failures",
            "renewals_due",
            "renewals",
            "churned_customers",
            "reactivated_customers",
        ]
    ].sum()
    first = monthly[monthly["month"] == monthly["month"].min()].set_index(
        ["persona", "replication"]
    )
    start = first["customers"] - first["new_customers"] - first["reactivated_customers"]
    start = start + first["churned_customers"]
    parts = {
        "consideration → decision": (
            sums["decisions_started"] + sums["prospects_lost"],
            sums["prospects_lost"],
        ),
        "decision → paying": (sums["decisions"], sums["decisions"] - sums["new_customers"]),
        "onboarding → activation": (
            sums["activations"] + sums["activation_failures"],
            sums["activation_failures"],
        ),
        "annual renewal": (sums["renewals_due"], sums["renewals_due"] - sums["renewals"]),
        "paying → churned": (
            start.reindex(sums.index) + sums["new_customers"] + sums["reactivated_customers"],
            sums["churned_customers"],
        ),
    }
    frames = []
    for transition, (entered, lost) in parts.items():
        f = pd.DataFrame({"entered": entered, "lost": lost}).reset_index()
        total = f.groupby("replication")[["entered", "lost"]].sum().reset_index()
        f = pd.concat([f, total.assign(persona="total")], ignore_index=True)
        f["drop_off"] = np.divide(
            f["lost"].to_numpy(dtype=float),
            f["entered"].to_numpy(dtype=float),
            out=np.full(len(f), np.nan),
            where=f["entered"].to_numpy() > 0,
        )
        med = f.groupby("persona", sort=False)[["entered", "lost", "drop_off"]].median()
        frames.append(med.reset_index().assign(transition=transition))
    out = pd.concat(frames, ignore_index=True)[
        ["persona", "transition", "entered", "lost", "drop_off"]
    ]
    return out.sort_values("lost", ascending=False, kind="stable").reset_index(drop=True)
