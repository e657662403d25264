"""The finance report of a run: one self-contained HTML file (every chart a base64 PNG inside it,
no external asset) and the same report in markdown.

``report(source, out_dir)`` takes a ``SimulationResult`` or a run directory (``monthly.parquet``
and ``summary.json`` of ``journey-sim``; a stopped run's partial outputs are reported with a
PARTIAL label on every page and in the file names, never as a complete run).
Sections (``SECTIONS``):

1. the headline forecast: ARR fan chart from month 0 in $, ARR at chosen months;
2. the MRR bridge: a waterfall over the horizon (the median of each movement and of the net
   movement) and the month-by-month bridge;
3. churn by persona (chart and table);
4. unit economics per persona and for the company (metrics of ``simulator.metrics``), the
   lines of CAC (channel spend and sales, referral rewards, programmes, onboarding) and CAC by
   acquisition source (``simulator.cac``; when the run has a channels table);
5. cohort retention heatmap: optional, skipped (and said so) when there is no cohort table;
6. what the bands show: Monte Carlo sampling only, or parameter uncertainty too;
7. assumptions: the scenario's key config values;
8. provenance: versions, git revision, seed, command;
9. definitions: the formula of every metric shown.

Every file is written atomically (``simulator.experiments.jobs.atomic_write``).
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulator.cac import cac_by_channel, cac_lines, channel_summary
from simulator.experiments.jobs import atomic_write
from simulator.experiments.montecarlo import OUTPUT_NAMES, SimulationResult, is_partial
from simulator.experiments.provenance import git_revision, package_versions
from simulator.formatting import format_value
from simulator.metrics import (
    METRIC_BY_NAME,
    TOTAL,
    finance_settings,
    persona_summary,
)
from simulator.params import ScenarioParams, scenario_params
from simulator.params.run import split_tree
from simulator.results import BRIDGE_MINUS, BRIDGE_PLUS, MONTHLY

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib (``simulator.plots``, which selects the Agg backend) is imported where a report is
# built, not with ``simulator``: importing it costs about a quarter of a second, in every
# process that imports the package (each worker of a pool among them).

#: Section titles, in order (the HTML and markdown both carry each one as a heading).
SECTIONS: tuple[str, ...] = (
    "ARR forecast",
    "MRR bridge",
    "Churn by persona",
    "Unit economics",
    "Cohort retention",
    "What the bands show",
    "Assumptions",
    "Provenance",
    "Definitions",
)

#: Metrics of the unit-economics table, in order.
UNIT_ECONOMICS: tuple[str, ...] = (
    "arpa",
    "arpa_new",
    "gross_margin",
    "cac",
    "onboarding_cost_per_new",
    "payback_months",
    "ltv",
    "ltv_discounted",
    "ltv_to_cac",
    "quick_ratio",
)

#: Metrics of the churn table, in order.
CHURN_METRICS: tuple[str, ...] = (
    "monthly_logo_churn",
    "monthly_gross_mrr_churn",
    "monthly_net_mrr_churn",
    "nrr_12m",
    "grr_12m",
)

#: File names of the report, complete and partial.
REPORT_NAMES: dict[bool, tuple[str, str]] = {
    False: ("report.html", "report.md"),
    True: ("report.partial.html", "report.partial.md"),
}


class ReportError(ValueError):
    """A source cannot be reported (not a run directory, no table, no stored config)."""


@dataclass
class Report:
    """A written report.

    Attributes:
        html: path of the self-contained HTML report.
        markdown: path of the markdown report (its images under ``report_files/``).
        partial: the run it reports stopped before its end (labelled PARTIAL).
        sections: section titles written, in order.
        skipped: sections skipped, with why.
        channels: CAC by acquisition source, P10/median/P90 across replications
            (``simulator.cac.channel_summary``), or None for a run without a channels table.
    """

    html: Path
    markdown: Path
    partial: bool
    sections: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    channels: pd.DataFrame | None = None


def uncertainty_note(params: ScenarioParams, replications: int) -> str:
    """What the bands show: Monte Carlo sampling only, or parameter uncertainty too (when the
    scenario draws parameters per replication: ``uncertainty``, ``simulator.uncertainty``)."""
    if params.uncertainty:
        from simulator.uncertainty import describe

        return (
            f"Parameter uncertainty and Monte Carlo sampling: each of the {replications} "
            "replications drew its own values of the uncertain parameters, then simulated its "
            f"customers; the bands show both. Drawn: {describe(params)}. Every other parameter "
            "is fixed at its configured value."
        )
    return (
        f"Monte Carlo sampling only: every parameter is fixed at its configured value and the "
        f"bands are the spread of {replications} replications of the same parameters "
        "(customer-level randomness: who converts, churns, expands). Uncertainty about the "
        "parameters themselves (e.g. a calibrated churn rate's confidence interval) is NOT in "
        "the bands, so they understate the real uncertainty of the forecast."
    )


def _load(source: SimulationResult | str | Path) -> tuple[SimulationResult, bool, Path | None]:
    """(result, partial, run directory) of a result or of a saved run directory."""
    if isinstance(source, SimulationResult):
        return source, source.partial, None
    run_dir = Path(source)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir} is not a directory")
    partial = is_partial(run_dir)
    names = OUTPUT_NAMES[partial]
    table, summary = run_dir / names["monthly"], run_dir / names["summary"]
    for need in (table, summary):
        if not need.exists():
            raise ReportError(f"{need} not found: dir must be a run directory of journey-sim")
    doc = json.loads(summary.read_text())
    if not isinstance(doc.get("config"), dict):
        raise ReportError(f"{summary} stores no config (saved from parameters, not a config)")
    scenario, _ = split_tree(doc["config"])
    params = scenario_params(scenario)
    meta = {k: v for k, v in doc.items() if k not in ("summary", "config")}
    monthly = pd.read_parquet(table)
    return SimulationResult(monthly, params, doc["config"], meta=meta), partial, run_dir


def _png(fig: Figure) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _fmt(name: str, value: float) -> str:
    return format_value(value, METRIC_BY_NAME[name].format)


def _band(name: str, row: pd.Series) -> str:
    return f"{_fmt(name, row['median'])} ({_fmt(name, row['p10'])} – {_fmt(name, row['p90'])})"


def _persona_table(per: pd.DataFrame, metrics: tuple[str, ...]) -> tuple[list[str], list[list]]:
    """Header and rows (one per persona, the company first): median (P10 – P90) per metric."""
    personas = list(dict.fromkeys(per["persona"]))
    header = ["persona", *[METRIC_BY_NAME[m].label for m in metrics]]
    rows = []
    for persona in personas:
        g = per[per["persona"] == persona].set_index("metric")
        rows.append([persona, *[_band(m, g.loc[m]) for m in metrics]])
    return header, rows


def _money(v: float) -> str:
    return format_value(v, "money")


def _arr_table(monthly: pd.DataFrame) -> tuple[list[str], list[list]]:
    from simulator.plots import fan_quantiles

    q = fan_quantiles(monthly, "arr")
    last = int(q.index.max())
    months = sorted({0, *range(12, last + 1, 12), last})
    rows = [[str(m), _money(q.loc[m, 0.5]), f"{_money(q.loc[m, 0.1])} – {_money(q.loc[m, 0.9])}"]
            for m in months]  # fmt: skip
    return ["month", "ARR median", "P10 – P90"], rows


def _bridge_table(monthly: pd.DataFrame) -> tuple[list[str], list[list]]:
    from simulator.plots import bridge_movements

    b = bridge_movements(monthly)
    names = {
        "mrr_start": "MRR at month 0",
        **{c: f"+ {MONTHLY[c].title} MRR" for c in BRIDGE_PLUS},
        **{c: f"− {MONTHLY[c].title} MRR" for c in BRIDGE_MINUS},
        "net": "net new MRR (median of the net)",
        "mrr_end": "MRR at the end",
    }
    rows = []
    for col, label in names.items():
        p10, p50, p90 = np.percentile(b[col].to_numpy(float), [10, 50, 90])
        rows.append([label, _money(p50), f"{_money(p10)} – {_money(p90)}"])
    return ["movement over the horizon ($/month)", "median", "P10 – P90"], rows


def _assumptions(params: ScenarioParams) -> tuple[list[str], list[list]]:
    p = params
    rows: list[list] = [
        ["scenario", p.scenario_name],
        ["horizon", f"{p.months} months"],
        ["replications", f"{p.replications}"],
        ["seed", f"{p.seed}"],
        ["market size", f"{p.market.size:,} accounts"],
        ["book at month 0", f"{p.initial.customers:,} paying customers"],
    ]
    for name, plan in p.pricing.plans.items():
        per = "per seat" if plan.per_seat else "per account"
        rows.append([f"price of {name}", f"${plan.price:,.2f} a month {per}"])
    rows.append(["annual discount", f"{100 * p.pricing.annual_discount:.0f}%"])
    for name, persona in p.personas.items():
        churn = persona.churn
        rows.append(
            [
                f"persona {name}",
                f"market share {100 * persona.share:.0f}%, base churn "
                f"{100 * churn.mean:.2f}%/month, willingness to pay "
                f"${persona.willingness_to_pay:,.0f}/seat",
            ]
        )
    off = [k for k, on in p.mechanisms.items() if not on]
    rows.append(["mechanisms off", ", ".join(off) if off else "none (all on)"])
    rows.append(["events", ", ".join(p.events) if p.events else "none"])
    fin = p.finance
    rows.append(
        [
            "finance",
            f"discount rate {100 * fin.discount_rate:.0f}%/year; LTV over months ≥ "
            f"{fin.steady_from_month}; reactivation in NRR/GRR: "
            f"{'yes' if fin.retention_includes_reactivation else 'no'}",
        ]
    )
    return ["assumption", "value"], rows


def _provenance(result: SimulationResult, run_dir: Path | None) -> tuple[list[str], list[list]]:
    meta = result.meta
    versions = meta.get("versions") or package_versions()
    rows = [
        ["run directory", str(run_dir) if run_dir else "(in memory)"],
        ["created", str(meta.get("created", "(not saved)"))],
        ["command", str(meta.get("command", "(Python API)"))],
        ["git revision of the run", str(meta.get("git_revision", git_revision()))],
        ["git revision of the report", str(git_revision())],
        ["seed", str(result.params.seed)],
        ["replications in the table", str(result.monthly["replication"].nunique())],
        ["replications requested", str(result.params.replications)],
        ["versions", ", ".join(f"{k} {v}" for k, v in versions.items())],
        ["report written", datetime.now(UTC).isoformat(timespec="seconds")],
    ]
    return ["item", "value"], rows


def _definitions(names: tuple[str, ...]) -> tuple[list[str], list[list]]:
    rows = [[METRIC_BY_NAME[n].label, METRIC_BY_NAME[n].definition] for n in names]
    rows += [
        [
            "CAC, fully loaded",
            "(channel spend + sales cost + referral rewards + programmes) / new customers, over "
            "the horizon; programmes = cost of the touchpoints of the consideration and decision "
            "stages",
        ],
        [
            "onboarding per new customer (with its touchpoints)",
            "(onboarding cost + cost of the onboarding-stage touchpoints) / new customers",
        ],
        [
            "CAC by acquisition source",
            "(the source's channel spend + sales cost of its prospects' decisions + its referral "
            "rewards [+ programmes × its share of new customers, loaded]) / its new customers",
        ],
    ]
    return ["metric", "definition"], rows


# ------------------------------------------------------------------------------ rendering
def _html_table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(header: list[str], rows: list[list]) -> str:
    def esc(c: object) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;
color:#222;padding:0 1em}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.8em}table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid
#ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%}
.partial{background:#fde2e1;border:2px solid #c0392b;padding:.6em 1em;font-weight:bold}
.note{background:#eef5f9;border-left:4px solid #264653;padding:.5em 1em}.skip{color:#777}
"""


