"""Upsampling: the public transform, in the terms of imbalanced-learn's ``RandomOverSampler``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyspark.sql import DataFrame

from spark_upsample.engine.pipeline import Options, Resampled, run
from spark_upsample.engine.strategy import DEFAULT_MAX_RATIO, SamplingStrategy


def upsample(df: DataFrame, label_col: str | Sequence[str], **options: Any) -> DataFrame:
    """Rebalance classes by random sampling with replacement, to exact target counts.

    A pure transform (``df.transform(upsample, "label", seed=1)``); the keyword arguments are
    those of :func:`upsample_with_plan`, which also returns the plan (with the seed it picked
    when ``seed`` is None).
    """
    return upsample_with_plan(df, label_col, **options).df


def upsample_with_plan(
    df: DataFrame,
    label_col: str | Sequence[str],
    *,
    sampling_strategy: SamplingStrategy = "auto",
    seed: int | None = None,
    keep_originals: bool = False,
    null_labels: str = "error",
    max_ratio: float | None = DEFAULT_MAX_RATIO,
    checkpoint_input: bool = False,
    group_by: Sequence[str] = (),
    weight_col: str | None = None,
    lineage_col: str | None = None,
    shrinkage: float | Mapping[Any, float] | None = None,
    shrinkage_cols: Sequence[str] = (),
    shuffle: bool | int = False,
    key_cols: Sequence[str] | None = None,
) -> Resampled:
    """Rebalance classes by random sampling with replacement, to exact target counts.

    Parameters
    ----------
    df : DataFrame
        The input. It must give the same rows each time it is read (a file scan, a table or an
        in-memory frame does); see ``checkpoint_input`` otherwise.
    label_col : str or list of str
        The class column: integer, string, boolean, float, decimal, date or timestamp. A list
        of such columns makes each combination of their values present in the data a class
        (strata on label x sex), keyed by the tuple of the values in the order given, such as
        ``(1, "F")``, in the plan and in ``sampling_strategy`` and ``shrinkage`` dicts; a row
        with a null in any of them has a null label.
    sampling_strategy : str, float, dict or callable, default "auto"
        The target count of each class, as in imbalanced-learn's ``RandomOverSampler``
        (see :func:`spark_upsample.engine.strategy.over_sampling_targets`).
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
        storage for the input. Spark Connect has ``localCheckpoint`` from Spark 4.0 on: with an
        older client it is an :class:`InvalidParameterError`, raised before any Spark work.
    group_by : list of str, default ()
        Balance the classes within each group of these columns (a day, a tenant): targets and
        exact counts per (group, class), in the same single pass. A group with one class is
        left as it is and listed in ``plan.single_class_groups``.
    weight_col : str, optional
        Weights instead of copies: every input row once, with this column holding
        ``target / count`` of its class, so each class's weights add up to its target.
    lineage_col : str, optional
        Add this string column: ``"original"`` for a row kept as it was, ``"copy"`` for a
        drawn copy.
    shrinkage : float or dict {class: float}, optional
        A smoothed bootstrap as imbalanced-learn's: Gaussian noise on ``shrinkage_cols`` of the
        drawn copies (see :mod:`spark_upsample.engine.smoothing`).
    shrinkage_cols : list of str
        The float or double columns to smooth; required with ``shrinkage``.
    shuffle : bool or int, default False
        Spread the rows randomly over ``shuffle`` partitions (True: Spark's default number),
        in a random order within each, the same on every run with the seed. Adds a shuffle.
    key_cols : list of str, optional
        Columns whose values identify a row within its class (an event id). Every random number
        is then a hash of the seed and the key, so the same rows come out for the same seed
        however the input is split, stored or ordered. A key that repeats within a class is a
        :class:`DuplicateKeyError`. Without it, a Parquet input is keyed by file and row index
        (the same for any partitioning), anything else by partition position (the same only
        for the same partitioning); ``plan.row_identity`` says which.

    Returns
    -------
    Resampled
        ``df``: the rebalanced DataFrame, with exactly the schema of the input (plus the weight
        or lineage column when asked) and exactly ``target`` rows per class; every drawn row is
        a copy of an input row of its class, drawn uniformly with replacement. ``plan``: per
        class, count before, target, count after and the classic sample size, plus the seed.

    Raises
    ------
    MissingColumnError, InvalidLabelError, EmptyInputError, SingleClassError,
    InvalidStrategyError, RatioLimitError, InvalidParameterError, DuplicateKeyError
        All ``ValueError`` subclasses, raised before any output is produced.

    Examples
    --------
    >>> result = upsample_with_plan(df, "label", seed=42)  # doctest: +SKIP
    >>> result.plan.counts_after  # doctest: +SKIP
    {0: 100, 1: 100}

    Notes
    -----
    Spark runs two jobs here, both reading only the label (and group) columns: the class
    counts, and the cuts that make the counts exact. The returned frame reads the input once,
    with no shuffle and no sort (unless ``shuffle``).
    """
    return run(
        df,
        label_col,
        Options(
            method="upsample",
            sampling_strategy=sampling_strategy,
            seed=seed,
            keep_originals=keep_originals,
            null_labels=null_labels,
            max_ratio=max_ratio,
            checkpoint_input=checkpoint_input,
            group_by=group_by,
            weight_col=weight_col,
            lineage_col=lineage_col,
            shrinkage=shrinkage,
            shrinkage_cols=shrinkage_cols,
            shuffle=shuffle,
            key_cols=key_cols,
        ),
    )
