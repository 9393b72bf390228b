"""The resampling pipeline behind :func:`upsample`, :func:`downsample` and :func:`resample`.

One run: validate, count rows per class (per group and class with ``group_by``) reading only
those columns, compute every class's target (in plain Python, or with ``group_by`` and more than
:data:`~spark_upsample.engine.cell_table.CLUSTER_CELLS` cells by Spark: no per-cell Python, see
:mod:`spark_upsample.engine.cell_table`), then either draw exactly that many rows
(:func:`spark_upsample.engine.sampler.draw_exact`: one pass, no shuffle, no sort) or, in weights
mode, give each input row the weight ``target / count`` of its class. Optional finishing
steps: a smoothed bootstrap of numeric columns, a lineage column, a deterministic shuffle.
"""

from __future__ import annotations

import logging
import math
import numbers
import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyspark
from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine import cell_table
from spark_upsample.engine.cell_table import BROADCAST_CELLS, CLUSTER_CELLS
from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.frames import (
    check_columns,
    check_label_rows,
    check_label_type,
    check_null_policy,
    clean_counts,
    col,
    internal_names,
    label_columns,
    materialized,
)
from spark_upsample.engine.identity import RowIdentity, duplicate_key_error, row_identity
from spark_upsample.engine.plan import ClassPlan, Deferred, ResamplePlan, prior_factors
from spark_upsample.engine.sampler import KEEP_ENTRY, ClassAction, draw_exact, draw_exact_table
from spark_upsample.engine.smoothing import check_shrinkage, smoothed
from spark_upsample.engine.strategy import (
    DEFAULT_MAX_RATIO,
    check_max_ratio,
    check_ratios,
    common_targets,
    ordered_classes,
    over_sampling_targets,
    under_sampling_targets,
)
from spark_upsample.errors import (
    InvalidLabelError,
    InvalidParameterError,
    InvalidStrategyError,
    SingleClassError,
)

log = logging.getLogger(__name__)

MAX_SEED = 2**63 - 1
METHODS = ("upsample", "downsample", "resample")
ORIGINAL, COPY = "original", "copy"
_SHUFFLE_STREAM = 3


class Resampled(NamedTuple):
    """The resampled DataFrame and the plan that made it."""

    df: DataFrame
    plan: ResamplePlan


@dataclass(frozen=True)
class Options:
    """Everything a run needs besides the frame and its label; see :func:`resample_with_plan`."""

    method: str
    sampling_strategy: Any = "auto"
    seed: int | None = None
    keep_originals: bool = False
    replacement: bool = False
    null_labels: str = "error"
    max_ratio: float | None = DEFAULT_MAX_RATIO
    checkpoint_input: bool = False
    group_by: Sequence[str] = ()
    weight_col: str | None = None
    lineage_col: str | None = None
    shrinkage: float | Mapping[Any, float] | None = None
    shrinkage_cols: Sequence[str] = ()
    shuffle: bool | int = False
    key_cols: Sequence[str] | None = None
    group_by_names: tuple[str, ...] = field(init=False, default=())
    key_col_names: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "group_by_names", column_names("group_by", self.group_by))
        object.__setattr__(self, "key_col_names", column_names("key_cols", self.key_cols or ()))


