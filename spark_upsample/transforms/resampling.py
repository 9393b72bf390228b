"""Resampling to one count: :func:`resample`, the counterpart of ``RandomOverSampler`` and
``RandomUnderSampler`` used together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame

from spark_upsample.engine.pipeline import Options, Resampled, run


def resample(df: DataFrame, label_col: str | Sequence[str], **options: Any) -> DataFrame:
    """Every class to one count; the keyword arguments are those of :func:`resample_with_plan`."""
    return resample_with_plan(df, label_col, **options).df


def resample_with_plan(
    df: DataFrame,
    label_col: str | Sequence[str],
    *,
    target: int | str,
    seed: int | None = None,
    keep_originals: bool = False,
    replacement: bool = False,
    **options: Any,
) -> Resampled:
    """Bring every class to one count: up by draws with replacement, down by a uniform subset.

    Parameters
    ----------
    df, label_col, seed, keep_originals
        As :func:`spark_upsample.upsample_with_plan`.
    target : int or {"majority", "mean", "median", "minority"}
        The count every class ends with (mean and median of the class counts rounded down).
    replacement : bool, default False
        Shrink classes above the target by draws with replacement instead of a subset.
    **options
        The common options of :func:`spark_upsample.upsample_with_plan` (``null_labels``,
        ``max_ratio``, ``checkpoint_input``, ``group_by``, ``weight_col``, ``lineage_col``,
        ``shrinkage``, ``shrinkage_cols``, ``shuffle``, ``key_cols``).

    Returns and raises as :func:`spark_upsample.upsample_with_plan`.
    """
    return run(
        df,
        label_col,
        Options(
            method="resample",
            sampling_strategy=target,
            seed=seed,
            keep_originals=keep_originals,
            replacement=replacement,
            **options,
        ),
    )
