"""Named random streams: common random numbers across scenarios.

Each draw is keyed by (seed, replication, mechanism, month, persona), so an account's draws
depend only on its row within its persona and never on how many draws other mechanisms, months
or personas made. Two scenarios run with the same seed therefore share their randomness; changing
only a price changes only what that price touches. Two kinds of draw, both keyed that way:

- ``uniform``: one uniform for each of the first ``n`` rows of a persona, from a PCG64 generator
  built fresh for the key (a prefix of the same sequence for any ``n``). No phase of the month
  uses it any more (the compiled kernels draw per row, below); ``generator`` still serves the
  set-up, acquisition counts and reviews. The generator is
  ``PCG64(SeedSequence([seed, replication, stream, month, persona]))``; the seed sequences'
  output words are computed for a block of months at once (``seed_states``,
  NumPy's ``SeedSequence`` hash vectorised over keys), so a month builds no ``SeedSequence``.
- ``row_uniform``: one uniform for each row of a given list, counter-based (SplitMix64 of the key
  and the row number), so a phase that acts on a few rows draws for those rows only and a row's
  value does not depend on which other rows are in the list. Used by the scheduled transitions
  (waiting times drawn when an account enters a stage, decisions, activations) and, through
  ``row_key``, inside the compiled kernels (``simulator.kernels.row_uniform``: the same hash)
  by the phases that act on most paying accounts every month (support, billing, expansion,
  churn, advocacy).
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.random.bit_generator import ISeedSequence

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
    # each account's own willingness to pay (``personas.*.willingness_to_pay_spread`` > 0): drawn
    # under month 0's key, so it is the same whenever the account decides (appended last: the
    # other streams' keys and draws do not move)
    "willingness_to_pay",
    # a channel prospect's channel (``simulator.attribution``; appended last: the other streams'
    # keys and draws do not move)
    "attribution",
)


_MASK64 = (1 << 64) - 1
# Odd 64-bit multipliers that spread the key parts over the word before mixing.
_P1, _P2, _P3, _P4 = (
    0xD1B54A32D192ED03,
    0xAEF17502108EF2D9,
    0xF1357AEA2E62A9C5,
    0x8CB92BA72F3D8DD7,
)
_U_P = tuple(np.uint64(k) for k in (_P1, _P2, _P3, _P4))
#: Draws per (stream, month, persona) whose keys are tabulated (``RandomStreams.row_key_u64``).
_KEY_DRAWS = 4
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
    if u.size == 0:
        return u.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (u - lo) / width
        # Clipped, then NaN (0 / 0: an empty interval) to 0: as ``nan_to_num`` then ``clip``
        # (±inf clip to the same ends as ``nan_to_num``'s largest finite values).
        np.clip(v, 0.0, _ALMOST_ONE, out=v)
        np.copyto(v, 0.0, where=np.isnan(v))
    return v.astype(np.float32, copy=False)


_STREAM_IDS = {name: zlib.crc32(name.encode()) for name in STREAMS}
_STREAM_POS = {name: k for k, name in enumerate(STREAMS)}

# NumPy's ``SeedSequence`` (numpy/random/bit_generator.pyx): its pool hash and output hash,
# in uint32 arithmetic.
_MASK32 = 0xFFFFFFFF
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_POOL_SIZE = 4
_U32_16 = np.uint32(16)
#: Months of seed states computed at once.
_BLOCK_MONTHS = 32
#: Months whose keys are precomputed (each month one uint32 word, as ``SeedSequence`` has it).
_MAX_BLOCKED_MONTH = (1 << 32) - _BLOCK_MONTHS


def _uint32_words(n: int) -> list[int]:
    """The uint32 words ``SeedSequence`` makes of a non-negative int (little-endian; 0 is one
    word)."""
    if n < 0:
        raise ValueError("expected non-negative integer")
    words = [n & _MASK32]
    n >>= 32
    while n:
        words.append(n & _MASK32)
        n >>= 32
    return words


def seed_states(entropy: np.ndarray) -> np.ndarray:
    """``SeedSequence(words).generate_state(4, np.uint64)`` for each row of ``entropy`` (the
    uint32 words of each key, shape (keys, L)), vectorised over keys: shape (keys, 4)."""
    e = np.asarray(entropy, dtype=np.uint32)
    n_keys, n_words = e.shape
    const = _INIT_A

    def hashmix(value: np.ndarray) -> np.ndarray:
        nonlocal const
        value = value ^ np.uint32(const)
        const = (const * _MULT_A) & _MASK32
        value = value * np.uint32(const)
        return value ^ (value >> _U32_16)

    def mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        result = _MIX_L * x - _MIX_R * y
        return result ^ (result >> _U32_16)

    zero = np.zeros(n_keys, dtype=np.uint32)
    pool = [hashmix(e[:, i] if i < n_words else zero) for i in range(_POOL_SIZE)]
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                pool[dst] = mix(pool[dst], hashmix(pool[src]))
    for src in range(_POOL_SIZE, n_words):
        for dst in range(_POOL_SIZE):
            pool[dst] = mix(pool[dst], hashmix(e[:, src]))
    out = np.empty((n_keys, 8), dtype=np.uint32)
    const = _INIT_B
    for i in range(8):
        value = pool[i % _POOL_SIZE] ^ np.uint32(const)
        const = (const * _MULT_B) & _MASK32
        value = value * np.uint32(const)
        out[:, i] = value ^ (value >> _U32_16)
    return np.ascontiguousarray(out.astype("<u4").view("<u8").astype(np.uint64))


class _SeedState(ISeedSequence):
    """A seed sequence whose output (``generate_state(4, np.uint64)``) is already computed:
    ``PCG64(_SeedState(seed_states(words)[k]))`` has the state of ``PCG64(SeedSequence(
    words[k]))``."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray):
        self.words = words

    def generate_state(self, n_words: int, dtype: type = np.uint32) -> np.ndarray:
        if n_words != 4 or np.dtype(dtype) != np.uint64:
            raise ValueError("only PCG64's seeding (4 uint64 words) is precomputed")
        return self.words


