"""Shared test sizes (Hydra overrides), defined once.

Each size sets every size key once (``market.size``, ``initial.customers``, ``months``,
``replications``); a test that needs another value builds its own with ``size(...)`` instead of
repeating a key (a key given twice may be refused).
"""

from __future__ import annotations


def size(market: int, initial: int, months: int, replications: int) -> list[str]:
    """Overrides for a market of ``market`` accounts, ``initial`` of them in the book, run for
    ``months`` months and ``replications`` replications."""
    return [
        f"market.size={market}",
        f"initial.customers={initial}",
        f"months={months}",
        f"replications={replications}",
    ]


def small(months: int = 12, replications: int = 2) -> list[str]:
    """A small market (30,000 accounts, 900 customers) in which every mechanism acts."""
    return size(30_000, 900, months, replications)


#: 30,000 accounts, 900 customers, 12 months, 2 replications.
SMALL: list[str] = small()
#: 8,000 accounts, 300 customers, 3 months, 2 replications: runs that only need to run.
TINY: list[str] = size(8_000, 300, 3, 2)


#: Two personas (solo and smb, half the market each): the others are removed.
TWO_PERSONAS: list[str] = [
    "~personas.midmarket",
    "~personas.enterprise",
    "personas.solo.share=0.5",
    "personas.smb.share=0.5",
    "~initial.mix.midmarket",
    "~initial.mix.enterprise",
    "initial.mix.solo=0.5",
    "initial.mix.smb=0.5",
]
#: The book split like the market (``personas.*.share``), for tests whose book is a large part
#: of the market (the default ``initial.mix`` puts more of it in the smaller personas).
MARKET_MIX = "initial.mix={solo: 0.5, smb: 0.32, midmarket: 0.14, enterprise: 0.04}"
#: No pipeline in flight at month 0 (the book alone): tests that follow prospects from an empty
#: pipeline.
NO_PIPELINE = "initial.pipeline=false"
