"""The interactive dashboard: Mesa's SolaraViz on the journey model.

``DashboardModel`` is a Mesa model that takes plain values (the dotted config keys of the
levers) and runs one replication of the scenario with them, month by month; in side-by-side
mode it runs the scenario as composed (the baseline) beside it with the same seed and
replication, so the two share their random numbers and every difference between them comes
from the levers. The levers (``levers_of``) are the main ones a strategist moves: the plans'
prices, the annual discount, each trial persona's trial length and card requirement, each
onboarding path's quality, support agents, customer-success managers and the referral reward.
A slider spans the schema's allowed range of its key (``simulator.params.ranges``), capped at
``SPAN`` × the config's value where the schema allows absurd values (money, head counts).

The page (``page``, served by ``journey-sim task=dashboard`` / ``make dashboard``) has Mesa's
Reset / ▶ / Step controls and these views, redrawn after each step: a readout of the month
(baseline, these settings, difference), accounts by stage (the funnel now and the paying
stages over time), MRR by persona, the MRR bridge, logo churn, the support queue and SLA, and
the paired difference of MRR and paying customers. Slider values take effect at Reset (Mesa
rebuilds the model from them); a combination the schema refuses (a plan priced above the
next rank's) is shown as the configuration error, and the model does not step.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mesa
import pandas as pd
from matplotlib.figure import Figure

from simulator.errors import ConfigError
from simulator.experiments.montecarlo import records_to_frame
from simulator.formatting import format_value
from simulator.model import JourneyModel
from simulator.params import ScenarioParams, replace
from simulator.params.ranges import is_switch, range_of
from simulator.plots import (
    plot_churn,
    plot_customers_by_stage,
    plot_difference,
    plot_funnel,
    plot_mrr_bridge,
    plot_mrr_by_persona,
    plot_support,
)
from simulator.stages import DecisionPath

__all__ = [
    "SPAN",
    "VIEWS",
    "DashboardModel",
    "Lever",
    "levers_of",
    "model_params",
    "page",
    "readout",
    "serve",
    "view_figure",
]

#: Environment variable naming the JSON file of the scenario the app serves (``simulator.app``).
SCENARIO_ENV = "JOURNEY_SIM_DASHBOARD"

#: A slider of a key whose schema range is wider than ``WIDE`` × the config's value (money,
#: head counts) reaches ``SPAN`` × the value; narrower ranges (probabilities, months) are whole.
SPAN = 3.0
WIDE = 100.0


def _get(tree: Mapping[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        node = node[part]
    return node


@dataclass(frozen=True)
class Lever:
    """A setting the dashboard offers: its config key, label, the config's value and the
    slider's range (the schema's bounds) and step; a switch is a checkbox."""

    key: str
    label: str
    value: float | int | bool
    lo: float = 0.0
    hi: float = 1.0
    step: float = 1.0
    kind: str = "float"  # float, int or bool

    def user_param(self) -> dict[str, Any]:
        """The entry of Mesa's ``model_params`` (a slider or a checkbox)."""
        if self.kind == "bool":
            return {"type": "Checkbox", "value": bool(self.value), "label": self.label}
        slider = "SliderInt" if self.kind == "int" else "SliderFloat"
        cast = int if self.kind == "int" else float
        return {
            "type": slider,
            "value": cast(self.value),
            "min": cast(self.lo),
            "max": cast(self.hi),
            "step": cast(self.step),
            "label": self.label,
        }


def lever(params: ScenarioParams, key: str, label: str) -> Lever:
    """The lever of a config key: its value in ``params`` and its range from the schema."""
    value = _get(params.model_dump(), key)
    if is_switch(key):
        return Lever(key, label, bool(value), kind="bool")
    bounds = range_of(key)
    if bounds is None:
        raise ValueError(f"{key} is not a number or a switch: it cannot be a lever")
    hi = bounds.hi
    if value > 0 and hi > WIDE * value:
        hi = SPAN * value
    if bounds.whole:
        return Lever(key, label, int(value), int(bounds.lo), int(hi), 1, "int")
    step = 0.01 if hi <= 1 else 1.0
    return Lever(key, label, float(value), float(bounds.lo), float(hi), step, "float")


