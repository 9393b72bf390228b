"""The arithmetic of exact draws (designs, Poisson slots, cuts), without Spark."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spark_upsample.engine.draws import (
    KEY_SPACE,
    SLOT_RATE,
    choose_threshold,
    design_class,
    slot_cdf,
    slots,
)


def threshold(draws: int, total: int, below: int, candidates: list[int]) -> int | None:
    """choose_threshold on the window statistics the engine's aggregation computes."""
    keys, need = sorted(candidates), draws - below
    at_cut = keys[need - 1] if 1 <= need <= len(keys) else None
    after_cut = keys[need] if 1 <= need < len(keys) else None
    return choose_threshold(draws, total, below, len(keys), at_cut, after_cut)


def copies_for(mu: float, u: np.ndarray) -> np.ndarray:
    """The copy count the Spark expression gives each uniform u of a slot (the same rule)."""
    cdf = np.array(slot_cdf(mu))
    return (u[:, None] >= cdf[None, :]).sum(axis=1)


def poisson_cdf(mu: float, k: int) -> float:
    return math.fsum(math.exp(-mu + i * math.log(mu) - math.lgamma(i + 1)) for i in range(k + 1))


@pytest.mark.parametrize("mu", [1e-9, 0.001, 0.3, 0.51, 0.999, 1.0])
def test_slot_cdf_is_the_poisson_cdf(mu):
    for k, value in enumerate(slot_cdf(mu)):
        assert value == pytest.approx(poisson_cdf(mu, k), rel=1e-14, abs=1e-16)
    # The last value leaves a tail below 1e-25: past it a slot gets MAX_SLOT_COPIES copies.
    assert 1.0 - slot_cdf(mu)[-1] < 1e-15


@pytest.mark.parametrize("rate", [1e-8, 0.25, 1.0, 1.5, 65.0, 800.0, 1e5])
def test_slots_split_a_rate_into_parts_of_at_most_one(rate):
    n, mu = slots(rate)
    assert n >= 1 and 0 < mu <= SLOT_RATE
    assert n * mu == pytest.approx(rate, rel=1e-15)
    assert n == max(1, math.ceil(rate))  # as few slots as rate <= 1 allows


@pytest.mark.parametrize("rate", [0.25, 3.0, 65.0])
def test_slot_copies_have_poisson_moments(rate):
    """Summing the slots' counts gives Poisson(rate): mean and variance both equal the rate."""
    rng = np.random.default_rng(7)
    n, mu = slots(rate)
    rows = 50_000
    copies = copies_for(mu, rng.random(rows * n)).reshape(rows, n).sum(axis=1)
    assert copies.mean() == pytest.approx(rate, rel=6 / math.sqrt(rate * rows))
    assert copies.var() == pytest.approx(rate, rel=0.05)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_slots_reject_bad_rates(bad):
    with pytest.raises(ValueError, match="finite rate > 0"):
        slots(bad)


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
