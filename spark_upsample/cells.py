"""Cells: the (group, class) pairs a run balances, keyed the same way in Spark and in Python.

A cell's key is its label, or ``(*group values, label)`` with ``group_by``. In Spark it is one
column of the input (the label, or a struct of the group columns and the label); small per-cell
tables (targets, rates, cuts, weights) are joined to the rows on it. Values travel between the
two sides exactly: a ``timestamp`` travels as its epoch microseconds, because PySpark turns
timestamps into naive local datetimes, and two instants of a daylight-saving fall-back hour
would become one Python value (merging two classes). In Python a timestamp label is a
timezone-aware UTC ``datetime``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.frames import col, internal_names

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


@dataclass(frozen=True)
class CellKeys:
    """How the cells of one input are keyed.

    Attributes
    ----------
    label_col, group_by : the label and group columns
    types : the Spark types of the group columns, then of the label
    """

    label_col: str
    group_by: tuple[str, ...]
    types: tuple[T.DataType, ...]

    @classmethod
    def of(cls, df: DataFrame, label_col: str, group_by: Sequence[str] = ()) -> CellKeys:
        """The keys of ``df``'s cells by ``group_by`` and ``label_col``."""
        schema = df.schema
        names = (*group_by, label_col)
        return cls(label_col, tuple(group_by), tuple(schema[c].dataType for c in names))

    @property
    def names(self) -> tuple[str, ...]:
        """The group columns, then the label column."""
        return (*self.group_by, self.label_col)

    def parts(self) -> list[Column]:
        """The key's components as Spark columns of the input (timestamps as microseconds)."""
        return [_part(col(c), t) for c, t in zip(self.names, self.types, strict=True)]

    def column(self) -> Column:
        """The key as one Spark column of the input: the label part, or a struct of all parts
        with the field names of :meth:`table`'s key (``k0``, ``k1``, ...), which Spark 3.5 needs
        to compare the two (Spark 4 compares structs by position)."""
        parts = self.parts()
        if not self.group_by:
            return parts[0]
        return F.struct(*[part.alias(f"k{i}") for i, part in enumerate(parts)])

    def to_python(self, value: Any) -> Any:
        """A Spark key value (from :meth:`column`, collected) as the plan's key."""
        if not self.group_by:
            return _from_spark(value, self.types[0])
        return tuple(_from_spark(v, t) for v, t in zip(value, self.types, strict=True))

    def label(self, value: Any) -> Any:
        """A label as the plan keys it (a timestamp as an aware UTC datetime); other values as
        they are. For matching user-given class names (strategy dicts) to the plan's labels."""
        data_type = self.types[-1]
        if isinstance(data_type, T.TimestampType) and isinstance(value, _dt.datetime):
            return value.astimezone(_dt.timezone.utc)  # a naive value is local time, as PySpark
        return value

    def labels(self, mapping: Mapping[Any, Any]) -> dict[Any, Any]:
        """``mapping`` with its keys passed through :meth:`label`."""
        return {self.label(k): v for k, v in mapping.items()}

    def table(
        self,
        spark: SparkSession,
        rows: Iterable[tuple[Any, ...]],
        fields: Sequence[T.StructField],
        key_name: str,
    ) -> DataFrame:
        """A small per-cell table: ``rows`` of ``(plan key, *values)``, as a DataFrame whose
        column ``key_name`` compares equal (``eqNullSafe``) to :meth:`column` of the input,
        followed by ``fields``.

        Built from flat rows without per-row schema checks (the values are made by the caller),
        then keyed on the JVM: building struct values in Python is several times slower.
        """
        flat = [f"_k{i}" for i in range(len(self.types))]
        key_types = [_spark_type(t) for t in self.types]
        schema = T.StructType(
            [T.StructField(n, t, True) for n, t in zip(flat, key_types, strict=True)] + list(fields)
        )
        data = [(*self._to_spark(row[0]), *row[1:]) for row in rows]
        if type(spark).__module__.startswith("pyspark.sql.connect"):
            table = spark.createDataFrame(data, schema)  # no per-row checks to skip there
        else:
            table = spark.createDataFrame(data, schema, verifySchema=False)
        key = F.col(flat[0]) if not self.group_by else F.struct(
            *[F.col(n).alias(f"k{i}") for i, n in enumerate(flat)])
        return table.select(key.alias(key_name), *[F.col(f.name) for f in fields])

    def _to_spark(self, key: Any) -> tuple[Any, ...]:
        values = key if self.group_by else (key,)
        return tuple(_to_spark(v, t) for v, t in zip(values, self.types, strict=True))


def key_name(df: DataFrame) -> str:
    """A fresh column name for the cell key of ``df``."""
    return internal_names(df, "cell")["cell"]


def _part(column: Column, data_type: T.DataType) -> Column:
    if isinstance(data_type, T.TimestampType):
        return F.unix_micros(column)
    return column


def _spark_type(data_type: T.DataType) -> T.DataType:
    return T.LongType() if isinstance(data_type, T.TimestampType) else data_type


def _from_spark(value: Any, data_type: T.DataType) -> Any:
    if value is not None and isinstance(data_type, T.TimestampType):
        return _EPOCH + _dt.timedelta(microseconds=value)
    return value


def _to_spark(value: Any, data_type: T.DataType) -> Any:
    if value is not None and isinstance(data_type, T.TimestampType):
        return (value.astimezone(_dt.timezone.utc) - _EPOCH) // _dt.timedelta(microseconds=1)
    return value