def levers_of(params: ScenarioParams) -> tuple[Lever, ...]:
    """The dashboard's levers for a scenario: prices of its plans (rank order), the annual
    discount, trial length and card requirement of every persona on a trial, the quality of
    every onboarding path, support agents, customer-success managers, the referral reward, and
    every touchpoint on or off (``touchpoints.<name>.enabled``)."""
    out = [
        lever(params, f"pricing.plans.{plan}.price", f"{plan} price ($/month)")
        for plan in params.pricing.ranked
    ]
    out.append(lever(params, "pricing.annual_discount", "annual discount"))
    for name, persona in params.personas.items():
        if persona.decision.path == DecisionPath.TRIAL:
            key = f"personas.{name}.decision"
            out.append(lever(params, f"{key}.months", f"{name}: trial length (months)"))
            out.append(lever(params, f"{key}.card_required", f"{name}: trial asks for a card"))
    for path in params.onboarding.paths:
        out.append(lever(params, f"onboarding.paths.{path}.quality", f"onboarding {path}: quality"))
    out.append(lever(params, "support.agents", "support agents"))
    out.append(lever(params, "success.csms", "customer-success managers"))
    out.append(lever(params, "acquisition.referral_reward", "referral reward ($)"))
    for name, tp in params.touchpoints.items():  # each touchpoint on or off
        label = f"touchpoint ({tp.stage}): {name.replace('_', ' ')}"
        out.append(lever(params, f"touchpoints.{name}.enabled", label))
    return tuple(out)


class DashboardModel(mesa.Model):
    """One replication of a scenario with the levers set, stepped a month at a time; in
    side-by-side mode the scenario as given (the baseline) runs beside it on the same random
    numbers.

    Args:
        base: the scenario (validated parameters); its values are the baseline.
        replication: which replication's random streams both models use.
        side_by_side: also run the baseline.
        scenario: Mesa's own scenario object (Reset passes it); not used.
        **settings: dotted config keys → values (the sliders), applied with ``replace``.

    Attributes:
        params: the scenario with the settings (None when they are refused).
        changes: the settings that differ from the baseline.
        error: the configuration error of refused settings (None when valid).
        journey, baseline: the two ``JourneyModel`` (``baseline`` None when not side by side).
        month: months simulated.
    """

    def __init__(
        self,
        base: ScenarioParams,
        replication: int = 0,
        side_by_side: bool = True,
        scenario: Any = None,
        **settings: Any,
    ):
        # ``scenario``: Mesa's Reset passes the model's (empty) ``mesa`` scenario; unused.
        super().__init__(rng=int(replication))
        self.base = base
        self.replication = int(replication)
        self.side_by_side = bool(side_by_side)
        tree = base.model_dump()
        self.changes = {k: v for k, v in settings.items() if _get(tree, k) != v}
        self.error: str | None = None
        self.params: ScenarioParams | None = None
        self.journey: JourneyModel | None = None
        self.baseline: JourneyModel | None = None
        self.month = 0
        self._frames: dict[str, pd.DataFrame] = {}
        try:
            self.params = replace(base, self.changes) if self.changes else base
        except ConfigError as exc:
            self.error = str(exc)
            self.running = False
            return
        self.journey = JourneyModel(self.params, self.replication)
        if self.side_by_side:
            self.baseline = JourneyModel(base, self.replication)

    @property
    def horizon(self) -> int:
        """The scenario's horizon (months): the model stops there."""
        return self.base.months

    def step(self) -> None:
        """Simulate one more month of both models (nothing past the horizon)."""
        if self.journey is None or self.month >= self.horizon:
            self.running = False
            return
        self.journey.step()
        if self.baseline is not None:
            self.baseline.step()
        self.month += 1
        self._frames = {}
        self.running = self.month < self.horizon

    def _frame(self, which: str) -> pd.DataFrame | None:
        model = self.journey if which == "journey" else self.baseline
        if model is None or self.month == 0:
            return None
        if which not in self._frames:
            self._frames[which] = records_to_frame(model.records)
        return self._frames[which]

    @property
    def monthly(self) -> pd.DataFrame | None:
        """The monthly table so far with these settings (None before the first step)."""
        return self._frame("journey")

    @property
    def baseline_monthly(self) -> pd.DataFrame | None:
        """The baseline's monthly table so far (None when not side by side)."""
        return self._frame("baseline")


