"""The job's choice of library call: its config turned into an upsample, downsample, resample or
smote.

Config files and command lines name classes as text ("0", "true", "fraud"), while labels may be
integers, booleans, dates...; :func:`keyed_by_label` parses such text as the label column's type.
A class of several label columns is their values joined by ``/`` in the order of ``label_col``
(``"1/F"`` for ``label_col = ["label", "sex"]``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from spark_upsample.engine.pipeline import Resampled
from spark_upsample.errors import InvalidStrategyError
from spark_upsample.job.config import JobConfig
from spark_upsample.transforms.oversampling import upsample_with_plan
from spark_upsample.transforms.resampling import resample_with_plan
from spark_upsample.transforms.smote import smote_with_plan
from spark_upsample.transforms.undersampling import downsample_with_plan


def resample_for_config(df: DataFrame, config: JobConfig) -> Resampled:
    """Run the library call that ``config.method`` names, with every option the config sets."""
    schema = {f.name: f.dataType for f in df.schema.fields}
    label_type: T.DataType | tuple[T.DataType | None, ...] | None = (
        schema.get(config.label_col)
        if isinstance(config.label_col, str)
        else tuple(schema.get(c) for c in config.label_col)
    )
    strategy = keyed_by_label(config.strategy, label_type, "strategy")
    if config.method == "smote":  # config.py refuses the keys it does not take
        return smote_with_plan(
            df,
            config.label_col,
            list(config.feature_cols),
            k_neighbors=config.k_neighbors,
            sampling_strategy=strategy,
            seed=config.seed,
            group_by=config.group_by,
            key_cols=config.key_cols or None,
            lineage_col=config.lineage_col,
        )
    common: dict[str, Any] = dict(
        seed=config.seed,
        null_labels=config.null_labels,
        checkpoint_input=config.checkpoint_input,
        group_by=config.group_by,
        key_cols=config.key_cols,
        weight_col=config.weight_col,
        lineage_col=config.lineage_col,
        shuffle=(config.output_files or True) if config.shuffle else False,
    )
    if config.method == "downsample":
        return downsample_with_plan(
            df,
            config.label_col,
            replacement=config.replacement,
            sampling_strategy=strategy,
            **common,
        )
    growing: dict[str, Any] = dict(
        keep_originals=config.keep_originals,
        max_ratio=config.max_ratio,
        shrinkage=keyed_by_label(config.shrinkage, label_type, "shrinkage"),
        shrinkage_cols=config.shrinkage_cols,
    )
    if config.method == "resample":
        assert config.target is not None  # build_config refuses method = resample without one
        return resample_with_plan(
            df,
            config.label_col,
            target=config.target,
            replacement=config.replacement,
            **growing,
            **common,
        )
    return upsample_with_plan(df, config.label_col, sampling_strategy=strategy, **growing, **common)


def keyed_by_label(
    by_text: Any, data_type: T.DataType | tuple[T.DataType | None, ...] | None, what: str
) -> Any:
    """A config table ``{class text: value}`` with its keys parsed as labels of ``data_type``
    (None: text), or, for a label of several columns, of the tuple of their types: a key
    ``"1/F"`` becomes the class ``(1, "F")``.

    Config files and command lines name classes as text (TOML keys are always strings); the
    library matches dict keys to labels by value, so ``"0"`` must become ``0`` for an integer
    label, ``"true"`` must become ``True`` for a boolean one, and so on. Anything that is not a
    dict is returned as it is. A key that parses but names no class is left to the library,
    whose error names it with the classes there are.

    Raises
    ------
    InvalidStrategyError
        A key that is not a value of the label's type (``"x"`` for an integer label), or not
        one value per label column.
    """
    if not isinstance(by_text, dict):
        return by_text
    types = data_type if isinstance(data_type, tuple) else (data_type,)
    labels = {}
    for text, value in by_text.items():
        parts = text.split("/") if isinstance(data_type, tuple) else [text]
        if len(parts) != len(types):
            raise InvalidStrategyError(
                f"{what} names class {text!r}, which is not {len(types)} values separated by "
                "'/', one per label column."
            )
        values = []
        for part, part_type in zip(parts, types, strict=True):
            try:
                values.append(_parser(part_type)(part.strip()))
            except (ValueError, ArithmeticError):
                kind = part_type.simpleString() if part_type else "string"
                if len(types) == 1:
                    problem = f"which is not a {kind} value like the label column's"
                else:
                    problem = (
                        f"whose {part.strip()!r} is not a {kind} value like its label column's"
                    )
                raise InvalidStrategyError(f"{what} names class {text!r}, {problem}.") from None
        labels[tuple(values) if isinstance(data_type, tuple) else values[0]] = value
    return labels


def _parser(data_type: T.DataType | None) -> Callable[[str], Any]:
    """Text to a Python value the way PySpark returns values of ``data_type``."""
    if isinstance(data_type, T.BooleanType):
        return _boolean
    if isinstance(data_type, T.IntegralType):
        return int
    if isinstance(data_type, T.FloatType):
        return _float32
    if isinstance(data_type, T.DoubleType):
        return float
    if isinstance(data_type, T.DecimalType):
        return Decimal
    if isinstance(data_type, T.DateType):
        return date.fromisoformat
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        return datetime.fromisoformat
    return str


def _float32(text: str) -> float:
    """The value of a ``float`` (32-bit) label as PySpark returns it: ``"0.7"`` is
    0.699999988079071, not 0.7 (and, as in Spark's cast, ``"1e39"`` is infinity)."""
    return struct.unpack("f", struct.pack("f", float(text)))[0]


def _boolean(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(text)
    return text.lower() == "true"
