"""Target class counts from a sampling strategy: plain Python, no Spark.

The forms and semantics mirror imbalanced-learn's ``RandomOverSampler`` (``sampling_strategy``),
with one difference: a callable receives the class counts (not ``y``), since the labels of a Spark
DataFrame never reach the driver.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

from spark_upsample.errors import (
    InvalidParameterError,
    InvalidStrategyError,
    RatioLimitError,
    SingleClassError,
)

Label = TypeVar("Label", bound=Hashable)  # a class: the targets are keyed like the counts
SamplingStrategy = str | float | Mapping[Any, int] | Callable[[dict[Any, int]], Mapping[Any, int]]

DEFAULT_MAX_RATIO = 10_000  # no class may grow more than this many times, unless asked
OVER_SAMPLING_STRINGS = ("auto", "minority", "not minority", "not majority", "all")
UNDER_SAMPLING_STRINGS = ("auto", "majority", "not minority", "not majority", "all")
COMMON_TARGETS = ("majority", "mean", "median", "minority")

_ALLOWED = (
    "one of {strings}; a float in (0, 1] (binary labels only); a dict {{class: final_count}}; "
    "or a callable counts -> dict"
)


def ordered_classes(counts: Iterable[Label]) -> list[Label]:
    """Class labels (the keys of a mapping, or any iterable of them) in a deterministic order:
    sorted where the labels allow it, else by their ``repr``.

    Spark returns groups in no particular order; sorting makes ties (two classes with the
    majority count, say) resolve the same way on every run: the smallest label wins.
    """
    # Whether the labels compare is known at run time only (a column's values do; mixed do not).
    labels: list[Any] = list(counts)
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=repr)


def majority_class(counts: Mapping[Label, int]) -> Label:
    """The class with the most rows; ties go to the smallest label."""
    return max(ordered_classes(counts), key=lambda c: counts[c])


def minority_class(counts: Mapping[Label, int]) -> Label:
    """The class with the fewest rows; ties go to the smallest label."""
    return min(ordered_classes(counts), key=lambda c: counts[c])


def _extremes(counts: Mapping[Label, int]) -> tuple[Label, Label]:
    """The majority and the minority class, as :func:`majority_class` and
    :func:`minority_class` give them, with the classes ordered once."""
    order = ordered_classes(counts)
    return max(order, key=counts.__getitem__), min(order, key=counts.__getitem__)


def check_counts(counts: Mapping[Label, int]) -> None:
    """Raise :class:`SingleClassError` unless there are at least two classes to balance."""
    if len(counts) < 2:
        found = ", ".join(repr(c) for c in counts) or "none"
        raise SingleClassError(
            f"The label needs at least 2 classes to balance; got {len(counts)} ({found}). "
            "Check the label column, or a filter that removed the other classes."
        )


def over_sampling_targets(
    counts: Mapping[Label, int], sampling_strategy: SamplingStrategy = "auto"
) -> dict[Label, int]:
    """Final row count of every class after over-sampling.

    Parameters
    ----------
    counts : mapping of class label to its number of rows (each >= 1)
    sampling_strategy : str, float, dict or callable
        - ``"auto"`` / ``"not majority"``: every class but the majority to the majority count;
        - ``"minority"``: only the minority class; ``"not minority"``: all but the minority;
        - ``"all"``: every class (the majority keeps its count);
        - float r in (0, 1], binary labels only: minority to ``int(r * n_majority)``;
        - dict ``{class: final_count}``: those classes to those counts, others unchanged;
        - callable ``counts -> dict``: its result is used as a dict.

    Returns
    -------
    dict mapping every class in ``counts`` to its final count (>= its current count).

    Raises
    ------
    SingleClassError
        Fewer than two classes.
    InvalidStrategyError
        An unknown string, a float out of (0, 1] or on more than two classes, a ratio that would
        shrink the minority, a dict naming an unknown class or asking fewer rows than a class has,
        a count that is not a non-negative integer, a callable that returns no mapping.
    """
    check_counts(counts)
    majority, minority = _extremes(counts)
    n_majority = counts[majority]

    if isinstance(sampling_strategy, str):
        if sampling_strategy not in OVER_SAMPLING_STRINGS:
            raise InvalidStrategyError(
                f"sampling_strategy must be {_allowed(OVER_SAMPLING_STRINGS)}. "
                f"Got {sampling_strategy!r} instead."
            )
        excluded = {
            "auto": {majority},
            "not majority": {majority},
            "not minority": {minority},
            "minority": set(counts) - {minority},
            "all": set(),
        }[sampling_strategy]
        return {c: (n if c in excluded else max(n, n_majority)) for c, n in counts.items()}

    if isinstance(sampling_strategy, numbers.Real) and not isinstance(sampling_strategy, bool):
        return _ratio_targets(counts, float(sampling_strategy), n_majority)

    return _mapping_targets(counts, sampling_strategy, OVER)


def under_sampling_targets(
    counts: Mapping[Label, int], sampling_strategy: SamplingStrategy = "auto"
) -> dict[Label, int]:
    """Final row count of every class after under-sampling (imbalanced-learn's
    ``RandomUnderSampler``).

    Parameters
    ----------
    counts : mapping of class label to its number of rows (each >= 1)
    sampling_strategy : str, float, dict or callable
        - ``"auto"`` / ``"not minority"``: every class but the minority to the minority count;
        - ``"majority"``: only the majority class; ``"not majority"``: all but the majority;
        - ``"all"``: every class (the minority keeps its count);
        - float r in (0, 1], binary labels only: the majority to ``int(n_minority / r)``;
        - dict ``{class: final_count}``: those classes to those counts, others unchanged;
        - callable ``counts -> dict``: its result is used as a dict.

    Returns
    -------
    dict mapping every class in ``counts`` to its final count (<= its current count).

    Raises
    ------
    SingleClassError, InvalidStrategyError
        As :func:`over_sampling_targets`, with "above the current count" for a dict or ratio
        that would add rows.
    """
    check_counts(counts)
    majority, minority = _extremes(counts)
    n_minority = counts[minority]
    if isinstance(sampling_strategy, str):
        if sampling_strategy not in UNDER_SAMPLING_STRINGS:
            raise InvalidStrategyError(
                f"sampling_strategy must be {_allowed(UNDER_SAMPLING_STRINGS)}. "
                f"Got {sampling_strategy!r} instead."
            )
        excluded = {
            "auto": {minority},
            "not minority": {minority},
            "not majority": {majority},
            "majority": set(counts) - {majority},
            "all": set(),
        }[sampling_strategy]
        return {c: (n if c in excluded else min(n, n_minority)) for c, n in counts.items()}

    if isinstance(sampling_strategy, numbers.Real) and not isinstance(sampling_strategy, bool):
        ratio = float(sampling_strategy)
        _check_ratio(counts, ratio)
        # Same arithmetic as imbalanced-learn: the other class to int(n_minority / ratio).
        wanted = {c: int(n_minority / ratio) for c in counts if c != minority}
        return _dict_targets(counts, wanted, UNDER, ratio=ratio)

    return _mapping_targets(counts, sampling_strategy, UNDER)


def common_targets(counts: Mapping[Label, int], target: int | str) -> dict[Label, int]:
    """Every class to one count: an integer, or the ``"majority"``, ``"mean"``, ``"median"``
    or ``"minority"`` class count (mean and median rounded down).

    Raises
    ------
    SingleClassError, InvalidStrategyError
        Fewer than two classes; a target that is not a positive integer or one of those names.
    """
    check_counts(counts)
    if isinstance(target, str) and target in COMMON_TARGETS:
        sizes = sorted(counts.values())
        middle = len(sizes) // 2
        value = {
            "majority": sizes[-1],
            "minority": sizes[0],
            "mean": sum(sizes) // len(sizes),
            "median": sizes[middle] if len(sizes) % 2 else (sizes[middle - 1] + sizes[middle]) // 2,
        }[target]
    elif isinstance(target, numbers.Integral) and not isinstance(target, bool) and target >= 1:
        value = int(target)
    else:
        raise InvalidStrategyError(
            f"target must be a positive integer or one of {', '.join(COMMON_TARGETS)}. "
            f"Got {target!r} instead."
        )
    return {c: value for c in counts}


OVER, UNDER = "over-sampling", "under-sampling"


def _allowed(strings: tuple[str, ...]) -> str:
    return _ALLOWED.format(strings=", ".join(repr(s) for s in strings))


def _mapping_targets(
    counts: Mapping[Label, int], sampling_strategy: Any, kind: str
) -> dict[Label, int]:
    """Targets from a dict or a callable returning one."""
    if isinstance(sampling_strategy, Mapping):
        return _dict_targets(counts, sampling_strategy, kind)
    if callable(sampling_strategy):
        result = sampling_strategy(dict(counts))
        if not isinstance(result, Mapping):
            raise InvalidStrategyError(
                "A callable sampling_strategy must return a dict {class: final_count}. "
                f"Got {type(result).__name__} {result!r} instead."
            )
        return _dict_targets(counts, result, kind)
    strings = OVER_SAMPLING_STRINGS if kind == OVER else UNDER_SAMPLING_STRINGS
    raise InvalidStrategyError(
        f"sampling_strategy must be {_allowed(strings)}. Got {sampling_strategy!r} "
        f"({type(sampling_strategy).__name__}) instead."
    )


def _check_ratio(counts: Mapping[Label, int], ratio: float) -> None:
    if not (0.0 < ratio <= 1.0) or math.isnan(ratio):
        raise InvalidStrategyError(
            f"A float sampling_strategy is the wanted minority/majority ratio and must be in "
            f"(0, 1]. Got {ratio!r} instead."
        )
    if len(counts) != 2:
        raise InvalidStrategyError(
            f"A float sampling_strategy ({ratio!r}) only applies to binary labels; the label has "
            f"{len(counts)} classes. Use a dict {{class: final_count}}, a string or a callable."
        )


def _ratio_targets(counts: Mapping[Label, int], ratio: float, n_majority: int) -> dict[Label, int]:
    _check_ratio(counts, ratio)
    majority = majority_class(counts)
    targets = dict(counts)
    for c, n in counts.items():
        if c == majority:
            continue
        # Same arithmetic as imbalanced-learn: int(n_majority * ratio - n) rows to add.
        to_add = int(n_majority * ratio - n)
        if to_add < 0:
            raise InvalidStrategyError(
                f"sampling_strategy={ratio!r} asks class {c!r} for {int(n_majority * ratio)} rows, "
                f"fewer than the {n} it has; over-sampling cannot remove rows. Increase the ratio "
                f"to at least {n / n_majority:.6g}."
            )
        targets[c] = n + to_add
    return targets


def _dict_targets(
    counts: Mapping[Label, int], wanted: Mapping[Any, Any], kind: str, ratio: float | None = None
) -> dict[Label, int]:
    unknown = [c for c in wanted if c not in counts]
    if unknown:
        raise InvalidStrategyError(
            f"sampling_strategy names class(es) {', '.join(repr(c) for c in unknown)} that are not "
            f"in the data; the classes are {', '.join(repr(c) for c in ordered_classes(counts))}."
        )
    targets = dict(counts)
    for c, value in wanted.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise InvalidStrategyError(
                f"sampling_strategy[{c!r}] must be a non-negative integer row count. "
                f"Got {value!r} instead."
            )
        count = int(value)
        if kind == OVER and count < counts[c]:
            raise InvalidStrategyError(
                f"sampling_strategy[{c!r}] = {value} is below the {counts[c]} rows class {c!r} "
                "already has; over-sampling only adds rows. Ask for at least "
                f"{counts[c]} (or use undersampling)."
            )
        if kind == UNDER and count > counts[c]:
            asked = f"sampling_strategy={ratio!r} asks" if ratio else f"sampling_strategy[{c!r}] ="
            raise InvalidStrategyError(
                f"{asked} {value} rows of class {c!r}, above the {counts[c]} it has; "
                "under-sampling only removes rows. "
                + (
                    "Increase the ratio."
                    if ratio
                    else f"Ask for at most {counts[c]} (or use upsampling)."
                )
            )
        targets[c] = count
    return targets


def check_max_ratio(max_ratio: Any) -> None:
    """Raise :class:`InvalidParameterError` unless ``max_ratio`` is None or a number >= 1."""
    if max_ratio is None:
        return
    if (
        isinstance(max_ratio, bool)
        or not isinstance(max_ratio, numbers.Real)
        or max_ratio < 1
        or max_ratio != max_ratio  # NaN; no float(): an int beyond float's range is a valid limit
    ):
        raise InvalidParameterError(
            f"max_ratio must be a number >= 1, or None for no limit. Got {max_ratio!r} instead."
        )


def check_ratios(counts: dict[Any, int], targets: dict[Any, int], max_ratio: float | None) -> None:
    """Raise :class:`RatioLimitError` when a target exceeds ``max_ratio`` times its class count."""
    if max_ratio is None:
        return
    over = ordered_classes([c for c in counts if targets[c] > max_ratio * counts[c]])
    if over:
        c = over[0]
        raise RatioLimitError(
            f"The target of class {c!r} ({targets[c]:,} rows) is {targets[c] / counts[c]:,.0f} "
            f"times its {counts[c]:,} row(s), above max_ratio {max_ratio:,g}"
            + (f" ({len(over)} classes are)" if len(over) > 1 else "")
            + ". Raise max_ratio (--max-ratio) if that much output is intended, or choose "
            "smaller targets."
        )
