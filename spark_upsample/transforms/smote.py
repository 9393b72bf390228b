"""SMOTE on Spark: imbalanced-learn's ``SMOTE`` with exact counts and exact neighbours.

One run: validate; count the rows of every cell (class, or (group, class) with ``group_by``) and
the null or NaN feature values in the same job; compute the targets as ``RandomOverSampler``
does; let the sampling engine (:func:`spark_upsample.engine.sampler.draw_exact`) give every row of a
cell that grows its exact number of copies (uniform draws with replacement, keyed on the row
identity); then, on the executors, find each base row's exact k nearest neighbours in its cell
and turn its copies into new rows (:mod:`spark_upsample.engine.knn`,
:mod:`spark_upsample.engine.synthesis`).

The neighbour search: the rows of a growing cell are split into query blocks by a hash of their
identity; every row of the cell is also sent to every block as a reference, together with one
small row per base row that carries its number of copies. One shuffle groups each (cell, block)
in one partition, and a ``mapInArrow`` function searches and writes the block's new rows (their
other columns copied from the base row, as Arrow arrays: any column type passes through).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from inspect import signature
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.blocks import block_slots, search_partitions
from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.frames import col, describe_label, internal_names, label_columns
from spark_upsample.engine.identity import row_identity
from spark_upsample.engine.pipeline import (
    Options,
    Resampled,
    cell_targets,
    check_cell_columns,
    clean_cells,
    column_names,
    count_flagged_cells,
    describe_strategy,
    resolve_seed,
)
from spark_upsample.engine.plan import ClassPlan, ResamplePlan, prior_factors
from spark_upsample.engine.sampler import ClassAction, draw_exact
from spark_upsample.engine.strategy import SamplingStrategy, ordered_classes
from spark_upsample.errors import InvalidDataError, InvalidParameterError

ORIGINAL, SYNTHETIC = "original", "synthetic"
ROW_ID, BASE_ID, NEIGHBOR_ID, GAP = (
    "smote_row_id",
    "smote_base_id",
    "smote_neighbor_id",
    "smote_gap",
)
DETAIL_COLUMNS = (ROW_ID, BASE_ID, NEIGHBOR_ID, GAP)
MISSING_DEPENDENCY = (
    "SMOTE runs spark-upsample, numpy and pyarrow on the executors, whose Python cannot import "
    "them: point PYSPARK_PYTHON at a Python that has them (the venv's python), or install them "
    "in the executors' Python environment"
)
_QUERY, _REFERENCE, _COPIES = 0, 1, 2
_BLOCK_SALT = 0x5307E


def smote(
    df: DataFrame, label_col: str | Sequence[str], feature_cols: Sequence[str], **options: Any
) -> DataFrame:
    """New minority rows between neighbours, to exact target counts; the keyword arguments are
    those of :func:`smote_with_plan`, which also returns the plan."""
    return smote_with_plan(df, label_col, feature_cols, **options).df


def smote_with_plan(
    df: DataFrame,
    label_col: str | Sequence[str],
    feature_cols: Sequence[str],
    *,
    k_neighbors: int = 5,
    sampling_strategy: SamplingStrategy = "auto",
    seed: int | None = None,
    group_by: Sequence[str] = (),
    key_cols: Sequence[str] | None = None,
    lineage_col: str | None = None,
    detail: bool = False,
) -> Resampled:
    """Over-sample with SMOTE: the originals, plus ``target - count`` new rows per class, each
    between a row of the class and one of its k nearest neighbours in the class.

    Parameters
    ----------
    df : DataFrame
        The input; it must give the same rows each time it is read (as for
        :func:`spark_upsample.upsample_with_plan`).
    label_col : str or list of str
        The class column(s), as for :func:`spark_upsample.upsample_with_plan`.
    feature_cols : list of str
        The numeric columns (integer, float, double, decimal) that neighbours are measured and
        new values computed on. No null, NaN or infinite value is allowed in them.
    k_neighbors : int, default 5
        Neighbours per row. A class of fewer than ``k_neighbors + 1`` rows uses all its other
        rows (``plan.classes[i].k_neighbors`` says how many).
    sampling_strategy : str, float, dict or callable, default "auto"
        The target count of each class, as in imbalanced-learn's ``SMOTE`` and
        ``RandomOverSampler`` (see :func:`spark_upsample.engine.strategy.over_sampling_targets`).
        A target more than 10,000 times a class's count is a :class:`RatioLimitError`.
    seed : int, optional
        Non-negative integer below 2**63; the same input and seed give the same rows. None picks
        one at random; it is in the returned plan.
    group_by : list of str, default ()
        Balance within each group: targets and neighbours per (group, class).
    key_cols : list of str, optional
        Columns that identify a row within its class; see
        :func:`spark_upsample.upsample_with_plan`. Every random number is a hash of the seed and
        the row identity, so the same rows come out on any partitioning when the identity does
        not depend on it (key columns, a Parquet file row index).
    lineage_col : str, optional
        Add this string column: ``"original"`` for an input row, ``"synthetic"`` for a new one.
    detail : bool, default False
        Add four columns to audit each new row: ``smote_row_id`` (bigint: the row identity of an
        original row, null for a new one), ``smote_base_id`` and ``smote_neighbor_id`` (bigint:
        the identities of a new row's base row and neighbour, null for an original) and
        ``smote_gap`` (double in [0, 1): the new row is ``base + gap * (neighbor - base)`` on
        every feature column; null for an original).

    Returns
    -------
    Resampled
        ``df``: the input rows, unchanged, then the new rows: exactly ``target - count`` per
        class, with the schema of the input (plus the lineage and detail columns when asked).
        A new row copies every column of its base row (label, ids, strings, numbers that are
        not features) but the features, which are ``x + g * (neighbour - x)`` in float64, cast
        back to the column's type (an integer column truncates, as imbalanced-learn's
        ``astype`` does). The base row is drawn uniformly with replacement from its class, the
        neighbour uniformly among the base's k nearest rows of the class (squared Euclidean
        distance over ``feature_cols`` in float64, ties to the smaller row identity, the row
        itself left out by identity, so a duplicate of it is a neighbour), the gap ``g``
        uniformly in [0, 1); each a hash of the seed, the base row's identity and the copy's
        number. ``plan``: as :func:`spark_upsample.upsample_with_plan`'s, with method
        ``"smote"``.

    Raises
    ------
    MissingColumnError, InvalidLabelError, EmptyInputError, SingleClassError,
    InvalidStrategyError, RatioLimitError, InvalidParameterError, DuplicateKeyError
        As :func:`spark_upsample.upsample_with_plan`; also a feature column that is not numeric
        or is a label, group or key column, or ``k_neighbors`` not a positive integer.
    InvalidDataError
        Null, NaN or infinite values in a feature column (counted in the counting job), or a
        class of one row that needs new rows (it has no neighbour).
    All are raised before any output is produced; so is an ``InvalidParameterError`` naming a
    column whose type cannot reach the executors (PySpark's Arrow conversion lacks it, as a
    calendar interval or an interval inside an array; a year-month interval itself passes).
    The new rows are computed by Python on the executors, which need spark-upsample, numpy and
    pyarrow: a task that cannot import them fails with an ``ImportError`` whose one line names
    ``PYSPARK_PYTHON`` (:data:`MISSING_DEPENDENCY`).

    Notes
    -----
    Jobs: the counts (label, group, key and feature columns), the engine's cuts (label and
    identity), then the output, whose new rows take one shuffle of the growing classes' rows
    (each sent to every query block of its class: ``ceil(count / 20,000)`` blocks, at most 64)
    and an exact search of ``count**2`` distances per class, screened by float32 matrix
    products and re-ranked in float64 (:mod:`spark_upsample.engine.knn`).
    """
    label = label_columns(label_col)
    features = column_names("feature_cols", feature_cols)
    options = Options(
        method="upsample",
        sampling_strategy=sampling_strategy,
        seed=seed,
        keep_originals=True,
        group_by=group_by,
        key_cols=key_cols,
        lineage_col=lineage_col,
    )
    _validate(df, label, features, options, k_neighbors, detail)
    seed = resolve_seed(seed)
    columns = list(df.columns)
    identity = row_identity(df, options.key_col_names)
    names = internal_names(
        df,
        "row",
        "cell_id",
        "blocks",
        "k",
        "block",
        "role",
        "copies",
        "slot",
        "slots",
        "base",
        "neighbour",
        "gap",
        "cell",
    )
    doubles = tuple(f"{names['row']}_x{i}" for i in range(len(features)))
    rows = df.select("*", identity.column.alias(names["row"]))

    keys = CellKeys.of(rows, label, options.group_by_names)
    bad = [col(f).isNull() | F.isnan(col(f)) | (F.abs(col(f)) == math.inf) for f in features]
    raw, flagged = count_flagged_cells(rows, keys, options.key_col_names, bad)
    counts, _ = clean_cells(raw, keys, "error")
    _check_features(features, flagged)
    targets, single = cell_targets(counts, options, keys)
    cells: list[Any] = ordered_classes(counts)
    grow = {c: targets[c] - counts[c] for c in cells if targets[c] > counts[c]}
    _check_neighbours(keys, counts, grow)
    k_eff = {c: min(k_neighbors, counts[c] - 1) for c in grow}

    out = rows.select(
        *[col(c) for c in columns], *_extras(lineage_col, detail, ORIGINAL, F.col(names["row"]))
    )
    sizes: dict[Any, int] = {}
    if grow:
        new, sizes = _synthetic(rows, keys, counts, grow, k_eff, seed, features, doubles, names)
        casts = {
            f: F.col(d).cast(df.schema[f].dataType).alias(f)
            for f, d in zip(features, doubles, strict=True)
        }
        extras = _extras(lineage_col, detail, SYNTHETIC, F.lit(None), names)
        out = out.unionByName(new.select(*[casts.get(c, col(c)) for c in columns], *extras))

    factors = prior_factors(counts, targets, grouped=bool(options.group_by_names))
    plan = ResamplePlan(
        method="smote",
        label_col=label,
        seed=seed,
        sampling_strategy=describe_strategy(sampling_strategy),
        keep_originals=True,
        replacement=False,
        null_labels_dropped=0,
        classes=tuple(
            ClassPlan(
                label=keys.label_of(k),
                count_before=counts[k],
                target=targets[k],
                kept=counts[k],
                draws=grow.get(k, 0),
                sample_size=sizes.get(k),
                group=tuple(k[:-1]) if options.group_by_names else None,
                prior_factor=factors[k],
                k_neighbors=k_eff.get(k),
            )
            for k in cells
        ),
        group_by=options.group_by_names,
        single_class_groups=tuple(single),
        row_identity=identity.kind,
        key_cols=options.key_col_names,
        row_identity_note=identity.note,
    )
    return Resampled(out, plan)


def _extras(
    lineage_col: str | None,
    detail: bool,
    lineage: str,
    row_id: Column,
    names: dict[str, str] | None = None,
) -> list[Column]:
    """The lineage and detail columns of original rows (``names`` None) or new rows."""
    extras = [F.lit(lineage).alias(lineage_col)] if lineage_col else []
    if detail:

        def detail_col(role: str, data_type: str) -> Column:
            value = F.col(names[role]) if names else F.lit(None)
            return value.cast(data_type)

        extras += [
            row_id.cast("long").alias(ROW_ID),
            detail_col("base", "long").alias(BASE_ID),
            detail_col("neighbour", "long").alias(NEIGHBOR_ID),
            detail_col("gap", "double").alias(GAP),
        ]
    return extras


def _validate(
    df: DataFrame,
    label: str | tuple[str, ...],
    features: tuple[str, ...],
    options: Options,
    k_neighbors: Any,
    detail: Any,
) -> None:
    check_cell_columns(df, label, options.group_by_names, options.key_col_names, features)
    if isinstance(k_neighbors, bool) or not isinstance(k_neighbors, int) or k_neighbors < 1:
        raise InvalidParameterError(
            f"k_neighbors must be a positive integer. Got {k_neighbors!r} instead."
        )
    if not isinstance(detail, bool):
        raise InvalidParameterError(f"detail must be True or False. Got {detail!r} instead.")
    if len(set(features)) < len(features):
        raise InvalidParameterError(f"feature_cols repeats a column: {list(features)}.")
    label_cols = (label,) if isinstance(label, str) else label
    roles = {
        **{c: "key_cols" for c in options.key_col_names},
        **{c: "group_by" for c in options.group_by_names},
        **{c: f"label ({describe_label(label)})" for c in label_cols},
    }
    for name in features:
        if name in roles:
            raise InvalidParameterError(
                f"feature_cols: column {name!r} is a {roles[name]} column; features are the "
                "numeric columns that new rows interpolate."
            )
        data_type = df.schema[name].dataType
        if not isinstance(data_type, T.NumericType):
            raise InvalidParameterError(
                f"feature_cols: column {name!r} has type {data_type.simpleString()}; SMOTE "
                "needs numeric feature columns (integer, float, double or decimal)."
            )
    for field in df.schema.fields:
        if field.name not in features and not _carried_by_arrow(field.dataType):
            raise InvalidParameterError(
                f"column {field.name!r} has type {field.dataType.simpleString()}, which SMOTE "
                "cannot copy to new rows (PySpark's Arrow conversion lacks it). Drop or cast it "
                "before SMOTE, and join it back on a key if needed."
            )
    lineage_col = options.lineage_col
    if lineage_col is not None and (not isinstance(lineage_col, str) or not lineage_col):
        raise InvalidParameterError(
            f"lineage_col must be a column name or None. Got {lineage_col!r}."
        )
    taken = {c.lower() for c in df.columns}
    added = ([lineage_col] if lineage_col else []) + (list(DETAIL_COLUMNS) if detail else [])
    for name in added:
        if name.lower() in taken:
            raise InvalidParameterError(
                f"{name!r} is already a column of the input; SMOTE adds it "
                f"({'lineage_col' if name == lineage_col else 'detail=True'}). Rename it."
            )


def _carried_by_arrow(data_type: T.DataType) -> bool:
    """Whether the executor function can carry a column of ``data_type`` (see
    :func:`_arrow_type`); PySpark's own test of a ``mapInArrow`` schema."""
    from pyspark.sql.pandas.types import to_arrow_type

    # PySpark 4 converts timestamps for a time zone and needs one; 3.5 takes no such argument.
    zone: dict[str, Any] = (
        {"timezone": "UTC"} if "timezone" in signature(to_arrow_type).parameters else {}
    )
    try:
        to_arrow_type(_arrow_type(data_type), **zone)
    except TypeError:
        return False
    return True