def run(df: DataFrame, label_col: str | Sequence[str], options: Options) -> Resampled:
    """Validate, count, plan and build the resampled frame (see the module docstring)."""
    group_by = options.group_by_names
    label = label_columns(label_col)
    _validate(df, label, options)
    seed = resolve_seed(options.seed)
    columns = list(df.columns)
    identity = row_identity(df, options.key_col_names)
    row = internal_names(df, "row")["row"]
    df = df.select("*", identity.column.alias(row))
    if options.checkpoint_input:
        df = df.localCheckpoint(eager=True)

    keys = CellKeys.of(df, label, group_by)
    ctx = _Run(df, keys, options, seed, identity, F.col(row), columns)
    if group_by and _plannable_on_cluster(options):
        query = count_query(df, keys, options.key_col_names)
        table = materialized(query.withColumn("id", cell_table.cell_id(keys)))
        head = table.drop("id").limit(CLUSTER_CELLS + 1).collect()
        if len(head) > CLUSTER_CELLS:
            counted = cell_table.counted(table, keys)
            if not counted.null_group_cells:
                return _planned_on_cluster(ctx, table, counted)
            # A null group: Python orders such groups by their repr (None does not compare),
            # which decides which group's error is raised; plan on the driver, in that order.
            head = table.drop("id").collect()
        raw = read_counts(head, keys, options.key_col_names)[0]
    else:
        raw = count_cells(df, keys, options.key_col_names)
    counts, nulls = clean_cells(raw, keys, options.null_labels)
    if nulls:
        df = df.where(keys.not_null())
    targets, single = cell_targets(counts, options, keys)

    if options.weight_col:
        out, sizes = _weighted(df, keys, counts, targets, options.weight_col), {}
        actions = {k: ClassAction(keep=n) for k, n in counts.items()}
    else:
        actions = {k: _action(counts[k], targets[k], options) for k in counts}
        shrinkage = options.shrinkage
        need_detail = bool(options.lineage_col or shrinkage is not None or options.shuffle)
        drawn = draw_exact(df, keys, ctx.identity, counts, actions, seed, detail=need_detail)
        out, sizes = drawn.df, drawn.sample_sizes
        if shrinkage is not None:
            drawn_keys = {k for k, a in actions.items() if a.draws}
            if isinstance(shrinkage, Mapping):
                shrinkage = keys.labels(shrinkage)
            out = smoothed(
                out,
                df,
                keys,
                counts,
                drawn_keys,
                shrinkage,
                column_names("shrinkage_cols", options.shrinkage_cols),
                drawn.detail,
                seed,
                ctx.identity,
            )
        out = _finished(out, drawn.detail, options, seed)
    plans = class_plans(keys, counts, targets, actions, sizes)
    return ctx.resampled(out, plans, tuple(single), nulls, None)


@dataclass(frozen=True)
class _Run:
    """What every step of one run shares."""

    df: DataFrame
    keys: CellKeys
    options: Options
    seed: int
    row_identity: RowIdentity
    identity: Column
    columns: list[str]

    def resampled(
        self,
        out: DataFrame,
        classes: Sequence[ClassPlan],
        single: Sequence[tuple[Any, ...]],
        nulls: int,
        totals: tuple[int, int] | None,
    ) -> Resampled:
        """The result: ``out`` with the input's columns (and the weight or lineage column),
        and its plan."""
        options = self.options
        extra = [c for c in (options.weight_col, options.lineage_col) if c]
        plan = ResamplePlan(
            method=options.method,
            label_col=self.keys.label_col,
            seed=self.seed,
            sampling_strategy=describe_strategy(options.sampling_strategy),
            keep_originals=options.keep_originals,
            replacement=options.replacement,
            null_labels_dropped=nulls,
            classes=classes,
            group_by=options.group_by_names,
            weight_col=options.weight_col,
            single_class_groups=single,
            row_identity=self.row_identity.kind,
            key_cols=options.key_col_names,
            row_identity_note=self.row_identity.note,
            totals=totals,
        )
        log.info(
            "%s plan: seed=%d, %d cell(s), %s -> %s rows, row identity: %s",
            options.method,
            self.seed,
            len(classes),
            f"{plan.rows_before:,}",
            f"{plan.rows_after:,}",
            self.row_identity.described,
        )
        return Resampled(out.select(*[col(c) for c in self.columns + extra]), plan)


def class_plans(
    keys: CellKeys,
    counts: Mapping[Any, int],
    targets: Mapping[Any, int],
    actions: Mapping[Any, ClassAction],
    sizes: Mapping[Any, int],
) -> tuple[ClassPlan, ...]:
    """The plan's entry of every cell, in cell order."""
    grouped = bool(keys.group_by)
    factors = prior_factors(counts, targets, grouped=grouped)
    return tuple(
        ClassPlan(
            label=keys.label_of(k),
            count_before=counts[k],
            target=targets[k],
            kept=actions[k].keep,
            draws=actions[k].draws,
            sample_size=sizes.get(k),
            group=tuple(k[:-1]) if grouped else None,
            prior_factor=factors[k],
        )
        for k in ordered_classes(counts)
    )


