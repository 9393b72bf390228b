"""Planning on the cluster: the per-cell plan of a run with many cells, as a Spark table.

A run with ``group_by`` and more than :data:`CLUSTER_CELLS` (group, class) cells is planned by
Spark, not by Python on the driver: the cell counts stay a table (one row per cell), each group's
targets are window expressions over it, and so are each cell's action and design
(:mod:`spark_upsample.engine.designs`). What reaches the driver is a constant handful of numbers
per run: totals, the first group that breaks a rule (whose few cells the driver then checks with
the same Python code as a small run, so the error reads the same), and the plan's per-cell
entries only when asked for (:class:`spark_upsample.engine.plan.Deferred`).

The table's columns: the cell key's parts ``k0``, ``k1``, ... (:meth:`CellKeys.parts`: the group
columns, then the label column(s)), ``n`` (rows of the cell), then what each step adds (``id``,
``classes``, ``target``, ``invalid``, ``keep``, ``draws``).

Targets follow :mod:`spark_upsample.engine.strategy` per group: ``"auto"`` and the other strings,
a float ratio, a dict, and :func:`~spark_upsample.engine.strategy.common_targets`' forms;
majority and minority ties go to the smallest label, as there. A callable strategy is Python by
nature and keeps the driver's planning.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.frames import materialized

CLUSTER_CELLS = 10_000  # more cells than this (with group_by): planned by Spark
BROADCAST_CELLS = 1_000_000  # per-cell tables up to this many rows are broadcast, else shuffled
_ID_SALTS = 8
_HUGE = 2.0**62  # targets are capped here before a cast to a long (ANSI mode refuses overflow)


@dataclass(frozen=True)
class Counted:
    """What the driver learns of a cell table from one aggregation.

    Attributes
    ----------
    cells : cells with a non-null label
    rows : their rows
    null_rows : rows with a null label (in any label column)
    nan_label_rows, nan_group_rows : rows with NaN in a label, or a group column
    repeated_key_cells : cells in which a ``key_cols`` value occurs more than once (null labels
        aside)
    null_group_cells : cells with a null in a group column
    unique_ids : whether the table's ``id`` (:func:`cell_id`) tells all its cells apart
    """

    cells: int
    rows: int
    null_rows: int
    nan_label_rows: int
    nan_group_rows: int
    repeated_key_cells: int
    null_group_cells: int
    unique_ids: bool


def parts(keys: CellKeys) -> list[str]:
    """The names of the key's part columns in a cell table: ``k0``, ``k1``, ..."""
    return [f"k{i}" for i in range(len(keys.types))]


def group_parts(keys: CellKeys) -> list[Column]:
    """The group columns' parts of a cell table."""
    return [F.col(p) for p in parts(keys)[: len(keys.group_by)]]


def label_parts(keys: CellKeys) -> list[Column]:
    """The label column(s)' parts of a cell table."""
    return [F.col(p) for p in parts(keys)[len(keys.group_by) :]]


def key_column(keys: CellKeys) -> Column:
    """The cell key of a cell table's row, as :meth:`CellKeys.column` gives it for the input's."""
    columns = [F.col(p) for p in parts(keys)]
    if len(columns) == 1:
        return columns[0]
    return F.struct(*[c.alias(f"k{i}") for i, c in enumerate(columns)])


def counted(table: DataFrame, keys: CellKeys) -> Counted:
    """The numbers of :class:`Counted`, from a count table (columns ``k0``..., ``n``, and with
    ``key_cols`` ``most``, the most rows that share a key value), in one job."""
    label = label_parts(keys)
    null, null_group = F.lit(False), F.lit(False)
    for part in label:
        null = null | part.isNull()
    for part in group_parts(keys):
        null_group = null_group | part.isNull()
    nan_label, nan_group = F.lit(False), F.lit(False)
    for i, (name, t) in enumerate(zip(parts(keys), keys.types, strict=True)):
        if isinstance(t, (T.FloatType, T.DoubleType)):
            if i < len(keys.group_by):
                nan_group = nan_group | F.isnan(F.col(name))
            else:
                nan_label = nan_label | F.isnan(F.col(name))
    n = F.col("n")
    repeated = (
        F.count(F.when(~null & (F.col("most") > 1), 1))
        if "most" in table.columns
        else F.lit(0).cast("long")
    )
    row = table.agg(
        F.count(F.when(~null, 1)),
        F.coalesce(F.sum(F.when(~null, n)), F.lit(0)),
        F.coalesce(F.sum(F.when(null, n)), F.lit(0)),
        F.coalesce(F.sum(F.when(~null & nan_label, n)), F.lit(0)),
        F.coalesce(F.sum(F.when(~null & nan_group, n)), F.lit(0)),
        repeated,
        F.count(F.when(null_group, 1)),
        F.count(F.lit(1)) == F.count_distinct("id"),
    ).first()
    assert row is not None  # an aggregation without grouping gives one row
    cells, rows, nulls, nan_labels, nan_groups, repeated_cells, null_groups = (
        int(v) for v in row[:-1]
    )
    return Counted(
        cells, rows, nulls, nan_labels, nan_groups, repeated_cells, null_groups, bool(row[-1])
    )