def _stream_id(name: str) -> int:
    """The stream's number (CRC-32 of its name); KeyError for a name not in ``STREAMS``."""
    try:
        return _STREAM_IDS[name]
    except KeyError:
        raise KeyError(f"unknown random stream {name!r}") from None


def _mix64_u64(x: np.ndarray) -> np.ndarray:
    """``_mix64`` of every entry of a uint64 array (wrapping arithmetic modulo 2**64)."""
    x = x ^ (x >> _U30)
    x *= _U_MIX1
    x ^= x >> _U27
    x *= _U_MIX2
    return x ^ (x >> _U31)


def _mix64(x: int) -> int:
    """SplitMix64's finaliser on a Python int (one 64-bit word)."""
    x &= _MASK64
    x = ((x ^ (x >> 30)) * _MIX1) & _MASK64
    x = ((x ^ (x >> 27)) * _MIX2) & _MASK64
    return x ^ (x >> 31)


class RandomStreams:
    """Factory of per-(mechanism, month, persona) generators for one replication."""

    def __init__(self, seed: int, replication: int, personas: int = 1):
        self.seed = int(seed)
        self.replication = int(replication)
        self._root = int(
            np.random.SeedSequence([self.seed, self.replication]).generate_state(1, np.uint64)[0]
        )
        self._prefix = _uint32_words(self.seed) + _uint32_words(self.replication)
        self._personas = max(int(personas), 1)
        #: Seed states by block of months: (stream, month in block, persona, 4 words).
        self._states: dict[int, np.ndarray] = {}
        #: Keys of the counter-based draws by block of months (``row_key_u64``).
        self._keys: dict[int, np.ndarray] = {}

    def _seed_state(self, stream: str, month: int, persona: int) -> np.ndarray:
        """``SeedSequence([seed, replication, stream, month, persona]).generate_state(4,
        np.uint64)``, from the states of the month's block (computed on first use)."""
        pos = _STREAM_POS.get(stream)
        if pos is None:
            _stream_id(stream)  # raises: unknown stream
        if persona >= self._personas:
            self._personas, self._states = persona + 1, {}
        block, row = divmod(month, _BLOCK_MONTHS)
        states = self._states.get(block)
        if states is None:
            states = self._states[block] = self._block_states(block)
        return states[pos, row, persona]

    def _block_states(self, block: int) -> np.ndarray:
        """Seed states of every stream, month of a block and persona: shape (streams, months,
        personas, 4); each key's words are the prefix's, then one each for the stream's
        number, the month and the persona."""
        shape = (len(STREAMS), _BLOCK_MONTHS, self._personas)
        stream, month, persona = np.meshgrid(
            np.array([_STREAM_IDS[s] for s in STREAMS], dtype=np.uint32),
            np.arange(block * _BLOCK_MONTHS, (block + 1) * _BLOCK_MONTHS, dtype=np.uint32),
            np.arange(self._personas, dtype=np.uint32),
            indexing="ij",
        )
        n = len(self._prefix)
        entropy = np.empty((stream.size, n + 3), dtype=np.uint32)
        entropy[:, :n] = self._prefix
        entropy[:, n] = stream.ravel()
        entropy[:, n + 1] = month.ravel()
        entropy[:, n + 2] = persona.ravel()
        return seed_states(entropy).reshape(*shape, 4)

    def generator(self, stream: str, month: int, persona: int = 0) -> np.random.Generator:
        """The generator for one mechanism, month and persona: ``PCG64(SeedSequence([seed,
        replication, stream, month, persona]))``."""
        month, persona = int(month), int(persona)
        if 0 <= month < _MAX_BLOCKED_MONTH and 0 <= persona <= _MASK32:
            seed_seq = _SeedState(self._seed_state(stream, month, persona))
        else:  # outside the precomputed keys (SeedSequence refuses negative ones)
            key = [self.seed, self.replication, _stream_id(stream), month, persona]
            seed_seq = np.random.SeedSequence(key)
        return np.random.Generator(np.random.PCG64(seed_seq))

    def uniform(self, stream: str, month: int, persona: int, n: int) -> np.ndarray:
        """``n`` uniforms on [0, 1) in float32, one per row of a persona's slice."""
        if n == 0:
            _stream_id(stream)
            return np.zeros(0, dtype=np.float32)
        return self.generator(stream, month, persona).random(n, dtype=np.float32)

    def row_key(self, stream: str, month: int, persona: int, draw: int = 0) -> int:
        """The 64-bit key of a counter-based stream (``draw`` numbers independent draws of the
        same rows in the same month)."""
        return int(self.row_key_u64(stream, month, persona, draw))

    def row_key_u64(self, stream: str, month: int, persona: int, draw: int = 0) -> np.uint64:
        """``row_key`` as a numpy uint64 (what kernels take), read from a table of the keys of
        every stream, persona and draw 0 … 3 over a block of months (computed on first use)."""
        pos = _STREAM_POS.get(stream)
        block, row = divmod(month, _BLOCK_MONTHS)
        if pos is None or not 0 <= draw < _KEY_DRAWS or not 0 <= persona < self._personas:
            return np.uint64(self._row_key(stream, month, persona, draw))
        keys = self._keys.get(block)
        if keys is None:
            keys = self._keys[block] = self._block_keys(block)
        return keys[pos, row, persona, draw]

    def _row_key(self, stream: str, month: int, persona: int, draw: int) -> int:
        parts = _stream_id(stream) * _P1 + int(month) * _P2 + int(persona) * _P3 + int(draw) * _P4
        return _mix64(self._root ^ _mix64(parts))

    def _block_keys(self, block: int) -> np.ndarray:
        """``_row_key`` of every stream, month of a block, persona and draw 0 … 3: shape
        (streams, months, personas, draws), uint64 (the same arithmetic modulo 2**64)."""
        stream, month, persona, draw = np.meshgrid(
            np.array([_STREAM_IDS[s] for s in STREAMS], dtype=np.uint64),
            np.arange(block * _BLOCK_MONTHS, (block + 1) * _BLOCK_MONTHS).astype(np.uint64),
            np.arange(self._personas, dtype=np.uint64),
            np.arange(_KEY_DRAWS, dtype=np.uint64),
            indexing="ij",
        )
        parts = stream * _U_P[0] + month * _U_P[1] + persona * _U_P[2] + draw * _U_P[3]
        return _mix64_u64(np.uint64(self._root) ^ _mix64_u64(parts))

    def row_uniform(
        self, stream: str, month: int, persona: int, rows: np.ndarray, draw: int = 0
    ) -> np.ndarray:
        """One float32 uniform on [0, 1) per entry of ``rows`` (row numbers within the persona);
        the value for a row depends only on the key and the row (24 random bits)."""
        return self._uniforms(self.row_key_u64(stream, month, persona, draw), rows, 1)[0]

    def row_uniform_pair(
        self, stream: str, month: int, persona: int, rows: np.ndarray, draw: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Two independent float32 uniforms per entry of ``rows``: the first is
        ``row_uniform(..., draw)``, the second comes from other bits of the same hash."""
        u, v = self._uniforms(self.row_key_u64(stream, month, persona, draw), rows, 2)
        return u, v

    @staticmethod
    def _uniforms(key: int | np.uint64, rows: np.ndarray, n: int) -> list[np.ndarray]:
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
