"""The column and metric registries: what they declare matches what the engine writes and what
metrics and plots read; they render as documentation."""

from __future__ import annotations

import ast
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from simulator import JourneyModel, load_config, simulate
from simulator.calibrate import SURVIVAL_COLUMNS
from simulator.experiments.audit import RANKING_COLUMNS as AUDIT_RANKING_COLUMNS
from simulator.experiments.compare import TABLE_COLUMNS as COMPARISON_COLUMNS
from simulator.experiments.optimize import TRIAL_COLUMNS
from simulator.experiments.response import TABLE_COLUMNS as RESPONSE_COLUMNS
from simulator.experiments.sensitivity import TABLE_COLUMNS as SENSITIVITY_COLUMNS
from simulator.journey import MAP_COLUMNS
from simulator.metrics import METRICS, formula_table
from simulator.params import params_of
from simulator.plots import BRIDGE_COLORS
from simulator.results import (
    BRIDGE_MINUS,
    BRIDGE_PLUS,
    CHANNELS,
    COHORTS,
    COST_COLUMNS,
    FLOW_COLUMNS,
    KEY_COLUMNS,
    MONTHLY,
    MONTHLY_COLUMNS,
    PAYING_COLUMNS,
    STAGE_COLUMNS,
    TABLES,
    Column,
    Table,
)

SMALL = ["market.size=3000", "initial.customers=100", "months=14", "replications=1"]
SIMULATOR = Path(__file__).resolve().parents[1] / "simulator"


@pytest.fixture(scope="module")
def monthly():
    return simulate(load_config(SMALL), progress=False).monthly


def test_simulated_table_has_the_declared_columns_and_dtypes(monthly) -> None:
    assert tuple(monthly.columns) == MONTHLY_COLUMNS
    assert {c: str(t) for c, t in monthly.dtypes.items()} == MONTHLY.dtypes


def test_dtypes_do_not_depend_on_the_mechanisms() -> None:
    monthly = simulate(load_config([*SMALL, "mechanisms.success=false"]), progress=False).monthly
    assert {c: str(t) for c, t in monthly.dtypes.items()} == MONTHLY.dtypes


def test_the_engine_writes_only_declared_columns() -> None:
    """A typo'd column name in a mechanism would otherwise vanish from the table silently."""
    model = JourneyModel(params_of(load_config(SMALL)))
    written: set[str] = set()
    for _ in range(14):  # past month 12, so the 12-month retention columns are written
        model.step()
        for agent in model.persona_agents:
            written |= set(getattr(agent, "flows", {}))
    assert written, "no per-persona flows found on the model's persona agents"
    assert written <= set(MONTHLY_COLUMNS), sorted(written - set(MONTHLY_COLUMNS))
    assert set(model.records[0]) == set(MONTHLY_COLUMNS)


def test_declared_dtypes_kinds_and_units_by_hand() -> None:
    """The declarations of a few columns, written out by hand."""
    expected = {
        "scenario": ("key", "", "str"),
        "replication": ("key", "", "int64"),
        "month": ("key", "month", "int64"),
        "n_unaware": ("stock", "accounts", "int64"),
        "n_advocate": ("stock", "accounts", "int64"),
        "new_customers": ("flow", "accounts", "float64"),
        "mrr_start": ("stock", "$/month", "float64"),
        "expansion_mrr": ("flow", "$/month", "float64"),
        "mrr_end": ("stock", "$/month", "float64"),
        "revenue": ("flow", "$", "float64"),
        "cogs": ("flow", "$", "float64"),
        "tickets": ("flow", "tickets", "float64"),
        "tickets_worked": ("flow", "tickets", "float64"),
        "support_backlog": ("stock", "tickets", "float64"),
        "support_hours": ("flow", "hours", "float64"),
        "support_capacity_hours": ("flow", "hours", "float64"),
        "seats": ("stock", "seats", "int64"),
        "at_risk": ("stock", "accounts", "int64"),
        "customers": ("derived", "accounts", "int64"),
        "arr": ("derived", "$/year", "float64"),
    }
    got = {n: (MONTHLY[n].kind, MONTHLY[n].unit, MONTHLY[n].dtype) for n in expected}
    assert got == expected
    assert len(MONTHLY_COLUMNS) == 4 + 8 + 54 + 2


