"""What a mechanism declares, and one row of the step table.

A mechanism is one module of ``simulator/mechanisms/``: a module-level ``MECHANISM`` says what it
owns (its switch, config keys, population columns, random streams, persona calendars, output
columns) and which hooks it adds to the shared core; its phase functions take the model. The
model's ``STEPS`` table (``simulator.model``) orders the phases and checks the switches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from simulator.model import JourneyModel
    from simulator.personas import PersonaAgent

#: A hook run when accounts start a paying spell: (persona, rows, first month churn can happen);
#: it may return MRR it took off the new accounts ($/month; a promotion's discount), or None.
PayingStartHook = Callable[["PersonaAgent", "np.ndarray", int], float | None]
#: A hook run when accounts end a paying spell (before their state is cleared).
PayingEndHook = Callable[["PersonaAgent", "np.ndarray"], None]


@dataclass(frozen=True)
class Mechanism:
    """What one mechanism owns.

    Attributes:
        name: the mechanism's name (its module's name).
        switch: ``mechanisms.<switch>`` turns the whole mechanism off (its steps and hooks);
            None when it always runs.
        options: other switches it defines that change how it works (not whether it runs).
        config: config keys it reads (``*`` stands for any persona, plan or channel name).
        population: ``Population`` columns it reads or writes.
        streams: random streams it draws from (``simulator.streams.STREAMS``).
        calendars: persona calendars (``PersonaAgent.due``) it files or pops.
        outputs: flow columns of the monthly table it writes (``simulator.results``).
        moves_churn: whether, with these parameters, it can change an account's churn
            probability or end its spell while it pays (then churn months cannot be drawn once
            per paying spell: ``JourneyModel.churn_is_scheduled``); a function of the
            scenario's parameters.
        setup: builds the mechanism's state on the model (shared actors, price book, ...).
        on_paying_start, on_paying_end: hooks the persona core runs where paying spells start
            and end (only when the mechanism is switched on).
    """

    name: str
    switch: str | None = None
    options: tuple[str, ...] = ()
    config: tuple[str, ...] = ()
    population: tuple[str, ...] = ()
    streams: tuple[str, ...] = ()
    calendars: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    moves_churn: Callable[[Any], bool] | None = None
    setup: Callable[[JourneyModel], None] | None = None
    on_paying_start: PayingStartHook | None = None
    on_paying_end: PayingEndHook | None = None

    @property
    def switches(self) -> tuple[str, ...]:
        """Every switch this mechanism defines (its own and its options)."""
        return ((self.switch,) if self.switch else ()) + self.options

    def is_on(self, mechanisms: dict[str, bool]) -> bool:
        """Whether it runs with these switches."""
        return self.switch is None or bool(mechanisms[self.switch])


@dataclass(frozen=True)
class Step:
    """One phase of the month: a row of ``STEPS``.

    Attributes:
        name: the step's name (timings and the documented step order use it).
        mechanism: the mechanism that owns it; its switch turns the step off.
        run: the phase function, taking the model.
        summary: one line: what moves in this step.
    """

    name: str
    mechanism: Mechanism
    run: Callable[[JourneyModel], None]
    summary: str
