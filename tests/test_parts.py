"""The arithmetic of splits and folds (part sizes, fractions, k), without Spark."""

from __future__ import annotations

from fractions import Fraction

import pytest

from spark_upsample import InvalidParameterError
from spark_upsample.engine.parts import check_folds, check_fractions, next_first, part_sizes


def shares(*values: float) -> tuple[Fraction, ...]:
    return check_fractions({f"p{i}": v for i, v in enumerate(values)})[1]


@pytest.mark.parametrize(
    ("count", "fractions", "sizes"),
    [
        (10, (0.8, 0.1, 0.1), (8, 1, 1)),
        (96, (0.8, 0.1, 0.1), (77, 10, 9)),  # quotas 76.8, 9.6, 9.6: the tie goes to the first
        (3, (0.8, 0.1, 0.1), (3, 0, 0)),
        (1, (0.8, 0.2), (1, 0)),
        (1, (0.2, 0.8), (0, 1)),
        (2, (0.5, 0.5), (1, 1)),
        (7, (0.7, 0.3), (5, 2)),  # 4.9 and 2.1: exact rationals, no float noise
        (100, (0.29, 0.71), (29, 71)),  # 0.29 * 100 is 28.999999999999996 in floats
        (5, (0.7, 0.3), (4, 1)),  # 3.5 and 1.5 tie exactly; the first part takes the row
    ],
)
def test_part_sizes_are_the_largest_remainder_rounding(count, fractions, sizes):
    assert part_sizes(count, shares(*fractions)) == sizes
    assert sum(sizes) == count


def test_equal_remainders_go_to_the_parts_in_turn_from_first():
    thirds = shares(1 / 3, 1 / 3, 1 / 3)
    assert part_sizes(4, thirds, first=0) == (2, 1, 1)
    assert part_sizes(4, thirds, first=1) == (1, 2, 1)
    assert part_sizes(5, thirds, first=2) == (2, 1, 2)
    assert next_first(4, thirds, 0) == 1 and next_first(5, thirds, 2) == 1


def test_folds_over_many_cells_stay_within_one_row_overall():
    k = 4
    fifths = (Fraction(1, k),) * k
    totals, first = [0] * k, 0
    for count in (1, 2, 3, 5, 6, 7, 1, 1, 9, 2):
        sizes = part_sizes(count, fifths, first)
        assert max(sizes) - min(sizes) <= 1
        first = next_first(count, fifths, first)
        totals = [t + s for t, s in zip(totals, sizes, strict=True)]
    assert max(totals) - min(totals) <= 1
    assert sum(totals) == 37


def test_fractions_are_exact_and_normalised():
    names, values = check_fractions({"train": 0.8, "valid": 0.1, "test": 0.1})
    assert names == ("train", "valid", "test")
    assert values == (Fraction(4, 5), Fraction(1, 10), Fraction(1, 10))
    assert check_fractions({"a": Fraction(1, 3), "b": 0.6666667})[1][0] == Fraction(1, 3) / (
        Fraction(1, 3) + Fraction(6666667, 10**7)
    )
    assert check_fractions({"a": 1, "b": 1e-7})[1][1] > 0  # 1 + 1e-7 is within the tolerance


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        (
            {"train": 1.0},
            "fractions must be a dict of two or more parts {name: fraction} that add up to 1, such "
            "as {'train': 0.8, 'test': 0.2}. Got {'train': 1.0} instead.",
        ),
        (
            [0.8, 0.2],
            "fractions must be a dict of two or more parts {name: fraction} that add up to 1, such "
            "as {'train': 0.8, 'test': 0.2}. Got [0.8, 0.2] instead.",
        ),
        (
            {"train": 0.8, "test": 0.1},
            "The fractions must add up to 1; {'train': 0.8, 'test': 0.1} adds up to 0.9.",
        ),
        (
            {"train": 0.8, "test": 0.0},
            "The fraction of part 'test' must be a number > 0. Got 0.0 instead.",
        ),
        (
            {"train": 0.8, "test": float("nan")},
            "The fraction of part 'test' must be a number > 0. Got nan instead.",
        ),
        (
            {"train": 0.8, "test": True},
            "The fraction of part 'test' must be a number > 0. Got True instead.",
        ),
        (
            {"train": 0.8, "_test": 0.2},
            "A part name must start with a letter or digit, followed by letters, digits, '_' or "
            "'-' (it names a folder of the output). Got '_test' instead.",
        ),
        (
            {"train": 0.8, "a/b": 0.2},
            "A part name must start with a letter or digit, followed by letters, digits, '_' or "
            "'-' (it names a folder of the output). Got 'a/b' instead.",
        ),
        (
            {"train": 0.5, "Train": 0.5},
            "Part names must differ in more than case. Got ['train', 'Train'].",
        ),
    ],
)
def test_bad_fractions_are_refused_with_a_clear_message(fractions, message):
    with pytest.raises(InvalidParameterError) as caught:
        check_fractions(fractions)
    assert str(caught.value) == message


@pytest.mark.parametrize("k", [1, 0, 2.0, True, "3"])
def test_k_must_be_an_integer_of_at_least_two(k):
    with pytest.raises(InvalidParameterError) as caught:
        check_folds(k)
    assert str(caught.value) == f"k must be an integer >= 2 (the number of folds). Got {k!r}."
    assert check_folds(2) == 2
