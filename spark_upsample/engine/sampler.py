"""The exact sampling engine: every cell to an exact number of rows in one pass over the data.

:func:`draw_exact` takes, per cell (a class, or a (group, class) pair), how many of its original
rows to keep (all, none, or a uniformly random subset without replacement) and how many draws
with replacement to add, and returns a DataFrame with exactly that many rows per cell. The draws
follow :mod:`spark_upsample.engine.draws`: a per-row Poisson copy count, as ``slots``
Poisson(``mu``) counts evaluated on the executors from the cell's rate, a uniform key per copy, and
a per-cell key cut that keeps exactly the wanted number of copies. A subset keeps the rows whose
own key is below a cut found the same way.

Random numbers are hashes (xxhash64) of the seed and the row's identity
(:mod:`spark_upsample.engine.identity`), so they do not depend on which other rows a query reads,
nor on the partitioning when the identity is a file row index or key columns; the counting query and
the final one see the same keys, and a retried task recomputes the same values.

Metadata: per cell, a fixed handful of numbers (:data:`CELL_FIELDS`): literals indexed by the
cell key up to :data:`LITERAL_CELLS` cells, else a table broadcast and joined to the rows on the
cell key. For cells planned on the cluster (:func:`draw_exact_table`) the table is Spark's own,
designs and cuts included, broadcast up to
:data:`~spark_upsample.engine.cell_table.BROADCAST_CELLS` cells and shuffle-joined above.
Cost: finding the cuts reads only the key (and identity) columns; the final frame reads the
input once and has no shuffle and no sort (but that shuffle join, past a million cells).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.cell_table import BROADCAST_CELLS, key_column, parts
from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.cuts import (
    CutWindow,
    check_same_rows,
    window_aggregates,
    window_results,
)
from spark_upsample.engine.designs import class_design, subset_design
from spark_upsample.engine.draws import (
    EXPLICIT_COPIES,
    KEY_SPACE,
    MAX_KEY,
    MAX_SLOT_COPIES,
    TAIL_SIGMAS,
    ClassDesign,
    choose_threshold,
    design_class,
    design_subset,
)
from spark_upsample.engine.frames import col, internal_names, materialized

log = logging.getLogger(__name__)

LITERAL_CELLS = 16  # up to this many cells, no per-cell table (see _with_cells)
# spark.sql.objectHashAggregate.sortBased.fallbackThreshold's default, and the share of copies
# inside the cut windows below which the statistics count the others first (see _count_first)
SORT_FALLBACK_CELLS = 128
COUNT_FIRST_SHARE = 0.25
MAX_ATTEMPTS = 8  # each retry doubles the margins; a second attempt is already ~1e-11 rare

# Per cell: how its original rows are kept, its Poisson slots per row and their rate (with
# exp(-rate)), the classic sample's key cut, the window that holds the exact cut, the number of
# copies (or subset rows) wanted, the exact cut (MAX_KEY until it is known), and the cell's
# number among the cells whose cut is found (-1 for the others): the cut statistics group by it,
# an integer, which Spark hashes and sorts several times faster than the cell key (a struct with
# group_by).
CELL_FIELDS = ("keep", "slots", "mu", "p0", "primary", "lo", "hi", "want", "tau", "id")
# What a row of _cell_rows gives after the key: every field but p0, which Spark derives
ROW_FIELDS = tuple(f for f in CELL_FIELDS if f != "p0")
KEEP_NONE, KEEP_ALL, KEEP_SUBSET = 0, 1, 2
_ROLES = ("cell", "row", "entry", "u", "copies", "copy", "w", *CELL_FIELDS)
DETAIL_ROLES = ("row", "entry", "copy", "w")
_U_STREAM, _W_STREAM, _KEEP_STREAM = 1, 2, 4
KEEP_ENTRY = 0  # entry (slot) of a kept original row; drawn copies come from slots 1, 2, ...
_UNIT = 2.0**-53
DEBUG_CUTS = 40


@dataclass(frozen=True, slots=True)
class ClassAction:
    """What to do with one cell of ``count`` rows.

    Attributes
    ----------
    keep : original rows kept once each: ``count`` keeps all, 0 < keep < count a uniformly
        random subset (without replacement), 0 none
    draws : draws with replacement added
    """

    keep: int
    draws: int = 0


@dataclass(frozen=True)
class ExactDraws:
    """The result of :func:`draw_exact`.

    Attributes
    ----------
    df : the frame (with the detail columns when asked)
    sample_sizes : per sampled or subset cell, the size of the classic ``sample()`` before
        the exact correction (Poisson with replacement, Bernoulli for a subset)
    attempts : 1 unless a margin was too narrow
    detail : role -> internal column name of the detail columns (``row``: the row identity,
        ``entry``: :data:`KEEP_ENTRY` for a kept original, else the copy's slot, ``copy``: the
        copy's number within its slot, ``w``: the copy's uniform key), when asked
    size_table : from :func:`draw_exact_table`, in place of ``sample_sizes``: the classic
        sample's size per sampled cell (columns ``id`` and ``sample_size``)
    """

    df: DataFrame
    sample_sizes: dict[Any, int]
    attempts: int
    detail: dict[str, str]
    size_table: DataFrame | None = None


def draw_exact(
    df: DataFrame,
    keys: CellKeys,
    identity: Column,
    counts: Mapping[Any, int],
    actions: Mapping[Any, ClassAction],
    seed: int,
    detail: bool = False,
) -> ExactDraws:
    """Apply ``actions`` to every cell of ``df``: exact counts, uniform choices, one pass.

    Parameters
    ----------
    df : input whose cells (``keys``) are those of ``counts``, with no null label; it must give
        the same rows, with the same ``identity``, each time it is read
    keys : how the cells are keyed (label, group columns)
    identity : a 64-bit integer column of ``df`` that tells its rows apart
        (:func:`spark_upsample.engine.identity.row_identity`)
    counts : rows per cell in ``df``
    actions : per cell of ``counts``; a cell missing here is left out of the output. A cell
        keeps a subset or draws copies, not both.
    seed : non-negative integer; the same seed and input give the same rows
    detail : keep the ``row``, ``entry``, ``copy`` and ``w`` columns (see :class:`ExactDraws`)

    Returns
    -------
    ExactDraws whose ``df`` has the columns of ``df`` (plus the detail columns when asked) and,
    for every cell c, ``keep + draws`` rows: the kept rows a uniform subset, the draws i.i.d.
    uniform over the rows of c.

    Runs one Spark job that reads the key and identity columns only to find the cuts (plus one
    more in the rare case, ~1e-11 per cell, that a margin was too narrow), and none to build
    the frame.
    """
    names = internal_names(df, *_ROLES)
    base = df.select("*", keys.column().alias(names["cell"]), identity.alias(names["row"]))
    sampled = {c: a.draws for c, a in actions.items() if a.draws > 0}
    subsets = {c: a.keep for c, a in actions.items() if 0 < a.keep < counts[c]}
    keeps = {c for c, a in actions.items() if a.keep >= counts[c]}
    if set(sampled) & set(subsets):
        raise ValueError("a cell cannot both keep a subset and draw copies")
    wanted = {**sampled, **subsets}

    for attempt in range(MAX_ATTEMPTS):
        sigmas = TAIL_SIGMAS * 2**attempt
        designs = {c: design_class(counts[c], d, sigmas) for c, d in sampled.items()}
        designs.update({c: design_subset(counts[c], k, sigmas) for c, k in subsets.items()})
        cuts: dict[Any, int] = {}
        sizes: dict[Any, int] = {}
        if designs:
            rows = _cell_rows(designs, set(subsets), {}, set())
            joined = _with_cells(base, keys, names, rows, len(designs))
            slots = _slots(joined, names, seed, attempt)
            cells = list(designs)  # by the id of _cell_rows
            copies = _copies(slots, names, seed, attempt)
            stats = _cut_stats(copies, names, _count_first(designs.values())).collect()
            for cell_id, total, primary, below, in_window, at_cut, after_cut, shared in stats:
                label = cells[cell_id]
                if label in subsets:  # a subset's candidates are the cell's rows
                    check_same_rows(label, counts[label], total)
                tau = choose_threshold(wanted[label], total, below, in_window, at_cut, after_cut)
                if tau is not None and shared == 1:
                    cuts[label], sizes[label] = tau, primary
        if len(cuts) == len(designs):
            break
    else:
        raise RuntimeError(f"no exact cut after {MAX_ATTEMPTS} attempts; please report this bug")

    if log.isEnabledFor(logging.DEBUG):
        shown = list(cuts.items())[:DEBUG_CUTS]
        log.debug(
            "exact cuts of %d cell(s) after %d attempt(s); first ones (cell, key cut, "
            "classic sample size): %s",
            len(cuts),
            attempt + 1,
            [(c, tau, sizes[c]) for c, tau in shown],
        )
    rows = _cell_rows(designs, set(subsets), cuts, keeps)
    joined = _with_cells(base, keys, names, rows, len(keeps | set(designs)))
    slots = _slots(joined, names, seed, attempt)
    copies = _copies(slots, names, seed, attempt)
    extra = [names[r] for r in DETAIL_ROLES] if detail else []
    return ExactDraws(
        df=_kept(copies, names).select(*[col(c) for c in df.columns], *extra),
        sample_sizes=sizes,
        attempts=attempt + 1,
        detail={r: names[r] for r in DETAIL_ROLES} if detail else {},
    )


def draw_exact_table(
    df: DataFrame,
    keys: CellKeys,
    identity: Column,
    table: DataFrame,
    cells: int,
    seed: int,
    detail: bool = False,
) -> ExactDraws:
    """:func:`draw_exact` for cells planned on the cluster: the counts and actions are a Spark
    table, not Python mappings, and so are the designs and cuts.

    Parameters
    ----------
    table : one row per cell (:mod:`spark_upsample.engine.cell_table`): the key's parts ``k0``,
        ``k1``, ..., ``n`` (rows), ``id`` (a unique long), ``keep`` and ``draws`` (as
        :class:`ClassAction`'s); a cell that keeps and draws nothing is left out. Read several
        times: it must be materialised, or deterministic.
    cells : the number of rows of ``table``; up to
        :data:`~spark_upsample.engine.cell_table.BROADCAST_CELLS` the table is broadcast to
        the rows, above it joined to them by a shuffled hash join
    df, keys, identity, seed, detail : as :func:`draw_exact`

    Returns
    -------
    ExactDraws as :func:`draw_exact`'s, the same rows for the same cells, counts and seed (the
    designs are the same numbers: :mod:`spark_upsample.engine.designs`), with ``sample_sizes``
    empty and ``size_table`` the classic sample's size per sampled cell (``id``,
    ``sample_size``).

    Runs a small job per attempt to choose how the statistics aggregate, the statistics' job
    (its result kept by :func:`~spark_upsample.engine.frames.materialized`), and one small job
    to check that every cut was found; nothing per cell reaches the driver.

    Raises
    ------
    InvalidDataError
        A subset cell whose rows, read again, are not as many as counted.
    """
    names = internal_names(df, *_ROLES)
    base = df.select("*", keys.column().alias(names["cell"]), identity.alias(names["row"]))
    live = table.where((F.col("keep") > 0) | (F.col("draws") > 0))
    broadcast = cells <= BROADCAST_CELLS
    for attempt in range(MAX_ATTEMPTS):
        designed = _designed(live, keys, names, TAIL_SIGMAS * 2**attempt)
        joined = _join_cells(base, names, _cell_fields(designed, names), broadcast)
        copies = _copies(_slots(joined, names, seed, attempt), names, seed, attempt)
        stats = _cut_stats(copies, names, _counts_first(designed, names)).toDF(names["id"], *_STATS)
        cut = materialized(_with_cuts(designed, stats, names))
        missing, mismatch = _check_cuts(cut, keys, names)
        if mismatch is not None:
            check_same_rows(*mismatch)
        if not missing:
            break
    else:
        raise RuntimeError(f"no exact cut after {MAX_ATTEMPTS} attempts; please report this bug")
    log.debug("exact cuts of the cells of a table after %d attempt(s)", attempt + 1)
    joined = _join_cells(base, names, _cell_fields(cut, names), broadcast)
    copies = _copies(_slots(joined, names, seed, attempt), names, seed, attempt)
    extra = [names[r] for r in DETAIL_ROLES] if detail else []
    sizes = cut.where(F.col(names["want"]) > 0).select(
        F.col(names["id"]).alias("id"), F.col("_primary").alias("sample_size")
    )
    return ExactDraws(
        df=_kept(copies, names).select(*[col(c) for c in df.columns], *extra),
        sample_sizes={},
        attempts=attempt + 1,
        detail={r: names[r] for r in DETAIL_ROLES} if detail else {},
        size_table=sizes,
    )


_STATS = ("_total", "_primary", "_below", "_in_window", "_at_cut", "_after_cut", "_shared")


def _designed(live: DataFrame, keys: CellKeys, names: dict[str, str], sigmas: float) -> DataFrame:
    """Every cell of ``live`` with the fields of :data:`CELL_FIELDS` (``tau`` still
    :data:`MAX_KEY`), as :func:`_cell_rows` makes them, its key column and parts, and ``n``."""
    n, keep, draws = F.col("n"), F.col("keep"), F.col("draws")
    drawn, subset = draws > 0, (draws == 0) & (keep < n)
    up = class_design(n, draws, sigmas)
    down = subset_design(n, keep, sigmas)
    zero = F.lit(0).cast("long")

    def pick(field: str) -> Column:
        return F.when(drawn, up[field]).when(subset, down[field]).otherwise(zero)

    fields = {
        "keep": F.when(drawn & (keep < n), KEEP_NONE)
        .when(subset, KEEP_SUBSET)
        .otherwise(KEEP_ALL)
        .cast("int"),
        "slots": F.when(drawn, up["slots"]).otherwise(zero),
        "mu": F.when(drawn, up["mu"]).otherwise(F.lit(0.0)),
        "primary": pick("primary"),
        "lo": pick("lo"),
        "hi": pick("hi"),
        "want": F.when(drawn, draws).when(subset, keep).otherwise(zero),
        "tau": F.lit(MAX_KEY),
        "id": F.col("id"),
    }
    designed = live.select(
        key_column(keys).alias(names["cell"] + "_t"),
        *[F.col(p) for p in parts(keys)],
        "n",
        *[fields[f].alias(names[f]) for f in ROW_FIELDS],
    )
    return _with_p0(designed, names)


def _cell_fields(designed: DataFrame, names: dict[str, str]) -> DataFrame:
    """The per-cell table to join to the rows: the key, then :data:`CELL_FIELDS`."""
    return designed.select(names["cell"] + "_t", *[names[f] for f in CELL_FIELDS])


def _counts_first(designed: DataFrame, names: dict[str, str]) -> bool:
    """:func:`_count_first`'s choice, from the designs of a table, in one small job.

    The sums are of doubles, in Spark's order, so a case at the boundary may choose otherwise
    than the driver (or another cluster) would. The choice changes how the statistics are
    aggregated, not what they are: the rows differ only where two copies of a cell share a
    63-bit key inside its window, which one aggregation retries only at the cut (about 1e-13
    per cell)."""
    copies = F.col(names["slots"]) * F.col(names["mu"]) * F.col("n")
    copies = F.when(F.col(names["keep"]) == KEEP_SUBSET, F.col(names["want"])).otherwise(copies)
    hi, lo = F.col(names["hi"]).cast("double"), F.col(names["lo"]).cast("double")
    width = (hi - lo + 1.0) / float(KEY_SPACE)  # doubles: the width of [0, MAX_KEY] is no long
    row = (
        designed.where(F.col(names["want"]) > 0)
        .agg(F.count(F.lit(1)), F.sum(copies), F.sum(copies * width))
        .first()
    )
    assert row is not None  # an aggregation without grouping gives one row
    cells, total, inside = row[0], row[1] or 0.0, row[2] or 0.0
    return cells > SORT_FALLBACK_CELLS and inside <= COUNT_FIRST_SHARE * total


def _with_cuts(designed: DataFrame, stats: DataFrame, names: dict[str, str]) -> DataFrame:
    """``designed`` with each sampled cell's exact cut as ``tau`` (null where the statistics
    give none: :func:`choose_threshold`, and a key shared inside the window), the statistics'
    total and the classic sample's size (``_total``, ``_primary``)."""
    joined = designed.join(stats, on=names["id"], how="left")
    want, below = F.col(names["want"]), F.col("_below")
    need = want - below
    at_cut, after_cut = F.col("_at_cut"), F.col("_after_cut")
    found = (
        (F.col("_total") >= want)
        & (need >= 1)
        & (need <= F.col("_in_window"))
        & at_cut.isNotNull()
        & (after_cut.isNull() | (after_cut != at_cut))
        & (F.col("_shared") == 1)
    )
    tau = F.when(want == 0, F.lit(MAX_KEY)).when(found, at_cut)
    return joined.select(
        *[c for c in designed.columns if c != names["tau"]],
        tau.alias(names["tau"]),
        F.coalesce(F.col("_total"), F.lit(0)).alias("_total"),
        F.col("_primary"),
    )


