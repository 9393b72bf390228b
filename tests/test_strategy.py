"""The target arithmetic of every sampling_strategy form, without Spark."""

from __future__ import annotations

import pytest

from spark_upsample.engine.strategy import (
    DEFAULT_MAX_RATIO,
    check_max_ratio,
    check_ratios,
    common_targets,
    majority_class,
    minority_class,
    ordered_classes,
    over_sampling_targets,
    under_sampling_targets,
)
from spark_upsample.errors import (
    InvalidParameterError,
    InvalidStrategyError,
    RatioLimitError,
    SingleClassError,
)

COUNTS = {"a": 100, "b": 30, "c": 10}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("auto", {"a": 100, "b": 100, "c": 100}),
        ("not majority", {"a": 100, "b": 100, "c": 100}),
        ("minority", {"a": 100, "b": 30, "c": 100}),
        ("not minority", {"a": 100, "b": 100, "c": 10}),
        ("all", {"a": 100, "b": 100, "c": 100}),
        ({"c": 50}, {"a": 100, "b": 30, "c": 50}),
        ({"b": 30, "c": 10}, COUNTS),
        ({"a": 250}, {"a": 250, "b": 30, "c": 10}),
        (lambda counts: {c: 2 * n for c, n in counts.items()}, {"a": 200, "b": 60, "c": 20}),
    ],
)
def test_strategy_forms(strategy, expected):
    assert over_sampling_targets(COUNTS, strategy) == expected


def test_default_is_auto():
    assert over_sampling_targets(COUNTS) == over_sampling_targets(COUNTS, "auto")


def test_callable_receives_a_copy_of_the_counts():
    seen = {}

    def strategy(counts):
        seen.update(counts)
        counts.clear()
        return {"c": 11}

    assert over_sampling_targets(COUNTS, strategy)["c"] == 11
    assert seen == COUNTS


@pytest.mark.parametrize(
    ("ratio", "minority_target"),
    [(1.0, 100), (0.5, 50), (0.1, 10), (0.29, 28), (1, 100)],
)
def test_float_ratio_follows_imbalanced_learn_arithmetic(ratio, minority_target):
    # 100 * 0.29 = 28.999999999999996 -> int() gives 28, as in imbalanced-learn.
    assert over_sampling_targets({0: 10, 1: 100}, ratio) == {0: minority_target, 1: 100}


def test_minority_and_majority_ties_go_to_the_smallest_label():
    counts = {"y": 5, "x": 5, "b": 9, "a": 9}
    assert ordered_classes(counts) == ["a", "b", "x", "y"]
    assert majority_class(counts) == "a"
    assert minority_class(counts) == "x"
    assert over_sampling_targets(counts, "minority") == {"y": 5, "x": 9, "b": 9, "a": 9}


def test_boolean_and_integer_labels():
    assert over_sampling_targets({True: 3, False: 7}) == {True: 7, False: 7}
    assert over_sampling_targets({0: 10, 1: 100, 2: 50}) == {0: 100, 1: 100, 2: 100}


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (
            "majority",
            "sampling_strategy must be one of 'auto', 'minority', 'not minority', "
            "'not majority', 'all'; a float in (0, 1] (binary labels only); a dict "
            "{class: final_count}; or a callable counts -> dict. Got 'majority' instead.",
        ),
        (0.0, "must be in (0, 1]. Got 0.0 instead."),
        (1.5, "must be in (0, 1]. Got 1.5 instead."),
        (-0.2, "must be in (0, 1]. Got -0.2 instead."),
        (float("nan"), "must be in (0, 1]. Got nan instead."),
        (
            0.5,
            "A float sampling_strategy (0.5) only applies to binary labels; the label has 3 "
            "classes.",
        ),
        (
            {"z": 5},
            "sampling_strategy names class(es) 'z' that are not in the data; the classes "
            "are 'a', 'b', 'c'.",
        ),
        (
            {"c": 5},
            "sampling_strategy['c'] = 5 is below the 10 rows class 'c' already has; "
            "over-sampling only adds rows. Ask for at least 10",
        ),
        (
            {"c": 12.5},
            "sampling_strategy['c'] must be a non-negative integer row count. Got 12.5 instead.",
        ),
        ({"c": -1}, "must be a non-negative integer row count. Got -1 instead."),
        ({"c": True}, "must be a non-negative integer row count. Got True instead."),
        (
            lambda counts: [("c", 20)],
            "A callable sampling_strategy must return a dict "
            "{class: final_count}. Got list [('c', 20)] instead.",
        ),
        (lambda counts: {"q": 1}, "names class(es) 'q' that are not in the data"),
        (True, "Got True (bool) instead."),
        (None, "Got None (NoneType) instead."),
    ],
)
def test_invalid_strategies_name_the_value_and_what_is_allowed(strategy, message):
    with pytest.raises(InvalidStrategyError) as info:
        over_sampling_targets(COUNTS, strategy)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_ratio_that_would_shrink_the_minority():
    with pytest.raises(InvalidStrategyError, match=r"asks class 0 for 5 rows, fewer than the 10"):
        over_sampling_targets({0: 10, 1: 100}, 0.05)


