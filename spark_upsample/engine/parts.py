"""The arithmetic of splits and folds: part names and fractions, and exact part sizes per cell.

Plain Python, no Spark. :func:`part_sizes` gives a cell's rows to its parts by largest-remainder
rounding of ``fraction * count``, so the sizes add up to the cell exactly; fractions are exact
rationals (``0.7`` is 7/10, as written), so float rounding never moves a row.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from spark_upsample.errors import InvalidParameterError

SUM_TOLERANCE = 1e-6
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def check_fractions(fractions: Any) -> tuple[tuple[str, ...], tuple[Fraction, ...]]:
    """The part names and their fractions, normalised to add up to exactly 1.

    Raises
    ------
    InvalidParameterError
        Not a dict of at least two parts; a name that is not a letter or digit followed by
        letters, digits, ``_`` or ``-`` (names become folder names; Spark's readers skip names
        that start with ``_`` or ``.``), or that repeats another in any case; a fraction that is
        not a number > 0; fractions that do not add up to 1 (within 1e-6).
    """
    if not isinstance(fractions, Mapping) or len(fractions) < 2:
        raise InvalidParameterError(
            "fractions must be a dict of two or more parts {name: fraction} that add up to 1, "
            f"such as {{'train': 0.8, 'test': 0.2}}. Got {fractions!r} instead."
        )
    names, values, seen = [], [], set()
    for name, value in fractions.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidParameterError(
                f"A part name must start with a letter or digit, followed by letters, digits, "
                f"'_' or '-' (it names a folder of the output). Got {name!r} instead."
            )
        if name.lower() in seen:
            raise InvalidParameterError(
                f"Part names must differ in more than case. Got {list(fractions)!r}."
            )
        seen.add(name.lower())
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(value)
            or not float(value) > 0
        ):
            raise InvalidParameterError(
                f"The fraction of part {name!r} must be a number > 0. Got {value!r} instead."
            )
        names.append(name)
        values.append(_exact(value))
    total = sum(values, Fraction(0))
    if abs(total - 1) > SUM_TOLERANCE:
        raise InvalidParameterError(
            f"The fractions must add up to 1; {fractions!r} adds up to {float(total):g}."
        )
    return tuple(names), tuple(v / total for v in values)


def check_folds(k: Any) -> int:
    """``k`` as a number of folds.

    Raises
    ------
    InvalidParameterError
        Not an integer >= 2.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
        raise InvalidParameterError(f"k must be an integer >= 2 (the number of folds). Got {k!r}.")
    return int(k)


def part_sizes(count: int, fractions: Sequence[Fraction], first: int = 0) -> tuple[int, ...]:
    """``count`` rows given to parts by largest-remainder rounding of ``fraction * count``.

    Every part gets the floor of its quota, and the rows left over go one each to the parts
    with the largest remainders. Parts with equal remainders take them in turn, starting at
    part ``first`` (modulo the number of parts): a caller that moves ``first`` on by the rows
    left over of each cell spreads those rows evenly over the parts (see :func:`next_first`).

    Returns one size per part, in the order of ``fractions``; they add up to ``count``.
    """
    quotas = [count * f for f in fractions]
    sizes = [math.floor(q) for q in quotas]
    left = count - sum(sizes)
    m = len(fractions)
    order = sorted(range(m), key=lambda j: (-(quotas[j] - sizes[j]), (j - first) % m))
    for j in order[:left]:
        sizes[j] += 1
    return tuple(sizes)


def next_first(count: int, fractions: Sequence[Fraction], first: int) -> int:
    """Where the next cell's turn of equal remainders starts, after a cell of ``count`` rows
    that started at ``first``: past the rows this one left over."""
    left = count - sum(math.floor(count * f) for f in fractions)
    return (first + left) % len(fractions)


def _exact(value: numbers.Real) -> Fraction:
    """A fraction as written: a float by its shortest decimal form (0.7 is 7/10)."""
    if isinstance(value, float):
        return Fraction(repr(float(value)))  # float(): numpy's repr names its type
    return Fraction(str(value))  # an int or a Fraction ("1/3"): exact as text