def _check_cuts(
    cut: DataFrame, keys: CellKeys, names: dict[str, str]
) -> tuple[int, tuple[Any, int, int] | None]:
    """The number of sampled cells without a cut, and the first subset cell (in Spark's order)
    whose rows read again were not as many as counted, as ``(cell key, counted, seen)``."""
    subset = F.col(names["keep"]) == KEEP_SUBSET
    wrong = F.struct(*[F.col(p) for p in parts(keys)], F.col("n"), F.col("_total"))
    row = cut.agg(
        F.count(F.when(F.col(names["tau"]).isNull(), 1)),
        F.min(F.when(subset & (F.col("_total") != F.col("n")), wrong)),
    ).first()
    assert row is not None  # an aggregation without grouping gives one row
    if row[1] is None:
        return int(row[0]), None
    *key, counted, seen = row[1]
    return int(row[0]), (keys.from_parts(tuple(key)), int(counted), int(seen))


def _kept(copies: DataFrame, names: dict[str, str]) -> DataFrame:
    """The copies kept: every kept original of a kept-all cell, and every copy (or subset row)
    whose key is at most its cell's cut."""
    return copies.where(
        ((F.col(names["entry"]) == KEEP_ENTRY) & (F.col(names["keep"]) == KEEP_ALL))
        | (F.col(names["w"]) <= F.col(names["tau"]))
    )


def hash_key(seed: int, stream: int, attempt: int, *parts: Column) -> Column:
    """A uniform 63-bit key of the seed, a stream and attempt number, and the given columns."""
    salt = F.lit(seed).cast("long"), F.lit(stream * 1024 + attempt).cast("int")
    return F.shiftrightunsigned(F.xxhash64(*salt, *parts), 1)


def _uniform(seed: int, stream: int, attempt: int, *parts: Column) -> Column:
    """A uniform double in [0, 1) on the 2**-53 grid (exact: no rounding up to 1)."""
    salt = F.lit(seed).cast("long"), F.lit(stream * 1024 + attempt).cast("int")
    return F.shiftrightunsigned(F.xxhash64(*salt, *parts), 11).cast("double") * _UNIT


def _cell_rows(
    designs: Mapping[Any, ClassDesign],
    subsets: set[Any],
    cuts: Mapping[Any, int],
    keeps: set[Any],
) -> Iterator[tuple[Any, ...]]:
    """One row per cell: its key, then the fields of :data:`ROW_FIELDS`.

    A kept-all cell keeps its rows (slot 0) and, with draws, adds copies from its slots; a
    subset cell's rows are slot 0, kept when their key is at most ``tau``; a drawn cell's copies
    come from slots 1..``slots``, kept when their key is at most ``tau``. The ``id`` of a cell of
    ``designs`` is its position there. One row at a time: 200,000 tuples take ~80 MiB.
    """
    for c in keeps - set(designs):
        yield (c, KEEP_ALL, 0, 0.0, 0, 0, 0, 0, MAX_KEY, -1)
    for i, (c, design) in enumerate(designs.items()):
        tau = cuts.get(c, MAX_KEY)
        window = (design.primary_key, *design.window, design.draws, tau, i)
        if c in subsets:
            yield (c, KEEP_SUBSET, 0, 0.0, *window)
            continue
        keep = KEEP_ALL if c in keeps else KEEP_NONE
        yield (c, keep, design.slots, design.slot_rate, *window)


def _with_cells(
    base: DataFrame,
    keys: CellKeys,
    names: dict[str, str],
    rows: Iterator[tuple[Any, ...]],
    cells: int,
) -> DataFrame:
    """The rows of ``base`` whose cell is one of ``rows`` (:func:`_cell_rows`, ``cells`` of
    them), with their cell's fields (:data:`CELL_FIELDS`) as columns.

    Up to :data:`LITERAL_CELLS` cells, the fields are literal arrays indexed by the cell's
    position, found by comparing the cell key with each cell's: no table, so no Spark job to
    broadcast one (about 0.1-0.8 s each, two per run). More cells are a table broadcast and
    joined on the key. Either way ``p0``, ``exp(-mu)``, is computed by Spark, as it is for a
    table planned on the cluster (:func:`draw_exact_table`).
    """
    fields = _fields(names)
    given = [f for f in fields if f.name != names["p0"]]
    if cells > LITERAL_CELLS:
        table = keys.table(base.sparkSession, rows, given, names["cell"] + "_t")
        return _join_cells(base, names, _with_p0(table, names), broadcast=True)
    listed = list(rows)
    position = F.lit(None).cast("int")
    for i, row in enumerate(listed):
        match = keys.equals(row[0])
        position = F.when(match, i + 1) if i == 0 else position.when(match, i + 1)
    index = names["cell"] + "_t"
    found = base.select("*", position.alias(index)).where(F.col(index).isNotNull())
    values = {
        f.name: F.element_at(F.array(*[F.lit(r[j + 1]) for r in listed]), F.col(index))
        for j, f in enumerate(given)
    }
    mu = 1 + ROW_FIELDS.index("mu")
    p0 = F.array(*[F.exp(-F.lit(float(r[mu]))) for r in listed])  # constants: folded once
    values[names["p0"]] = F.element_at(p0, F.col(index))
    return found.select(
        *[col(c) for c in base.columns],
        *[values[f.name].cast(f.dataType).alias(f.name) for f in fields],
    )


def _fields(names: dict[str, str]) -> list[T.StructField]:
    """The per-cell fields (:data:`CELL_FIELDS`) as the columns joined to the rows name them."""
    types = {"mu": T.DoubleType(), "p0": T.DoubleType(), "keep": T.IntegerType()}
    types["id"] = T.IntegerType()
    return [T.StructField(names[f], types.get(f, T.LongType()), False) for f in CELL_FIELDS]


def _with_p0(table: DataFrame, names: dict[str, str]) -> DataFrame:
    """A per-cell table with ``p0 = exp(-mu)`` added (Spark's ``exp``, the same on every side)."""
    return table.withColumn(names["p0"], F.exp(-F.col(names["mu"])))


def _join_cells(
    base: DataFrame, names: dict[str, str], table: DataFrame, broadcast: bool
) -> DataFrame:
    """The rows of ``base`` joined to a per-cell table on the cell key (the table's column
    ``<cell>_t``): broadcast, or with ``broadcast=False`` a shuffled hash join (no sort) for a
    table too large to send to every task."""
    key = names["cell"] + "_t"
    table = F.broadcast(table) if broadcast else table.hint("shuffle_hash")
    on = F.col(names["cell"]).eqNullSafe(table[key])
    return base.join(table, on=on).drop(key)


def _slots(joined: DataFrame, names: dict[str, str], seed: int, attempt: int) -> DataFrame:
    """Every row of ``joined`` (the input with its cell's fields) exploded into its slots, and
    each slot's number of copies (a kept original is slot 0 with one copy)."""
    n, keep = F.col(names["slots"]), F.col(names["keep"])
    first = F.when(keep == KEEP_NONE, 1).otherwise(0)
    slots = joined.select(
        "*",
        F.explode(F.when(n >= first, F.sequence(first, n.cast("int")))).alias(names["entry"]),
    )
    row, entry = F.col(names["row"]), F.col(names["entry"])
    # Each step is its own projection: the Poisson branches refer to u, and the explode to the
    # count, several times, and a column is computed once where an inlined expression would be
    # computed at every reference.
    u = slots.select("*", _uniform(seed, _U_STREAM, attempt, row, entry).alias(names["u"]))
    return u.select(
        "*",
        F.when(entry == KEEP_ENTRY, 1)
        .otherwise(_poisson(names["u"], names["mu"], names["p0"]))
        .alias(names["copies"]),
    )


def _copy_key(seed: int, attempt: int, names: dict[str, str], copy: Column) -> Column:
    """The key W of a slot's copy number ``copy`` (1, 2, ...): of the row alone for a kept
    original (slot 0)."""
    row, entry = F.col(names["row"]), F.col(names["entry"])
    return F.when(entry == KEEP_ENTRY, hash_key(seed, _KEEP_STREAM, attempt, row)).otherwise(
        hash_key(seed, _W_STREAM, attempt, row, entry, copy)
    )


def _copies(slots: DataFrame, names: dict[str, str], seed: int, attempt: int) -> DataFrame:
    """:func:`_slots` exploded into their copies, each with its key W."""
    count = F.col(names["copies"])
    copies = slots.select(
        "*", F.explode(F.when(count > 0, F.sequence(F.lit(1), count))).alias(names["copy"])
    )
    return copies.withColumn(names["w"], _copy_key(seed, attempt, names, F.col(names["copy"])))


def _poisson(u: str, mu: str, p0: str) -> Column:
    """A Poisson(``mu``) count by inversion of a uniform ``u`` in [0, 1), for ``mu <= 1`` (the
    arguments are column names): the smallest k with ``u < F(k)``,
    ``F(k) = exp(-mu) * sum(mu**i / i!, i <= k)``, capped at :data:`MAX_SLOT_COPIES`;
    :func:`spark_upsample.engine.draws.slot_cdf` computes the same values, operation for operation.

    The first :data:`EXPLICIT_COPIES` values are branches in Horner form, a few multiplications
    that Spark compiles; the tail (probability below 6e-4) is a loop over the recurrence
    ``p(k) = p(k - 1) * mu / k`` in a higher-order function, which Spark interprets but rarely
    reaches. Both keep the generated code small (compiling it costs milliseconds), and the
    expression is one SQL text, so building it is one call to Spark, not hundreds.
    """
    u, mu, p0 = (_quoted(name) for name in (u, mu, p0))

    def horner(k: int) -> str:
        h = "1.0D"
        for j in range(k, 0, -1):
            h = f"(1.0D + {mu} / {j}.0D * {h})"
        return h

    branches = " ".join(f"WHEN {u} < {p0} * {horner(k)} THEN {k}" for k in range(EXPLICIT_COPIES))
    last = EXPLICIT_COPIES - 1
    term = "1.0D"
    for j in range(1, EXPLICIT_COPIES):
        term = f"({term} * {mu} / {j}.0D)"
    p_next = f"(acc.p * {mu} / CAST(k AS DOUBLE))"
    step = (
        f"CASE WHEN acc.k IS NOT NULL THEN acc ELSE named_struct('f', acc.f + {p_next}, "
        f"'p', {p_next}, 'k', CASE WHEN {u} < acc.f + {p_next} THEN k END) END"
    )
    tail = (
        f"aggregate(sequence({EXPLICIT_COPIES}, {MAX_SLOT_COPIES - 1}), "
        f"named_struct('f', {p0} * {horner(last)}, 'p', {p0} * {term}, "
        f"'k', CAST(NULL AS INT)), (acc, k) -> {step}, acc -> coalesce(acc.k, "
        f"{MAX_SLOT_COPIES}))"
    )
    return F.expr(f"CASE {branches} ELSE {tail} END")


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _count_first(designs: Iterable[ClassDesign]) -> bool:
    """Whether the cut statistics should count the copies outside the windows before they
    collect the keys inside (see :func:`_cut_stats`): with more than
    :data:`SORT_FALLBACK_CELLS` cells, where at most :data:`COUNT_FIRST_SHARE` of the copies
    fall inside the windows. Small cells' windows hold most of their copies; counting those
    first only makes a row per copy twice (100,000 groups of 100 rows: 29-40 s of planning
    against 15-18 s)."""
    cells = copies = inside = 0.0
    for d in designs:
        cells += 1
        copies += d.rate_plus * d.count
        inside += d.rate_plus * d.count * (d.window[1] - d.window[0] + 1) / KEY_SPACE
    return cells > SORT_FALLBACK_CELLS and inside <= COUNT_FIRST_SHARE * copies


def _cut_stats(copies: DataFrame, names: dict[str, str], count_first: bool) -> DataFrame:
    """Per sampled or subset cell: its id (see :data:`CELL_FIELDS`), all
    copies, the copies of the classic sample (key below ``primary``), the copies below the
    window and inside it, the window's ``(want - below)``-th smallest key with the one after it
    (see :func:`choose_threshold`), and the most copies that share a key inside the window (more
    than 1 is a tie that the sorted keys may hide: no exact cut from them).

    The O(sqrt(draws)) keys inside the window are collected and sorted where they are
    aggregated (:mod:`spark_upsample.engine.cuts`), so a handful of numbers per cell reach the
    driver whatever the number of cells and rows. Spark collects with an object hash
    aggregation, which past :data:`SORT_FALLBACK_CELLS` cells in a task falls back to sorting
    every row it aggregates. With ``count_first`` the copies are first counted per (cell id,
    key inside the window, else null) by a plain hash aggregation, compiled, which leaves a row
    per cell and per key inside its window for the collecting one (1,000 classes at 10M rows:
    planning 11.8 s -> 6.3 s).
    """
    w, lo, hi = F.col(names["w"]), F.col(names["lo"]), F.col(names["hi"])
    counted = copies.where(
        (F.col(names["entry"]) != KEEP_ENTRY) | (F.col(names["keep"]) == KEEP_SUBSET)
    )
    window = CutWindow(lo, hi, F.col(names["want"]), "")
    if not count_first:
        stats = counted.groupBy(F.col(names["id"])).agg(
            F.count(F.lit(1)).alias("total"),
            F.count(F.when(w < F.col(names["primary"]), 1)).alias("primary"),
            *window_aggregates(w, w, window),
        )
        shared = F.lit(1)  # the keys are collected as many times as they occur
    else:
        keyed = counted.groupBy(
            F.col(names["id"]), F.when((w >= lo) & (w <= hi), w).alias(names["w"])
        ).agg(
            F.count(F.lit(1)).alias("n"),
            F.count(F.when(w < F.col(names["primary"]), 1)).alias("primary"),
            F.count(F.when(w < lo, 1)).alias("below"),
            F.max(F.col(names["want"])).alias("want"),
        )
        key = F.col(names["w"])
        stats = keyed.groupBy(F.col(names["id"])).agg(
            F.sum("n").alias("total"),
            F.sum("primary").alias("primary"),
            F.sum("below").alias("below"),
            F.max("want").alias("want"),
            F.array_sort(F.collect_list(key)).alias("window"),
            F.max(F.when(key.isNotNull(), F.col("n"))).alias("shared"),
        )
        shared = F.coalesce(F.col("shared"), F.lit(0))
    return stats.select(
        F.col(names["id"]), "total", "primary", *window_results(window), shared.alias("shared")
    )
