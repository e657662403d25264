"""The journey map and the event log (``simulator.journey``): known answers.

- stage flows conserve accounts: for every persona, stage and month, the stock at the end of
  the month = the stock before + the inflows - the outflows, from the initial state on, and the
  stocks are the monthly table's ``n_<stage>`` counts exactly;
- the event log of the sampled accounts replays, from their stages at month 0, to the stages
  the engine holds for them at the end of every month;
- the log changes nothing the engine computes (share 0 vs > 0: identical tables);
- the executors give identical flows; checkpoints carry them (resume);
- the journey map's columns are the definitions on a table worked by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sizes import size

from simulator import ConfigError, journey_map, load_config, simulate
from simulator.experiments.executors import LocalExecutor, SerialExecutor
from simulator.experiments.montecarlo import REPLICATION_DIR, SimulationResult
from simulator.journey import FLOWS, JOURNEY_LOG, STAYS, contacts, sampled_accounts
from simulator.model import JourneyModel
from simulator.params import params_of, replace
from simulator.stages import N_STAGES, STAGE_NAMES

SIZE = size(20_000, 600, 12, 2)

#: The default engine, every mechanism off, and a freemium decision (other move paths).
CASES: dict[str, list[str]] = {
    "default": [],
    "all_off": ["mechanisms=all_off"],
    "freemium": [
        "personas.solo.decision.path=freemium",
        "personas.solo.decision.months=1",
        "personas.solo.decision.free_value=0.5",
        "personas.solo.decision.free_drop=0.2",
    ],
}


def _initial_counts(params, replication: int) -> dict[str, np.ndarray]:
    """Accounts per stage at month 0, by persona (a model built, not run)."""
    model = JourneyModel(params, replication=replication)
    return {a.persona.name: a.counts.copy() for a in model.persona_agents}


def _flow_cube(flows: pd.DataFrame, months: int) -> np.ndarray:
    """flows of one replication and persona → array [month, from, to]."""
    cube = np.zeros((months + 1, N_STAGES, N_STAGES), dtype=np.int64)
    code = {s: i for i, s in enumerate(STAGE_NAMES)}
    for r in flows.itertuples():
        cube[r.month, code[r.from_stage], code[r.to_stage]] += r.accounts
    return cube


@pytest.mark.parametrize("case", list(CASES))
def test_flows_conserve_accounts_and_match_the_monthly_stage_counts(case: str) -> None:
    params = params_of(load_config([*SIZE, *CASES[case]]))
    res = simulate(params, progress=False)
    assert list(res.flows.columns) == list(FLOWS.names)
    assert (res.flows["accounts"] > 0).all()
    assert res.flows["month"].between(1, params.months).all()
    stages = [f"n_{s}" for s in STAGE_NAMES]
    for rep in range(params.replications):
        start = _initial_counts(params, rep)
        for persona, counts in start.items():
            f = res.flows[(res.flows["replication"] == rep) & (res.flows["persona"] == persona)]
            cube = _flow_cube(f, params.months)
            m = res.monthly[
                (res.monthly["replication"] == rep) & (res.monthly["persona"] == persona)
            ]
            stock = counts.copy()
            for month in range(1, params.months + 1):
                inflow, outflow = cube[month].sum(axis=0), cube[month].sum(axis=1)
                stock = stock + inflow - outflow
                row = m[m["month"] == month][stages].to_numpy()[0]
                np.testing.assert_array_equal(stock, row, err_msg=f"{persona} month {month}")
    # Every exit is one completed stay: stays by stage = outflows by stage.
    assert list(res.stays.columns) == list(STAYS.names)
    keys = ["replication", "persona"]
    stays = res.stays.groupby([*keys, "stage"])["accounts"].sum()
    exits = (
        res.flows.groupby([*keys, "from_stage"])["accounts"].sum().rename_axis(stays.index.names)
    )
    pd.testing.assert_series_equal(stays, exits)
    assert (res.stays["months_in_stage"] >= 0).all()
    # Something moved in every case (the test is not vacuous).
    assert res.flows["accounts"].sum() > 100


def _replayed_and_true(share: float, overrides: list[str]) -> tuple[dict, dict, pd.DataFrame]:
    """Stage counts of the sampled accounts by (persona, month): replayed from the log, and
    read from the engine's population at the end of every month."""
    params = replace(
        params_of(load_config([*size(20_000, 600, 10, 1), *overrides])),
        {"journey_log.share": share},
    )
    model = JourneyModel(params, replication=0)
    sampled = {
        a.persona.name: np.flatnonzero(
            sampled_accounts(params.seed, a.rows.start, a.rows.stop - a.rows.start, share)
        )
        for a in model.persona_agents
    }
    truth: dict[tuple[str, int], np.ndarray] = {}
    for month in range(params.months + 1):
        if month:
            model.step()
        for a in model.persona_agents:
            stages = a.pop.stage[sampled[a.persona.name]]
            truth[a.persona.name, month] = np.bincount(stages, minlength=N_STAGES)
    from simulator.journey import log_frame

    log = log_frame(model)
    code = {s: i for i, s in enumerate(STAGE_NAMES)}
    replayed: dict[tuple[str, int], np.ndarray] = {}
    for a in model.persona_agents:
        name = a.persona.name
        rows = sampled[name] + a.rows.start
        state = dict.fromkeys(rows.tolist(), code["unaware"])
        mine = log[log["persona"] == name]
        for month in range(params.months + 1):
            for r in mine[mine["month"] == month].itertuples():
                if r.touchpoint:
                    continue
                if month > 0:
                    assert state[r.account] == code[r.from_stage], (name, month, r.account)
                state[r.account] = code[r.to_stage]
            replayed[name, month] = np.bincount(list(state.values()), minlength=N_STAGES)
    return replayed, truth, log


