"""The job's choice of library call: its config turned into an upsample, downsample or resample.

Config files and command lines name classes as text ("0", "true", "fraud"), while labels may be
integers or booleans; the helpers here match such text to the labels once they are counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pyspark.sql import DataFrame

from spark_upsample.config import JobConfig
from spark_upsample.oversampling import upsample_with_plan
from spark_upsample.plan import json_label
from spark_upsample.resampling import Resampled, resample_with_plan
from spark_upsample.undersampling import downsample_with_plan


def resample_for_config(df: DataFrame, config: JobConfig) -> Resampled:
    """Run the library call that ``config.method`` names, with every option the config sets."""
    common: dict[str, Any] = dict(
        seed=config.seed,
        null_labels=config.null_labels,
        checkpoint_input=config.checkpoint_input,
        group_by=config.group_by,
        weight_col=config.weight_col,
        lineage_col=config.lineage_col,
        shuffle=(config.output_files or True) if config.shuffle_output else False,
    )
    if config.method == "downsample":
        return downsample_with_plan(df, config.label_col, replacement=config.replacement,
                                    sampling_strategy=strategy_for_labels(config.strategy),
                                    **common)
    growing: dict[str, Any] = dict(
        keep_originals=config.keep_originals,
        max_ratio=config.max_ratio,
        shrinkage=TextKeyed(config.shrinkage) if isinstance(config.shrinkage, dict)
        else config.shrinkage,
        shrinkage_cols=config.shrinkage_cols,
    )
    if config.method == "resample":
        return resample_with_plan(df, config.label_col, target=config.target,
                                  replacement=config.replacement, **growing, **common)
    return upsample_with_plan(df, config.label_col,
                              sampling_strategy=strategy_for_labels(config.strategy),
                              **growing, **common)


def strategy_for_labels(strategy: Any) -> Any:
    """The library strategy for a config strategy: a dict's text keys matched to the labels.

    A key that matches no label is passed through, so the library's error names it.
    """
    if not isinstance(strategy, dict):
        return strategy

    def by_text(counts: dict[Any, int]) -> dict[Any, int]:
        texts = {label_text(c): c for c in counts}
        return {texts.get(k, k): v for k, v in strategy.items()}

    by_text.__qualname__ = f"dict {strategy!r}"
    return by_text


def label_text(label: Any) -> str:
    """A label as text the way config files write it: ``true``/``false`` for booleans."""
    value = json_label(label)
    return str(value).lower() if isinstance(value, bool) else str(value)


class TextKeyed(Mapping):
    """A read-only mapping keyed by label text that also answers for the labels themselves."""

    def __init__(self, by_text: Mapping[str, Any]) -> None:
        self._by_text = dict(by_text)

    def __getitem__(self, label: Any) -> Any:
        return self._by_text[label_text(label)]

    def __contains__(self, label: object) -> bool:
        return label_text(label) in self._by_text

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_text)

    def __len__(self) -> int:
        return len(self._by_text)

    def __repr__(self) -> str:
        return repr(self._by_text)
