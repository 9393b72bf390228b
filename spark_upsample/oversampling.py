"""Upsampling: the public transform, in the terms of imbalanced-learn's ``RandomOverSampler``."""

from __future__ import annotations

import logging
import numbers
import secrets
from typing import Any, NamedTuple

from pyspark.sql import DataFrame

from spark_upsample.errors import InvalidParameterError
from spark_upsample.frames import (
    check_columns,
    check_label_type,
    check_null_policy,
    class_counts,
    clean_counts,
    col,
)
from spark_upsample.plan import ClassPlan, UpsamplePlan
from spark_upsample.sampler import ClassAction, draw_exact
from spark_upsample.strategy import (
    DEFAULT_MAX_RATIO,
    SamplingStrategy,
    check_max_ratio,
    check_ratios,
    ordered_classes,
    over_sampling_targets,
)

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1


class Upsampled(NamedTuple):
    """The upsampled DataFrame and the plan that made it."""

    df: DataFrame
    plan: UpsamplePlan


def upsample(
    df: DataFrame,
    label_col: str,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    seed: int | None = None,
    keep_originals: bool = False,
    null_labels: str = "error",
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    checkpoint_input: bool = False,
) -> DataFrame:
    """Rebalance classes by random sampling with replacement, to exact target counts.

    A pure transform (``df.transform(upsample, "label")``); see :func:`upsample_with_plan` for
    the parameters, and to get the plan (with the seed picked when ``seed`` is None).
    """
    return upsample_with_plan(
        df,
        label_col,
        sampling_strategy=sampling_strategy,
        seed=seed,
        keep_originals=keep_originals,
        null_labels=null_labels,
        max_ratio=max_ratio,
        checkpoint_input=checkpoint_input,
    ).df


def upsample_with_plan(
    df: DataFrame,
    label_col: str,
    *,
    sampling_strategy: SamplingStrategy = "auto",
    seed: int | None = None,
    keep_originals: bool = False,
    null_labels: str = "error",
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    checkpoint_input: bool = False,
) -> Upsampled:
    """Rebalance classes by random sampling with replacement, to exact target counts.

    Parameters
    ----------
    df : DataFrame
        The input. It must give the same rows in the same partitions each time it is read (a
        file scan, a table or an in-memory frame does); persist a frame that is computed with
        randomness or from a changing source first.
    label_col : str
        The class column: integer, string, boolean, float, decimal, date or timestamp.
    sampling_strategy : str, float, dict or callable, default "auto"
        The target count of each class, as in imbalanced-learn's ``RandomOverSampler``
        (see :func:`spark_upsample.strategy.over_sampling_targets`).
    seed : int, optional
        Non-negative integer below 2**63. The same input and seed give the same output rows.
        None picks one at random; it is in the returned plan.
    keep_originals : bool, default False
        False (the numpy recipe): each upsampled class is replaced by ``target`` draws with
        replacement from its rows. True (imbalanced-learn): its rows are kept once and
        ``target - count`` draws are added. Classes at their target are left as they are.
    null_labels : {"error", "drop"}, default "error"
        What to do with rows whose label is null.
    max_ratio : float or None, default 10,000
        A guard against runaway output: a class whose target is more than ``max_ratio`` times
        its count is an error. None disables it.
    checkpoint_input : bool, default False
        Materialise the input once (``localCheckpoint``) before counting, so that counting and
        sampling see the same rows even when the input is not a deterministic scan (a
        nondeterministic UDF, a source that changes between reads). Costs one pass and executor
        storage for the input.

    Returns
    -------
    Upsampled
        ``df``: the rebalanced DataFrame, with exactly the schema of the input and exactly
        ``target`` rows per class; every drawn row is a copy of an input row of its class, drawn
        uniformly with replacement. ``plan``: per class, count before, target, count after and
        the Poisson sample size, plus the seed.

    Raises
    ------
    MissingColumnError, InvalidLabelError, EmptyInputError, SingleClassError,
    InvalidStrategyError, RatioLimitError, InvalidParameterError
        All ``ValueError`` subclasses, raised before any output is produced.

    Examples
    --------
    >>> result = upsample_with_plan(df, "label", seed=42)  # doctest: +SKIP
    >>> result.plan.counts_after  # doctest: +SKIP
    {0: 100, 1: 100}

    Notes
    -----
    Spark runs two jobs here, both reading only the label column: the class counts, and the
    cuts that make the counts exact. The returned frame reads the input once, with no shuffle
    and no sort.
    """
    check_columns(df, label_col)
    check_label_type(df, label_col)
    check_null_policy(null_labels)
    for name, value in (("keep_originals", keep_originals), ("checkpoint_input", checkpoint_input)):
        if not isinstance(value, bool):
            raise InvalidParameterError(f"{name} must be True or False. Got {value!r}.")
    check_max_ratio(max_ratio)
    seed = resolve_seed(seed)
    if checkpoint_input:
        df = df.localCheckpoint(eager=True)

    counts, nulls = clean_counts(class_counts(df, label_col), label_col, null_labels)
    targets = over_sampling_targets(counts, sampling_strategy)
    check_ratios(counts, targets, max_ratio)
    if nulls:
        df = df.where(col(label_col).isNotNull())

    actions = {}
    for c, n in counts.items():
        if targets[c] == n:
            actions[c] = ClassAction(keep_originals=True)
        else:
            actions[c] = ClassAction(keep_originals, targets[c] - n if keep_originals else targets[c])
    result = draw_exact(df, label_col, counts, actions, seed)

    plan = UpsamplePlan(
        label_col=label_col,
        seed=seed,
        sampling_strategy=describe_strategy(sampling_strategy),
        keep_originals=keep_originals,
        null_labels_dropped=nulls,
        classes=tuple(
            ClassPlan(
                label=c,
                count_before=counts[c],
                target=targets[c],
                draws=actions[c].draws,
                poisson_draws=result.poisson_draws.get(c),
            )
            for c in ordered_classes(counts)
        ),
    )
    log.info("upsample plan: seed=%d, counts %s -> %s", seed, plan.counts_before, plan.counts_after)
    return Upsampled(result.df, plan)


def resolve_seed(seed: Any) -> int:
    """The seed to use: ``seed`` itself if valid, a fresh random one if None.

    Raises
    ------
    InvalidParameterError
        A seed that is not an integer in [0, 2**63).
    """
    if seed is None:
        return secrets.randbelow(2**31)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_SEED:
        raise InvalidParameterError(
            f"seed must be an integer in [0, 2**63) or None. Got {seed!r} instead."
        )
    return int(seed)


def describe_strategy(sampling_strategy: SamplingStrategy) -> str:
    """A short text for the plan and report: the string, number or dict, or the callable's name."""
    if callable(sampling_strategy) and not isinstance(sampling_strategy, dict):
        return f"callable {getattr(sampling_strategy, '__qualname__', repr(sampling_strategy))}"
    return sampling_strategy if isinstance(sampling_strategy, str) else repr(sampling_strategy)