@pytest.mark.parametrize("counts", [{"only": 42}, {}])
def test_single_class_has_nothing_to_balance(counts):
    with pytest.raises(SingleClassError, match=r"needs at least 2 classes to balance; got"):
        over_sampling_targets(counts, "auto")


def test_max_ratio_guard():
    counts = {"a": 1, "b": 3, "c": 100_000}
    at_the_limit = {"a": 10_000, "b": 30_000, "c": 100_000}
    check_ratios(counts, at_the_limit, DEFAULT_MAX_RATIO)
    with pytest.raises(RatioLimitError) as info:
        check_ratios(counts, {"a": 10_001, "b": 30_001, "c": 100_000}, DEFAULT_MAX_RATIO)
    assert str(info.value) == (
        "The target of class 'a' (10,001 rows) is 10,001 times its 1 row(s), above max_ratio "
        "10,000 (2 classes are). Raise max_ratio (--max-ratio) if that much output is intended, "
        "or choose smaller targets."
    )
    check_ratios(counts, {"a": 10**9, "b": 3, "c": 100_000}, None)  # None: no limit
    for bad in (0.5, "10", True):
        with pytest.raises(InvalidParameterError, match="max_ratio must be a number >= 1, or None"):
            check_max_ratio(bad)


UNDER = {"a": 100, "b": 30, "c": 10}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("auto", {"a": 10, "b": 10, "c": 10}),
        ("not minority", {"a": 10, "b": 10, "c": 10}),
        ("majority", {"a": 10, "b": 30, "c": 10}),
        ("not majority", {"a": 100, "b": 10, "c": 10}),
        ("all", {"a": 10, "b": 10, "c": 10}),
        ({"a": 50}, {"a": 50, "b": 30, "c": 10}),
        (lambda n: {"b": n["b"] // 3}, {"a": 100, "b": 10, "c": 10}),
    ],
)
def test_under_sampling_targets_follow_random_under_sampler(strategy, expected):
    assert under_sampling_targets(UNDER, strategy) == expected


def test_under_sampling_ratio_is_binary_only_and_never_adds_rows():
    assert under_sampling_targets({"a": 100, "c": 10}, 0.5) == {"a": 20, "c": 10}
    assert under_sampling_targets({"a": 100, "c": 10}, 0.1) == {"a": 100, "c": 10}
    with pytest.raises(
        InvalidStrategyError,
        match=r"sampling_strategy=0.05 asks 200 rows of class "
        r"'a', above the 100 it has; under-sampling only removes rows. Increase",
    ):
        under_sampling_targets({"a": 100, "c": 10}, 0.05)
    with pytest.raises(InvalidStrategyError, match="only applies to binary labels"):
        under_sampling_targets(UNDER, 0.5)
    with pytest.raises(
        InvalidStrategyError,
        match=r"sampling_strategy\['b'\] = 31 rows of class "
        r"'b', above the 30 it has.*Ask for at most 30 \(or use upsampling\)",
    ):
        under_sampling_targets(UNDER, {"b": 31})
    with pytest.raises(
        InvalidStrategyError,
        match="must be one of 'auto', 'majority', 'not "
        "minority', 'not majority', 'all'.*Got 'minority' instead",
    ):
        under_sampling_targets(UNDER, "minority")


@pytest.mark.parametrize(
    ("target", "value"),
    [(25, 25), ("majority", 100), ("minority", 10), ("mean", 46), ("median", 30)],
)
def test_common_targets(target, value):
    assert common_targets(UNDER, target) == {"a": value, "b": value, "c": value}
    assert common_targets({"a": 3, "b": 8}, "median") == {"a": 5, "b": 5}  # (3 + 8) // 2


@pytest.mark.parametrize("bad", [0, -5, 2.5, "average", True])
def test_common_target_errors(bad):
    with pytest.raises(
        InvalidStrategyError,
        match="target must be a positive integer or one of majority, mean, median, minority",
    ):
        common_targets(UNDER, bad)