def _finished(out: DataFrame, detail: dict[str, str], options: Options, seed: int) -> DataFrame:
    """The drawn rows with the lineage column and in shuffled order, when asked."""
    if options.lineage_col:
        entry = F.col(detail["entry"])
        out = out.withColumn(
            options.lineage_col, F.when(entry == KEEP_ENTRY, ORIGINAL).otherwise(COPY)
        )
    if options.shuffle:
        out = _shuffled(out, detail, seed, options.shuffle)
    return out


def _plannable_on_cluster(options: Options) -> bool:
    """Whether a run's cells can be planned by Spark (:mod:`spark_upsample.engine.cell_table`):
    not with a callable strategy (Python, called per group) nor with shrinkage (its bandwidths
    are per-cell Python)."""
    strategy = options.sampling_strategy
    return options.shrinkage is None and (isinstance(strategy, Mapping) or not callable(strategy))


def _planned_on_cluster(ctx: _Run, table: DataFrame, counted: cell_table.Counted) -> Resampled:
    """:func:`run` for more than :data:`CLUSTER_CELLS` cells, planned by Spark from the count
    ``table`` (:func:`count_query` with a ``id``, materialised; ``counted`` its numbers): the
    same checks and errors, targets, actions and rows, with the plan's per-cell entries
    :class:`Deferred`. A dict strategy reads the distinct classes to the driver (one value per
    class, not per cell), to match its keys as Python does (``np.int64(1)`` names class 1)."""
    df, keys, options = ctx.df, ctx.keys, ctx.options
    if counted.repeated_key_cells:
        _raise_repeated_key(table, keys, options.key_col_names)
    check_label_rows(
        keys.label_col,
        options.null_labels,
        counted.null_rows,
        counted.nan_label_rows,
        counted.rows,
    )
    _check_nan_groups(counted.nan_group_rows, keys)
    if counted.null_rows:
        df = df.where(keys.not_null())
    strategy = options.sampling_strategy
    by_class = strategy
    if isinstance(strategy, Mapping):
        strategy = keys.labels(strategy)
        labels = cell_table.labels(table, keys)
        _check_dict_classes(strategy, labels)
        by_class = {c: strategy[c] for c in labels if c in strategy}
    targeted = cell_table.with_targets(
        cell_table.with_ids(table, keys, counted.unique_ids),
        keys,
        options.method,
        by_class,
        options.max_ratio,
    )
    planned = materialized(
        cell_table.with_actions(targeted, options.keep_originals, options.replacement)
    )
    _replay_invalid(planned, keys, options, strategy)
    totals = planned.agg(
        F.sum("n"), F.sum("target"), F.count(F.when(F.col("classes") == 1, 1))
    ).first()
    assert totals is not None  # an aggregation without grouping gives one row
    before, after, singles = (int(v) for v in totals)
    sizes = None
    if options.weight_col:
        out = _weighted_table(df, keys, planned, counted.cells, options.weight_col)
    else:
        need_detail = bool(options.lineage_col or options.shuffle)
        drawn = draw_exact_table(
            df, keys, ctx.identity, planned, counted.cells, ctx.seed, detail=need_detail
        )
        out, sizes = _finished(drawn.df, drawn.detail, options, ctx.seed), drawn.size_table
    classes = Deferred(counted.cells, lambda: _table_plans(planned, sizes, keys, options))
    single = Deferred(singles, lambda: _single_groups(planned, keys))
    return ctx.resampled(out, classes, single, counted.null_rows, (before, after))


def _raise_repeated_key(table: DataFrame, keys: CellKeys, key_cols: tuple[str, ...]) -> None:
    """Raise :func:`count_cells`' error for the first cell (in Spark's order) that repeats a
    ``key_cols`` value."""
    valid = cell_table.with_ids(table, keys, unique=True)  # the cells with a label
    first = valid.where(F.col("most") > 1).orderBy(*cell_table.parts(keys)).limit(1)
    read_counts(first.drop("id").collect(), keys, key_cols)  # raises DuplicateKeyError