@pytest.mark.parametrize("case", ["default", "freemium"])
def test_event_log_replays_to_the_stage_counts_of_the_sampled_accounts(case: str) -> None:
    replayed, truth, log = _replayed_and_true(0.05, CASES[case])
    assert replayed.keys() == truth.keys()
    for key in truth:
        np.testing.assert_array_equal(replayed[key], truth[key], err_msg=str(key))
    assert (log["month"] > 0).sum() > 100  # stage changes were logged, not only month 0
    assert list(log.columns) == list(JOURNEY_LOG.names)
    changes = log[(log["month"] > 0) & (log["touchpoint"] == "")]
    assert (changes["concept:name"] == changes["to_stage"]).all()
    contacts = log[log["touchpoint"] != ""]  # touchpoint contacts: named after the touchpoint
    assert len(contacts) and (contacts["concept:name"] == contacts["touchpoint"]).all()
    assert (log["case:concept:name"] == "0:" + log["account"].astype(str)).all()
    stamp = pd.Timestamp("2026-01-01") + pd.DateOffset(months=7)
    assert (log.loc[log["month"] == 7, "time:timestamp"] == stamp).all()
    paid = changes[changes["from_stage"] == "decision"]
    assert (paid.loc[paid["to_stage"] == "onboarding", "mrr"] > 0).all()
    assert (paid.loc[paid["to_stage"] == "onboarding", "plan"] != "").all()


def test_sampling_is_a_deterministic_share_independent_of_the_replication() -> None:
    n = 200_000
    a = sampled_accounts(42, 0, n, 0.1)
    assert abs(a.mean() - 0.1) < 4 * np.sqrt(0.1 * 0.9 / n)
    np.testing.assert_array_equal(a, sampled_accounts(42, 0, n, 0.1))
    np.testing.assert_array_equal(a[5000:], sampled_accounts(42, 5000, n - 5000, 0.1))  # by row
    assert (a <= sampled_accounts(42, 0, n, 0.2)).all()  # a larger share adds accounts
    assert (a != sampled_accounts(43, 0, n, 0.1)).any()  # another seed, other accounts
    assert not sampled_accounts(42, 0, n, 0.0).any()
    assert sampled_accounts(42, 0, n, 1.0).all()