def _check_features(features: tuple[str, ...], flagged: dict[Any, tuple[int, ...]]) -> None:
    """Raise :class:`InvalidDataError` naming the feature columns with null, NaN or infinite
    values."""
    totals = [sum(per_cell[i] for per_cell in flagged.values()) for i in range(len(features))]
    bad = [f"{f!r} ({n:,})" for f, n in zip(features, totals, strict=True) if n]
    if bad:
        raise InvalidDataError(
            "feature_cols hold null, NaN or infinite values, which have no distance: "
            f"{', '.join(bad)} row(s). Fill or filter them before SMOTE."
        )


def _check_neighbours(keys: CellKeys, counts: dict[Any, int], grow: dict[Any, int]) -> None:
    """Raise :class:`InvalidDataError` for the first class of one row that needs new rows."""
    for cell in grow:
        if counts[cell] < 2:
            where = f" in group {tuple(cell[:-1])!r}" if keys.group_by else ""
            raise InvalidDataError(
                f"class {keys.label_of(cell)!r}{where} has 1 row and needs {grow[cell]:,} new "
                "one(s): SMOTE needs a neighbour of the same class. Add rows, leave the class at "
                "its count (a sampling_strategy dict), or use upsample."
            )


@dataclass(frozen=True)
class _Blocks:
    """What the executors need to know about the frame they are given (plain values)."""

    seed: int
    doubles: tuple[str, ...]
    passed: tuple[str, ...]
    names: dict[str, str]