@dataclass
class _Doc:
    """The report's content, rendered to HTML and markdown side by side."""

    html: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.sections.append(title)
        self.html.append(f"<h2>{html.escape(title)}</h2>")
        self.md.append(f"\n## {title}\n")

    def text(self, text: str, css: str = "") -> None:
        cls = f' class="{css}"' if css else ""
        self.html.append(f"<p{cls}>{html.escape(text)}</p>")
        self.md.append(("**" + text + "**" if css == "partial" else text) + "\n")

    def table(self, header: list[str], rows: list[list]) -> None:
        self.html.append(_html_table(header, rows))
        self.md.append(_md_table(header, rows) + "\n")

    def figure(self, name: str, fig: Figure, alt: str) -> None:
        data = _png(fig)
        self.images[name] = data
        b64 = base64.b64encode(data).decode("ascii")
        self.html.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">')
        self.md.append(f"![{alt}](report_files/{name}.png)\n")


def _cac_line_table(lines: pd.DataFrame) -> tuple[list[str], list[list]]:
    """Header and rows (one per persona, the company first): the lines of acquisition and
    onboarding cost over the horizon, median (P10 – P90) across replications."""
    shown = (
        ("new_customers", "new customers", "count"),
        ("acquisition_cost", "channel spend + sales", "money"),
        ("referral_cost", "referral rewards", "money"),
        ("programmes", "programmes", "money"),
        ("cac", "CAC", "money"),
        ("cac_loaded", "CAC, fully loaded", "money"),
        ("onboarding_per_new", "onboarding per new customer (with its touchpoints)", "money"),
    )
    rows = []
    for persona, g in lines.groupby("persona", sort=False):
        cells = [persona]
        for name, _, kind in shown:
            values = g[name].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if values.size == 0:
                cells.append("n/a")
                continue
            p10, p50, p90 = np.percentile(values, [10, 50, 90])
            fmt = [format_value(v, kind) for v in (p50, p10, p90)]
            cells.append(f"{fmt[0]} ({fmt[1]} – {fmt[2]})")
        rows.append(cells)
    return ["persona", *[label for _, label, _ in shown]], rows


