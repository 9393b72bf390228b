"""The arithmetic of exact sampling with replacement: plain Python and numpy, no Spark.

How one class of ``count`` rows gets exactly ``draws`` draws with replacement, in one pass:

1. Every row gets Poisson(``rate_plus``) candidate copies, ``rate_plus = (draws + margin) / count``,
   by inversion of the Poisson CDF (:func:`poisson_inversion`): a uniform key ``U`` per row is
   compared with the CDF thresholds, so the copy count is JVM-native arithmetic.
2. Every copy gets an independent uniform 63-bit key ``W``. By Poisson thinning, the copies with
   ``W < primary_key`` are a Poisson sample at the fraction ``draws / count`` (the classic
   ``sample(withReplacement=True, fraction)``); the others are a reserve of further independent
   draws.
3. The ``draws`` copies with the smallest ``W`` are kept. If the Poisson sample overshoots, that
   trims it by a uniformly random subset; if it undershoots, that tops it up with reserve copies,
   which are uniform draws with replacement from the whole class. Either way the kept copies are
   exactly ``draws`` i.i.d. uniform draws from the class: the multinomial of
   ``rng.choice(rows, size=draws, replace=True)``.

The ``draws``-th smallest key is found from bounded metadata: the number of copies, the number
below a window around its expected position, and the keys inside that window
(:func:`choose_threshold`); O(sqrt(draws)) keys per class, never data rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KEY_BITS = 63
KEY_SPACE = 1 << KEY_BITS  # keys are uniform integers in [0, KEY_SPACE)
MAX_KEY = KEY_SPACE - 1

# Margins and windows cover this many standard deviations; a miss (probability ~1e-11 per class)
# is detected, never silent, and retried with wider margins (see choose_threshold).
TAIL_SIGMAS = 7.0


@dataclass(frozen=True)
class ClassDesign:
    """How one class is sampled: the rates, the primary cut and the candidate window of keys.

    Attributes
    ----------
    count : rows of the class in the input (>= 1)
    draws : exact number of draws with replacement wanted (>= 1), or of rows kept without
        replacement (:func:`design_subset`)
    rate : ``draws / count``, the Poisson fraction of the classic ``sample()``
    rate_plus : ``(draws + margin) / count``, the rate of candidate copies per row
    primary_key : copies whose key is below it form the Poisson(``rate``) sample
    window : ``(lo, hi)``, inclusive; the ``draws``-th smallest key lies inside w.h.p.
    """

    count: int
    draws: int
    rate: float
    rate_plus: float
    primary_key: int
    window: tuple[int, int]


def design_class(count: int, draws: int, sigmas: float = TAIL_SIGMAS) -> ClassDesign:
    """The sampling design for ``draws`` draws from ``count`` rows (both >= 1).

    The reserve margin keeps the total number of candidate copies at or above ``draws`` unless
    the Poisson total falls ``sigmas`` standard deviations short; the window covers the
    ``draws``-th order statistic of the keys within ``sigmas`` standard deviations.
    """
    if count < 1 or draws < 1:
        raise ValueError(f"design_class needs count >= 1 and draws >= 1; got {count}, {draws}")
    margin = math.ceil(sigmas * (math.sqrt(draws) + 1))
    total = draws + margin
    share = draws / total
    half_width = sigmas * (math.sqrt(total) + 1) / total
    lo = max(0, math.floor((share - half_width) * KEY_SPACE))
    hi = min(MAX_KEY, math.ceil((share + half_width) * KEY_SPACE))
    return ClassDesign(
        count=count,
        draws=draws,
        rate=draws / count,
        rate_plus=total / count,
        primary_key=math.floor(share * KEY_SPACE),
        window=(lo, hi),
    )


def design_subset(count: int, keep: int, sigmas: float = TAIL_SIGMAS) -> ClassDesign:
    """The design for keeping ``keep`` of ``count`` rows without replacement (0 < keep < count).

    Every row has one uniform key; the ``keep`` rows with the smallest keys are kept, a uniformly
    random subset. The rows with a key below ``primary_key`` are a Bernoulli sample at the fraction
    ``keep / count`` (the classic ``sample(withReplacement=False, fraction)``); the window covers
    the ``keep``-th smallest key within ``sigmas`` standard deviations.
    """
    if not 0 < keep < count:
        raise ValueError(f"design_subset needs 0 < keep < count; got keep={keep}, count={count}")
    share = keep / count
    half_width = sigmas * (math.sqrt(keep * (1 - share)) + 1) / count
    return ClassDesign(
        count=count,
        draws=keep,
        rate=share,
        rate_plus=share,
        primary_key=math.floor(share * KEY_SPACE),
        window=(
            max(0, math.floor((share - half_width) * KEY_SPACE)),
            min(MAX_KEY, math.ceil((share + half_width) * KEY_SPACE)),
        ),
    )


@dataclass(frozen=True)
class PoissonInversion:
    """A Poisson(rate) copy count as comparisons of a uniform key ``U`` in [0, KEY_SPACE).

    A row gets ``certain`` copies if ``U > 0`` (all but one key in 2**63), plus one more copy for
    each threshold ``t`` in ``thresholds`` with ``U > t``. That is exact inversion of the Poisson
    CDF, ``k = min{k : F(k) >= U / 2**63}``, to double precision: the thresholds are
    ``floor(F(j - 1) * 2**63)`` for copy j, and the ``certain`` copies are those whose threshold
    rounds to 0.
    """

    certain: int
    thresholds: tuple[int, ...]


def poisson_inversion(rate: float) -> PoissonInversion:
    """The inversion table of Poisson(``rate``), ``rate > 0``: O(sqrt(rate)) thresholds."""
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"poisson_inversion needs a finite rate > 0; got {rate!r}")
    spread = 12.0 * math.sqrt(rate)
    k_min = max(0, math.floor(rate - spread - 12))
    k_max = math.ceil(rate + spread + 40)
    ks = np.arange(k_min, k_max + 1, dtype=np.float64)
    # log pmf by recurrence from k_min: log p(k) = log p(k-1) + log(rate / k).
    log_first = -rate + k_min * math.log(rate) - math.lgamma(k_min + 1)
    steps = np.log(rate) - np.log(ks[1:])
    log_pmf = log_first + np.concatenate(([0.0], np.cumsum(steps)))
    pmf = np.exp(log_pmf)
    lower = np.cumsum(pmf)  # F(k), accurate where small
    upper_tail = np.concatenate((np.cumsum(pmf[::-1])[::-1][1:], [0.0]))  # P(X > k)
    cdf = np.where(lower < 0.5, lower, 1.0 - upper_tail)
    # Copy j (j >= 1) exists iff U > floor(F(j-1) * 2**63); F(j-1) for j-1 < k_min is ~0.
    scaled = [min(MAX_KEY, math.floor(float(f) * KEY_SPACE)) for f in cdf]
    certain = k_min
    thresholds: list[int] = []
    for t in scaled:
        if t >= MAX_KEY:
            break
        if t == 0 and not thresholds:
            certain += 1
        else:
            thresholds.append(t)
    return PoissonInversion(certain=certain, thresholds=tuple(thresholds))


def choose_threshold(
    draws: int, total: int, below: int, in_window: int, at_cut: int | None,
    after_cut: int | None,
) -> int | None:
    """The key ``tau`` such that exactly ``draws`` copies have a key <= ``tau``, or None.

    Parameters
    ----------
    draws : copies to keep
    total : all candidate copies of the class
    below : copies whose key is below the window
    in_window : copies whose key is inside the window
    at_cut : the ``(draws - below)``-th smallest key inside the window (None if there is none)
    after_cut : the key after it in sorted order (None if there is none); an equal key is a tie

    Returns None when the metadata cannot give an exact cut: too few copies in all, the cut
    outside the window, or two copies sharing the key at the cut. The caller then retries with
    wider margins and fresh keys; a None is never silently turned into an inexact count.
    """
    need = draws - below
    if total < draws or need < 1 or need > in_window or at_cut is None:
        return None
    if after_cut is not None and after_cut == at_cut:
        return None
    return at_cut