def test_prefixes_say_what_a_number_is() -> None:
    for c in MONTHLY.columns:
        if c.name.startswith("n_"):
            assert (c.kind, c.unit, c.dtype) == ("stock", "accounts", "int64"), c
        if c.name.endswith("_mrr") and c.name != "retained_mrr_12m":
            assert (c.kind, c.unit) == ("flow", "$/month"), c
        if c.name.endswith("_cost"):
            assert (c.kind, c.unit) == ("flow", "$"), c
        assert c.meaning and not c.meaning.endswith("."), c


def test_exported_name_groups() -> None:
    assert KEY_COLUMNS == ("scenario", "replication", "month", "persona")
    assert STAGE_COLUMNS[0] == "n_unaware" and STAGE_COLUMNS[-1] == "n_lost"
    assert PAYING_COLUMNS == ("n_onboarding", "n_active", "n_advocate")
    assert (*KEY_COLUMNS, *STAGE_COLUMNS, *FLOW_COLUMNS, "customers", "arr") == MONTHLY_COLUMNS
    assert TABLES == {"monthly": MONTHLY, "cohorts": COHORTS, "channels": CHANNELS}


def test_every_column_named_by_metrics_and_plots_is_declared() -> None:
    names = set(MONTHLY_COLUMNS)
    for m in METRICS:
        assert set(m.columns) <= names, (m.name, set(m.columns) - names)
    assert {*COST_COLUMNS, *BRIDGE_PLUS, *BRIDGE_MINUS, *PAYING_COLUMNS} <= names
    assert set(BRIDGE_COLORS) == {*BRIDGE_PLUS, *BRIDGE_MINUS}
    # Every column read by a literal subscript (table["name"]) in metrics.py and plots.py.
    temporaries = {"customers_start", "rate", "median", "p10", "p90", "net"}
    temporaries |= {*COMPARISON_COLUMNS, *RESPONSE_COLUMNS, *TRIAL_COLUMNS}
    temporaries |= set(SURVIVAL_COLUMNS)  # calibration: observed vs fitted survival
    temporaries |= {*SENSITIVITY_COLUMNS}
    temporaries |= set(MAP_COLUMNS)  # the journey map (simulator.journey)
    temporaries |= {*AUDIT_RANKING_COLUMNS}  # the touchpoint audit's ranking
    metric_names = {m.name for m in METRICS}
    for module in ("metrics.py", "plots.py"):
        tree = ast.parse((SIMULATOR / module).read_text())
        read = {
            node.slice.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        }
        unknown = read - names - temporaries - metric_names
        assert not unknown, (module, sorted(unknown))


def test_registries_render_as_markdown() -> None:
    table = formula_table().splitlines()
    assert table[0] == "| metric | key | unit | definition | ChartMogul / Baremetrics |"
    assert len(table) == 2 + len(METRICS)
    assert all(row.count(" | ") == 4 for row in table[2:])
    assert table[2].startswith(
        "| ending ARR | `ending_arr` | $/year | ARR = 12 × MRR at the end of the horizon |"
    )
    assert any("finance.discount_rate" in row for row in table)
    columns = MONTHLY.markdown().splitlines()
    assert len(columns) == 2 + len(MONTHLY_COLUMNS)
    assert "| `arr` | derived | $/year | float64 | annual recurring revenue = 12 × mrr_end |" in (
        columns
    )


def test_declarations_are_checked_and_frozen() -> None:
    with pytest.raises(ValueError, match="kind"):
        Column("x", "level", "", "int64", "x")  # type: ignore[arg-type]
    col = Column("x", "flow", "accounts", "float64", "x")
    with pytest.raises(ValueError, match="declared twice"):
        Table("t", "t", (col, col))
    with pytest.raises(FrozenInstanceError):
        col.name = "y"  # type: ignore[misc]
    with pytest.raises(KeyError, match="no column"):
        MONTHLY["n_typo"]


def test_every_output_a_mechanism_declares_is_a_declared_column() -> None:
    import importlib
    import pkgutil

    package = pytest.importorskip("simulator.mechanisms")
    declared = 0
    for info in pkgutil.iter_modules(package.__path__):
        mechanism = getattr(
            importlib.import_module(f"{package.__name__}.{info.name}"), "MECHANISM", None
        )
        if mechanism is None:
            continue
        declared += 1
        unknown = set(mechanism.outputs) - set(MONTHLY_COLUMNS)
        assert not unknown, (mechanism.name, sorted(unknown))
    if not declared:
        pytest.skip("no mechanism module declares MECHANISM yet")