def labels(table: DataFrame, keys: CellKeys) -> set[Any]:
    """Every class of ``table`` (null labels aside), as the plan keys it: for a dict strategy,
    whose keys Python matches to them, and its error message that lists them."""
    rows = table.select(*label_parts(keys)).distinct().collect()
    width = len(keys.group_by)
    return {
        keys.label_of(keys.from_parts((*[None] * width, *r)))
        for r in rows
        if not any(v is None for v in r)
    }


def cell_id(keys: CellKeys, salt: int = 0) -> Column:
    """A 64-bit ``id`` of a cell table's row: a hash of its key's parts. The cut statistics group
    copies by it: Spark hashes a long several times faster than a struct key, and a hash needs
    no ordering of the cells (a dense number would be a sort in one task)."""
    return F.xxhash64(F.lit(salt), *[F.col(p) for p in parts(keys)])


def with_ids(table: DataFrame, keys: CellKeys, unique: bool) -> DataFrame:
    """The rows of ``table`` (whose ``id`` is :func:`cell_id`, ``unique`` or not) that have a
    non-null label, each with a unique ``id``: in the unlikely case that two cells share one,
    hashed again with other salts (materialised, and checked, each time)."""
    valid = table.where(_all_not_null(label_parts(keys)))
    salt = 0
    while not unique:
        salt += 1
        if salt == _ID_SALTS:
            raise RuntimeError(
                f"no unique cell ids after {_ID_SALTS} salts; please report this bug"
            )
        valid = materialized(valid.withColumn("id", cell_id(keys, salt)))
        row = valid.agg(F.count(F.lit(1)) == F.count_distinct("id")).first()
        unique = row is not None and bool(row[0])
    return valid


def _all_not_null(columns: list[Column]) -> Column:
    test = columns[0].isNotNull()
    for c in columns[1:]:
        test = test & c.isNotNull()
    return test


def with_targets(
    table: DataFrame, keys: CellKeys, method: str, strategy: Any, max_ratio: float | None
) -> DataFrame:
    """The table with each group's number of classes (``classes``), each cell's ``target``,
    and ``invalid``: true where the Python planning of the cell's group
    (:func:`spark_upsample.engine.pipeline.cell_targets`) raises, as far as Spark can tell
    (the driver replays that group to raise the same error).

    ``strategy`` is a string, a float, a dict keyed by class (after :meth:`CellKeys.labels`),
    or for ``method="resample"`` a target count or name; anything else (a callable) is not
    planned here.
    """
    group = Window.partitionBy(*group_parts(keys))
    label = label_parts(keys)
    n = F.col("n")
    by_size = group.orderBy(n.asc(), *[c.asc() for c in label])
    ranked = table.select(
        "*",
        F.count(F.lit(1)).over(group).alias("classes"),
        F.max(n).over(group).alias("_max"),
        F.min(n).over(group).alias("_min"),
        F.sum(n).over(group).alias("_sum"),
        F.row_number().over(group.orderBy(n.desc(), *[c.asc() for c in label])).alias("_desc"),
        F.row_number().over(by_size).alias("_asc"),
    )
    classes = F.col("classes")
    # the middle sizes, for a median: the (k // 2 + 1)-th smallest, and the (k // 2)-th
    mid = F.expr("classes div 2")
    ranked = ranked.select(
        "*",
        F.sum(F.when(F.col("_asc") == mid + 1, n)).over(group).alias("_upper"),
        F.sum(F.when(F.col("_asc") == mid, n)).over(group).alias("_lower"),
    )
    target, invalid = _targets(keys, method, strategy)
    if max_ratio is not None and max_ratio < 1e300:  # an int past a double's range: no limit
        invalid = invalid | (target.cast("double") > F.lit(float(max_ratio)) * n.cast("double"))
    single = classes < 2
    targeted = ranked.select(
        "*",
        F.when(single, n).otherwise(target).cast("long").alias("target"),
        (~single & invalid).alias("invalid"),
    )
    return targeted.drop("_max", "_min", "_sum", "_desc", "_asc", "_upper", "_lower")


