"""Cohorts: accounts and MRR by acquisition month, and the retention matrices built from them.

The engine records, at month 0 (the book as it starts) and at the end of every month, the
paying accounts and their MRR of each persona by cohort month (``Population.cohort_month``: the
month an account first paid; 0 or less for the book, its signup month). It only reads the
population, so it draws no random number and changes nothing the monthly table holds. One
replication's records become the ``cohorts`` table (``simulator.results.COHORTS``), saved beside
the monthly table as ``cohorts.parquet``.

Retention (``cohort_table``): a cohort's size is its paying accounts (and their MRR) at the end
of its first month, month ``max(cohort_month, 0)`` (a cohort of the book: at month 0, when the
forecast starts); at a later month its logo retention is the accounts of the cohort paying then
over that size, and its revenue retention their MRR over the cohort's MRR then (expansion can
take it above 1; won-back accounts count in their first cohort). ``months_since`` = month −
cohort month (a book cohort starts at its age at month 0). Across replications the shares are
pooled: Σ retained / Σ size over the replications (a ratio of sums), and the counts and MRR are
means per replication.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from simulator.kernels import ledger
from simulator.results import COHORTS
from simulator.text_columns import text_columns

if TYPE_CHECKING:
    from simulator.model import JourneyModel

#: Columns of ``cohort_table``, in order.
RETENTION_COLUMNS: tuple[str, ...] = (
    "cohort_month",
    "months_since",
    "month",
    "accounts",
    "accounts_retained",
    "share",
    "mrr",
    "mrr_retained",
    "revenue_share",
)

#: Which share a retention matrix shows.
KINDS: dict[str, str] = {"logo": "share", "revenue": "revenue_share"}


def record_cohorts(model: JourneyModel) -> None:
    """Append this month's paying accounts and MRR by persona and cohort month to
    ``model.cohort_records`` (reads the population and the paying index only: no draws; the
    index is brought up to date, which any later phase would do the same way)."""
    month = model.month
    for agent in model.persona_agents:
        pop = agent.pop
        # The persona's paying index (kept up to date by the engine; the kernel skips rows
        # that stopped paying this month), not a pass over the aware prefix: one compiled
        # pass, no sort.
        months, accounts, mrr = ledger.cohort_sums(
            agent.paying_rows(), pop.stage, pop.cohort_month, pop.mrr
        )
        if months.size:
            model.cohort_records.append((month, agent.index, months, accounts, mrr))


def cohort_frame(model: JourneyModel) -> pd.DataFrame:
    """One replication's cohort records as the ``cohorts`` table (``results.COHORTS``)."""
    names = [p.name for p in model.params.persona_list]
    parts = model.cohort_records
    sizes = [r[2].size for r in parts]
    size = sum(sizes)
    persona = np.repeat(np.array([r[1] for r in parts], dtype=np.int64), sizes)
    scenario, persona_name = text_columns(
        [([model.scenario_name], np.zeros(size, dtype=np.int64)), (names, persona)]
    )
    columns: dict[str, Any] = {
        "scenario": scenario,
        "replication": np.full(size, model.replication, dtype="int64"),
        "month": np.repeat(np.array([r[0] for r in parts], dtype=np.int64), sizes),
        "persona": persona_name,
        "cohort_month": np.concatenate([r[2] for r in parts]).astype("int64")
        if parts
        else np.zeros(0, dtype="int64"),
        "accounts": np.concatenate([r[3] for r in parts]).astype("int64")
        if parts
        else np.zeros(0, dtype="int64"),
        "mrr": np.concatenate([r[4] for r in parts]).astype("float64")
        if parts
        else np.zeros(0, dtype="float64"),
    }
    return pd.DataFrame({name: columns[name] for name in COHORTS.names})


def empty_cohorts() -> pd.DataFrame:
    """The ``cohorts`` table with no rows (each column of its declared dtype)."""
    return pd.DataFrame(
        {n: pd.Series([], dtype="object" if t == "str" else t) for n, t in COHORTS.dtypes.items()}
    )


def _cohorts_of(source: Any) -> pd.DataFrame:
    table = getattr(source, "cohorts", source)
    if table is None:
        raise ValueError(
            "this result has no cohort table (a run saved before cohorts.parquet existed)"
        )
    return table