def _replay_invalid(planned: DataFrame, keys: CellKeys, options: Options, strategy: Any) -> None:
    """Raise the error that the first group Spark marks invalid gets from the Python planning
    of that group alone (:func:`cell_targets`): the same message as a small run's."""
    rows = (
        cell_table.first_invalid_group(planned, keys).select(*cell_table.parts(keys), "n").collect()
    )
    if not rows:
        return
    width = len(keys.types)
    counts = {keys.from_parts(tuple(r[:width]))[-1]: int(r[width]) for r in rows}
    wanted = _class_targets(counts, options.method, strategy, within_group=True)
    check_ratios(counts, wanted, options.max_ratio)
    raise RuntimeError(
        f"the planning of group {rows[0][: len(keys.group_by)]!r} failed on the cluster and not "
        "on the driver; please report this bug"
    )


def _table_plans(
    planned: DataFrame, sizes: DataFrame | None, keys: CellKeys, options: Options
) -> tuple[ClassPlan, ...]:
    """:func:`class_plans` of a table planned on the cluster, read from it."""
    if sizes is None:
        table = planned.withColumn("sample_size", F.lit(None).cast("long"))
    else:
        table = planned.join(sizes, on="id", how="left")
    fields = ("n", "target", "keep", "draws", "sample_size")
    rows = table.select(*cell_table.parts(keys), *fields).collect()
    width = len(keys.types)
    counts, targets, actions, drawn = {}, {}, {}, {}
    for r in rows:
        key = keys.from_parts(tuple(r[:width]))
        n, target, keep, draws, sample_size = r[width:]
        counts[key], targets[key] = int(n), int(target)
        weighted = options.weight_col is not None
        actions[key] = ClassAction(int(n)) if weighted else ClassAction(int(keep), int(draws))
        if sample_size is not None:
            drawn[key] = int(sample_size)
    return class_plans(keys, counts, targets, actions, drawn)


def _single_groups(planned: DataFrame, keys: CellKeys) -> tuple[tuple[Any, ...], ...]:
    """The groups of a table planned on the cluster that hold one class, in group order."""
    rows = planned.where(F.col("classes") == 1).select(*cell_table.parts(keys)).collect()
    groups = [tuple(keys.from_parts(tuple(r))[:-1]) for r in rows]
    return tuple(ordered_classes(groups))


def count_cells(
    df: DataFrame, keys: CellKeys, key_cols: tuple[str, ...], *, null_label_cells: bool = False
) -> dict[Any, int]:
    """Rows per cell key (null labels included), in one job that reads only the key columns
    (and ``key_cols``, whose values must not repeat within a cell).

    Raises
    ------
    DuplicateKeyError
        A ``key_cols`` value that occurs more than once in a cell; the first such cell, in cell
        order, is named with one repeated key and how often it occurs. The cells of rows with a
        null label are checked only with ``null_label_cells`` (a split, where they are a class
        of their own); the resampling functions drop or refuse those rows.
    """
    return count_flagged_cells(df, keys, key_cols, [], null_label_cells=null_label_cells)[0]


def count_flagged_cells(
    df: DataFrame,
    keys: CellKeys,
    key_cols: tuple[str, ...],
    flags: Sequence[Column],
    *,
    null_label_cells: bool = False,
) -> tuple[dict[Any, int], dict[Any, tuple[int, ...]]]:
    """:func:`count_cells`, and per cell how many rows each of ``flags`` (boolean columns of
    ``df``) is true for, in the same job."""
    rows = count_query(df, keys, key_cols, flags).collect()
    return read_counts(rows, keys, key_cols, null_label_cells=null_label_cells)


