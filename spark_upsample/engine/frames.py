"""DataFrame helpers shared by the transforms: column names, label checks, class counts.

Everything here uses the DataFrame API only (no RDD, no SparkContext), so it runs on classic
Spark and on Spark Connect alike.
"""

from __future__ import annotations

import difflib
import inspect
import math
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.storagelevel import StorageLevel

from spark_upsample.errors import (
    EmptyInputError,
    InvalidLabelError,
    InvalidParameterError,
    MissingColumnError,
)

LABEL_TYPES = (
    T.BooleanType,
    T.ByteType,
    T.ShortType,
    T.IntegerType,
    T.LongType,
    T.FloatType,
    T.DoubleType,
    T.DecimalType,
    T.StringType,
    T.DateType,
    T.TimestampType,
    T.TimestampNTZType,
)

NULL_LABEL_POLICIES = ("error", "drop")


def col(name: str) -> Column:
    """A top-level column by its exact name, even when the name holds dots or backticks."""
    return F.col("`" + name.replace("`", "``") + "`")


def internal_names(df: DataFrame, *roles: str) -> dict[str, str]:
    """Fresh column names, one per role, that collide with no column of ``df`` in any case."""
    taken = {c.lower() for c in df.columns}
    prefix = "__upsample"
    while any(c.startswith(prefix) for c in taken):
        prefix = "_" + prefix
    return {role: f"{prefix}_{role}" for role in roles}


def local_frame(
    spark: SparkSession, rows: list[tuple[Any, ...]], schema: T.StructType
) -> DataFrame:
    """A DataFrame of ``rows`` that the caller made to fit ``schema``: classic Spark skips its
    per-row type checks (several times the cost of the rows themselves with many rows); Spark
    Connect's client has none to skip."""
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return spark.createDataFrame(rows, schema)
    return spark.createDataFrame(rows, schema, verifySchema=False)


def materialized(df: DataFrame) -> DataFrame:
    """``df`` computed now and kept for later reads: :meth:`DataFrame.localCheckpoint` (classic
    Spark, and Spark Connect from 4.0; Spark releases the blocks once the frame is no longer
    referenced), kept on disk where Spark allows the choice (4.x). Spark Connect 3.5 has no
    such method: there ``df`` comes back as it is and is
    computed again at each read, which gives the same rows when ``df`` is deterministic (the
    engine's per-cell tables are: aggregations and hashes of the input)."""
    method = getattr(type(df), "localCheckpoint", None)
    if method is None:
        return df
    if "storageLevel" in inspect.signature(method).parameters:  # Spark 4
        # on disk: the heap of a 1g driver (local mode: the executors' too) is the write's
        return df.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)
    return df.localCheckpoint(eager=True)


def label_columns(label_col: Any) -> str | tuple[str, ...]:
    """The label as the cells key it: a column name, or a tuple of two or more names (strata on
    several columns, whose classes are the combinations of their values). A list of one name
    is that name.

    Raises
    ------
    InvalidParameterError
        Not a name or a list of distinct names.
    """
    if isinstance(label_col, str) and label_col:
        return label_col
    names = tuple(label_col) if isinstance(label_col, (list, tuple)) else ()
    if (
        not names
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) < len(names)
    ):
        raise InvalidParameterError(
            "label_col must be a column name or a list of distinct column names. "
            f"Got {label_col!r} instead."
        )
    return names[0] if len(names) == 1 else names


def describe_label(label_col: str | tuple[str, ...]) -> str:
    """The label column(s) as error messages name them: ``'label'``, or ``label columns
    ['label', 'sex']``."""
    return repr(label_col) if isinstance(label_col, str) else f"label columns {list(label_col)}"


def check_columns(df: DataFrame, *names: str) -> None:
    """Raise :class:`MissingColumnError` for the first name not in ``df``, suggesting near names."""
    columns = df.columns
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise InvalidParameterError(
            f"The input has duplicate column names {duplicated}; rename them before resampling."
        )
    for name in names:
        if name in columns:
            continue
        near = [c for c in columns if c.lower() == name.lower()]
        near += [c for c in difflib.get_close_matches(name, columns, n=3) if c not in near]
        hint = f" Did you mean {', '.join(repr(c) for c in near)}?" if near else ""
        raise MissingColumnError(
            f"Column {name!r} is not in the input; its columns are {columns}.{hint}"
        )


def check_label_type(df: DataFrame, label_col: str, role: str = "label") -> None:
    """Raise :class:`InvalidLabelError` unless the column is an atomic, comparable type.

    ``role`` names the column in the message: the label, or a ``group_by`` column (groups are
    keyed by value just like classes).
    """
    data_type = df.schema[label_col].dataType
    if not isinstance(data_type, LABEL_TYPES):
        raise InvalidLabelError(
            f"{role[0].upper() + role[1:]} column {label_col!r} has type "
            f"{data_type.simpleString()}; a {role} must be an integer, string, boolean, float, "
            "decimal, date or timestamp column."
        )


def check_null_policy(null_labels: str) -> None:
    if null_labels not in NULL_LABEL_POLICIES:
        raise InvalidParameterError(
            f"null_labels must be one of {NULL_LABEL_POLICIES}. Got {null_labels!r} instead."
        )


def check_label_rows(
    label_col: str | tuple[str, ...], null_labels: str, nulls: int, nans: int, rows: int
) -> None:
    """Raise for ``nulls`` rows with a null label (with ``null_labels="error"``), ``nans`` rows
    with a NaN label, or no ``rows`` with a label (see :func:`clean_counts`)."""
    name = describe_label(label_col)
    if nulls and null_labels == "error":
        null = f"a null {name}" if isinstance(label_col, str) else f"a null in {name}"
        raise InvalidLabelError(
            f"{nulls} row(s) have {null}. Fill or filter them first, or pass "
            "null_labels='drop' (--null-labels drop) to leave them out of the output."
        )
    if nans:
        nan = f"a NaN {name}" if isinstance(label_col, str) else f"NaN in {name}"
        raise InvalidLabelError(
            f"{nans} row(s) have {nan}; NaN is not a class. Replace or filter them."
        )
    if not rows:
        raise EmptyInputError(
            f"The input has no rows{' with a non-null label' if nulls else ''}; "
            "nothing to resample."
        )


def clean_counts(
    counts: dict[Any, int], label_col: str | tuple[str, ...], null_labels: str
) -> tuple[dict[Any, int], int]:
    """Split off null labels and reject NaN and empty input. With several label columns the
    classes are tuples, and a class with a null in any column counts under the key None.

    Returns the counts of the non-null classes and the number of null-label rows to drop.

    Raises
    ------
    InvalidLabelError
        Null labels with ``null_labels="error"``, or a NaN label.
    EmptyInputError
        No rows with a label.
    """
    nulls = counts.pop(None, 0)
    nans = sum(
        n
        for c, n in counts.items()
        if any(
            isinstance(v, float) and math.isnan(v) for v in (c if isinstance(c, tuple) else (c,))
        )
    )
    check_label_rows(label_col, null_labels, nulls, nans, sum(counts.values()))
    return counts, nulls
