"""What the mechanisms declare is true: outputs are declared columns and cover the table,
switches, streams, calendars and population columns exist, every module is registered, and a
record with an undeclared column is refused."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import typing

import pytest
from sizes import TINY

import simulator.mechanisms as mechanisms_pkg
from simulator import JourneyModel, load_config
from simulator.mechanisms import ALL, EVENT_TYPES, MECHANISMS, SUPPORT_CHANNELS, accounting
from simulator.mechanisms.events import HANDLERS, Event
from simulator.params import validate
from simulator.population import Population
from simulator.results import FLOW_COLUMNS
from simulator.streams import STREAMS


def test_every_declared_output_is_a_declared_column() -> None:
    declared = set(FLOW_COLUMNS)
    for m in ALL:
        unknown = set(m.outputs) - declared
        assert not unknown, f"{m.name} declares undeclared columns {sorted(unknown)}"


def test_declared_outputs_cover_every_flow_column() -> None:
    written = {c for m in ALL for c in m.outputs}
    assert set(FLOW_COLUMNS) <= written, sorted(set(FLOW_COLUMNS) - written)


def test_every_mechanism_module_is_registered_once() -> None:
    names = [m.name for m in ALL]
    assert len(names) == len(set(names))
    modules = {
        info.name for info in pkgutil.iter_modules(mechanisms_pkg.__path__) if info.name != "base"
    }
    assert modules == set(names)
    for name in modules:
        module = importlib.import_module(f"simulator.mechanisms.{name}")
        assert module.MECHANISM.name == name


def test_switches_are_defined_once_by_their_mechanisms() -> None:
    declared = [s for m in ALL for s in m.switches]
    assert len(declared) == len(set(declared))
    assert sorted(declared) == sorted(MECHANISMS)
    # The config validator reads the mechanisms' constants, it does not define its own.
    assert validate._domain() == {"mechanisms": MECHANISMS, "support_channels": SUPPORT_CHANNELS}
    # Each event type is one config section and one handler, both in the events mechanism.
    tags = [
        m.model_fields["type"].annotation.__args__[0] for m in typing.get_args(Event.__origin__)
    ]
    assert tags == list(EVENT_TYPES) == list(HANDLERS)


def test_declared_streams_calendars_and_columns_exist() -> None:
    streams = {s for m in ALL for s in m.streams}
    assert streams <= set(STREAMS)
    assert set(STREAMS) - streams == {"init"}  # the month-0 state's draws (simulator.book)
    columns = {f.name for f in dataclasses.fields(Population)}
    for m in ALL:
        assert set(m.population) <= columns, m.name
    model = JourneyModel(load_config(TINY))
    calendars = [c for m in ALL for c in m.calendars]
    assert len(calendars) == len(set(calendars))
    for agent in model.persona_agents:
        assert list(agent.due) == calendars


def test_a_record_with_an_undeclared_column_is_refused() -> None:
    model = JourneyModel(load_config(TINY))
    model.step()
    model.persona_agents[0].add("churned_custmers", 1)  # a typo
    with pytest.raises(accounting.UndeclaredColumnError, match="churned_custmers"):
        accounting.close_month(model)