def count_query(
    df: DataFrame, keys: CellKeys, key_cols: tuple[str, ...], flags: Sequence[Column] = ()
) -> DataFrame:
    """Rows per cell as a query: one row per cell with the key's parts (``k0``, ``k1``, ...:
    flat columns, several times cheaper to collect than a struct), ``n``, one count per flag
    (``f0``, ...), and with ``key_cols`` ``most``, the most rows of the cell that share a key
    value, and ``most_key``, that value."""
    names = internal_names(df, "n", "key")
    flagged = [F.count(F.when(f, 1)).alias(f"f{i}") for i, f in enumerate(flags)]
    parts = [p.alias(f"{names['key']}_{i}") for i, p in enumerate(keys.parts())]
    flat = [f"k{i}" for i in range(len(parts))]
    if not key_cols:
        return (
            df.groupBy(*parts)
            .agg(F.count(F.lit(1)).alias("n"), *flagged)
            .toDF(*flat, "n", *[f"f{i}" for i in range(len(flags))])
        )
    per_key = df.groupBy(*parts, *[col(c) for c in key_cols]).agg(
        F.count(F.lit(1)).alias(names["n"]), *flagged
    )
    n = F.col(names["n"])
    return (
        per_key.groupBy(*[f"{names['key']}_{i}" for i in range(len(parts))])
        .agg(
            F.sum(n).alias("n"),
            *[F.sum(f"f{i}").alias(f"f{i}") for i in range(len(flags))],
            F.max(n).alias("most"),
            F.max_by(F.struct(*[col(c) for c in key_cols]), n).alias("most_key"),
        )
        .toDF(*flat, "n", *[f"f{i}" for i in range(len(flags))], "most", "most_key")
    )


def read_counts(
    rows: Sequence[Row],
    keys: CellKeys,
    key_cols: tuple[str, ...],
    *,
    null_label_cells: bool = False,
) -> tuple[dict[Any, int], dict[Any, tuple[int, ...]]]:
    """The counts and flag counts per cell key from the collected rows of :func:`count_query`.

    Raises
    ------
    DuplicateKeyError
        As :func:`count_cells`.
    """
    width = len(keys.types)
    counts: dict[Any, int] = {}
    flags_of: dict[Any, tuple[int, ...]] = {}
    repeated: dict[Any, tuple[int, Any]] = {}
    for r in rows:
        cell = keys.from_parts(tuple(r[:width]))
        values = r[width:]
        sums = values[1:-2] if key_cols else values[1:]
        counts[cell], flags_of[cell] = int(values[0]), tuple(int(v) for v in sums)
        if key_cols:
            most, key = values[-2], values[-1]
            if most > 1 and (null_label_cells or not keys.is_null(keys.label_of(cell))):
                repeated[cell] = (most, key)
    if repeated:
        first = ordered_classes(repeated)[0]
        most, key = repeated[first]
        raise duplicate_key_error(first, list(key), key_cols, int(most))
    return counts, flags_of


def resolve_seed(seed: Any) -> int:
    """The seed to use: ``seed`` itself if valid, a fresh random one if None.

    Raises
    ------
    InvalidParameterError
        A seed that is not an integer in [0, 2**63).
    """
    if seed is None:
        return secrets.randbelow(2**31)
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= int(seed) <= MAX_SEED
    ):
        raise InvalidParameterError(
            f"seed must be an integer in [0, 2**63) or None. Got {seed!r} instead."
        )
    return int(seed)


def describe_strategy(sampling_strategy: Any) -> str:
    """A short text for the plan and report: the string, number or dict, or the callable's name."""
    if callable(sampling_strategy) and not isinstance(sampling_strategy, dict):
        return f"callable {getattr(sampling_strategy, '__qualname__', repr(sampling_strategy))}"
    return sampling_strategy if isinstance(sampling_strategy, str) else repr(sampling_strategy)


def column_names(what: str, names: Any) -> tuple[str, ...]:
    """``names`` (a column name, or a list of them) as a tuple of names.

    Raises
    ------
    InvalidParameterError
        Anything but non-empty strings; ``what`` names the option in the message.
    """
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Sequence) or not all(isinstance(n, str) and n for n in names):
        raise InvalidParameterError(
            f"{what} must be a list of column names. Got {names!r} instead."
        )
    return tuple(names)


def check_cell_columns(
    df: DataFrame,
    label: str | tuple[str, ...],
    group_by: tuple[str, ...],
    key_cols: tuple[str, ...],
    others: tuple[str, ...] = (),
) -> None:
    """Raise unless the columns that key a run's cells and rows can do so: the label column(s),
    the ``group_by`` and ``key_cols`` columns (and ``others``) are in ``df``, the label and group
    columns have a class type and differ, and no key column is a map.

    Raises
    ------
    MissingColumnError, InvalidParameterError, InvalidLabelError
    """
    label_cols = (label,) if isinstance(label, str) else label
    check_columns(df, *label_cols, *group_by, *others, *key_cols)
    for name in key_cols:
        if isinstance(df.schema[name].dataType, T.MapType):
            raise InvalidParameterError(
                f"key_cols: column {name!r} is a map, which cannot identify rows; use atomic "
                "columns."
            )
    for label_col in label_cols:
        if label_col in group_by:
            raise InvalidParameterError(
                f"group_by must not include the label column {label_col!r}."
            )
        check_label_type(df, label_col)
    for name in group_by:
        check_label_type(df, name, role="group_by")


