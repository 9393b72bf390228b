"""Cells: the (group, class) pairs a run balances, keyed the same way in Spark and in Python.

A class is the value of the label column, or, when the label is several columns (strata on
label x sex), the tuple of their values in the order given: ``(1, "F")``. A cell's key is its
class, or ``(*group values, class)`` with ``group_by``. In Spark it is one column of the input
(the label, or a flat struct of the group and label columns); small per-cell tables (targets,
rates, cuts, weights) are joined to the rows on it. Values travel between the two sides
exactly: a ``timestamp`` travels as its epoch microseconds, because PySpark turns timestamps
into naive local datetimes, and two instants of a daylight-saving fall-back hour would become
one Python value (merging two classes). In Python a timestamp label is a timezone-aware UTC
``datetime``.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.frames import col, internal_names, label_columns, local_frame

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
TABLE_CHUNK = 16_384  # cells per row of arrays in which a per-cell table is sent (see table)


@dataclass(frozen=True)
class CellKeys:
    """How the cells of one input are keyed.

    Attributes
    ----------
    label_col : the label column, or a tuple of several (see :func:`label_columns`)
    group_by : the group columns
    types : the Spark types of the group columns, then of the label column(s)
    """

    label_col: str | tuple[str, ...]
    group_by: tuple[str, ...]
    types: tuple[T.DataType, ...]

    @classmethod
    def of(
        cls, df: DataFrame, label_col: str | Sequence[str], group_by: Sequence[str] = ()
    ) -> CellKeys:
        """The keys of ``df``'s cells by ``group_by`` and ``label_col`` (a name or a list)."""
        schema = df.schema
        label = label_columns(label_col)
        names = (*group_by, *((label,) if isinstance(label, str) else label))
        return cls(label, tuple(group_by), tuple(schema[c].dataType for c in names))

    @property
    def label_cols(self) -> tuple[str, ...]:
        """The label column(s), always as a tuple."""
        return (self.label_col,) if isinstance(self.label_col, str) else self.label_col

    @property
    def names(self) -> tuple[str, ...]:
        """The group columns, then the label column(s)."""
        return (*self.group_by, *self.label_cols)

    def parts(self) -> list[Column]:
        """The key's components as Spark columns of the input (timestamps as microseconds)."""
        return [_part(col(c), t) for c, t in zip(self.names, self.types, strict=True)]

    def column(self) -> Column:
        """The key as one Spark column of the input: the label part, or a struct of all parts
        with the field names of :meth:`table`'s key (``k0``, ``k1``, ...), which Spark 3.5 needs
        to compare the two (Spark 4 compares structs by position)."""
        parts = self.parts()
        if len(parts) == 1:
            return parts[0]
        return F.struct(*[part.alias(f"k{i}") for i, part in enumerate(parts)])

    def not_null(self) -> Column:
        """True for the rows whose label (every label column) is not null."""
        checks = [col(c).isNotNull() for c in self.label_cols]
        return functools.reduce(lambda a, b: a & b, checks)

    def to_python(self, value: Any) -> Any:
        """A Spark key value (from :meth:`column`, collected) as the plan's key."""
        if len(self.types) == 1:
            return _from_spark(value, self.types[0])
        return self.from_parts(tuple(value))

    def from_parts(self, parts: tuple[Any, ...]) -> Any:
        """The plan's key from the values of :meth:`parts`, collected as they are."""
        if self._timestamps:
            parts = tuple(_from_spark(v, t) for v, t in zip(parts, self.types, strict=True))
        if len(parts) == 1:
            return parts[0]
        return self._nested(parts)

    def label_of(self, key: Any) -> Any:
        """The class of a plan key: the key itself, or its last item with ``group_by``."""
        return key[-1] if self.group_by else key

    def is_null(self, label: Any) -> bool:
        """Whether a class (from :meth:`label_of`) has a null label value, in any label column."""
        return any(v is None for v in label) if self._several else label is None

    def label(self, value: Any) -> Any:
        """A class as the plan keys it (a timestamp as an aware UTC datetime); other values as
        they are. For matching user-given class names (strategy dicts) to the plan's labels: with
        several label columns, a tuple of one value per column."""
        if not self._several:
            return _label_value(value, self.types[-1])
        if not isinstance(value, tuple) or len(value) != len(self.label_cols):
            return value  # names no class; the caller's error lists the classes there are
        types = self.types[len(self.group_by) :]
        return tuple(_label_value(v, t) for v, t in zip(value, types, strict=True))

    def labels(self, mapping: Mapping[Any, Any]) -> dict[Any, Any]:
        """``mapping`` with its keys passed through :meth:`label`."""
        return {self.label(k): v for k, v in mapping.items()}

    @functools.cached_property
    def _several(self) -> bool:
        return not isinstance(self.label_col, str)

    @functools.cached_property
    def _timestamps(self) -> bool:
        """Whether a part travels converted (a timestamp as microseconds)."""
        return any(isinstance(t, T.TimestampType) for t in self.types)

    def _nested(self, flat: tuple[Any, ...]) -> Any:
        """Flat key values (group columns, then label columns) as the plan's key."""
        if not self._several:
            return flat
        label = flat[len(self.group_by) :]
        return (*flat[: len(self.group_by)], label) if self.group_by else label

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

        Sent as columns, not rows: each value array holds up to :data:`TABLE_CHUNK` cells, a
        few rows of arrays that the JVM zips and explodes into one row per cell. A Python tuple
        per cell would take several times the driver's memory and time (200,000 cells: ~80 MiB
        more at the peak); the values are made by the caller, so there are no per-row checks.
        """
        flat = [f"_k{i}" for i in range(len(self.types))]
        key_types = [_spark_type(t) for t in self.types]
        names = [*flat, *(f.name for f in fields)]
        types = [*key_types, *(f.dataType for f in fields)]
        columns: list[list[Any]] = [[] for _ in names]
        for row in rows:
            for column, value in zip(columns, (*self._to_spark(row[0]), *row[1:]), strict=True):
                column.append(value)
        chunks = [
            tuple(column[start : start + TABLE_CHUNK] for column in columns)
            for start in range(0, len(columns[0]), TABLE_CHUNK)
        ]
        schema = T.StructType(
            [
                T.StructField(n, T.ArrayType(t, True), False)
                for n, t in zip(names, types, strict=True)
            ]
        )
        table = (
            local_frame(spark, chunks, schema)
            .select(F.inline(F.arrays_zip(*[F.col(n) for n in names])))
            .toDF(*names)
        )
        key = (
            F.col(flat[0])
            if len(flat) == 1
            else F.struct(*[F.col(n).alias(f"k{i}") for i, n in enumerate(flat)])
        )
        return table.select(key.alias(key_name), *[F.col(f.name) for f in fields])

    def equals(self, key: Any) -> Column:
        """True for the rows of the cell ``key`` (null-safe, part by part), as :meth:`column`
        compares to :meth:`table`'s key. A float or double part is compared with -0.0 made
        0.0, as the count that made the key saw it: compared as it is, Spark would push the
        test into a Parquet scan, whose dictionary filter tells -0.0 from 0.0 and skips row
        groups of the other."""
        literals = (_literal(v, t) for v, t in zip(self._to_spark(key), self.types, strict=True))
        tests = [
            _signless(part, t).eqNullSafe(value)
            for part, t, value in zip(self.parts(), self.types, literals, strict=True)
        ]
        return functools.reduce(lambda a, b: a & b, tests)

    def label_equals(self, parts: Sequence[Column], label: Any) -> Column | None:
        """True where ``parts``, the label part(s) of a cell key (as :meth:`parts` gives them),
        hold the class ``label`` (from :meth:`label`), compared as :meth:`equals` compares; None
        when ``label`` cannot be a value of the label column(s) (a string for an integer label,
        a tuple of the wrong length): it names no class."""
        types = self.types[len(self.group_by) :]
        values = label if self._several else (label,)
        if not isinstance(values, tuple) or len(values) != len(types):
            return None
        if not all(v is None or _fits(v, t) for v, t in zip(values, types, strict=True)):
            return None
        values = tuple(_to_spark(v, t) for v, t in zip(values, types, strict=True))
        tests = [
            _signless(part, t).eqNullSafe(_literal(v, t))
            for part, t, v in zip(parts, types, values, strict=True)
        ]
        return functools.reduce(lambda a, b: a & b, tests)

    def _to_spark(self, key: Any) -> tuple[Any, ...]:
        if not self._several:
            values = key if self.group_by else (key,)
        else:
            label = self.label_of(key)
            values = (*(key[:-1] if self.group_by else ()), *label)
        if not self._timestamps:
            return tuple(values)
        return tuple(_to_spark(v, t) for v, t in zip(values, self.types, strict=True))


def key_name(df: DataFrame) -> str:
    """A fresh column name for the cell key of ``df``."""
    return internal_names(df, "cell")["cell"]


def _label_value(value: Any, data_type: T.DataType) -> Any:
    if isinstance(data_type, T.TimestampType) and isinstance(value, _dt.datetime):
        return value.astimezone(_dt.timezone.utc)  # a naive value is local time, as PySpark
    return value


def _fits(value: Any, data_type: T.DataType) -> bool:
    """Whether a Python value can be a value of a label column of ``data_type``."""
    if isinstance(data_type, T.BooleanType):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(data_type, (T.FloatType, T.DoubleType, T.DecimalType)):
        return isinstance(value, (int, float, decimal.Decimal))
    if isinstance(data_type, T.StringType):
        return isinstance(value, str)
    if isinstance(data_type, T.DateType):
        return isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)
    return isinstance(value, _dt.datetime)  # timestamp, timestamp_ntz (LABEL_TYPES)


def _part(column: Column, data_type: T.DataType) -> Column:
    if isinstance(data_type, T.TimestampType):
        return F.unix_micros(column)
    return column


def _literal(value: Any, data_type: T.DataType) -> Column:
    """A key part's value as a literal of its Spark type (:func:`_spark_type`). A date and a
    ``timestamp_ntz`` go as ISO text: classic PySpark makes a ``date`` literal through
    ``java.sql.Date``, which refuses years before 1000 and shifts the days that the Julian
    calendar lacks (1582-10-05 to 14), and a naive ``datetime`` literal is local time, which a
    daylight-saving hour shifts."""
    if value is not None and isinstance(data_type, (T.DateType, T.TimestampNTZType)):
        return F.lit(value.isoformat()).cast(data_type)
    return F.lit(value).cast(_spark_type(data_type))


def _signless(part: Column, data_type: T.DataType) -> Column:
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        return F.when(part == 0, F.lit(0.0).cast(data_type)).otherwise(part)
    return part


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
