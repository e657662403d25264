"""The company's own book: a CSV of the customers paying at month 0 (``initial.book``), read,
checked and written back (``export_book``).

One row per paying account. Columns (``BOOK_COLUMNS``; order free, names exact, empty cells
allowed where said):

- ``customer_id`` (optional): your own id, kept for people; the engine ignores it.
- ``persona``: a persona name (``personas.<name>``).
- ``plan``: a plan the book pays for (a name of ``initial.prices``).
- ``billing``: ``monthly`` or ``annual``.
- ``seats``: whole seats, 1 … 1,000,000; may be empty when ``mrr`` is given (then seats =
  ``mrr`` / the plan's price per seat at the book's prices, rounded, at least 1).
- ``mrr`` (optional): what the account pays now, $/month (annual contracts: the annual
  amount / 12); empty = the book's list price × seats (× (1 − ``initial.annual_discount``) when
  annual). Price changes and renewals reprice it like any account's.
- ``signup_month``: when the account first paid: a month number ≤ 0 (0 = month 0, −11 =
  eleven months before), or a date ``YYYY-MM`` / ``YYYY-MM-DD`` with ``initial.book_month``
  (the calendar month of month 0). Tenure at month 0 = 1 − signup month (the churn draws it
  has survived): its base churn is drawn from the warm start's Beta(α, β + tenure).
- ``next_renewal``: annual accounts only (ignored for monthly ones): the month its term ends,
  1 … ``renewal.term_months`` (or a date); empty = signup month + a whole number of terms.

Every problem (unknown persona or plan, a bad number, an impossible date) is reported at once,
one line each naming the spreadsheet row (the header is row 1), the column and the value, as
``ConfigError`` lines of ``initial.book``, before any simulation.
"""

from __future__ import annotations

import csv
import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator.stages import is_paying

if TYPE_CHECKING:
    from simulator.model import JourneyModel
    from simulator.params import ScenarioParams

#: Columns of a book CSV, in the order ``export_book`` writes them.
BOOK_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "persona",
    "plan",
    "billing",
    "seats",
    "mrr",
    "signup_month",
    "next_renewal",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("persona", "plan", "billing", "signup_month")
BILLING = ("monthly", "annual")
MAX_SEATS = 1_000_000
#: Problems listed one per line before the rest are counted.
MAX_LISTED = 200

_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")

Problem = tuple[str, str]


@dataclass(frozen=True)
class BookRules:
    """What a book is checked against (from the config tree)."""

    personas: tuple[str, ...]
    plans: tuple[str, ...]  # the book's plans (``initial.prices``)
    term_months: int
    book_month: str | None  # calendar month of month 0 (YYYY-MM), for dates
    capacity: tuple[int, ...]  # accounts each persona's market holds


@dataclass(frozen=True)
class OwnBook:
    """A checked book: one entry per account, in file order.

    Attributes:
        persona: persona index (config order).
        plan: the plan's name.
        annual: billed on an annual contract.
        seats: seats (0 = derive from ``mrr`` at the book's prices).
        mrr: $/month the account pays (NaN = the book's list price).
        cohort: signup month (≤ 0).
        renewal: next renewal month of an annual contract (0 = from the signup month; 0 for
            monthly accounts).
    """

    persona: np.ndarray
    plan: tuple[str, ...]
    annual: np.ndarray
    seats: np.ndarray
    mrr: np.ndarray
    cohort: np.ndarray
    renewal: np.ndarray

    def rows_of(self, persona: int) -> np.ndarray:
        """Entries of persona ``persona``, in file order."""
        return np.flatnonzero(self.persona == persona)


