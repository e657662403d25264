"""Compiled kernels of the per-account monthly work (numba), with counter-based draws inside.

The phases that act on most paying accounts every month (health, support, billing, expansion,
churn, advocacy) each keep their mechanism module (docstring, config, ``MECHANISM``) and call
one kernel of this package for the loop over accounts; the few accounts that then move (churn,
resize, renew, promote) go back through the persona core in Python (``PersonaAgent.end_paying``,
``reprice``, ``move``), so counters, hooks and step order are unchanged.

- **One index per persona and month.** The kernels walk ``PersonaAgent.paying_rows()``: the
  rows paying when it is first asked for in a month. Accounts only start paying in decision and
  win-back (which drop it), so later in the month it can only hold rows that have since stopped
  paying; every kernel checks the row's stage.
- **Draws.** A kernel draws ``row_uniform(key, row)`` for the rows it needs, with the key of
  ``RandomStreams.row_key(stream, month, persona, MONTHLY_DRAW)`` and the row number within the
  persona: the same counter-based hash as ``RandomStreams.row_uniform`` (SplitMix64 of key and
  row, 24 bits), so a row's draw never depends on which other rows are drawn, and two scenarios
  with the same seed share every draw (common random numbers).
- **Cache.** Kernels are compiled on first use and cached on disk (``cache=True``). The cache
  goes to ``$NUMBA_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/journey-sim/numba/<digest>``
  (default ``~/.cache/journey-sim/numba/<digest>``), never inside the installed package;
  ``<digest>`` is ``kernel_digest()`` of the kernels' sources, so a changed kernel never loads
  another's stale machine code (numba checks only the file of the function it loads). ``python -m
  simulator.kernels.warm`` compiles them all ahead of the first run (``make`` does it once, when
  it sets up ``.venv``).

Modules: ``core`` (the per-row draw, the paying index, the Python entry wrapper), ``revenue``
(churn, expansion and contraction, billing), ``service`` (support tickets, advocacy, health
decay), ``ledger`` (the month's close: MRR, at-risk count and the MRR change log of 12-month
retention), ``spells`` (the persona core's end of paying spells and repricing). The cache
folder is set here, before numba is first imported.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path


def kernel_digest(root: str | Path | None = None) -> str:
    """A digest (16 hex digits) of every source file of the package that holds compiled code
    (its text contains ``njit``), with their paths. numba's cache checks only the file of the
    function it loads, so a kernel whose callee in another file changed would load stale
    machine code from its cache; one cache folder per digest compiles every kernel afresh
    when any kernel source changes (an upgrade, an edit). ``root``: the package folder
    (default: this package's)."""
    root = Path(root) if root is not None else Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        text = path.read_bytes()
        if b"njit" in text:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + text + b"\0")
    return digest.hexdigest()[:16]


def _cache_dir() -> str:
    """A user cache folder for compiled kernels (created), or a temporary one when the user's
    cannot be written; either way in a subfolder named by ``kernel_digest``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = os.path.join(base, "journey-sim", "numba", kernel_digest())
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    user = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    return os.path.join(tempfile.gettempdir(), f"journey-sim-numba-{user}", kernel_digest())


if not os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = _cache_dir()
    if "numba" in sys.modules:  # imported before us: make it read the cache folder again
        sys.modules["numba"].core.config.reload_config()

from simulator.kernels.core import MONTHLY_DRAW, paying_rows, row_uniform, row_uniforms  # noqa: E402
from simulator.kernels.revenue import (  # noqa: E402
    billed_cash,
    billing_draws,
    churn_exponent,
    churn_probability,
    expansion_draws,
    monthly_churn,
)
from simulator.kernels.service import (  # noqa: E402
    advocacy_moves,
    decay_health,
    raise_tickets,
    serve_tickets,
)

__all__ = [
    "MONTHLY_DRAW",
    "advocacy_moves",
    "billed_cash",
    "billing_draws",
    "churn_exponent",
    "churn_probability",
    "decay_health",
    "expansion_draws",
    "monthly_churn",
    "paying_rows",
    "raise_tickets",
    "row_uniform",
    "row_uniforms",
    "serve_tickets",
]