# ---------------------------------------------------------------------------- views
def _view_funnel(fig: Figure, m: DashboardModel) -> None:
    plot_funnel(m.monthly, fig.subplots(), baseline=m.baseline_monthly)


def _view_stages(fig: Figure, m: DashboardModel) -> None:
    plot_customers_by_stage(m.monthly, fig.subplots()).axes[0].set_title("Paying accounts by stage")


def _view_mrr_by_persona(fig: Figure, m: DashboardModel) -> None:
    plot_mrr_by_persona(m.monthly, fig.subplots(), baseline=m.baseline_monthly)


def _view_bridge(fig: Figure, m: DashboardModel) -> None:
    plot_mrr_bridge(m.monthly, fig.subplots()).axes[0].set_title("MRR bridge")


def _view_churn(fig: Figure, m: DashboardModel) -> None:
    plot_churn(m.monthly, fig.subplots())


def _view_support(fig: Figure, m: DashboardModel) -> None:
    plot_support(m.monthly, fig.subplots())


def _view_difference(fig: Figure, m: DashboardModel) -> None:
    if m.baseline_monthly is None:
        ax = fig.subplots()
        ax.text(0.5, 0.5, "side by side is off: tick it and press Reset", ha="center")
        ax.set_axis_off()
        return
    top, bottom = fig.subplots(2, 1, sharex=True)
    plot_difference(m.monthly, m.baseline_monthly, "mrr_end", top)
    plot_difference(m.monthly, m.baseline_monthly, "customers", bottom)
    top.set_xlabel("")
    top.set_title("MRR: these settings − baseline (same random numbers)", fontsize=10)
    bottom.set_title("paying customers: these settings − baseline", fontsize=10)
    fig.tight_layout()


#: The dashboard's plots in page order (after the readout): name → drawing function.
VIEWS: dict[str, Callable[[Figure, DashboardModel], None]] = {
    "funnel": _view_funnel,
    "stages": _view_stages,
    "mrr_by_persona": _view_mrr_by_persona,
    "mrr_bridge": _view_bridge,
    "difference": _view_difference,
    "churn": _view_churn,
    "support": _view_support,
}

#: Size of every view's figure (inches): half the page's width each.
FIGSIZE = (7.0, 4.2)


def view_figure(name: str, model: DashboardModel) -> Figure:
    """The figure of one view (``VIEWS``) for the model's months so far."""
    draw = VIEWS[name]
    fig = Figure(figsize=FIGSIZE)
    if model.monthly is None:
        ax = fig.subplots()
        text = model.error or "month 0: press Step or ▶"
        ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
        ax.set_axis_off()
        return fig
    draw(fig, model)
    fig.tight_layout()
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    return buf.getvalue()


def readout(model: DashboardModel) -> str:
    """The month's numbers as a markdown table: baseline, these settings and the difference,
    with the settings that differ from the baseline."""
    if model.error is not None:
        return f"**These settings are refused** (nothing runs):\n\n```\n{model.error}\n```"
    lines = [f"**Month {model.month} of {model.horizon}** · replication {model.replication}"]
    if model.changes:
        tree = model.base.model_dump()
        moved = ", ".join(f"`{k}` {_get(tree, k)} → {v}" for k, v in model.changes.items())
        lines.append(f"Settings changed from the baseline: {moved}")
    else:
        lines.append("Settings: the baseline's (move a slider, then Reset)")
    now = model.monthly
    if now is None:
        return "\n\n".join([*lines, "Press **Step** or **▶** to simulate a month."])
    rows = _readout_rows(now)
    base = model.baseline_monthly
    if base is None:
        table = ["| | these settings |", "|---|---:|"]
        table += [f"| {label} | {format_value(v, kind)} |" for label, kind, v in rows]
    else:
        table = ["| | baseline | these settings | difference |", "|---|---:|---:|---:|"]
        for (label, kind, v), (_, _, b) in zip(rows, _readout_rows(base), strict=True):
            d = v - b
            sign = "+" if d > 0 else "−" if d < 0 else ""
            diff = format_value(abs(d), kind)
            table.append(
                f"| {label} | {format_value(b, kind)} | {format_value(v, kind)} | {sign}{diff} |"
            )
    return "\n\n".join([*lines, "\n".join(table)])


