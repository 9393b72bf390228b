"""The arithmetic of exact draws (designs, Poisson inversion, cuts), without Spark."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spark_upsample.draws import (
    KEY_SPACE,
    choose_threshold,
    design_class,
    poisson_inversion,
)


def threshold(draws: int, total: int, below: int, candidates: list[int]) -> int | None:
    """choose_threshold on the window statistics the engine's aggregation computes."""
    keys, need = sorted(candidates), draws - below
    at_cut = keys[need - 1] if 1 <= need <= len(keys) else None
    after_cut = keys[need] if 1 <= need < len(keys) else None
    return choose_threshold(draws, total, below, len(keys), at_cut, after_cut)


def copies_for(inversion, keys: np.ndarray) -> np.ndarray:
    """The copy count the Spark join gives each key U (the same rule, in numpy)."""
    thresholds = np.array(inversion.thresholds, dtype=np.float64)
    above = (keys[:, None] > thresholds[None, :]).sum(axis=1)
    return inversion.certain * (keys > 0) + above


@pytest.mark.parametrize("rate", [0.001, 0.3, 1.0, 7.5, 42.0, 65.0, 800.0, 1e5])
def test_poisson_inversion_has_the_poisson_cdf(rate):
    inversion = poisson_inversion(rate)
    # For every k covered by the table, P(copies <= k) equals the Poisson CDF at k.
    thresholds = inversion.thresholds
    for j, cut in enumerate(thresholds[:: max(1, len(thresholds) // 25)]):
        k = inversion.certain + thresholds.index(cut)  # copies <= k  <=>  U <= cut of copy k+1
        log_pmf = [-rate + i * math.log(rate) - math.lgamma(i + 1) for i in range(k + 1)]
        cdf = math.fsum(math.exp(v) for v in log_pmf)
        assert cut / KEY_SPACE == pytest.approx(cdf, rel=1e-9, abs=1e-15)


def test_poisson_inversion_table_is_small_for_large_rates():
    inversion = poisson_inversion(1e7)
    assert inversion.certain > 9.9e6
    assert len(inversion.thresholds) < 60_000  # O(sqrt(rate)), not O(rate)


@pytest.mark.parametrize("rate", [0.25, 3.0, 65.0, 900.0])
def test_poisson_inversion_moments_match_numpy(rate):
    rng = np.random.default_rng(7)
    keys = rng.integers(0, KEY_SPACE, size=100_000, dtype=np.int64).astype(np.float64)
    copies = copies_for(poisson_inversion(rate), keys)
    assert copies.mean() == pytest.approx(rate, rel=6 / math.sqrt(rate * 100_000))
    assert copies.var() == pytest.approx(rate, rel=0.05)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_poisson_inversion_rejects_bad_rates(bad):
    with pytest.raises(ValueError, match="finite rate > 0"):
        poisson_inversion(bad)


@pytest.mark.parametrize(("count", "draws"), [(1, 1), (10, 100), (3, 100_000), (10**6, 5)])
def test_design_covers_the_cut_with_margin(count, draws):
    design = design_class(count, draws)
    assert design.rate == draws / count
    assert design.rate_plus > design.rate
    lo, hi = design.window
    assert 0 <= lo <= design.primary_key <= hi < KEY_SPACE
    # The reserve covers 7 standard deviations of a Poisson(draws) shortfall.
    assert design.rate_plus * count - draws >= 7 * math.sqrt(draws)


def test_design_rejects_empty_classes():
    with pytest.raises(ValueError):
        design_class(0, 5)


def test_design_cut_is_found_in_simulation():
    """Simulate the engine's metadata with numpy: the cut keeps exactly `draws` keys."""
    rng = np.random.default_rng(3)
    for draws in (1, 17, 100, 5000):
        design = design_class(count=1, draws=draws)
        total = rng.poisson(design.rate_plus)
        keys = rng.integers(0, KEY_SPACE, size=total, dtype=np.int64)
        lo, hi = design.window
        window = [int(k) for k in keys if lo <= k <= hi]
        tau = threshold(draws, total, int((keys < lo).sum()), window)
        assert tau is not None
        assert int((keys <= tau).sum()) == draws


@pytest.mark.parametrize(
    ("draws", "total", "below", "candidates", "expected"),
    [
        (3, 10, 1, [50, 20, 30, 40], 30),  # need 2 of the window: 20, 30
        (5, 10, 1, [50, 20, 30, 40], 50),  # need all 4
        (6, 10, 1, [50, 20, 30, 40], None),  # cut above the window
        (1, 10, 1, [50, 20], None),  # cut below the window
        (4, 3, 0, [1, 2, 3], None),  # too few copies in all
        (2, 10, 0, [7, 7, 9], 7),  # both tied keys are under the cut
        (1, 10, 0, [7, 7, 9], None),  # tie at the cut
        (3, 10, 0, [7, 7, 9], 9),  # a tie below the cut is fine
    ],
)
def test_choose_threshold(draws, total, below, candidates, expected):
    assert threshold(draws, total, below, candidates) == expected