def cohort_table(source: Any, persona: str | None = None) -> pd.DataFrame:
    """Logo and revenue retention by cohort month and months since acquisition, tidy.

    Args:
        source: a ``SimulationResult`` (its ``cohorts``) or a ``cohorts`` table.
        persona: one persona only (default: every persona together).

    Returns:
        One row per (cohort_month, months_since) with the columns of ``RETENTION_COLUMNS``:
        ``accounts`` / ``mrr`` the cohort's size and MRR at its first month (mean per
        replication), ``accounts_retained`` / ``mrr_retained`` what is left at ``month`` (mean
        per replication), ``share`` and ``revenue_share`` pooled over replications (module
        docstring). Cohorts with no account at their first month are left out.
    """
    table = _cohorts_of(source)
    if persona is not None:
        known = sorted(set(table["persona"]))
        if persona not in known:
            raise ValueError(f"persona {persona!r} is not in the cohort table ({', '.join(known)})")
        table = table[table["persona"] == persona]
    if table.empty:
        return pd.DataFrame({c: [] for c in RETENTION_COLUMNS})
    reps = int(table["replication"].nunique())
    by = (
        table.groupby(["replication", "cohort_month", "month"], sort=True)[["accounts", "mrr"]]
        .sum()
        .reset_index()
    )
    first = by[by["month"] == by["cohort_month"].clip(lower=0)]
    base = (
        first.groupby("cohort_month")[["accounts", "mrr"]].sum().rename(columns=lambda c: "b_" + c)
    )
    alive = by[by["month"] >= by["cohort_month"].clip(lower=0)]
    kept = alive.groupby(["cohort_month", "month"])[["accounts", "mrr"]].sum().reset_index()
    out = kept.join(base, on="cohort_month", how="inner")
    out = out[out["b_accounts"] > 0]
    # Every month from the cohort's first to the last one recorded (a cohort gone is 0).
    last = int(table["month"].max())
    grid = [
        (c, m) for c in base.index[base["b_accounts"] > 0] for m in range(max(int(c), 0), last + 1)
    ]
    full = pd.DataFrame(grid, columns=["cohort_month", "month"])
    out = full.merge(out, on=["cohort_month", "month"], how="left")
    out[["accounts", "mrr"]] = out[["accounts", "mrr"]].fillna(0.0)
    out = out.drop(columns=["b_accounts", "b_mrr"]).join(base, on="cohort_month")
    result = pd.DataFrame(
        {
            "cohort_month": out["cohort_month"].astype("int64"),
            "months_since": (out["month"] - out["cohort_month"]).astype("int64"),
            "month": out["month"].astype("int64"),
            "accounts": out["b_accounts"] / reps,
            "accounts_retained": out["accounts"] / reps,
            "share": out["accounts"] / out["b_accounts"],
            "mrr": out["b_mrr"] / reps,
            "mrr_retained": out["mrr"] / reps,
            "revenue_share": np.where(
                out["b_mrr"] > 0, out["mrr"] / out["b_mrr"].where(out["b_mrr"] > 0, 1.0), np.nan
            ),
        }
    )
    return result.sort_values(["cohort_month", "months_since"]).reset_index(drop=True)


def cohort_matrix(
    source: Any, kind: Literal["logo", "revenue"] = "logo", persona: str | None = None
) -> pd.DataFrame:
    """The retention matrix: rows cohort month, columns months since acquisition, cells the
    logo (``kind="logo"``) or revenue (``"revenue"``) retention share (``cohort_table``);
    NaN where a cohort has not reached that age, or (book cohorts) was older at month 0."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    table = cohort_table(source, persona)
    return table.pivot(index="cohort_month", columns="months_since", values=KINDS[kind])


def pooled_retention(source: Any, persona: str | None = None) -> pd.DataFrame:
    """Retention pooled over cohorts: the new customers' cohorts by months since acquisition
    (Σ retained / Σ size over the cohorts old enough), and the book (cohort month ≤ 0) as a
    whole by months since month 0. Columns ``group`` (``new`` / ``book``), ``months``,
    ``cohorts``, ``accounts`` (the size behind the share, mean per replication), ``share``,
    ``revenue_share``."""
    table = cohort_table(source, persona)
    if table.empty:
        return pd.DataFrame(
            columns=["group", "months", "cohorts", "accounts", "share", "revenue_share"]
        )
    out = []
    for group, rows, clock in (
        ("new", table[table["cohort_month"] >= 1], "months_since"),
        ("book", table[table["cohort_month"] <= 0], "month"),
    ):
        if rows.empty:
            continue
        by = rows.groupby(clock).agg(
            cohorts=("cohort_month", "size"),
            accounts=("accounts", "sum"),
            kept=("accounts_retained", "sum"),
            mrr=("mrr", "sum"),
            mrr_kept=("mrr_retained", "sum"),
        )
        out.append(
            pd.DataFrame(
                {
                    "group": group,
                    "months": by.index.astype("int64"),
                    "cohorts": by["cohorts"].to_numpy(),
                    "accounts": by["accounts"].to_numpy(),
                    "share": (by["kept"] / by["accounts"]).to_numpy(),
                    "revenue_share": (by["mrr_kept"] / by["mrr"]).to_numpy(),
                }
            )
        )
    return pd.concat(out, ignore_index=True)
