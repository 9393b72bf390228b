"""Downsampling: the counterpart of imbalanced-learn's ``RandomUnderSampler``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame

from spark_upsample.engine.pipeline import Options, Resampled, run
from spark_upsample.engine.strategy import SamplingStrategy


def downsample(df: DataFrame, label_col: str | Sequence[str], **options: Any) -> DataFrame:
    """Rebalance classes by removing rows at random, to exact target counts.

    A pure transform; the keyword arguments are those of :func:`downsample_with_plan`.
    """
    return downsample_with_plan(df, label_col, **options).df


def downsample_with_plan(
    df: DataFrame,
    label_col: str | Sequence[str],
    *,
    sampling_strategy: SamplingStrategy = "auto",
    replacement: bool = False,
    seed: int | None = None,
    null_labels: str = "error",
    checkpoint_input: bool = False,
    group_by: Sequence[str] = (),
    weight_col: str | None = None,
    lineage_col: str | None = None,
    shuffle: bool | int = False,
    key_cols: Sequence[str] | None = None,
) -> Resampled:
    """Rebalance classes by under-sampling, to exact target counts.

    Parameters
    ----------
    sampling_strategy : str, float, dict or callable, default "auto"
        As imbalanced-learn's ``RandomUnderSampler``: ``"auto"`` = ``"not minority"``,
        ``"majority"``, ``"not majority"``, ``"all"``, a float minority/majority ratio (binary
        labels), a dict ``{class: final_count}`` or a callable (see
        :func:`spark_upsample.engine.strategy.under_sampling_targets`).
    replacement : bool, default False
        False: a class above its target keeps a uniformly random subset of exactly ``target``
        of its rows, each at most once. True: ``target`` draws with replacement instead.
    seed, null_labels, checkpoint_input, group_by, weight_col, lineage_col, shuffle, key_cols
        As :func:`spark_upsample.upsample_with_plan`.

    Returns
    -------
    Resampled
        The frame with exactly ``target`` rows per class and the schema of the input (plus the
        weight or lineage column when asked), and the plan. The same guarantees as upsampling:
        uniform, exact, one pass, no sort, no rows on the driver, deterministic with the seed.

    Raises
    ------
    The errors of :func:`spark_upsample.upsample_with_plan`; a dict or ratio asking a class for
    more rows than it has is an :class:`InvalidStrategyError`; an input that gives a class
    other rows when read again than when counted, an :class:`InvalidDataError`.
    """
    return run(
        df,
        label_col,
        Options(
            method="downsample",
            sampling_strategy=sampling_strategy,
            seed=seed,
            replacement=replacement,
            null_labels=null_labels,
            max_ratio=None,
            checkpoint_input=checkpoint_input,
            group_by=group_by,
            weight_col=weight_col,
            lineage_col=lineage_col,
            shuffle=shuffle,
            key_cols=key_cols,
        ),
    )
