"""Named random streams: common random numbers across scenarios.

Each draw is keyed by (seed, replication, mechanism, month, persona), so an account's draws
depend only on its row within its persona and never on how many draws other mechanisms, months
or personas made. Two scenarios run with the same seed therefore share their randomness; changing
only a price changes only what that price touches. Two kinds of draw, both keyed that way:

- ``uniform``: one uniform for each of the first ``n`` rows of a persona, from a PCG64 generator
  built fresh for the key (a prefix of the same sequence for any ``n``). Used by the phases that
  act on most accounts every month (support, billing, expansion, churn, advocacy).
- ``row_uniform``: one uniform for each row of a given list, counter-based (SplitMix64 of the key
  and the row number), so a phase that acts on a few rows draws for those rows only and a row's
  value does not depend on which other rows are in the list. Used by the scheduled transitions
  (waiting times drawn when an account enters a stage, decisions, activations).
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


_MASK64 = (1 << 64) - 1
# Odd 64-bit multipliers that spread the key parts over the word before mixing.
_P1, _P2, _P3, _P4 = (
    0xD1B54A32D192ED03,
    0xAEF17502108EF2D9,
    0xF1357AEA2E62A9C5,
    0x8CB92BA72F3D8DD7,
)
_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_FLOAT24 = np.float32(2.0**-24)
_U_GOLDEN, _U_MIX1, _U_MIX2 = np.uint64(_GOLDEN), np.uint64(_MIX1), np.uint64(_MIX2)
_U16, _U27, _U30, _U31, _U40 = (np.uint64(k) for k in (16, 27, 30, 31, 40))
_U_LOW24 = np.uint64((1 << 24) - 1)


_ALMOST_ONE = np.float32(np.nextafter(np.float32(1.0), np.float32(0.0)))


def rescale(u: np.ndarray, lo: np.ndarray | float, width: np.ndarray | float) -> np.ndarray:
    """The part of uniforms ``u`` within [lo, lo + width) as fresh float32 uniforms on [0, 1):
    where one account needs a second independent choice from one uniform, the uniform rescaled
    within the interval it fell in is again uniform and independent of the first choice."""
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (u - lo) / width
    return np.clip(np.nan_to_num(v, nan=0.0), 0.0, _ALMOST_ONE).astype(np.float32)


_STREAM_IDS = {name: zlib.crc32(name.encode()) for name in STREAMS}


def _stream_id(name: str) -> int:
    """The stream's number (CRC-32 of its name); KeyError for a name not in ``STREAMS``."""
    try:
        return _STREAM_IDS[name]
    except KeyError:
        raise KeyError(f"unknown random stream {name!r}") from None


def _mix64(x: int) -> int:
    """SplitMix64's finaliser on a Python int (one 64-bit word)."""
    x &= _MASK64
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK64
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK64
    return x ^ (x >> 31)


class RandomStreams:
    """Factory of per-(mechanism, month, persona) generators for one replication."""

    def __init__(self, seed: int, replication: int):
        self.seed = int(seed)
        self.replication = int(replication)
        self._root = int(
            np.random.SeedSequence([self.seed, self.replication]).generate_state(1, np.uint64)[0]
        )

    def generator(self, stream: str, month: int, persona: int = 0) -> np.random.Generator:
        """The generator for one mechanism, month and persona."""
        ss = np.random.SeedSequence(
            [self.seed, self.replication, _stream_id(stream), int(month), int(persona)]
        )
        return np.random.Generator(np.random.PCG64(ss))

    def uniform(self, stream: str, month: int, persona: int, n: int) -> np.ndarray:
        """``n`` uniforms on [0, 1) in float32, one per row of a persona's slice."""
        return self.generator(stream, month, persona).random(n, dtype=np.float32)

    def row_key(self, stream: str, month: int, persona: int, draw: int = 0) -> int:
        """The 64-bit key of a counter-based stream (``draw`` numbers independent draws of the
        same rows in the same month)."""
        parts = _stream_id(stream) * _P1 + int(month) * _P2 + int(persona) * _P3 + int(draw) * _P4
        return _mix64(self._root ^ _mix64(parts))

    def row_uniform(
        self, stream: str, month: int, persona: int, rows: np.ndarray, draw: int = 0
    ) -> np.ndarray:
        """One float32 uniform on [0, 1) per entry of ``rows`` (row numbers within the persona);
        the value for a row depends only on the key and the row (24 random bits)."""
        return self._uniforms(self.row_key(stream, month, persona, draw), rows, 1)[0]

    def row_uniform_pair(
        self, stream: str, month: int, persona: int, rows: np.ndarray, draw: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Two independent float32 uniforms per entry of ``rows``: the first is
        ``row_uniform(..., draw)``, the second comes from other bits of the same hash."""
        u, v = self._uniforms(self.row_key(stream, month, persona, draw), rows, 2)
        return u, v

    @staticmethod
    def _uniforms(key: int, rows: np.ndarray, n: int) -> list[np.ndarray]:
        x = np.asarray(rows).astype(np.uint64)
        x *= _U_GOLDEN
        x += np.uint64(key)
        x ^= x >> _U30
        x *= _U_MIX1
        x ^= x >> _U27
        x *= _U_MIX2
        x ^= x >> _U31
        out = []
        for shift in (_U40, _U16)[:n]:
            u = ((x >> shift) & _U_LOW24).astype(np.float32)
            u *= _FLOAT24
            out.append(u)
        return out