def test_share_zero_writes_no_log_and_the_log_changes_no_number(tmp_path: Path) -> None:
    params = params_of(load_config(SIZE))
    off = simulate(params, progress=False)
    on = simulate(replace(params, {"journey_log.share": 0.2}), progress=False)
    pd.testing.assert_frame_equal(off.monthly, on.monthly, check_exact=True)
    pd.testing.assert_frame_equal(off.flows, on.flows, check_exact=True)
    pd.testing.assert_frame_equal(off.stays, on.stays, check_exact=True)
    assert len(off.journey_log) == 0 and len(on.journey_log) > 0
    off.save(tmp_path / "off", plots=False)
    on.save(tmp_path / "on", plots=False, csv=True)
    assert not (tmp_path / "off" / "journey_log.parquet").exists()
    assert not (tmp_path / "off" / "journey_log.csv").exists()
    for name in ("flows.parquet", "stays.parquet", "journey_map.csv"):
        assert (tmp_path / "off" / name).exists()
    back = pd.read_parquet(tmp_path / "on" / "journey_log.parquet")
    pd.testing.assert_frame_equal(back, on.journey_log)
    assert (tmp_path / "on" / "journey_log.csv").exists()


def test_executors_and_resume_give_identical_flows(tmp_path: Path) -> None:
    params = replace(params_of(load_config(SIZE)), {"journey_log.share": 0.05})
    serial = simulate(params, progress=False, executor=SerialExecutor())
    pooled = simulate(params, progress=False, executor=LocalExecutor(2))
    for name in ("monthly", "flows", "stays", "journey_log", "cohorts", "channels"):
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(pooled, name))
    # Checkpoints carry every table: a run that loads them gives the same result.
    first = simulate(params, progress=False, checkpoint_dir=tmp_path)
    reps = tmp_path / REPLICATION_DIR
    assert sorted(p.name for p in reps.glob("*-0000.parquet")) == [
        "channels-0000.parquet",
        "cohorts-0000.parquet",
        "flows-0000.parquet",
        "journey_log-0000.parquet",
        "rep-0000.parquet",
        "stays-0000.parquet",
    ]
    (reps / "flows-0001.parquet").unlink()  # a replication without its flows is run again
    loaded = simulate(params, progress=False, checkpoint_dir=tmp_path)
    for name in ("monthly", "flows", "stays", "journey_log", "cohorts", "channels"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(loaded, name))
        pd.testing.assert_frame_equal(getattr(serial, name), getattr(loaded, name))
    assert (reps / "flows-0001.parquet").exists()
    # A partial result is saved without the journey files (its checkpoints hold them).
    first.meta["partial"] = True
    first.save(tmp_path / "partial", plots=False)
    assert sorted(p.name for p in (tmp_path / "partial").iterdir()) == [
        "channels.partial.parquet",
        "cohorts.partial.parquet",
        "monthly.partial.parquet",
        "summary.partial.json",
        "touchpoints.partial.parquet",
    ]


def test_record_contact_logs_sampled_accounts_with_the_touchpoint() -> None:
    params = replace(params_of(load_config(size(20_000, 600, 2, 1))), {"journey_log.share": 1.0})
    model = JourneyModel(params)
    model.step()
    agent = model.persona_agents[1]
    model.record_contact("smb", np.arange(5), "webinar")
    from simulator.journey import log_frame

    log = log_frame(model)
    hit = log[log["touchpoint"] == "webinar"]
    assert hit["account"].tolist() == list(range(agent.rows.start, agent.rows.start + 5))
    assert (hit["concept:name"] == "webinar").all() and (hit["month"] == 1).all()
    assert (hit["to_stage"] == [STAGE_NAMES[s] for s in agent.pop.stage[:5]]).all()
    assert (hit["from_stage"] == "").all()


