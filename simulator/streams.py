"""Named random streams: common random numbers across scenarios.

Each draw is keyed by (seed, replication, mechanism, month, persona): the generator for that key
is built fresh, so an account's draws depend only on its row within its persona and never on how
many draws other mechanisms, months or personas made. Two scenarios run with the same seed
therefore share their randomness; changing only a price changes only what that price touches.
"""

from __future__ import annotations

import zlib

import numpy as np

STREAMS: tuple[str, ...] = (
    "init",  # seats, base churn, initial book
    "acquisition",
    "consideration",
    "decision",
    "onboarding",
    "support",
    "billing",  # renewals and involuntary churn
    "expansion",
    "churn",
    "advocacy",
    "reputation",
    "winback",
)


def _stream_id(name: str) -> int:
    return zlib.crc32(name.encode())


class RandomStreams:
    """Factory of per-(mechanism, month, persona) generators for one replication."""

    def __init__(self, seed: int, replication: int):
        self.seed = int(seed)
        self.replication = int(replication)

    def generator(self, stream: str, month: int, persona: int = 0) -> np.random.Generator:
        """The generator for one mechanism, month and persona."""
        if stream not in STREAMS:
            raise KeyError(f"unknown random stream {stream!r}")
        ss = np.random.SeedSequence(
            [self.seed, self.replication, _stream_id(stream), int(month), int(persona)]
        )
        return np.random.Generator(np.random.PCG64(ss))

    def uniform(self, stream: str, month: int, persona: int, n: int) -> np.ndarray:
        """``n`` uniforms on [0, 1) in float32, one per row of a persona's slice."""
        return self.generator(stream, month, persona).random(n, dtype=np.float32)
