"""The arithmetic of exact sampling with replacement: plain Python, no Spark.

How one class of ``count`` rows gets exactly ``draws`` draws with replacement, in one pass:

1. Every row gets Poisson(``rate_plus``) candidate copies, ``rate_plus = (draws + margin) / count``:
   ``rate_plus`` is split into ``slots`` of rate at most 1 (:func:`slots`), and each slot's
   Poisson count is an inversion of a uniform ``U`` of the row and slot against a few CDF values
   computed from the slot's rate on the executors (:func:`slot_cdf`). The per-class metadata is
   a fixed handful of numbers, whatever the sampling ratio.
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
from typing import TypeVar

KEY_BITS = 63
KEY_SPACE = 1 << KEY_BITS  # keys are uniform integers in [0, KEY_SPACE)
MAX_KEY = KEY_SPACE - 1

# Margins and windows cover this many standard deviations; a miss (probability ~1e-11 per class)
# is detected, never silent, and retried with wider margins (see choose_threshold).
TAIL_SIGMAS = 7.0

# A row's Poisson copies come from slots of rate <= SLOT_RATE each (see slots); a slot's count is
# found among 0 .. MAX_SLOT_COPIES, which covers Poisson(1) but for a 1e-25 tail.
SLOT_RATE = 1.0
MAX_SLOT_COPIES = 24
EXPLICIT_COPIES = 6  # counts 0..5 are compiled branches; the tail (P < 6e-4) an interpreted loop


Key = TypeVar("Key", int, tuple[int, int])


@dataclass(frozen=True, slots=True)
class ClassDesign:
    """How one class is sampled: the rates, the primary cut and the candidate window of keys.

    Attributes
    ----------
    count : rows of the class in the input (>= 1)
    draws : exact number of draws with replacement wanted (>= 1), or of rows kept without
        replacement (:func:`design_subset`)
    rate : ``draws / count``, the Poisson fraction of the classic ``sample()``
    rate_plus : ``(draws + margin) / count``, the rate of candidate copies per row
    slots, slot_rate : ``rate_plus`` as ``slots`` Poisson(``slot_rate``) counts per row
    primary_key : copies whose key is below it form the Poisson(``rate``) sample
    window : ``(lo, hi)``, inclusive; the ``draws``-th smallest key lies inside w.h.p.
    """

    count: int
    draws: int
    rate: float
    rate_plus: float
    primary_key: int
    window: tuple[int, int]
    slots: int = 0
    slot_rate: float = 0.0


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
    n, mu = slots(total / count)
    return ClassDesign(
        count=count,
        draws=draws,
        rate=draws / count,
        rate_plus=total / count,
        primary_key=math.floor(share * KEY_SPACE),
        window=(lo, hi),
        slots=n,
        slot_rate=mu,
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


def slots(rate_plus: float) -> tuple[int, float]:
    """Split a per-row Poisson rate into ``n`` slots of rate ``mu <= 1`` each (``n * mu`` is
    the rate): a sum of independent Poisson(mu) counts is Poisson(rate), and a Poisson(mu <= 1)
    count is a short inversion that Spark evaluates per slot (:func:`slot_cdf`)."""
    if not rate_plus > 0 or math.isinf(rate_plus):
        raise ValueError(f"slots needs a finite rate > 0; got {rate_plus!r}")
    n = max(1, math.ceil(rate_plus / SLOT_RATE))
    return n, rate_plus / n


def slot_cdf(mu: float) -> list[float]:
    """``F(0), ..., F(MAX_SLOT_COPIES - 1)`` of Poisson(``mu``), computed as the Spark expression
    computes them, for tests: ``exp(-mu)`` times the Horner form of the partial sums for the
    first :data:`EXPLICIT_COPIES`, then ``F(k) = F(k - 1) + p(k)`` with
    ``p(k) = p(k - 1) * mu / k``.

    A slot gets ``k`` copies for a uniform ``u`` in [0, 1) when ``F(k - 1) <= u < F(k)``, and
    :data:`MAX_SLOT_COPIES` when ``u`` is above every listed value (probability below 1e-25).
    """
    p0 = math.exp(-mu)
    values = []
    for i in range(EXPLICIT_COPIES):
        h = 1.0
        for j in range(i, 0, -1):
            h = 1.0 + mu / j * h
        values.append(p0 * h)
    term = 1.0
    for j in range(1, EXPLICIT_COPIES):
        term = term * mu / j
    f, p = values[-1], p0 * term
    for k in range(EXPLICIT_COPIES, MAX_SLOT_COPIES):
        p = p * mu / k
        f = f + p
        values.append(f)
    return values


def choose_threshold(
    draws: int,
    total: int,
    below: int,
    in_window: int,
    at_cut: Key | None,
    after_cut: Key | None,
) -> Key | None:
    """The key ``tau`` such that exactly ``draws`` copies have a key <= ``tau``, or None.

    A key is an integer, or a tuple that starts with one and breaks its ties (a split's
    ``(key, row identity)``); the window is on the integer.

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
