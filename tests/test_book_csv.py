"""The company's own book (``initial.book``): a hand-made book loads to exactly its accounts,
every bad value is one line naming row, column and value, and a book exported from a simulated
month reloads to the same state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from simulator import export_book, load_config
from simulator.book_csv import BOOK_COLUMNS, book_frame
from simulator.errors import ConfigError
from simulator.model import JourneyModel
from simulator.stages import Stage, is_paying

EXAMPLE = Path(__file__).resolve().parents[1] / "configs" / "books" / "example_book.csv"

HEADER = ",".join(BOOK_COLUMNS)
#: Five customers: every persona, plan and term; one MRR given with seats, one MRR alone
#: (seats derived), one renewal given and one derived from the signup month.
FIVE = """\
A,solo,starter,monthly,1,,0,
B,smb,pro,annual,4,,-13,5
C,midmarket,enterprise,annual,20,,-30,
D,enterprise,enterprise,monthly,150,20000,-5,
E,smb,starter,monthly,,61,-2,
"""


def _book(tmp_path: Path, body: str, name: str = "book.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n" + body)
    return path


def _model(path: Path, *extra: str) -> JourneyModel:
    cfg = load_config(
        ["market.size=20000", f"initial.book={path}", "initial.pipeline=false", *extra]
    )
    return JourneyModel(cfg)


def test_a_hand_made_book_loads_to_exactly_its_accounts(tmp_path: Path) -> None:
    model = _model(_book(tmp_path, FIVE), "mechanisms.onboarding=false")
    par = model.params
    disc = 1.0 - par.initial.annual_discount
    price = par.initial.prices
    mult = {p.name: p.price_multiplier for p in par.persona_list}
    term = par.renewal.term_months
    # (persona, plan, annual, seats, MRR, signup month, renewal month)
    expected = {
        "solo": [("starter", False, 1, price["starter"] * mult["solo"], 0, 0)],
        "smb": [
            ("pro", True, 4, price["pro"] * mult["smb"] * 4 * disc, -13, 5),
            # $61 on starter: 61 / (30 × multiplier) seats, rounded; pays the $61 given
            ("starter", False, round(61 / (price["starter"] * mult["smb"])), 61.0, -2, 0),
        ],
        "midmarket": [
            # signed up at −30 on 12-month terms: renews at −30 + 12 × ⌈31 / 12⌉ = 6
            ("enterprise", True, 20, price["enterprise"] * mult["midmarket"] * 20 * disc, -30, 6)
        ],
        "enterprise": [("enterprise", False, 150, 20000.0, -5, 0)],
    }
    assert term == 12
    ranked = par.pricing.ranked
    for agent in model.persona_agents:
        want = expected[agent.persona.name]
        pop = agent.pop
        paying = np.flatnonzero(is_paying(pop.stage))
        assert paying.tolist() == list(range(len(want)))
        assert agent.n_paying == len(want)
        assert int(agent.counts[Stage.ACTIVE]) == len(want)
        got = [
            (
                ranked[pop.plan[r]],
                bool(pop.annual[r]),
                int(pop.seats[r]),
                float(pop.mrr[r]),
                int(pop.cohort_month[r]),
                int(pop.term_end[r]),
            )
            for r in paying
        ]
        for g, w in zip(got, want, strict=True):
            assert g[:3] == w[:3]
            assert g[3] == pytest.approx(w[3], rel=1e-6)
            assert g[4:] == w[4:]
        assert agent.mrr_total == pytest.approx(sum(w[3] for w in want), rel=1e-6)
    assert model.mrr == pytest.approx(sum(w[3] for ws in expected.values() for w in ws), rel=1e-6)


def test_an_account_younger_than_its_onboarding_path_is_onboarding(tmp_path: Path) -> None:
    # white-glove onboarding takes 2 months: signed up in month 0 (tenure 1) it is still
    # onboarding and activates in month 2; signed up in month −5 it is active
    body = "A,enterprise,pro,monthly,50,,0,\nB,enterprise,pro,monthly,50,,-5,\n"
    model = _model(_book(tmp_path, body))
    ent = model.persona_agents[3]
    assert model.params.onboarding.paths[ent.persona.onboarding].months == 2
    assert ent.pop.stage[0] == Stage.ONBOARDING
    assert ent.pop.stage[1] == Stage.ACTIVE
    model.step()
    assert ent.pop.stage[0] == Stage.ONBOARDING
    model.step()
    assert ent.pop.stage[0] in (Stage.ACTIVE, Stage.CHURNED)  # its outcome known in month 2


#: Each bad row and the one line it must produce (row = spreadsheet row, header = row 1).
BAD = [
    ("A,wizard,pro,monthly,3,,-4,", "row 2, column persona: 'wizard' is not a persona"),
    ("A,solo,platinum,monthly,1,,-2,", "row 2, column plan: 'platinum' is not a plan"),
    ("A,smb,pro,monthly,-2,,-5,", "row 2, column seats: '-2' must be a whole number of seats"),
    ("A,smb,pro,monthly,2.5,,-5,", "row 2, column seats: '2.5' must be a whole number"),
    ("A,smb,pro,monthly,2,-10,-5,", "row 2, column mrr: '-10' must be a positive amount"),
    ("A,smb,pro,weekly,2,,-5,", "row 2, column billing: 'weekly' must be monthly or annual"),
    ("A,smb,pro,monthly,2,,2025-13,", "row 2, column signup_month: '2025-13' is not a real"),
    ("A,smb,pro,monthly,2,,2025-02-30,", "row 2, column signup_month: '2025-02-30' is not a real"),
    ("A,smb,pro,monthly,2,,last year,", "row 2, column signup_month: 'last year' is not a whole"),
    ("A,smb,pro,monthly,2,,3,", "row 2, column signup_month: '3' is after month 0"),
    ("A,smb,pro,monthly,,,-3,", "row 2, column seats: empty: give seats or mrr"),
    (
        "A,smb,pro,annual,2,,2026-03,2026-01",
        "row 2, column next_renewal: '2026-01' is not after the signup month (2026-03)",
    ),
    ("A,smb,pro,annual,2,,-3,0", "row 2, column next_renewal: '0' must be within the next term"),
    ("A,smb,pro,annual,2,,-3,13", "row 2, column next_renewal: '13' must be within"),
]


@pytest.mark.parametrize(("row", "line"), BAD, ids=[b[1].split(":")[0] + b[0] for b in BAD])
def test_each_bad_value_is_one_line_naming_row_column_and_value(
    tmp_path: Path, row: str, line: str
) -> None:
    path = _book(tmp_path, row + "\n")
    with pytest.raises(ConfigError) as err:
        load_config([f"initial.book={path}", "initial.book_month=2026-06"])
    message = str(err.value)
    assert f"initial.book (book.csv) {line}" in message
    assert len(err.value.problems) == 1, message


def test_every_problem_of_a_book_is_listed_at_once_by_row(tmp_path: Path) -> None:
    body = "\n".join(
        [
            "A,solo,starter,monthly,1,,0,",  # fine
            "B,wizard,pro,monthly,3,,-4,",
            "C,smb,pro,monthly,-2,,-5,",
            "D,smb,gold,weekly,1,,-5,",
        ]
    )
    with pytest.raises(ConfigError) as err:
        load_config([f"initial.book={_book(tmp_path, body)}"])
    keys = [k for k, _ in err.value.problems]
    assert keys == [
        "initial.book (book.csv) row 3, column persona",
        "initial.book (book.csv) row 4, column seats",
        "initial.book (book.csv) row 5, column plan",
        "initial.book (book.csv) row 5, column billing",
    ]


def test_a_date_without_book_month_and_a_missing_file_are_clear(tmp_path: Path) -> None:
    path = _book(tmp_path, "A,solo,starter,monthly,1,,2026-01-15,\n")
    with pytest.raises(ConfigError, match=r"set initial\.book_month"):
        load_config([f"initial.book={path}"])
    with pytest.raises(ConfigError, match=r"initial\.book: no such file"):
        load_config([f"initial.book={tmp_path / 'nope.csv'}"])
    (tmp_path / "cols.csv").write_text("persona,plan,seat,signup_month\nsolo,starter,1,0\n")
    with pytest.raises(ConfigError, match=r"(?s)unknown column.*'seat'.*missing column.*billing"):
        load_config([f"initial.book={tmp_path / 'cols.csv'}"])


def test_dates_count_from_book_month(tmp_path: Path) -> None:
    body = "A,midmarket,pro,annual,10,,2025-09-20,2026-09\n"
    model = _model(_book(tmp_path, body), "initial.book_month=2026-06")
    mid = model.persona_agents[2]
    assert int(mid.pop.cohort_month[0]) == -9  # September 2025 is 9 months before June 2026
    assert int(mid.pop.term_end[0]) == 3


def test_a_book_bigger_than_its_personas_market_is_refused(tmp_path: Path) -> None:
    body = "A,enterprise,pro,monthly,1,,0,\n" * 5
    with pytest.raises(ConfigError, match="5 customers of persona enterprise for a market of 4"):
        load_config(["market.size=100", f"initial.book={_book(tmp_path, body)}"])


def _state(model: JourneyModel) -> pd.DataFrame:
    """The paying accounts as a sorted table of what a book holds (tenure and renewal counted
    from the model's month)."""
    frame = book_frame(model).drop(columns="customer_id")
    frame["next_renewal"] = frame["next_renewal"].fillna(0).astype("int64")
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def test_a_book_exported_from_a_simulated_month_reloads_to_the_same_state(
    tmp_path: Path,
) -> None:
    overrides = ["market.size=20000", "initial.customers=600", "months=7"]
    source = JourneyModel(load_config(overrides))
    path = tmp_path / "month7.csv"
    written = export_book(source, path, month=7)
    assert source.month == 7
    assert list(written.columns) == list(BOOK_COLUMNS)
    assert len(written) == sum(a.n_paying for a in source.persona_agents)
    # Some accounts of every kind are there: annual and monthly, book and new cohorts.
    assert set(written["billing"]) == {"monthly", "annual"}
    assert written["signup_month"].max() == 0 and written["signup_month"].min() < -7
    reloaded = JourneyModel(load_config([*overrides, f"initial.book={path}"]))
    before, after = _state(source), _state(reloaded)
    pd.testing.assert_frame_equal(after, before, check_exact=True)
    # The same accounts per persona, plan and term, and the same MRR per persona.
    for a, b in zip(source.persona_agents, reloaded.persona_agents, strict=True):
        assert a.n_paying == b.n_paying
        assert b.mrr_total == pytest.approx(a.mrr_total, rel=1e-9)
        assert b.paying_seats == a.paying_seats


def test_export_from_a_result_simulates_its_replication_again(tmp_path: Path) -> None:
    from simulator import simulate

    cfg = load_config(
        [
            "market.size=20000",
            "initial.customers=600",
            "months=3",
            "replications=2",
            "progress=false",
        ]
    )
    result = simulate(cfg)
    frame = export_book(result, tmp_path / "b.csv", month=3, replication=1)
    last = result.monthly[(result.monthly["replication"] == 1) & (result.monthly["month"] == 3)]
    counts = frame.groupby("persona").size()
    for _, row in last.iterrows():
        assert counts.get(row["persona"], 0) == row["customers"]
    assert frame["mrr"].sum() == pytest.approx(last["mrr_end"].sum(), rel=1e-6)


def test_the_example_book_loads(tmp_path: Path) -> None:
    book = pd.read_csv(EXAMPLE)
    model = JourneyModel(load_config([f"initial.book={EXAMPLE}"]))
    by_persona = book.groupby("persona").size()
    for agent in model.persona_agents:
        assert agent.n_paying == by_persona[agent.persona.name]


def test_cli_reports_a_bad_book_in_one_message_without_traceback(tmp_path: Path) -> None:
    path = _book(tmp_path, "A,wizard,pro,monthly,3,,-4,\nB,solo,starter,monthly,0,,-1,\n")
    proc = run_cli(f"initial.book={path}", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "row 2, column persona: 'wizard' is not a persona" in proc.stderr
    assert "row 3, column seats: '0' must be a whole number of seats" in proc.stderr


def test_tenure_feeds_the_warm_starts_conditional_churn(tmp_path: Path) -> None:
    # 2,000 smb accounts signed up in month 0 (tenure 1) and 2,000 in month −35 (tenure 36):
    # base churn | τ ~ Beta(α, β + τ), mean α / (α + β + τ); the long-tenured churn less.
    body = "".join(f"A,smb,pro,monthly,2,,{s},\n" for s in (0, -35) for _ in range(2000))
    model = _model(_book(tmp_path, body))
    smb = model.persona_agents[1]
    churn = smb.persona.churn
    a, b = churn.mean * churn.concentration, (1 - churn.mean) * churn.concentration
    theta = smb.pop.base_churn[:4000].astype(np.float64)
    for rows, tau in ((slice(0, 2000), 1), (slice(2000, 4000), 36)):
        bb = b + tau
        mean = a / (a + bb)
        se = np.sqrt(a * bb / ((a + bb) ** 2 * (a + bb + 1)) / 2000)
        assert abs(theta[rows].mean() - mean) < 5 * se, (tau, theta[rows].mean(), mean)
    # power: the unconditional mean is far outside the long-tenured accounts' bound
    assert abs(theta[2000:].mean() - churn.mean) > 5 * se


def test_the_fingerprint_of_a_run_follows_the_books_content(tmp_path: Path) -> None:
    from simulator.experiments.montecarlo import study_key
    from simulator.params import params_of

    path = _book(tmp_path, FIVE)
    first = study_key(params_of(load_config([f"initial.book={path}"])))
    path.write_text(HEADER + "\n" + FIVE.replace(",150,", ",151,"))
    assert study_key(params_of(load_config([f"initial.book={path}"]))) != first