def _channel_table(summary: pd.DataFrame) -> tuple[list[str], list[list]]:
    """Header and rows (one per source, the company's): new customers, CAC and fully loaded
    CAC, median (P10 – P90) across replications."""
    part = summary[summary["persona"] == TOTAL]
    rows = []
    for channel, g in part.groupby("channel", sort=False):
        g = g.set_index("metric")
        cells = [channel]
        for name, kind in (("new_customers", "count"), ("cac", "money"), ("cac_loaded", "money")):
            r = g.loc[name]
            if not np.isfinite(r["median"]):
                cells.append("n/a")
                continue
            fmt = [format_value(r[k], kind) for k in ("median", "p10", "p90")]
            cells.append(f"{fmt[0]} ({fmt[1]} – {fmt[2]})")
        rows.append(cells)
    return ["source", "new customers (horizon)", "CAC", "CAC, fully loaded"], rows


def _persona_channel_table(summary: pd.DataFrame) -> tuple[list[str], list[list]]:
    """Header and rows (one per persona, the company first): each source's fully loaded CAC,
    median across replications, with its median new customers."""
    sources = list(dict.fromkeys(summary["channel"]))
    rows = []
    for persona, g in summary.groupby("persona", sort=False):
        cells = [persona]
        for source in sources:
            part = g[g["channel"] == source].set_index("metric")
            new, cac = part.loc["new_customers", "median"], part.loc["cac_loaded", "median"]
            money = format_value(cac, "money") if np.isfinite(cac) else "n/a"
            cells.append(f"{money} ({format_value(new, 'count')})")
        rows.append(cells)
    return ["persona", *sources], rows


