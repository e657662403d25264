"""``benchmarks/ab.py``'s comparison (its timing needs a quiet machine and runs outside the suite):
the ratio of medians and its bootstrap interval on known samples, and what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "ab.py"
_spec = importlib.util.spec_from_file_location("bench_ab", _PATH)
ab = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab)


def test_the_same_times_are_within_noise():
    rng = np.random.default_rng(1)
    old = list(0.1 + 0.005 * rng.standard_normal(30))
    ratio, low, high = ab.ratio_interval(old, list(old))
    assert ratio == 1.0 and low <= 1.0 <= high
    assert ab.verdict(low, high) == "within the machine's noise"


@pytest.mark.parametrize("factor", [0.5, 0.9, 1.2])
def test_a_scaled_engine_is_found_and_measured(factor):
    """New times = old × factor: the ratio is the factor exactly, the interval excludes 1."""
    rng = np.random.default_rng(2)
    old = list(0.1 + 0.002 * rng.standard_normal(15))
    new = [t * factor for t in old]
    ratio, low, high = ab.ratio_interval(old, new)
    assert ratio == pytest.approx(factor)
    assert low <= factor <= high and not low <= 1.0 <= high
    word = "faster" if factor < 1 else "slower"
    assert ab.verdict(low, high).startswith(f"new is {word} by ")


def test_the_interval_widens_with_noise():
    rng = np.random.default_rng(3)
    quiet = ab.ratio_interval(list(1 + 0.01 * rng.standard_normal(20)), [1.0] * 20)
    noisy = ab.ratio_interval(list(1 + 0.2 * rng.standard_normal(20)), [1.0] * 20)
    assert noisy[2] - noisy[1] > 5 * (quiet[2] - quiet[1])
