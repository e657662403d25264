"""Compile the kernels into the on-disk cache ahead of the first run.

``python -m simulator.kernels.warm`` runs a few tiny simulations (the default scenario, and the
code paths it leaves out: every mechanism off, scheduled churn, a free tier, a card-required
trial, price changes), so every kernel the engine calls is compiled once and cached (about 15 s
on a 2-core machine); later runs load them from the cache in well under a second. ``make run``
and ``make test`` do this once, when they set up ``.venv``. Without it, the first run compiles
the kernels it needs as it goes (the same results, a slower first run).
"""

from __future__ import annotations

import os
import time

#: Tiny runs whose calls between them reach every kernel (Hydra overrides).
_RUNS: tuple[tuple[str, ...], ...] = (
    (),
    ("mechanisms=all_off",),
    (
        "health.churn_sensitivity=0",
        "mechanisms.annual_contracts=false",
        "mechanisms.involuntary_churn=false",
    ),
    ("personas.solo.decision.path=freemium", "personas.solo.decision.months=1"),
    ("personas.smb.decision.card_required=true",),
    ("scenario=price_increase",),
)
_SIZE = ("months=14", "market.size=3000", "initial.customers=300", "replications=1")


def main() -> None:
    """Compile and cache the kernels; print how long it took and where the cache is."""
    from simulator import load_config, simulate

    start = time.perf_counter()
    for overrides in _RUNS:
        simulate(load_config([*_SIZE, *overrides]), progress=False)
    print(
        f"journey-sim: kernels compiled and cached in {time.perf_counter() - start:.1f} s "
        f"({os.environ.get('NUMBA_CACHE_DIR', '')})"
    )


if __name__ == "__main__":
    main()