def _build(
    result: SimulationResult,
    partial: bool,
    run_dir: Path | None,
    cohorts: pd.DataFrame | None,
    skipped: dict[str, str],
    channel_table: pd.DataFrame | None = None,
) -> _Doc:
    import matplotlib.pyplot as plt

    from simulator.plots import (
        plot_arr_fan,
        plot_churn,
        plot_cohort_heatmap,
        plot_mrr_bridge,
        plot_mrr_waterfall,
    )

    p = result.params
    monthly = result.monthly
    reps = int(monthly["replication"].nunique())
    fin = finance_settings(p.finance)
    per = persona_summary(monthly, fin)
    note = uncertainty_note(p, reps)
    band_kind = (
        "parameter uncertainty + Monte Carlo sampling"
        if p.uncertainty
        else "Monte Carlo sampling only"
    )
    d = _Doc()
    title = f"{p.scenario_name}: {p.months}-month forecast ({reps} replications, seed {p.seed})"
    if partial:
        title = "PARTIAL RUN — " + title
    d.html.append(f"<h1>{html.escape(title)}</h1>")
    d.md.append(f"# {title}\n")
    if partial:
        d.text(
            f"PARTIAL: this run stopped before its end; {reps} of {p.replications} replications "
            "are in it. Every figure below is of those replications only.",
            "partial",
        )
    total = per[per["persona"] == TOTAL].set_index("metric")
    d.text(
        f"Ending ARR {_band('ending_arr', total.loc['ending_arr'])}, median (P10 – P90) across "
        f"replications; NRR {_band('nrr_12m', total.loc['nrr_12m'])}; LTV:CAC "
        f"{_band('ltv_to_cac', total.loc['ltv_to_cac'])}. Bands: {band_kind}.",
        "note",
    )

    d.section(SECTIONS[0])
    d.figure("arr_fan", plot_arr_fan(monthly, band_note=f"bands: {band_kind}"), "ARR fan chart")
    d.table(*_arr_table(monthly))

    d.section(SECTIONS[1])
    d.figure("mrr_waterfall", plot_mrr_waterfall(monthly), "MRR bridge waterfall")
    d.table(*_bridge_table(monthly))
    d.text(
        "The net bar is the median of each replication's net movement; the medians of the "
        "movements need not add up to it."
    )
    d.figure("mrr_bridge", plot_mrr_bridge(monthly), "MRR bridge by month")

    d.section(SECTIONS[2])
    d.figure("churn", plot_churn(monthly), "Monthly logo churn by persona")
    d.table(*_persona_table(per, CHURN_METRICS))

    d.section(SECTIONS[3])
    d.table(*_persona_table(per, UNIT_ECONOMICS))
    d.text(
        "Median (P10 – P90) across replications. CAC is channel spend, sales cost and referral "
        "rewards over new customers; onboarding is its own line; payback is on new customers' "
        f"ARPA; LTV reads months ≥ {fin.steady_from_month} only (the start-up months left out)."
    )
    d.table(*_cac_line_table(cac_lines(monthly, p)))
    d.text(
        "Fully loaded CAC adds the programmes: the cost of the touchpoints of the consideration "
        "and decision stages (touchpoints.*, fixed + per-account cost). The onboarding line "
        "holds the onboarding cost and the onboarding-stage touchpoints' cost. Win-back cost is "
        "not acquisition."
    )
    if channel_table is not None:
        d.table(*_channel_table(channel_table))
        d.text(
            "CAC by acquisition source (company): each new customer counts once, under the "
            "source that brought it to consideration (organic word of mouth, a referral, a "
            "channel of acquisition.channels drawn in proportion to the channel's leads that "
            "month, or initial: the pipeline already in flight at month 0, whose acquisition "
            "was paid before the run). A source's cost is its channel spend, the sales cost of "
            "its own prospects' decisions and its referral rewards; the loaded CAC adds the "
            "programmes in proportion to its new customers. n/a: no new customer."
        )
        d.table(*_persona_channel_table(channel_table))
        d.text(
            "Fully loaded CAC by persona and source, median across replications (median new "
            "customers in brackets); each persona's programmes are shared by its own new "
            "customers."
        )
    else:
        d.text(
            "CAC by acquisition source: not available (this run has no channels table: saved "
            "before channels.parquet existed).",
            "skip",
        )

    d.section(SECTIONS[4])
    if cohorts is not None and len(cohorts):
        fig, axes = plt.subplots(
            1, 2, figsize=(14, max(4.5, 0.12 * cohorts["cohort_month"].nunique() + 2))
        )
        for kind, ax in zip(("logo", "revenue"), axes, strict=True):
            plot_cohort_heatmap(cohorts, kind, ax=ax)
        d.figure("cohorts", fig, "Cohort retention heatmap")
        d.text(
            "Logo (left) and revenue (right) retention by cohort month (the book's cohorts, by "
            "signup month, above the dashed line; new customers below), pooled over replications."
        )
    else:
        why = "no cohort table for this run (optional section: skipped)"
        skipped[SECTIONS[4]] = why
        d.text(f"Skipped: {why}.", "skip")

    d.section(SECTIONS[5])
    d.text(note, "note")

    d.section(SECTIONS[6])
    d.table(*_assumptions(p))

    d.section(SECTIONS[7])
    d.table(*_provenance(result, run_dir))

    d.section(SECTIONS[8])
    d.table(*_definitions(("ending_arr", *CHURN_METRICS, *UNIT_ECONOMICS)))
    return d


