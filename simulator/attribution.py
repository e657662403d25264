"""Acquisition attribution: which source brought each new customer, and what it cost.

Every account that starts evaluating is tagged once, when acquisition reaches it, with the source
that brought it (a per-account ``uint8``, ``PersonaAgent.channel``, kept apart from the
population's arrays): ``organic`` (the Bass part of the hazard: word of mouth), ``referral``
(an advocate's referral), or one channel of ``acquisition.channels``. Acquisition already draws
each prospect's kind of source (``Population.source``: organic, channel, referral); a channel
prospect's channel is drawn here, in proportion to each channel's leads to the persona that month
(its spend's leads × the persona's share of the channel), from a counter-based draw of its own
stream (``attribution``), so no other draw changes. Accounts present at month 0 (the book and the
warm start's pipeline in flight: prospects evaluating, deciding or lost, recent churners) are
``initial``: their acquisition was paid before the run. The tag stays with the account (nurture
brings a lost prospect back with its source).

The engine counts, per persona, month and source: prospects reached, decisions started (with the
sales cost they incur: ``decision.sales_cost`` each), new customers (and their MRR, and the
referral rewards paid for them), and the channel's spend on the persona (``channel_spend``: its
monthly spend × the persona's share of the channel, the monthly table's acquisition cost split by
channel). It only reads what the mechanisms decide: the monthly table does not change. Summed
over sources, ``channel_spend + sales_cost`` is the monthly table's ``acquisition_cost``,
``referral_cost`` its ``referral_cost`` and ``new_customers`` its ``new_customers``
(``tests/test_attribution.py``). One replication's records become the ``channels`` table
(``simulator.results.CHANNELS``, ``channels.parquet``); ``simulator.finance_cac`` turns it into CAC
by channel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numba import njit

from simulator.kernels.core import _entry, row_uniform
from simulator.results import CHANNELS
from simulator.stages import Source
from simulator.text_columns import text_columns

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import ScenarioParams
    from simulator.personas import PersonaAgent

#: The random stream of a channel prospect's channel (``simulator.streams.STREAMS``).
STREAM = "attribution"

#: Sources that are not channels, by code; channel k of ``acquisition.channels`` is code 3 + k.
INITIAL, ORGANIC, REFERRAL = 0, 1, 2
FIRST_CHANNEL = 3
FIXED_SOURCES: tuple[str, ...] = ("initial", "organic", "referral")

_CHANNEL_KIND = np.int8(Source.CHANNEL)
_REFERRAL_KIND = np.int8(Source.REFERRAL)


@_entry
@njit(cache=True, error_model="numpy")
def tag_sources(
    first: int,
    n: int,
    source: np.ndarray,
    channel: np.ndarray,
    key: np.uint64,
    cum: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Rows ``first`` … ``first + n - 1`` (their ``source`` kind drawn): write each one's source
    code into ``channel`` and count them in ``counts`` (by code). A channel prospect's channel
    k is the first with ``row_uniform(key, row)`` < ``cum[k]`` (the channels' cumulative shares
    of the persona's leads, the last 1): numpy's ``searchsorted(cum, u, side="right")``."""
    last = cum.size - 1
    for r in range(first, first + n):
        kind = source[r]
        if kind == _REFERRAL_KIND:
            code = REFERRAL
        elif kind == _CHANNEL_KIND:
            u = row_uniform(key, r)
            k = 0
            while k < last and u >= cum[k]:
                k += 1
            code = FIRST_CHANNEL + k
        else:
            code = ORGANIC
        channel[r] = code
        counts[code] += 1.0


#: The counted columns of the ``channels`` table, in order.
COUNTED: tuple[str, ...] = CHANNELS.names[5:]
_COL = {name: i for i, name in enumerate(COUNTED)}


def source_names(params: ScenarioParams) -> tuple[str, ...]:
    """Every source by code: initial, organic, referral, then the channels in config order."""
    return (*FIXED_SOURCES, *params.acquisition.channels)


def setup(model: JourneyModel) -> None:
    """Every account starts ``initial``; no counts yet."""
    n = len(source_names(model.params))
    model.channel_records = []
    for agent in model.persona_agents:
        agent.channel = np.zeros(agent.size, dtype=np.uint8)
        agent.channel_flows = np.zeros((n, len(COUNTED)), dtype=np.float64)


def assign(agent: PersonaAgent, first: int, reached: int, channel_leads: np.ndarray) -> None:
    """Rows ``first`` … ``first + reached - 1`` were just reached (their ``source`` drawn): tag
    each with its source; a channel prospect's channel is drawn in proportion to
    ``channel_leads`` (each channel's leads to this persona this month, config order)."""
    total = float(channel_leads.sum())
    cum = np.cumsum(channel_leads) / total if total > 0 else np.ones(1)
    cum[-1] = 1.0
    counts = np.zeros(agent.channel_flows.shape[0])
    tag_sources(
        first,
        reached,
        agent.pop.source,
        agent.channel,
        agent.row_key(STREAM, 0),
        cum,
        counts,
    )
    agent.channel_flows[:, _COL["prospects"]] += counts


def count(
    agent: PersonaAgent,
    column: str,
    rows: np.ndarray,
    weights: Any = None,
    cost: tuple[str, float] | None = None,
) -> None:
    """Add accounts ``rows`` (or their ``weights``) to ``column`` of their sources this month;
    ``cost`` = (column, $ per account): also that cost of the accounts to that column."""
    if rows.size == 0:
        return
    flows = agent.channel_flows
    sums = np.bincount(agent.channel[rows], weights=weights, minlength=flows.shape[0])
    flows[:, _COL[column]] += sums
    if cost is not None:
        flows[:, _COL[cost[0]]] += sums * cost[1]


def add(agent: PersonaAgent, column: str, source: int, value: float) -> None:
    """Add ``value`` to ``column`` of source code ``source`` this month."""
    agent.channel_flows[source, _COL[column]] += value


def record(model: JourneyModel) -> None:
    """Keep this month's counts (one array per persona) and start the next month's at 0."""
    for agent in model.persona_agents:
        model.channel_records.append((model.month, agent.index, agent.channel_flows.copy()))
        agent.channel_flows[:] = 0.0


def channel_frame(model: JourneyModel) -> pd.DataFrame:
    """One replication's records as the ``channels`` table (``results.CHANNELS``)."""
    names = [p.name for p in model.params.persona_list]
    sources = source_names(model.params)
    n = len(sources)
    parts = model.channel_records
    values = np.concatenate([r[2] for r in parts]) if parts else np.zeros((0, len(COUNTED)))
    rows = len(parts) * n
    scenario, persona, channel = text_columns(
        [
            ([model.scenario_name], np.zeros(rows, dtype=np.int64)),
            (names, np.repeat(np.array([r[1] for r in parts], dtype=np.int64), n)),
            (sources, np.tile(np.arange(n, dtype=np.int64), len(parts))),
        ]
    )
    columns: dict[str, Any] = {
        "scenario": scenario,
        "replication": np.full(rows, model.replication, dtype="int64"),
        "month": np.repeat([r[0] for r in parts], n).astype("int64"),
        "persona": persona,
        "channel": channel,
    }
    for i, name in enumerate(COUNTED):
        columns[name] = values[:, i].astype("float64")
    return pd.DataFrame({name: columns[name] for name in CHANNELS.names})