def _synthetic(
    rows: DataFrame,
    keys: CellKeys,
    counts: dict[Any, int],
    grow: dict[Any, int],
    k_eff: dict[Any, int],
    seed: int,
    features: tuple[str, ...],
    doubles: tuple[str, ...],
    names: dict[str, str],
) -> tuple[DataFrame, dict[Any, int]]:
    """The new rows of the growing cells (original columns, the features as float64 in
    ``doubles``, and the base, neighbour and gap columns), and the engine's classic
    sample sizes."""
    spark = rows.sparkSession
    grown = {c: counts[c] for c in grow}
    shuffle_partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or 1)
    partitions = search_partitions(grown, shuffle_partitions)
    slots = block_slots(grown, partitions)
    table = keys.table(
        spark,
        [(c, i, len(slots[c]), k_eff[c], slots[c]) for i, c in enumerate(grow)],
        [T.StructField(names[f], T.IntegerType(), False) for f in ("cell_id", "blocks", "k")]
        + [T.StructField(names["slots"], T.ArrayType(T.LongType(), False), False)],
        names["cell"],
    )
    cells = rows.join(
        F.broadcast(table), on=keys.column().eqNullSafe(F.col(names["cell"])), how="inner"
    ).drop(names["cell"])
    drawn = draw_exact(
        cells,
        keys,
        F.col(names["row"]),
        {c: counts[c] for c in grow},
        {c: ClassAction(keep=0, draws=n) for c, n in grow.items()},
        seed,
    )
    row, blocks, cell_slots = F.col(names["row"]), F.col(names["blocks"]), F.col(names["slots"])
    own_block = F.pmod(F.xxhash64(F.lit(_BLOCK_SALT), row), blocks).cast("int")
    own_slot = F.element_at(cell_slots, own_block + 1)
    cell_id = names["cell_id"]
    copies = drawn.df.groupBy(row, F.col(cell_id), blocks, cell_slots).agg(
        F.count(F.lit(1)).cast("long").alias(names["copies"])
    )
    copy_rows = copies.select(
        row,
        F.col(cell_id),
        own_block.alias(names["block"]),
        own_slot.alias(names["slot"]),
        F.lit(_COPIES).alias(names["role"]),
        F.col(names["copies"]),
    )
    as_double = [col(f).cast("double").alias(d) for f, d in zip(features, doubles, strict=True)]
    # The other columns cross the function under internal names: PySpark's mapInArrow resolves
    # its input's columns by unquoted name, which fails on a name that holds a dot.
    passed = tuple(c for c in rows.columns if c not in features and c != names["row"])
    carried = tuple(f"{names['row']}_p{i}" for i in range(len(passed)))
    types = [rows.schema[c].dataType for c in passed]
    queries = cells.select(
        *[_to_arrow(col(c), t).alias(p) for c, t, p in zip(passed, types, carried, strict=True)],
        row,
        F.col(cell_id),
        F.col(names["k"]),
        own_block.alias(names["block"]),
        own_slot.alias(names["slot"]),
        F.lit(_QUERY).alias(names["role"]),
        *as_double,
    )
    references = cells.select(
        row,
        F.col(cell_id),
        F.posexplode(cell_slots).alias(names["block"], names["slot"]),
        F.lit(_REFERENCE).alias(names["role"]),
        *as_double,
    )
    together = queries.unionByName(references, allowMissingColumns=True).unionByName(
        copy_rows, allowMissingColumns=True
    )
    grouped = together.repartition(partitions, F.col(names["slot"]))

    spec = {"seed": seed, "doubles": doubles, "passed": carried, "names": names}
    schema = T.StructType(
        [T.StructField(p, _arrow_type(t), True) for p, t in zip(carried, types, strict=True)]
        + [T.StructField(d, T.DoubleType(), True) for d in doubles]
        + [
            T.StructField(names["base"], T.LongType(), True),
            T.StructField(names["neighbour"], T.LongType(), True),
            T.StructField(names["gap"], T.DoubleType(), True),
        ]
    )
    new = grouped.mapInArrow(_on_executors(spec), schema).select(
        *[
            _from_arrow(F.col(p), t).alias(c)
            for c, t, p in zip(passed, types, carried, strict=True)
        ],
        *doubles,
        names["base"],
        names["neighbour"],
        names["gap"],
    )
    return new, drawn.sample_sizes