def report(
    source: SimulationResult | str | Path,
    out_dir: str | Path | None = None,
    *,
    cohorts: pd.DataFrame | None = None,
) -> Report:
    """Write the finance report of a run (see the module docstring).

    Args:
        source: a ``SimulationResult``, or a run directory of ``journey-sim`` (a stopped run's
            partial outputs are reported, labelled PARTIAL).
        out_dir: where to write ``report.html``, ``report.md`` and ``report_files/`` (default:
            the run directory; required for an in-memory result).
        cohorts: the run's cohort table (``simulator.results.COHORTS``) for the optional
            heatmaps; default: the result's own, or ``cohorts.parquet`` of the run directory.

    Returns:
        the paths written, whether the run was partial, the sections and the skipped ones.
    """
    result, partial, run_dir = _load(source)
    if out_dir is None:
        if run_dir is None:
            raise ReportError("out_dir is required for a result in memory")
        out_dir = run_dir
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not len(result.monthly):
        raise ReportError("the run has no replication to report")
    if cohorts is None:
        cohorts = result.cohorts
    if cohorts is None and run_dir is not None:
        saved = run_dir / OUTPUT_NAMES[partial]["cohorts"]
        cohorts = pd.read_parquet(saved) if saved.exists() else None
    channels = result.channels
    if channels is None and run_dir is not None:
        saved = run_dir / OUTPUT_NAMES[partial]["channels"]
        channels = pd.read_parquet(saved) if saved.exists() else None
    summary = None
    if channels is not None and len(channels):
        summary = channel_summary(cac_by_channel(channels, result.monthly, result.params))
    skipped: dict[str, str] = {}
    doc = _build(result, partial, run_dir, cohorts, skipped, summary)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(doc.html[0][4:-5])}</title><style>{_CSS}</style></head><body>"
        + "\n".join(doc.html)
        + "</body></html>"
    )
    html_name, md_name = REPORT_NAMES[partial]
    files = out / "report_files"
    files.mkdir(exist_ok=True)
    for name, data in doc.images.items():
        _write(files / f"{name}.png", lambda p, data=data: p.write_bytes(data))
    _write(out / md_name, lambda p: p.write_text("\n".join(doc.md), encoding="utf-8"))
    _write(out / html_name, lambda p: p.write_text(page, encoding="utf-8"))
    return Report(out / html_name, out / md_name, partial, doc.sections, skipped, summary)


def _write(path: Path, write: Callable[[Path], object]) -> None:
    atomic_write(path, write)