@pytest.mark.parametrize(
    ("override", "key", "words"),
    [
        ("journey_log.share=1.5", "journey_log.share", "must be in [0, 1], got 1.5"),
        ("journey_log.share=-0.1", "journey_log.share", "must be in [0, 1], got -0.1"),
        (
            "journey_log.start=2025-13-01",
            "journey_log.start",
            "must be a date YYYY-MM-DD, got '2025-13-01'",
        ),
    ],
)
def test_a_bad_log_setting_is_one_clear_error(override: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config([*SIZE, override])
    assert len(info.value.problems) == 1
    assert f"{key}: {words}" in str(info.value)


def _hand_result() -> SimulationResult:
    """One persona, one replication, two months, worked by hand.

    Month 0: 10 unaware, 4 consideration, 2 active. Month 1: 6 unaware → consideration, 3
    consideration → decision, 1 consideration → lost, 1 active → churned. Month 2: 2 decision →
    onboarding, 1 decision → lost, 2 onboarding → active. Stays: consideration left after 0 (x3)
    and 1 month (x1); active after 5 months; decision after 1 month (x3); onboarding 0 (x2)."""
    params = params_of(load_config(size(20_000, 600, 2, 1)))
    counts = {
        1: dict(unaware=4, consideration=6, decision=3, active=1, churned=1, lost=1),
        2: dict(unaware=4, consideration=6, decision=0, active=3, churned=1, lost=2),
    }
    monthly = pd.DataFrame(
        [
            {"replication": 0, "month": m, "persona": "p"}
            | {f"n_{s}": c.get(s, 0) for s in STAGE_NAMES}
            for m, c in counts.items()
        ]
    )
    moves = [
        (1, "unaware", "consideration", 6),
        (1, "consideration", "decision", 3),
        (1, "consideration", "lost", 1),
        (1, "active", "churned", 1),
        (2, "decision", "onboarding", 2),
        (2, "decision", "lost", 1),
        (2, "onboarding", "active", 2),
    ]
    flows = pd.DataFrame(
        [
            {"replication": 0, "month": m, "persona": "p", "from_stage": a, "to_stage": b}
            | {"accounts": n}
            for m, a, b, n in moves
        ]
    )
    stays = pd.DataFrame(
        [
            {"replication": 0, "persona": "p", "stage": s, "months_in_stage": d, "accounts": n}
            for s, d, n in [
                ("unaware", 1, 6),
                ("consideration", 0, 3),
                ("consideration", 1, 1),
                ("active", 5, 1),
                ("decision", 1, 3),
                ("onboarding", 0, 2),
            ]
        ]
    )
    return SimulationResult(monthly, params, flows=flows, stays=stays)


def test_journey_map_on_a_table_worked_by_hand() -> None:
    table = journey_map(_hand_result())
    p = table[table["persona"] == "p"].set_index("stage")
    total = table[table["persona"] == "total"].set_index("stage")
    pd.testing.assert_frame_equal(p.drop(columns="persona"), total.drop(columns="persona"))
    c = p.loc["consideration"]
    # start = n(1) - in(1) + out(1) = 6 - 6 + 4 = 4; reached = 4 + 6 = 10
    assert (c["accounts_start"], c["accounts_end"], c["entries"], c["exits"]) == (4, 6, 6, 4)
    assert c["conversion"] == pytest.approx(3 / 10) and c["drop_off"] == pytest.approx(1 / 10)
    assert c["median_months_in_stage"] == 0  # stays 0, 0, 0, 1
    d = p.loc["decision"]
    assert (d["accounts_start"], d["entries"], d["exits"]) == (0, 3, 3)
    assert d["conversion"] == pytest.approx(2 / 3) and d["drop_off"] == pytest.approx(1 / 3)
    assert d["median_months_in_stage"] == 1
    a = p.loc["active"]
    assert (a["accounts_start"], a["accounts_end"], a["entries"], a["to_churned"]) == (2, 3, 2, 1)
    assert a["drop_off"] == pytest.approx(1 / 4) and a["conversion"] == 0
    assert p.loc["onboarding", "accounts_start"] == 0  # 0 at month 1 after 0 in and 0 out
    assert np.isnan(p.loc["advocate", "median_months_in_stage"])
    assert p.loc["unaware", "accounts_start"] == 10


def test_touchpoint_contacts_reach_their_share_of_the_sampled_accounts_and_change_nothing() -> None:
    """A sampled account in a touchpoint's stage is reached with probability ``reach`` each
    month (a hash, not a draw): the log's contacts of a touchpoint, over the sampled accounts
    in its stage at each month's end, are ``reach`` within sampling error, and the run's
    tables are the same with the log on."""
    overrides = [*size(20_000, 600, 6, 1), "touchpoints.value_communication.reach.solo=0.5"]
    overrides += ["touchpoints.value_communication.baseline_reach.solo=0.5"]
    off = simulate(load_config(overrides), progress=False)
    on = simulate(load_config([*overrides, "journey_log.share=0.2"]), progress=False)
    pd.testing.assert_frame_equal(off.monthly, on.monthly)
    log = on.journey_log
    moves = log[log["touchpoint"] == ""]
    hits = log[(log["touchpoint"] == "value_communication") & (log["persona"] == "solo")]
    # each sampled solo account's stage at the end of every month, replayed from its moves
    stage_at: dict[int, str] = {}
    exposed = 0
    solo = moves[moves["persona"] == "solo"].sort_values(["month", "account"], kind="stable")
    for month in range(0, 7):
        for row in solo[solo["month"] == month].itertuples():
            stage_at[row.account] = row.to_stage
        if month >= 1:
            exposed += sum(s in ("active", "advocate") for s in stage_at.values())
    assert exposed > 300
    share = len(hits) / exposed
    assert abs(share - 0.5) < 4 * np.sqrt(0.25 / exposed), (share, exposed)
    assert set(hits["concept:name"]) == {"value_communication"}


def test_the_month_end_contacts_are_those_of_every_sampled_account() -> None:
    """The month-end pass visits only the sampled rows of each persona's aware prefix (no
    touchpoint acts on the unaware rows after it): its contacts are exactly the (account,
    touchpoint) pairs ``contacts`` finds over all the persona's sampled rows, month by month."""
    params = params_of(load_config([*size(100_000, 600, 6, 1), "journey_log.share=0.1"]))
    model = JourneyModel(params)
    log = model.contact_log
    reaches = np.zeros((len(log.touchpoints), N_STAGES), dtype=bool)
    for s in range(N_STAGES):
        reaches[log.stage_tps[log.by_stage[s] : log.by_stage[s + 1]], s] = True
    found = skipped = 0
    for month in range(1, params.months + 1):
        before = log._fill
        model.step()
        ev = log._ev[:, before : log._fill]
        got = set(zip(ev[1].tolist(), ev[4].tolist(), strict=True))
        want: set[tuple[int, int]] = set()
        for p, agent in enumerate(model.persona_agents):
            start, rows = agent.rows.start, agent.trace.sampled_rows
            skipped += int(np.sum(rows >= agent.aware))
            stage = model.population.stage[rows + start]
            reach = model.touchpoint_reach_matrix[p]
            hit, tp = contacts(params.seed, start, rows, stage, month, reach, reaches)
            want |= set(zip((hit + start).tolist(), tp.tolist(), strict=True))
        assert got == want, month
        found += len(want)
    assert found > 500 and skipped > 500  # (unaware sampled rows were there to skip)


# ---------------------------------------------------------------------------- the log's cost
def _plain_log_frame(model: JourneyModel) -> pd.DataFrame:
    """The event log built the plain way (Python strings, a pandas sort) from the recorders'
    buffers: the personas' (moves, ``record_contact``) and the month-end contacts'
    (``ContactLog``), a month's events in the order moves, contacts, events logged after the
    month. The reference the fast ``log_frame`` (one integer sort, arrow text) must equal."""
    from simulator.journey import timestamps

    plans = [*model.params.pricing.plans, ""]
    stages = [*STAGE_NAMES, ""]
    starts = [a.rows.start for a in model.persona_agents]
    contacts = model.contact_log
    frames = []
    for k, buffer in enumerate([*[a.trace for a in model.persona_agents], contacts]):
        ev, mrr = buffer._ev[:, : buffer._fill], buffer._evf[: buffer._fill]
        month, row, src, dst, tp, plan = ev
        account = row + buffer.start
        if buffer is contacts:
            phase = np.ones(month.size)
        else:
            ends = {m: fills[k] for m, fills in contacts.marks}
            after = [i >= ends.get(m, 1 << 60) for i, m in enumerate(month)]
            phase = np.where(after, 2, 0)
        tps = [*buffer.touchpoints, ""]
        touchpoint = [tps[c] for c in tp]
        to_stage = [stages[c] for c in dst]
        frames.append(
            pd.DataFrame(
                {
                    "scenario": model.scenario_name,
                    "replication": np.int64(model.replication),
                    "account": account.astype(np.int64),
                    "persona": [
                        model.persona_agents[
                            int(np.searchsorted(starts, a, "right")) - 1
                        ].persona.name
                        for a in account
                    ],
                    "month": month.astype(np.int64),
                    "from_stage": [stages[c] for c in src],
                    "to_stage": to_stage,
                    "touchpoint": touchpoint,
                    "plan": [plans[c] for c in plan],
                    "mrr": mrr.astype(np.float64),
                    "case:concept:name": [f"{model.replication}:{a}" for a in account],
                    "concept:name": [t or s for t, s in zip(touchpoint, to_stage, strict=True)],
                    "time:timestamp": timestamps(model.params.journey_log.start, month),
                    "phase": phase,
                }
            )
        )
    log = pd.concat(frames, ignore_index=True)
    log = log.sort_values(["month", "account", "phase"], kind="stable").drop(columns="phase")
    return log.reset_index(drop=True)


def test_the_fast_log_frame_equals_the_plain_build_whatever_the_buffer_size(monkeypatch) -> None:
    """The event buffers grow as they fill (a first capacity of one event gives the same log
    as the default), and ``log_frame`` (compiled buffers, arrow text, one integer sort) equals
    the plain pandas build: contacts, a touchpoint switched off and widened by events,
    ``record_contact`` of a new and a shipped touchpoint."""
    import simulator.journey as journey

    overrides = [
        *size(20_000, 600, 8, 1),
        "journey_log.share=0.3",
        "+events.off={type: touchpoint, month: 3, touchpoint: qbrs, enabled: false, reach: null}",
        "+events.wide={type: touchpoint, month: 5, touchpoint: community, enabled: null, "
        "reach: {solo: 0.9}}",
    ]
    params = params_of(load_config(overrides))

    def run() -> JourneyModel:
        model = JourneyModel(params, replication=3)
        model.run(2)
        model.record_contact("smb", np.arange(40), "webinar")
        model.record_contact(0, np.arange(25), "qbrs")
        model.run(6)
        return model

    default = run()
    log = journey.log_frame(default)
    assert len(log) > 2_000 and (log["touchpoint"] == "webinar").any()
    assert (log["replication"] == 3).all() and log["case:concept:name"].str.startswith("3:").all()
    pd.testing.assert_frame_equal(log, _plain_log_frame(default))
    # record_contact between months 2 and 3: after month 2's contacts of the same account
    webinar = log[log["touchpoint"] == "webinar"]
    assert (webinar["month"] == 2).all() and len(webinar) > 5
    reached = 0
    for account in webinar["account"]:
        rows = log[(log["account"] == account) & (log["month"] == 2)]
        assert rows["touchpoint"].iloc[-1] == "webinar"
        reached += int(((rows["touchpoint"] != "") & (rows["touchpoint"] != "webinar")).any())
    assert reached > 0  # some of them had month 2's contacts before it
    monkeypatch.setattr(journey, "_BUFFER_PER_ROW", 0)
    monkeypatch.setattr(journey, "_MIN_BUFFER", 1)
    tiny = run()
    assert tiny.persona_agents[0].trace._ev.shape[1] < default.persona_agents[0].trace._ev.shape[1]
    pd.testing.assert_frame_equal(journey.log_frame(tiny), log)


def test_journey_map_bands_are_the_quantiles_of_each_replications_own_rates() -> None:
    """Three replications of the hand-worked table, the second with 1 consideration → decision
    in month 1 instead of 3: consideration's conversion is 3/10, 1/8 (start 6 - 6 + 2 = 2,
    reached 8) and 3/10; its drop-off 1/10, 1/8, 1/10; P10 and P90 are those of the three."""
    hand = _hand_result()
    flows = []
    for r in range(3):
        f = hand.flows.assign(replication=r)
        if r == 1:
            first = (f["month"] == 1) & (f["from_stage"] == "consideration")
            f.loc[first & (f["to_stage"] == "decision"), "accounts"] = 1
        flows.append(f)
    monthly = pd.concat([hand.monthly.assign(replication=r) for r in range(3)], ignore_index=True)
    stays = pd.concat([hand.stays.assign(replication=r) for r in range(3)], ignore_index=True)
    result = SimulationResult(
        monthly, hand.params, flows=pd.concat(flows, ignore_index=True), stays=stays
    )
    c = journey_map(result).query("persona == 'p'").set_index("stage").loc["consideration"]
    conv = np.percentile([3 / 10, 1 / 8, 3 / 10], [10, 90])
    drop = np.percentile([1 / 10, 1 / 8, 1 / 10], [10, 90])
    assert (c["conversion_p10"], c["conversion_p90"]) == pytest.approx(tuple(conv))
    assert (c["drop_off_p10"], c["drop_off_p90"]) == pytest.approx(tuple(drop))
    assert c["conversion_p10"] < c["conversion"] < c["conversion_p90"]
    one = journey_map(hand).query("persona == 'p'").set_index("stage").loc["consideration"]
    assert one["conversion_p10"] == one["conversion_p90"] == pytest.approx(3 / 10)