def _readout_rows(monthly: pd.DataFrame) -> list[tuple[str, str, float]]:
    last = monthly[monthly["month"] == monthly["month"].max()]
    tickets = float(last["tickets"].sum())
    start = float(
        (
            last["customers"]
            - last["new_customers"]
            - last["reactivated_customers"]
            + last["churned_customers"]
        ).sum()
    )
    return [
        ("MRR", "money", float(last["mrr_end"].sum())),
        ("paying customers", "count", float(last["customers"].sum())),
        ("new customers (so far)", "count", float(monthly["new_customers"].sum())),
        ("churned customers (so far)", "count", float(monthly["churned_customers"].sum())),
        (
            "logo churn this month",
            "pct",
            float(last["churned_customers"].sum()) / start if start else 0.0,
        ),
        (
            "tickets breaching SLA",
            "pct",
            float(last["sla_breaches"].sum()) / tickets if tickets else 0.0,
        ),
        ("support backlog (tickets)", "count", float(last["support_backlog"].sum())),
    ]


# ---------------------------------------------------------------------------- the page
def model_params(base: ScenarioParams) -> dict[str, Any]:
    """Mesa's ``model_params`` of the page: the fixed scenario, the replication, the side by
    side switch and one slider or checkbox per lever (keyed by its dotted config key)."""
    params: dict[str, Any] = {
        "base": base,
        "side_by_side": {
            "type": "Checkbox",
            "value": True,
            "label": "side by side with the baseline",
        },
        "replication": {
            "type": "SliderInt",
            "value": 0,
            "min": 0,
            "max": 99,
            "step": 1,
            "label": "replication (random numbers)",
        },
    }
    params.update({lv.key: lv.user_param() for lv in levers_of(base)})
    return params


def _image_component(name: str) -> Callable[[DashboardModel], Any]:
    import solara

    def view(model: DashboardModel) -> Any:
        png = solara.use_memo(
            lambda: _png(view_figure(name, model)), [id(model), model.month, model.error]
        )
        return solara.Image(png, width="100%", classes=[f"journey-view-{name}"])

    view.__name__ = f"view_{name}"
    return view


def _readout_component(model: DashboardModel) -> Any:
    import solara

    with solara.Column(classes=["journey-readout"]) as main:
        solara.Markdown(readout(model))
        if model.error is not None:
            solara.Error(label="invalid settings: see above")
    return main


def page(base: ScenarioParams) -> Any:
    """The dashboard's Solara page for a scenario (a new model per browser session)."""
    import solara
    from mesa.visualization import SolaraViz

    components = [(_readout_component, 0)] + [(_image_component(n), 0) for n in VIEWS]
    user_params = model_params(base)

    @solara.component
    def Page() -> Any:
        model = solara.use_memo(lambda: DashboardModel(base=base), [])
        return SolaraViz(
            model,
            components=components,
            model_params=user_params,
            name=f"journey-sim dashboard · scenario {base.scenario_name}",
            play_interval=300,
        )

    return Page


def free_port(host: str) -> int:
    """A TCP port free on ``host`` now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve(params: ScenarioParams, host: str, port: int, out_dir: Path) -> int:
    """Serve the dashboard of a scenario on ``http://host:port/`` until Ctrl-C (exit code 0).

    The scenario is written to ``<out_dir>/dashboard_scenario.json`` for the app
    (``simulator.app``); Solara runs in production mode, without telemetry or version check,
    from its own packaged front-end assets (no network needed).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "dashboard_scenario.json"
    path.write_text(json.dumps(params.model_dump(mode="json"), indent=1))
    os.environ[SCENARIO_ENV] = str(path.resolve())
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "false")
    # Solara warns, per page load, that a loopback http server cannot set samesite=none cookies
    warnings.filterwarnings("ignore", message="Cookies with samesite=none require https")
    port = port or free_port(host)
    from solara.__main__ import run

    print(
        f"journey-sim: dashboard of scenario {params.scenario_name} at http://{host}:{port}/ "
        "(Ctrl-C stops it)",
        flush=True,
    )
    args = ["simulator.app", "--host", host, "--port", str(port), "--no-open", "--production"]
    with contextlib.suppress(KeyboardInterrupt):
        run.main([*args, "--no-check-version"], standalone_mode=False)
    print("journey-sim: dashboard stopped", file=sys.stderr)
    return 0
