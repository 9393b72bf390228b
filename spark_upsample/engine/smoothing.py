"""Smoothed bootstrap: imbalanced-learn's ``shrinkage`` for drawn copies, on Spark.

A drawn copy of a row gets Gaussian noise on each chosen numeric column ``j``:
``x_j + z * shrinkage[class] * h * std_j(class)``, where ``std_j(class)`` is the population
standard deviation of column ``j`` over the class's rows,
``h = (4 / ((d + 2) * n)) ** (1 / (d + 4))`` is the bandwidth factor of imbalanced-learn's
``RandomOverSampler`` with ``d`` the number of chosen columns and ``n`` the number of input rows
(of the group, with ``group_by``), and ``z`` a standard normal. Kept original rows are not
changed. The standard deviations come from one aggregation that reads only the key, identity and
chosen columns, summed in a fixed order (:func:`class_stds`); ``z`` is a Box-Muller transform of
two hashes of the seed and the copy's identity, so the noise is the same on every run with the
seed.
A NaN or null value in a chosen column is refused (:class:`InvalidDataError`): one would make
the class's standard deviation, so every smoothed copy of the class, NaN. That same aggregation
counts them.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.draws import KEY_SPACE
from spark_upsample.engine.frames import col, internal_names
from spark_upsample.engine.sampler import KEEP_ENTRY
from spark_upsample.errors import InvalidDataError, InvalidParameterError

NUMERIC_TYPES = (T.FloatType, T.DoubleType)
BUCKETS = 1024  # identity buckets of class_stds: partial sums merged in a fixed order
_NOISE_STREAM = 64  # streams 64, 65, ...: two per chosen column


def check_shrinkage(df: DataFrame, shrinkage: Any, columns: Sequence[str]) -> None:
    """Raise :class:`InvalidParameterError` for a bad ``shrinkage`` / ``shrinkage_cols`` pair."""
    if shrinkage is None:
        if columns:
            raise InvalidParameterError("shrinkage_cols is set but shrinkage is not; give both.")
        return
    factors = shrinkage.values() if isinstance(shrinkage, Mapping) else [shrinkage]
    for factor in factors:
        if (
            isinstance(factor, bool)
            or not isinstance(factor, numbers.Real)
            or not float(factor) >= 0  # NaN too
        ):
            raise InvalidParameterError(
                "shrinkage must be a number >= 0 or a dict {class: number >= 0}. "
                f"Got {shrinkage!r} instead."
            )
    if not columns:
        raise InvalidParameterError(
            "shrinkage needs shrinkage_cols: the numeric columns to smooth."
        )
    for name in columns:
        data_type = df.schema[name].dataType
        if not isinstance(data_type, NUMERIC_TYPES):
            raise InvalidParameterError(
                f"shrinkage_cols: column {name!r} has type {data_type.simpleString()}; only float "
                "and double columns can be smoothed."
            )


def bandwidth(n_features: int, n_samples: int) -> float:
    """imbalanced-learn's smoothing constant ``(4 / ((d + 2) * n)) ** (1 / (d + 4))``."""
    # float(): a float to a float power may be complex; not here, the base is positive.
    return float((4 / ((n_features + 2) * n_samples)) ** (1 / (n_features + 4)))


