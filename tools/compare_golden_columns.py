"""Prove that an engine change kept every existing monthly column byte-identical.

    python tools/compare_golden_columns.py dump DIR   # each golden case -> DIR/<case>.pkl
    python tools/compare_golden_columns.py check DIR  # today vs DIR, on DIR's columns

``check`` compares, for every case of ``tests/golden_baseline.py``, each column of the saved table
(name, dtype and raw bytes, as the golden digest does) with today's column of the same name,
and lists the columns today's table adds. Exit 0 when every old column is identical.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from golden_baseline import SIZE, cases, table_digest


def _tables():
    from simulator import load_config, simulate

    for name, overrides in cases().items():
        yield name, simulate(load_config([*SIZE, *overrides]), progress=False).monthly


def _file(directory: Path, name: str) -> Path:
    return directory / (name.replace("=", "_") + ".pkl")


def main(argv: list[str]) -> int:
    mode, directory = argv[0], Path(argv[1])
    directory.mkdir(parents=True, exist_ok=True)
    bad = 0
    for name, table in _tables():
        if mode == "dump":
            table.to_pickle(_file(directory, name))
            print(f"{name}: {len(table)} rows, {len(table.columns)} columns saved")
            continue
        import pandas as pd

        old = pd.read_pickle(_file(directory, name))
        differ = [c for c in old.columns if table_digest(old[[c]]) != table_digest(table[[c]])]
        added = [c for c in table.columns if c not in old.columns]
        same_order = [c for c in table.columns if c in old.columns] == list(old.columns)
        ok = not differ and same_order and len(old) == len(table)
        bad += not ok
        print(
            f"{name}: {len(old.columns)} old columns {'identical' if ok else 'DIFFER'}"
            f"{' ' + str(differ) if differ else ''}; added {added}"
        )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
