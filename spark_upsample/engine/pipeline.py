"""The resampling pipeline behind :func:`upsample`, :func:`downsample` and :func:`resample`.

One run: validate, count rows per class (per group and class with ``group_by``) reading only
those columns, compute every class's target in plain Python, then either draw exactly that many
rows (:func:`spark_upsample.engine.sampler.draw_exact`: one pass, no shuffle, no sort) or, in
weights mode, give each input row the weight ``target / count`` of its class. Optional finishing
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
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.frames import (
    check_columns,
    check_label_type,
    check_null_policy,
    clean_counts,
    col,
    internal_names,
    label_columns,
)
from spark_upsample.engine.identity import duplicate_key_error, row_identity
from spark_upsample.engine.plan import ClassPlan, ResamplePlan, prior_factors
from spark_upsample.engine.sampler import KEEP_ENTRY, ClassAction, draw_exact
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
        drawn = draw_exact(df, keys, F.col(row), counts, actions, seed, detail=need_detail)
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
                F.col(row),
            )
        if options.lineage_col:
            entry = F.col(drawn.detail["entry"])
            out = out.withColumn(
                options.lineage_col, F.when(entry == KEEP_ENTRY, ORIGINAL).otherwise(COPY)
            )
        if options.shuffle:
            out = _shuffled(out, drawn.detail, seed, options.shuffle)
    extra = [c for c in (options.weight_col, options.lineage_col) if c]
    out = out.select(*[col(c) for c in columns + extra])

    factors = prior_factors(counts, targets, grouped=bool(group_by))
    plan = ResamplePlan(
        method=options.method,
        label_col=label,
        seed=seed,
        sampling_strategy=describe_strategy(options.sampling_strategy),
        keep_originals=options.keep_originals,
        replacement=options.replacement,
        null_labels_dropped=nulls,
        classes=tuple(
            ClassPlan(
                label=keys.label_of(k),
                count_before=counts[k],
                target=targets[k],
                kept=actions[k].keep,
                draws=actions[k].draws,
                sample_size=sizes.get(k),
                group=tuple(k[:-1]) if group_by else None,
                prior_factor=factors[k],
            )
            for k in ordered_classes(counts)
        ),
        group_by=group_by,
        weight_col=options.weight_col,
        single_class_groups=tuple(single),
        row_identity=identity.kind,
        key_cols=options.key_col_names,
        row_identity_note=identity.note,
    )
    log.info(
        "%s plan: seed=%d, %d cell(s), %s -> %s rows, row identity: %s",
        options.method,
        seed,
        len(counts),
        f"{plan.rows_before:,}",
        f"{plan.rows_after:,}",
        identity.described,
    )
    return Resampled(out, plan)


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
    names = internal_names(df, "n", "total", "most", "key")
    flag_names = [f"{names['n']}_{i}" for i in range(len(flags))]
    flagged = [F.count(F.when(f, 1)).alias(n) for f, n in zip(flags, flag_names, strict=True)]
    # The key's parts as columns of their own: a flat row is several times cheaper to collect
    # than one holding a struct.
    parts = [p.alias(f"{names['key']}_{i}") for i, p in enumerate(keys.parts())]
    width = len(parts)
    counts: dict[Any, int] = {}
    flags_of: dict[Any, tuple[int, ...]] = {}
    if not key_cols:
        rows = df.groupBy(*parts).agg(F.count(F.lit(1)), *flagged).collect()
        for r in rows:
            cell = keys.from_parts(tuple(r[:width]))
            counts[cell], flags_of[cell] = int(r[width]), tuple(r[width + 1 :])
        return counts, flags_of
    per_key = df.groupBy(*parts, *[col(c) for c in key_cols]).agg(
        F.count(F.lit(1)).alias(names["n"]), *flagged
    )
    n = F.col(names["n"])
    rows = (
        per_key.groupBy(*[f"{names['key']}_{i}" for i in range(width)])
        .agg(
            F.sum(n).alias(names["total"]),
            F.max(n).alias(names["most"]),
            F.max_by(F.struct(*[col(c) for c in key_cols]), n).alias(names["most"] + "_key"),
            *[F.sum(name) for name in flag_names],
        )
        .collect()
    )
    repeated: dict[Any, tuple[int, Any]] = {}
    for r in rows:
        cell = keys.from_parts(tuple(r[:width]))
        total, most, key, *sums = r[width:]
        counts[cell], flags_of[cell] = int(total), tuple(int(v) for v in sums)
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
    if nans:
        raise InvalidLabelError(
            f"{nans} row(s) have NaN in a group_by column {list(keys.group_by)}; NaN is not a "
            "group. Replace or filter them."
        )
    return {k: n for k, n in raw.items() if not keys.is_null(keys.label_of(k))}, nulls


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