def smoothed(
    out: DataFrame,
    df: DataFrame,
    keys: CellKeys,
    counts: dict[Any, int],
    drawn_keys: set[Any],
    shrinkage: float | Mapping[Any, float],
    columns: Sequence[str],
    detail: dict[str, str],
    seed: int,
    identity: Column,
) -> DataFrame:
    """``out`` with noise on ``columns`` of its drawn copies (see the module docstring).

    ``df`` is the resampler's input (to measure the standard deviations), ``keys`` its cells
    (by label, or by group and label), ``detail`` the sampler's detail columns, ``identity``
    the row identity column of ``df``.

    Raises
    ------
    InvalidParameterError
        A dict ``shrinkage`` without a factor for a class that gets drawn copies.
    InvalidDataError
        NaN or null values in ``columns`` (counted in the aggregation of the standard deviations).
    """
    grouped = bool(keys.group_by)

    def label_of(key: Any) -> Any:
        return key[-1] if grouped else key

    if isinstance(shrinkage, Mapping):
        missing = sorted({repr(label_of(k)) for k in drawn_keys if label_of(k) not in shrinkage})
        if missing:
            raise InvalidParameterError(
                f"shrinkage has no factor for the resampled class(es) {', '.join(missing)}."
            )
    rows_in: dict[tuple[Any, ...], int] = {}
    for k, n in counts.items():
        group = tuple(k[:-1]) if grouped else ()
        rows_in[group] = rows_in.get(group, 0) + n
    stats = class_stds(df, keys.column(), columns, identity).collect()
    _check_numbers(stats, columns)
    stds = {keys.to_python(r[0]): list(r[1 : 1 + len(columns)]) for r in stats}
    names = internal_names(out, "skey", *[f"scale{j}" for j in range(len(columns))])
    table_rows = []
    for k in drawn_keys:
        factor = shrinkage[label_of(k)] if isinstance(shrinkage, Mapping) else shrinkage
        h = bandwidth(len(columns), rows_in[tuple(k[:-1]) if grouped else ()])
        table_rows.append((k, *[float(factor * h * s) for s in stds[k]]))
    fields = [T.StructField(names[f"scale{j}"], T.DoubleType(), False) for j in range(len(columns))]
    table = keys.table(df.sparkSession, table_rows, fields, names["skey"])
    joined = out.join(
        F.broadcast(table), on=keys.column().eqNullSafe(F.col(names["skey"])), how="left"
    )
    is_copy = F.col(detail["entry"]) != KEEP_ENTRY
    for j, name in enumerate(columns):
        noise = _standard_normal(seed, j, detail) * F.col(names[f"scale{j}"])
        value = F.when(is_copy & F.col(names["skey"]).isNotNull(), col(name) + noise).otherwise(
            col(name)
        )
        joined = joined.withColumn(name, value.cast(df.schema[name].dataType))
    return joined.select(*[col(c) for c in out.columns])


def _check_numbers(stats: list[Row], columns: Sequence[str]) -> None:
    """Raise :class:`InvalidDataError` naming the columns of :func:`class_stds` rows ``stats``
    that hold NaN or null values, with their counts over every class."""
    missing = {name: sum(r[1 + len(columns) + j] for r in stats) for j, name in enumerate(columns)}
    found = ", ".join(f"{n} in {name!r}" for name, n in missing.items() if n)
    if found:
        raise InvalidDataError(
            f"shrinkage_cols: NaN or null values ({found}); a smoothed column needs a number in "
            "every row. Fill or filter them first, or leave the column out of shrinkage_cols."
        )


def class_stds(df: DataFrame, key: Column, columns: Sequence[str], identity: Column) -> DataFrame:
    """One row per class key: the key, then the population standard deviation of each column
    (null where the class has no non-null value; NaN if it has a NaN), bit for bit the same on
    every run, then the number of the class's NaN or null values of each column.

    Floating-point sums depend on their order, and a plain ``stddev_pop`` adds in the order of
    the input partitions and of the shuffle's arrival. Here the rows are put into
    :data:`BUCKETS` buckets by their ``identity`` (:mod:`spark_upsample.engine.identity`), each
    bucket's count, mean and sum of squared deviations is computed over its values in identity order
    (Welford's update), and the buckets are merged in bucket order (Chan et al.'s pairwise
    update), by higher-order functions on sorted lists. The result depends on the rows and
    their identities only: not on the partitioning when the identity does not.
    """
    missing = [f"missing{j}" for j in range(len(columns))]
    names = internal_names(df, "bucket", "values", "parts", "key", *missing)
    key_col, bucket = F.col(names["key"]), F.col(names["bucket"])
    start = F.struct(
        F.lit(0).cast("long").alias("n"), F.lit(0.0).alias("mean"), F.lit(0.0).alias("m2")
    )
    values = F.array_sort(
        F.collect_list(
            F.struct(
                identity.alias("id"),
                *[col(c).cast("double").alias(f"v{j}") for j, c in enumerate(columns)],
            )
        )
    )
    per_bucket = df.groupBy(
        key.alias(names["key"]), F.pmod(identity, F.lit(BUCKETS)).alias(names["bucket"])
    ).agg(
        values.alias(names["values"]),
        *[
            F.count(F.when(col(c).isNull() | F.isnan(col(c)), 1)).alias(f"m{j}")
            for j, c in enumerate(columns)
        ],
    )
    moments = per_bucket.select(
        key_col,
        bucket,
        *[
            F.aggregate(F.col(names["values"]), start, _welford(f"v{j}")).alias(f"s{j}")
            for j in range(len(columns))
        ],
        *[f"m{j}" for j in range(len(columns))],
    )
    merged = moments.groupBy(key_col).agg(
        F.array_sort(
            F.collect_list(F.struct(bucket, *[F.col(f"s{j}") for j in range(len(columns))]))
        ).alias(names["parts"]),
        *[F.sum(f"m{j}").alias(names[m]) for j, m in enumerate(missing)],
    )
    return merged.select(
        key_col,
        *[
            F.aggregate(
                F.col(names["parts"]),
                start,
                _merge_column(f"s{j}"),
                lambda acc: F.when(acc["n"] > 0, F.sqrt(acc["m2"] / acc["n"])),
            )
            for j in range(len(columns))
        ],
        *[F.col(names[m]) for m in missing],
    )


def _welford(field: str) -> Callable[[Column, Column], Column]:
    """Welford's update of count, mean and sum of squared deviations by one value (at ``field``
    of a list element; a null is skipped)."""

    def step(acc: Column, element: Column) -> Column:
        x = element[field]
        n = acc["n"] + 1
        delta = x - acc["mean"]
        mean = acc["mean"] + delta / n
        updated = F.struct(
            n.alias("n"), mean.alias("mean"), (acc["m2"] + delta * (x - mean)).alias("m2")
        )
        return F.when(x.isNull(), acc).otherwise(updated)

    return step


def _merge_column(field: str) -> Callable[[Column, Column], Column]:
    """The merge step of :func:`class_stds` for one column's moments, at ``field`` of a part."""
    return lambda acc, part: _merge_moments(acc, part[field])


def _merge_moments(acc: Column, part: Column) -> Column:
    """Count, mean and sum of squared deviations of two sets of values, from each set's."""
    n = acc["n"] + part["n"]
    delta = part["mean"] - acc["mean"]
    merged = F.struct(
        n.alias("n"),
        (acc["mean"] + delta * part["n"] / n).alias("mean"),
        (acc["m2"] + part["m2"] + delta * delta * acc["n"] * part["n"] / n).alias("m2"),
    )
    return F.when(part["n"] == 0, acc).otherwise(merged)


def _standard_normal(seed: int, column: int, detail: dict[str, str]) -> Column:
    """A standard normal per copy and column: Box-Muller of two hash uniforms in (0, 1)."""
    identity = [F.col(detail[r]) for r in ("row", "entry", "copy")]

    def uniform(stream: int) -> Column:
        bits = F.shiftrightunsigned(
            F.xxhash64(F.lit(seed).cast("long"), F.lit(stream), *identity), 1
        )
        return (bits.cast("double") + 0.5) / float(KEY_SPACE)

    u1 = uniform(_NOISE_STREAM + 2 * column)
    u2 = uniform(_NOISE_STREAM + 2 * column + 1)
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)