def _validate(df: DataFrame, label: str | tuple[str, ...], options: Options) -> None:
    if options.checkpoint_input is True and not hasattr(type(df), "localCheckpoint"):
        # Spark Connect before 4.0 (the 3.5 client): checked before anything reaches the server.
        raise InvalidParameterError(
            "checkpoint_input needs DataFrame.localCheckpoint, which Spark Connect has from Spark "
            f"4.0 on; this is PySpark {pyspark.__version__}'s Spark Connect client. Use Spark 4 "
            "or classic Spark, or leave checkpoint_input off."
        )
    if options.method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}. Got {options.method!r}.")
    label_cols = (label,) if isinstance(label, str) else label
    shrinkage_cols = column_names("shrinkage_cols", options.shrinkage_cols)
    check_cell_columns(df, label, options.group_by_names, options.key_col_names, shrinkage_cols)
    overlap = set(shrinkage_cols) & {*label_cols, *options.group_by_names}
    if overlap:
        raise InvalidParameterError(
            f"shrinkage_cols must not include the label or group_by columns; got {sorted(overlap)}."
        )
    check_null_policy(options.null_labels)
    for name in ("keep_originals", "replacement", "checkpoint_input"):
        if not isinstance(getattr(options, name), bool):
            raise InvalidParameterError(
                f"{name} must be True or False. Got {getattr(options, name)!r}."
            )
    check_max_ratio(options.max_ratio)
    for name in ("weight_col", "lineage_col"):
        value = getattr(options, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise InvalidParameterError(f"{name} must be a column name or None. Got {value!r}.")
        if value and value.lower() in {c.lower() for c in df.columns}:
            raise InvalidParameterError(
                f"{name}={value!r} is already a column of the input; choose another name."
            )
    if options.weight_col and (
        options.shrinkage is not None or options.shuffle or options.lineage_col
    ):
        raise InvalidParameterError(
            "weight_col writes each row once: it does not combine with shrinkage, shuffle or "
            "lineage_col."
        )
    shuffle = options.shuffle
    if isinstance(shuffle, bool) is False and (not isinstance(shuffle, int) or shuffle < 1):
        raise InvalidParameterError(
            f"shuffle must be True, False or a number of partitions >= 1. Got {shuffle!r}."
        )
    check_shrinkage(df, options.shrinkage, shrinkage_cols)


def clean_cells(
    raw: dict[Any, int], keys: CellKeys, null_labels: str
) -> tuple[dict[Any, int], int]:
    """The non-null class counts (by class, or by (group, class)) and the null-label rows (a
    null in any label column makes a row's label null)."""
    by_label: Counter[Any] = Counter()
    for key, n in raw.items():
        label = keys.label_of(key)
        by_label[None if keys.is_null(label) else label] += n
    _, nulls = clean_counts(dict(by_label), keys.label_col, null_labels)  # raises on bad labels
    nans = sum(n for key, n in raw.items() if keys.group_by and any(_is_nan(g) for g in key[:-1]))
    _check_nan_groups(nans, keys)
    return {k: n for k, n in raw.items() if not keys.is_null(keys.label_of(k))}, nulls


def _check_nan_groups(nans: int, keys: CellKeys) -> None:
    if nans:
        raise InvalidLabelError(
            f"{nans} row(s) have NaN in a group_by column {list(keys.group_by)}; NaN is not a "
            "group. Replace or filter them."
        )


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def cell_targets(
    counts: dict[Any, int], options: Options, keys: CellKeys
) -> tuple[dict[Any, int], list[tuple[Any, ...]]]:
    """Targets per cell key, and the groups left as they are because they hold one class."""
    strategy = options.sampling_strategy
    if isinstance(strategy, Mapping):
        strategy = keys.labels(strategy)
    if not keys.group_by:
        targets = _class_targets(counts, options.method, strategy)
        check_ratios(counts, targets, options.max_ratio)
        return targets, []
    groups: dict[tuple[Any, ...], dict[Any, int]] = {}
    for key, n in counts.items():
        groups.setdefault(key[:-1], {})[key[-1]] = n
    _check_dict_classes(strategy, {c for g in groups.values() for c in g})
    targets = {}
    single = []
    for group in ordered_classes(groups):
        group_counts = groups[group]
        try:
            wanted = _class_targets(group_counts, options.method, strategy, within_group=True)
        except SingleClassError:
            single.append(group)
            wanted = dict(group_counts)
        check_ratios(group_counts, wanted, options.max_ratio)
        targets.update({(*group, c): t for c, t in wanted.items()})
    return targets, single


def _class_targets(
    counts: dict[Any, int], method: str, strategy: Any, within_group: bool = False
) -> dict[Any, int]:
    if within_group and isinstance(strategy, Mapping):
        strategy = {c: v for c, v in strategy.items() if c in counts}
    targets_of: dict[str, Callable[[dict[Any, int], Any], dict[Any, int]]] = {
        "upsample": over_sampling_targets,
        "downsample": under_sampling_targets,
        "resample": common_targets,
    }
    return targets_of[method](counts, strategy)


def _check_dict_classes(strategy: Any, classes: set[Any]) -> None:
    if isinstance(strategy, Mapping):
        unknown = [c for c in strategy if c not in classes]
        if unknown:
            raise InvalidStrategyError(
                f"sampling_strategy names class(es) {', '.join(repr(c) for c in unknown)} that "
                "are in no group; the classes are "
                f"{', '.join(repr(c) for c in ordered_classes(classes))}."
            )


def _action(count: int, target: int, options: Options) -> ClassAction:
    """How a class of ``count`` rows reaches ``target``."""
    if target == count:
        return ClassAction(keep=count)
    if target > count:
        return (
            ClassAction(keep=count, draws=target - count)
            if options.keep_originals
            else ClassAction(keep=0, draws=target)
        )
    return ClassAction(keep=0, draws=target) if options.replacement else ClassAction(keep=target)


def _weighted(
    df: DataFrame, keys: CellKeys, counts: dict[Any, int], targets: dict[Any, int], weight_col: str
) -> DataFrame:
    """Every row once, with the weight ``target / count`` of its cell (a broadcast join)."""
    name = internal_names(df, "wkey")["wkey"]
    table = keys.table(
        df.sparkSession,
        [(k, targets[k] / counts[k]) for k in counts],
        [T.StructField(weight_col, T.DoubleType(), False)],
        name,
    )
    return df.join(F.broadcast(table), on=keys.column().eqNullSafe(F.col(name)), how="inner")


def _weighted_table(
    df: DataFrame, keys: CellKeys, planned: DataFrame, cells: int, weight_col: str
) -> DataFrame:
    """:func:`_weighted` with the weights from a table planned on the cluster: broadcast up to
    :data:`~spark_upsample.engine.cell_table.BROADCAST_CELLS` cells, else a shuffled hash
    join."""
    name = internal_names(df, "wkey")["wkey"]
    weight = F.col("target").cast("double") / F.col("n").cast("double")
    table = planned.select(cell_table.key_column(keys).alias(name), weight.alias(weight_col))
    table = F.broadcast(table) if cells <= BROADCAST_CELLS else table.hint("shuffle_hash")
    return df.join(table, on=keys.column().eqNullSafe(table[name]), how="inner").drop(name)


def _shuffled(df: DataFrame, detail: dict[str, str], seed: int, shuffle: bool | int) -> DataFrame:
    """Rows spread over partitions by a hash of the seed and each copy's identity, then ordered
    by it within each partition: a random order, the same on every run with the seed."""
    key: Column = F.xxhash64(
        F.lit(seed).cast("long"),
        F.lit(_SHUFFLE_STREAM),
        *[F.col(detail[r]) for r in ("row", "entry", "copy")],
    )
    spread = df.repartition(key) if shuffle is True else df.repartition(int(shuffle), key)
    return spread.sortWithinPartitions(key)