def _arrow_type(data_type: T.DataType) -> T.DataType:
    """The type a column of ``data_type`` crosses the executor function as: its own, but a
    year-month interval (which PySpark's Arrow conversion lacks) as its number of months."""
    return T.IntegerType() if isinstance(data_type, T.YearMonthIntervalType) else data_type


def _to_arrow(column: Column, data_type: T.DataType) -> Column:
    """``column`` as :func:`_arrow_type` carries it."""
    if isinstance(data_type, T.YearMonthIntervalType):
        return column.cast("interval month").cast("int")
    return column


def _from_arrow(column: Column, data_type: T.DataType) -> Column:
    """The inverse of :func:`_to_arrow`: the column back in ``data_type``."""
    if isinstance(data_type, T.YearMonthIntervalType):
        return column.cast("interval month").cast(data_type)
    return column


def _on_executors(spec: dict[str, Any]) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The function ``mapInArrow`` ships: :func:`_new_rows` of the :class:`_Blocks` of ``spec``
    (plain values). It refers to nothing of this package but by an import when it runs, and
    cloudpickle ships a nested function by value: so an executor that cannot import
    spark-upsample fails with :data:`MISSING_DEPENDENCY`, not in unpickling the function."""
    missing = MISSING_DEPENDENCY

    def new_rows(batches: Iterator[Any]) -> Iterator[Any]:
        try:
            from spark_upsample.transforms.smote import _Blocks, _new_rows
        except ImportError as error:
            raise ImportError(f"{missing} ({error})") from error
        return _new_rows(batches, _Blocks(**spec))

    return new_rows


def _new_rows(batches: Iterator[Any], spec: _Blocks) -> Iterator[Any]:
    """Executor side: the new rows of every (cell, block) in one partition (see the module
    docstring). The whole partition is held in memory: one block's rows and references."""
    try:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError as error:
        raise ImportError(f"{MISSING_DEPENDENCY} ({error})") from error
    from spark_upsample.engine.synthesis import synthesise

    names = spec.names
    held = list(batches)
    if not held:
        return
    data = pa.Table.from_batches(held)

    def ints(table: Any, name: str) -> Any:
        return table.column(names[name]).to_numpy(zero_copy_only=False)

    def matrix(table: Any) -> Any:
        return np.column_stack(
            [table.column(d).to_numpy(zero_copy_only=False) for d in spec.doubles]
        )

    role, cell, block = ints(data, "role"), ints(data, "cell_id"), ints(data, "block")
    queries = np.flatnonzero(role == _QUERY)
    for c, b in sorted(set(zip(cell[queries].tolist(), block[queries].tolist(), strict=True))):
        here = (cell == c) & (block == b)
        group = data.filter(pa.array(here & (role == _QUERY)))
        group = group.take(pc.sort_indices(group.column(names["row"])))
        refs = data.filter(pa.array(here & (role == _REFERENCE)))
        counted = data.filter(pa.array(here & (role == _COPIES)))
        query_ids, ref_ids = ints(group, "row"), ints(refs, "row")
        copies = np.zeros(len(query_ids), dtype=np.int64)
        counted_ids = ints(counted, "row")
        at = np.searchsorted(query_ids, counted_ids)
        copies[at] = ints(counted, "copies")
        if not copies.any():
            continue
        made = synthesise(
            matrix(group),
            query_ids,
            copies,
            matrix(refs),
            ref_ids,
            int(ints(group, "k")[0]),
            spec.seed,
        )
        base = group.select(list(spec.passed)).take(pa.array(made.base))
        columns = {
            **{c: base.column(c) for c in spec.passed},
            **{d: pa.array(made.x[:, i]) for i, d in enumerate(spec.doubles)},
            names["base"]: pa.array(query_ids[made.base]),
            names["neighbour"]: pa.array(ref_ids[made.neighbour]),
            names["gap"]: pa.array(made.gap),
        }
        yield from pa.table(columns).to_batches(max_chunksize=65_536)