def _targets(keys: CellKeys, method: str, strategy: Any) -> tuple[Column, Column]:
    """A cell's target within a group of two or more classes, and whether planning it fails."""
    n, classes = F.col("n"), F.col("classes")
    n_max, n_min = F.col("_max"), F.col("_min")
    majority, minority = F.col("_desc") == 1, F.col("_asc") == 1
    fails = F.lit(True)  # what the driver's replay turns into the error it raises
    if method == "resample":
        value = _common_target(strategy)
        return (n, fails) if value is None else (value, F.lit(False))
    over = method == "upsample"
    if isinstance(strategy, str):
        excluded = _excluded(strategy, over, majority, minority)
        if excluded is None:
            return n, fails
        bound = F.greatest(n, n_max) if over else F.least(n, n_min)
        return F.when(excluded, n).otherwise(bound), F.lit(False)
    if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
        ratio = float(strategy)
        if not 0.0 < ratio <= 1.0:
            return n, fails
        if over:  # imbalanced-learn's int(n_majority * ratio - n) rows to add
            target = F.when(majority, n).otherwise(
                n + (n_max.cast("double") * ratio - n.cast("double")).cast("long")
            )
        else:  # and int(n_minority / ratio) rows of the other class
            wanted = F.least(n_min.cast("double") / ratio, F.lit(_HUGE))  # casts to a long
            target = F.when(minority, n).otherwise(wanted.cast("long"))
        wrong = (target < n) if over else (target > n)
        return target, (classes != 2) | wrong
    if isinstance(strategy, Mapping):
        target, bad = n, F.lit(False)
        for label, value in strategy.items():
            match = keys.label_equals(label_parts(keys), label)
            if match is None:
                continue  # names no class: the driver refuses it before (unknown classes)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                bad = bad | match
                continue
            capped = min(int(value), int(_HUGE))  # above any count: still refused, as asked
            target = F.when(match, F.lit(capped).cast("long")).otherwise(target)
        wrong = (target < n) if over else (target > n)
        return target, bad | wrong
    return n, fails


def _excluded(strategy: str, over: bool, majority: Column, minority: Column) -> Column | None:
    """The classes a string strategy leaves as they are (see
    :func:`~spark_upsample.engine.strategy.over_sampling_targets`), or None for an unknown one."""
    keeps, shrinks = (majority, minority) if over else (minority, majority)
    named = {
        "auto": keeps,
        f"not {'majority' if over else 'minority'}": keeps,
        f"not {'minority' if over else 'majority'}": shrinks,
        "minority" if over else "majority": ~shrinks,
        "all": F.lit(False),
    }
    return named.get(strategy)


def _common_target(target: Any) -> Column | None:
    """:func:`~spark_upsample.engine.strategy.common_targets`' count for a group, or None for a
    target it refuses."""
    if isinstance(target, str):
        mean = F.expr("_sum div classes")
        median = F.when(F.col("classes") % 2 == 1, F.col("_upper")).otherwise(
            F.expr("(_lower + _upper) div 2")
        )
        named = {"majority": F.col("_max"), "minority": F.col("_min"), "mean": mean}
        return {**named, "median": median}.get(target)
    if isinstance(target, numbers.Integral) and not isinstance(target, bool) and int(target) >= 1:
        return F.lit(min(int(target), int(_HUGE))).cast("long")
    return None


def with_actions(table: DataFrame, keep_originals: bool, replacement: bool) -> DataFrame:
    """The table with each cell's ``keep`` (original rows kept once) and ``draws`` (rows drawn
    with replacement), as :func:`spark_upsample.engine.pipeline._action` decides them."""
    n, target = F.col("n"), F.col("target")
    zero = F.lit(0).cast("long")
    up_keep, up_draws = (n, target - n) if keep_originals else (zero, target)
    down_keep, down_draws = (zero, target) if replacement else (target, zero)
    keep = F.when(target == n, n).when(target > n, up_keep).otherwise(down_keep)
    draws = F.when(target == n, zero).when(target > n, up_draws).otherwise(down_draws)
    return table.select("*", keep.alias("keep"), draws.alias("draws"))


def first_invalid_group(table: DataFrame, keys: CellKeys) -> DataFrame:
    """The cells of the first group (in Spark's order of the group values) with an
    ``invalid`` cell: no rows when every group plans."""
    names = parts(keys)[: len(keys.group_by)]
    first = (
        table.where(F.col("invalid"))
        .select(*names)
        .orderBy(*names)
        .limit(1)
        .toDF(*[f"_{p}" for p in names])
    )
    on = [F.col(p).eqNullSafe(F.col(f"_{p}")) for p in names]
    return table.join(first, on=functools.reduce(lambda a, b: a & b, on), how="left_semi")