def _month_of(text: str, book_month: str | None) -> tuple[int | None, str | None]:
    """A month number relative to month 0 from an integer or a date (None and why not)."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not math.isfinite(value) or value != int(value):
            return None, "is not a whole month number or a date (YYYY-MM or YYYY-MM-DD)"
        return int(value), None
    m = _DATE.match(text)
    if not m:
        return None, "is not a whole month number or a date (YYYY-MM or YYYY-MM-DD)"
    year, month, day = int(m[1]), int(m[2]), m[3]
    try:
        pd.Timestamp(year=year, month=month, day=int(day) if day else 1)
    except ValueError:
        return None, "is not a real calendar date"
    if book_month is None:
        return None, "is a date: set initial.book_month (the calendar month of month 0, YYYY-MM)"
    y0, m0 = (int(x) for x in book_month.split("-"))
    return (year - y0) * 12 + (month - m0), None


def parse_book(path: str | Path, rules: BookRules) -> tuple[OwnBook | None, list[Problem]]:
    """Read and check a book CSV: the book, or None and every problem (``ConfigError`` lines)."""
    path = Path(path)
    where = f"initial.book ({path.name})"
    if not path.is_file():
        return None, [("initial.book", f"no such file: {path}")]
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return None, [("initial.book", f"cannot read {path} as a CSV file: {exc}")]
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return None, [(where, "is empty: a header row and one row per customer are needed")]
    header = [h.strip() for h in rows[0]]
    problems: list[Problem] = []
    unknown = [h for h in header if h not in BOOK_COLUMNS]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if "seats" not in header and "mrr" not in header:
        missing.append("seats or mrr")
    if unknown:
        problems.append(
            (
                where,
                f"unknown column(s) {', '.join(map(repr, unknown))}; "
                f"columns are {', '.join(BOOK_COLUMNS)}",
            )
        )
    if missing:
        problems.append((where, f"missing column(s) {', '.join(missing)}"))
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        problems.append((where, f"column(s) given twice: {', '.join(dup)}"))
    if problems:
        return None, problems
    if len(rows) == 1:
        return None, [(where, "has a header but no customers")]
    col = {h: i for i, h in enumerate(header)}
    n = len(rows) - 1
    persona = np.zeros(n, dtype=np.int64)
    plans: list[str] = []
    annual = np.zeros(n, dtype=np.bool_)
    seats = np.zeros(n, dtype=np.int64)
    mrr = np.full(n, np.nan)
    cohort = np.zeros(n, dtype=np.int64)
    renewal = np.zeros(n, dtype=np.int64)
    term = rules.term_months

    for i, raw in enumerate(rows[1:]):
        row_no = i + 2

        def cell(name: str, raw: list[str] = raw) -> str:
            j = col.get(name)
            return raw[j].strip() if j is not None and j < len(raw) else ""

        def bad(name: str, value: str, why: str, row_no: int = row_no) -> None:
            problems.append((f"{where} row {row_no}, column {name}", f"{value!r} {why}"))

        if len(raw) > len(header):
            problems.append(
                (f"{where} row {row_no}", f"has {len(raw)} cells for {len(header)} columns")
            )
        name = cell("persona")
        if name in rules.personas:
            persona[i] = rules.personas.index(name)
        else:
            bad("persona", name, f"is not a persona; personas are {', '.join(rules.personas)}")
        plan = cell("plan")
        plans.append(plan)
        if plan not in rules.plans:
            bad(
                "plan",
                plan,
                f"is not a plan of the book (initial.prices): {', '.join(rules.plans)}",
            )
        bill = cell("billing").lower()
        if bill in BILLING:
            annual[i] = bill == "annual"
        else:
            bad("billing", cell("billing"), "must be monthly or annual")
        text = cell("seats")
        money = cell("mrr")
        if text:
            try:
                value = float(text)
                ok = math.isfinite(value) and value == int(value) and 1 <= value <= MAX_SEATS
            except ValueError:
                ok = False
            if ok:
                seats[i] = int(value)
            else:
                bad("seats", text, f"must be a whole number of seats, 1 … {MAX_SEATS:,}")
        elif not money:
            problems.append((f"{where} row {row_no}, column seats", "empty: give seats or mrr"))
        if money:
            try:
                value = float(money)
                ok = math.isfinite(value) and value > 0
            except ValueError:
                ok = False
            if ok:
                mrr[i] = value
            else:
                bad("mrr", money, "must be a positive amount, $ per month")
        signup_text = cell("signup_month")
        signup, why = _month_of(signup_text, rules.book_month)
        if why:
            bad("signup_month", signup_text, why)
        elif signup is not None and signup > 0:
            bad(
                "signup_month",
                signup_text,
                "is after month 0: the book holds customers paying at month 0",
            )
        else:
            cohort[i] = signup
        renew_text = cell("next_renewal")
        if annual[i] and renew_text:
            month, why = _month_of(renew_text, rules.book_month)
            if why:
                bad("next_renewal", renew_text, why)
            elif signup is not None and month <= signup:
                bad("next_renewal", renew_text, f"is not after the signup month ({signup_text})")
            elif month < 1 or month > term:
                bad(
                    "next_renewal",
                    renew_text,
                    f"must be within the next term: month 1 … {term} (renewal.term_months) "
                    f"after month 0, got month {month}",
                )
            else:
                renewal[i] = month
    for k, name in enumerate(rules.personas):
        count = int(np.count_nonzero(persona == k))
        if count > rules.capacity[k]:
            problems.append(
                (
                    where,
                    f"{count} customers of persona {name} for a market of {rules.capacity[k]} "
                    f"(market.size × personas.{name}.share)",
                )
            )
    if problems:
        return None, problems
    return OwnBook(persona, tuple(plans), annual, seats, mrr, cohort, renewal), []


def _rules_of_tree(tree: dict[str, Any]) -> BookRules | None:
    from simulator.book import split_by_share

    try:
        personas = tree["personas"]
        shares = [float(p["share"]) for p in personas.values()]
        size = int(tree["market"]["size"])
        return BookRules(
            personas=tuple(personas),
            plans=tuple(n for n in tree["initial"]["prices"] if n in tree["pricing"]["plans"]),
            term_months=int(tree["renewal"]["term_months"]),
            book_month=tree["initial"].get("book_month"),
            capacity=tuple(split_by_share(size, shares)),
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def book_problems(tree: dict[str, Any], has_problem: Any) -> list[Problem]:
    """The problems of ``initial.book`` in a config tree (none when it is unset or what it is
    checked against has problems of its own)."""
    initial = tree.get("initial")
    path = initial.get("book") if isinstance(initial, dict) else None
    if not isinstance(path, str) or has_problem("initial.book"):
        return []
    deps = (
        "personas",
        "market.size",
        "initial.prices",
        "pricing.plans",
        "renewal",
        "initial.book_month",
    )
    if any(has_problem(k) for k in deps):
        return []
    rules = _rules_of_tree(tree)
    if rules is None:
        return []
    problems = _cached_parse(*_file_key(path), rules)[1]
    if len(problems) > MAX_LISTED:
        more = len(problems) - MAX_LISTED
        problems = [*problems[:MAX_LISTED], ("initial.book", f"… and {more} more problems")]
    return problems


def _file_key(path: str) -> tuple[str, str]:
    """The file and the digest of its bytes (a parse is reused only for the same content)."""
    return str(Path(path).resolve()), book_digest(path)


@functools.lru_cache(maxsize=8)
def _cached_parse(path: str, digest: str, rules: BookRules) -> tuple[OwnBook | None, list[Problem]]:
    return parse_book(path, rules)


def load_book(params: ScenarioParams) -> OwnBook:
    """The checked book of ``initial.book`` (``ConfigError`` when it has problems)."""
    from simulator.book import split_by_share
    from simulator.errors import ConfigError

    path = params.initial.book
    assert path is not None
    rules = BookRules(
        personas=tuple(params.personas),
        plans=tuple(n for n in params.initial.prices if n in params.pricing.plans),
        term_months=params.renewal.term_months,
        book_month=params.initial.book_month,
        capacity=tuple(split_by_share(params.market.size, [p.share for p in params.persona_list])),
    )
    book, problems = _cached_parse(*_file_key(path), rules)
    if problems:
        raise ConfigError(problems)
    assert book is not None
    return book


def book_digest(path: str) -> str:
    """SHA-256 of a book file's bytes (what a run's fingerprint depends on)."""
    import hashlib

    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


# ---------------------------------------------------------------------------- export
def book_frame(model: JourneyModel) -> pd.DataFrame:
    """The paying accounts of a model now (month ``model.month``) as a book table whose month
    0 is this month: signup month = cohort month − month, next renewal = term end − month."""
    month = model.month
    ranked = model.params.pricing.ranked
    parts = []
    for agent in model.persona_agents:
        pop = agent.pop
        rows = np.flatnonzero(is_paying(pop.stage[: agent.aware]))
        annual = pop.annual[rows]
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": [f"{agent.persona.name}-{r}" for r in rows],
                    "persona": agent.persona.name,
                    "plan": [ranked[j] for j in pop.plan[rows]],
                    "billing": np.where(annual, "annual", "monthly"),
                    "seats": pop.seats[rows].astype(np.int64),
                    "mrr": pop.mrr[rows],
                    "signup_month": pop.cohort_month[rows].astype(np.int64) - month,
                    "next_renewal": pd.array(
                        np.where(annual, pop.term_end[rows].astype(np.int64) - month, 0),
                        dtype="Int64",
                    ),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame.loc[frame["billing"] == "monthly", "next_renewal"] = pd.NA
    return frame[list(BOOK_COLUMNS)]


def export_book(
    source: Any, path: str | Path, month: int | None = None, replication: int = 0
) -> pd.DataFrame:
    """Write the paying accounts of a simulated month as a book CSV (``initial.book``).

    Args:
        source: a ``JourneyModel`` (its state now, or stepped on to ``month``), or a
            ``SimulationResult`` / config / ``ScenarioParams``: replication ``replication`` is
            simulated again to ``month`` (same seed, same state as in the result).
        path: the CSV to write.
        month: the month whose end becomes the book's month 0 (default: the model's month, or
            the scenario's horizon).
        replication: which replication (when ``source`` is not a model).

    Returns:
        The book table written (columns ``BOOK_COLUMNS``).
    """
    from simulator.model import JourneyModel

    if isinstance(source, JourneyModel):
        model = source
    else:
        params = getattr(source, "params", source)
        model = JourneyModel(params, replication=replication)
        if month is None:
            month = model.params.months
    if month is not None:
        if month < model.month:
            raise ValueError(f"month {month} is before the model's month {model.month}")
        model.run(month - model.month)
    frame = book_frame(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame
