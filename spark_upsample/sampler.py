"""The exact sampling engine: every class to an exact number of rows in one pass over the data.

:func:`draw_exact` takes, per class, how many of its original rows to keep (all, none, or a
uniformly random subset without replacement) and how many draws with replacement to add, and
returns a DataFrame with exactly that many rows per class. The draws follow
:mod:`spark_upsample.draws`: a per-row Poisson copy count by inversion (a broadcast hash join of
the rows with a small table of CDF thresholds), a uniform key per copy, and a per-class key cut
that keeps exactly the wanted number of copies. A subset keeps the rows whose own key is below a
cut found the same way.

Random numbers are hashes (xxhash64) of the seed and a row id from
``monotonically_increasing_id()`` taken right at the input, so a copy's key does not depend on
which other rows a query happens to read: the counting query and the final one see the same keys,
and a retried task recomputes the same values.

Cost: finding the cuts reads only the label column; the final frame reads the input once and has
no shuffle and no sort (only a broadcast of the threshold table).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample import faults
from spark_upsample.draws import (
    MAX_KEY,
    TAIL_SIGMAS,
    ClassDesign,
    choose_threshold,
    design_class,
    design_subset,
    poisson_inversion,
)
from spark_upsample.frames import col, internal_names

MAX_ATTEMPTS = 8  # each retry doubles the margins; a second attempt is already ~1e-11 rare

_TABLE_ROLES = ("label", "cut", "repeat", "entry", "primary", "lo", "hi", "want", "tau")
_ROLES = ("row", "u", "copy", "w") + _TABLE_ROLES
DETAIL_ROLES = ("row", "entry", "copy", "w")
_U_STREAM, _W_STREAM = 1, 2
KEEP_ENTRY = -1  # entry id of a kept original row; drawn copies have entries 0 (certain), 1, 2...


@dataclass(frozen=True)
class ClassAction:
    """What to do with one class of ``count`` rows.

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
    sample_sizes : per sampled or subset class, the size of the classic ``sample()`` before
        the exact correction (Poisson with replacement, Bernoulli for a subset)
    attempts : 1 unless a margin was too narrow
    detail : role -> internal column name of the detail columns (``row``: the row id, ``entry``:
        :data:`KEEP_ENTRY` for a kept original, ``w``: the copy's uniform key), when asked
    """

    df: DataFrame
    sample_sizes: dict[Any, int]
    attempts: int
    detail: dict[str, str]


def draw_exact(
    df: DataFrame,
    label_col: str,
    counts: Mapping[Any, int],
    actions: Mapping[Any, ClassAction],
    seed: int,
    detail: bool = False,
) -> ExactDraws:
    """Apply ``actions`` to every class of ``df``: exact counts, uniform choices, one pass.

    Parameters
    ----------
    df : input whose label column holds no nulls and only the classes in ``counts``; it must
        give the same rows in the same partitions each time it is read (a file scan or an
        in-memory frame does; persist anything else first)
    label_col : name of the label column (any type with equality, structs included)
    counts : rows per class in ``df``
    actions : per class of ``counts``; a class missing here is left out of the output. A class
        keeps a subset or draws copies, not both.
    seed : non-negative integer; the same seed and input give the same rows
    detail : keep the ``row``, ``entry``, ``copy`` and ``w`` columns (see :class:`ExactDraws`)

    Returns
    -------
    ExactDraws whose ``df`` has the columns of ``df`` (plus the detail columns when asked) and,
    for every class c, ``keep + draws`` rows: the kept rows a uniform subset, the draws i.i.d.
    uniform over the rows of c.

    Runs one Spark job that reads the label column only to find the cuts (plus one more in the
    rare case, ~1e-11 per class, that a margin was too narrow), and none to build the frame.
    """
    names = internal_names(df, *_ROLES)
    base = df.select("*", F.monotonically_increasing_id().alias(names["row"]))
    label_type = df.schema[label_col].dataType
    sampled = {c: a.draws for c, a in actions.items() if a.draws > 0}
    subsets = {c: a.keep for c, a in actions.items() if 0 < a.keep < counts[c]}
    keeps = {c for c, a in actions.items() if a.keep >= counts[c]}
    if set(sampled) & set(subsets):
        raise ValueError("a class cannot both keep a subset and draw copies")
    wanted = {**sampled, **subsets}

    for attempt in range(MAX_ATTEMPTS):
        sigmas = TAIL_SIGMAS * 2**attempt
        designs = {c: design_class(counts[c], d, sigmas) for c, d in sampled.items()}
        designs.update({c: design_subset(counts[c], k, sigmas) for c, k in subsets.items()})
        cuts: dict[Any, int] = {}
        sizes: dict[Any, int] = {}
        if designs:
            table = _table(df, label_type, names, designs, set(subsets), {}, set())
            copies = _copies(base, table, label_col, names, seed, attempt)
            for label, total, primary, below, in_window, at_cut, after_cut in \
                    _cut_stats(copies, names).collect():
                tau = choose_threshold(wanted[label], total, below, in_window, at_cut, after_cut)
                if tau is not None:
                    cuts[label], sizes[label] = tau, primary
        if len(cuts) == len(designs):
            break
    else:
        raise RuntimeError(f"no exact cut after {MAX_ATTEMPTS} attempts; please report this bug")

    table = _table(df, label_type, names, designs, set(subsets), cuts, keeps)
    copies = _copies(base, table, label_col, names, seed, attempt)
    tau = F.col(names["tau"])
    kept = copies.where((tau == F.lit(MAX_KEY)) | (F.col(names["w"]) <= tau))
    extra = [names[r] for r in DETAIL_ROLES] if detail else []
    return ExactDraws(
        df=faults.inject(kept.select(*[col(c) for c in df.columns], *extra)),
        sample_sizes=sizes,
        attempts=attempt + 1,
        detail={r: names[r] for r in DETAIL_ROLES} if detail else {},
    )


def _hash_key(seed: int, stream: int, attempt: int, *parts: Column) -> Column:
    """A uniform 63-bit key of the seed, a stream and attempt number, and the given columns."""
    salt = F.lit(seed).cast("long"), F.lit(stream * 1024 + attempt).cast("int")
    return F.shiftrightunsigned(F.xxhash64(*salt, *parts), 1)


def _table(
    df: DataFrame,
    label_type: T.DataType,
    names: dict[str, str],
    designs: Mapping[Any, ClassDesign],
    subsets: set[Any],
    cuts: Mapping[Any, int],
    keeps: set[Any],
) -> DataFrame:
    """The broadcast table: per class, its kept-original entry and its Poisson inversion entries.

    A row joins the entries of its class whose ``cut`` is below its key U: a kept original
    (cut -1) always, the certain copies (cut 0, ``repeat`` of them) unless U is 0, and copy j
    (cut F(j-1) * 2**63) when U is above it. ``want`` is the number of copies the class keeps
    (``design.draws``: the draws, or the subset's size) and ``tau`` its key cut (MAX_KEY keeps all); a subset class
    has only its kept-original entry, cut by ``tau``. Built without per-row schema checks: with
    many classes it has hundreds of thousands of rows, all made here.
    """
    rows: list[tuple[Any, ...]] = []
    for c in keeps:
        rows.append((c, -1, 1, KEEP_ENTRY, 0, 0, 0, 0, MAX_KEY))
    for c, design in designs.items():
        tau = cuts.get(c, MAX_KEY)
        meta = (design.primary_key, design.window[0], design.window[1], design.draws, tau)
        if c in subsets:
            rows.append((c, -1, 1, KEEP_ENTRY, *meta))
            continue
        inversion = poisson_inversion(design.rate_plus)
        if inversion.certain:
            rows.append((c, 0, inversion.certain, 0, *meta))
        rows.extend((c, cut, 1, j, *meta) for j, cut in enumerate(inversion.thresholds, start=1))
    schema = T.StructType(
        [T.StructField(names["label"], label_type, False)]
        + [T.StructField(names[r], T.LongType(), False) for r in _TABLE_ROLES[1:]]
    )
    spark = df.sparkSession
    if type(spark).__module__.startswith("pyspark.sql.connect"):
        return spark.createDataFrame(rows, schema)  # no per-row checks to skip; it warns if asked
    return spark.createDataFrame(rows, schema, verifySchema=False)


def _copies(
    base: DataFrame,
    table: DataFrame,
    label_col: str,
    names: dict[str, str],
    seed: int,
    attempt: int,
) -> DataFrame:
    """Every input row joined to its entries, certain copies exploded, and each copy's key W."""
    with_u = base.select("*", _hash_key(seed, _U_STREAM, attempt, F.col(names["row"])).alias(names["u"]))
    joined = with_u.join(
        F.broadcast(table),
        on=(col(label_col) == F.col(names["label"])) & (F.col(names["u"]) > F.col(names["cut"])),
        how="inner",
    )
    copies = joined.withColumn(
        names["copy"], F.explode(F.sequence(F.lit(1).cast("long"), F.col(names["repeat"])))
    )
    w = _hash_key(
        seed, _W_STREAM, attempt, F.col(names["row"]), F.col(names["entry"]), F.col(names["copy"])
    )
    return copies.withColumn(names["w"], w)


def _cut_stats(copies: DataFrame, names: dict[str, str]) -> DataFrame:
    """Per sampled or subset class: the label, all copies, the copies of the classic sample (key
    below ``primary``), the copies below the window and inside it, and the window's
    ``(want - below)``-th smallest key with the one after it (see :func:`choose_threshold`).

    The O(sqrt(draws)) keys inside the window are sorted where they are aggregated, so a handful
    of numbers per class reach the driver whatever the number of classes and rows.
    """
    w = F.col(names["w"])
    lo, hi = F.col(names["lo"]), F.col(names["hi"])
    stats = copies.groupBy(F.col(names["label"])).agg(
        F.count(F.lit(1)).alias("total"),
        F.count(F.when(w < F.col(names["primary"]), 1)).alias("primary"),
        F.count(F.when(w < lo, 1)).alias("below"),
        F.max(F.col(names["want"])).alias("want"),
        F.array_sort(F.collect_list(F.when((w >= lo) & (w <= hi), w))).alias("window"),
    )
    window, need = F.col("window"), (F.col("want") - F.col("below")).cast("int")
    return stats.select(
        F.col(names["label"]), "total", "primary", "below", F.size(window),
        F.when((need >= 1) & (need <= F.size(window)), F.element_at(window, need)),
        F.when((need >= 1) & (need < F.size(window)), F.element_at(window, need + 1)),
    )
