"""Exact stratified splits and folds: :func:`split`, :func:`split_with_plan`, :func:`with_folds`.

Per cell (a class, or a (group, class) pair with ``group_by``) the parts get exact sizes
(:func:`spark_upsample.engine.parts.part_sizes`). Every row gets a uniform 63-bit key, a hash of
the seed and its identity (:mod:`spark_upsample.engine.identity`); the rows are ranked by (key,
identity) within their cell, and part j takes the ranks between the cumulative sizes of the parts
before it and its own. The ranks are never computed: the key at each cumulative size (a cut) is
found by counting (:mod:`spark_upsample.engine.cuts`), and a row's part is the number of its cell's
cuts below it. So each part is a uniformly random subset of its cell, the parts are disjoint and
together hold every row once, and the same seed gives the same rows on any layout (with key columns
or a Parquet file row index as the identity).

Cost: a count per cell and one job over the cell, key and identity columns for the cuts (plus
one more in the rare case, ~1e-11 per cut, that a margin was too narrow); each part then reads the
input once, joined to a broadcast table of one row per cell, with no shuffle and no sort. Only
counts and the cuts, a few numbers per cell, reach the driver.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.cuts import (
    CutWindow,
    check_same_rows,
    window_aggregates,
    window_results,
)
from spark_upsample.engine.draws import MAX_KEY, TAIL_SIGMAS, choose_threshold, design_subset
from spark_upsample.engine.frames import col, describe_label, internal_names, label_columns
from spark_upsample.engine.identity import row_identity
from spark_upsample.engine.parts import check_folds, check_fractions, next_first, part_sizes
from spark_upsample.engine.pipeline import (
    check_cell_columns,
    column_names,
    count_cells,
    resolve_seed,
)
from spark_upsample.engine.plan import json_label
from spark_upsample.engine.sampler import MAX_ATTEMPTS, hash_key
from spark_upsample.engine.strategy import ordered_classes
from spark_upsample.errors import EmptyInputError, InvalidLabelError, InvalidParameterError

log = logging.getLogger(__name__)

_SPLIT_STREAM = 5
_MAX_LONG = 2**63 - 1
_BELOW_ALL = (-1, 0)  # the cut before the first row: no key is at or below it
_ABOVE_ALL = (MAX_KEY, _MAX_LONG)  # the cut after the last row


@dataclass(frozen=True)
class CellParts:
    """One cell and its rows per part.

    Attributes
    ----------
    label : the class value
    count : rows of the cell in the input
    sizes : rows per part, in the order of :attr:`SplitPlan.parts`; they add up to ``count``
    group : the values of the ``group_by`` columns, or None without ``group_by``
    """

    label: Any
    count: int
    sizes: tuple[int, ...]
    group: tuple[Any, ...] | None = None

    @property
    def key(self) -> Any:
        """The label, or ``(*group, label)`` with ``group_by``."""
        return self.label if self.group is None else (*self.group, self.label)


@dataclass(frozen=True)
class SplitPlan:
    """What a split did, per cell, and everything needed to reproduce it.

    Attributes
    ----------
    label_col, group_by : the label and grouping columns
    seed : the seed used (picked at random when none was given)
    parts : the part names, in the order given
    fractions : the fraction of each part, normalised to add up to 1
    cells : one :class:`CellParts` per cell, in (group and) label order
    row_identity, key_cols, row_identity_note : what the random keys were keyed on, and why
        not on the file row index (as in :class:`spark_upsample.ResamplePlan`)
    """

    label_col: str | tuple[str, ...]
    seed: int
    parts: tuple[str, ...]
    fractions: tuple[float, ...]
    cells: tuple[CellParts, ...]
    group_by: tuple[str, ...] = ()
    row_identity: str = ""
    key_cols: tuple[str, ...] = ()
    row_identity_note: str = ""

    @property
    def rows(self) -> int:
        """Rows in the input, every one of them in exactly one part."""
        return sum(c.count for c in self.cells)

    @property
    def part_rows(self) -> dict[str, int]:
        """Rows per part."""
        return {p: sum(c.sizes[j] for c in self.cells) for j, p in enumerate(self.parts)}

    def part_counts(self, part: str) -> dict[Any, int]:
        """Rows per cell key in ``part`` (cells it has no rows of are left out)."""
        j = self.parts.index(part)
        return {c.key: c.sizes[j] for c in self.cells if c.sizes[j]}

    def to_dict(self, max_cells: int | None = None) -> dict[str, Any]:
        """JSON-ready dict: the settings, rows per part, and the first ``max_cells`` cells
        (all by default), each with its label (and group), count and rows per part."""
        cells = self.cells if max_cells is None else self.cells[:max_cells]
        return {
            "label_col": (
                self.label_col if isinstance(self.label_col, str) else list(self.label_col)
            ),
            "group_by": list(self.group_by),
            "seed": self.seed,
            "row_identity": self.row_identity,
            "row_identity_note": self.row_identity_note,
            "key_cols": list(self.key_cols),
            "fractions": dict(zip(self.parts, self.fractions, strict=True)),
            "rows": self.rows,
            "part_rows": self.part_rows,
            "cells": [
                {
                    **({} if c.group is None else {"group": [json_label(g) for g in c.group]}),
                    "label": json_label(c.label),
                    "count": c.count,
                    **dict(zip(self.parts, c.sizes, strict=True)),
                }
                for c in cells
            ],
        }


class Split(NamedTuple):
    """The parts (name -> DataFrame, in the order given) and the plan that made them."""

    parts: dict[str, DataFrame]
    plan: SplitPlan


def split(
    df: DataFrame,
    label_col: str | Sequence[str],
    fractions: dict[str, float],
    *,
    seed: int | None = None,
    group_by: Sequence[str] = (),
    key_cols: Sequence[str] | None = None,
) -> dict[str, DataFrame]:
    """An exact stratified split: the parts of :func:`split_with_plan`, without the plan."""
    return split_with_plan(
        df, label_col, fractions, seed=seed, group_by=group_by, key_cols=key_cols
    ).parts


def split_with_plan(
    df: DataFrame,
    label_col: str | Sequence[str],
    fractions: dict[str, float],
    *,
    seed: int | None = None,
    group_by: Sequence[str] = (),
    key_cols: Sequence[str] | None = None,
) -> Split:
    """Split ``df`` into parts of exact sizes per class (per group and class with ``group_by``).

    Parameters
    ----------
    df : DataFrame
        The input; it must give the same rows each time it is read (files, tables and in-memory
        frames do).
    label_col : str or list of str
        The class column, or several (as in :func:`spark_upsample.upsample`). Null labels are a
        class of their own here: every row lands in a part.
    fractions : dict of str to float
        Two or more parts and their fractions, adding up to 1, e.g.
        ``{"train": 0.8, "valid": 0.1, "test": 0.1}``. Names start with a letter or digit,
        followed by letters, digits, ``_`` or ``-`` (the job writes each to a folder).
    seed : int, optional
        Non-negative integer below 2**63; None picks one (it is in the plan).
    group_by : list of str
        Stratify on (group, class) cells.
    key_cols : list of str, optional
        Columns that identify a row within its class: the same parts for the same seed however
        the input is split into files and partitions (see :mod:`spark_upsample.engine.identity`).

    Returns
    -------
    Split
        ``parts``: name -> DataFrame with the columns of ``df``. In every cell of ``c`` rows the
        parts have the largest-remainder sizes of ``fraction * c`` (adding up to ``c``; parts
        with equal remainders get the extra rows in turn, cell after cell); each part is a
        uniformly random subset of the cell, the parts are disjoint and together every row
        once. ``plan``: a :class:`SplitPlan` with the sizes per cell.

    Raises
    ------
    InvalidParameterError
        Bad fractions or part names (:func:`spark_upsample.engine.parts.check_fractions`), seed or
        column lists.
    MissingColumnError, InvalidLabelError, DuplicateKeyError, EmptyInputError
        As :func:`spark_upsample.upsample_with_plan` (a NaN label is refused; a null one is not,
        and ``key_cols`` must not repeat among the null-label rows either).
    InvalidDataError
        The input gave a cell other rows when read for the cuts than when counted: it does not
        give the same rows each time it is read.
    """
    names, shares = check_fractions(fractions)
    assigned, part, plan = _assign(df, label_col, names, shares, seed, group_by, key_cols)
    columns = [col(c) for c in df.columns]
    parts = {
        name: assigned.where(F.col(part) == j).select(*columns) for j, name in enumerate(names)
    }
    return Split(parts, plan)


def with_folds(
    df: DataFrame,
    label_col: str | Sequence[str],
    k: int,
    *,
    seed: int | None = None,
    fold_col: str = "fold",
    group_by: Sequence[str] = (),
    key_cols: Sequence[str] | None = None,
) -> DataFrame:
    """``df`` with a fold column for ``CrossValidator(foldCol=...)``: stratified, exact folds.

    Every row gets a fold number in ``0 .. k - 1`` (an integer column named ``fold_col``). In
    every class (every (group, class) cell with ``group_by``) the folds' sizes differ by at
    most one, and the rows of each fold are a uniformly random subset; the classes' leftover
    rows go to the folds in turn, so the folds' totals differ by at most one too. ``seed``,
    ``group_by`` and ``key_cols`` are as in :func:`split_with_plan`; the same seed gives the
    same folds on any layout.

    Raises as :func:`split_with_plan`; also :class:`~spark_upsample.InvalidParameterError` for
    ``k`` below 2 or a ``fold_col`` that is already a column.
    """
    k = check_folds(k)
    if not isinstance(fold_col, str) or not fold_col:
        raise InvalidParameterError(f"fold_col must be a column name. Got {fold_col!r} instead.")
    if fold_col.lower() in {c.lower() for c in df.columns}:
        raise InvalidParameterError(
            f"fold_col={fold_col!r} is already a column of the input; choose another name."
        )
    names = tuple(str(i) for i in range(k))
    assigned, part, _ = _assign(
        df, label_col, names, (Fraction(1, k),) * k, seed, group_by, key_cols
    )
    return assigned.select(*[col(c) for c in df.columns], F.col(part).alias(fold_col))


def _assign(
    df: DataFrame,
    label_col: str | Sequence[str],
    names: tuple[str, ...],
    shares: tuple[Fraction, ...],
    seed: int | None,
    group_by: Sequence[str],
    key_cols: Sequence[str] | None,
) -> tuple[DataFrame, str, SplitPlan]:
    """``df`` with an integer column (its name returned) holding each row's part index, and the
    plan. Runs the count and the cut jobs; builds the frame without running it."""
    group_names = column_names("group_by", group_by)
    key_names = column_names("key_cols", key_cols or ())
    label_col = label_columns(label_col)
    check_cell_columns(df, label_col, group_names, key_names)
    seed = resolve_seed(seed)
    identity = row_identity(df, key_names)
    m = len(shares)
    roles = (
        "row",
        "cell",
        "u",
        "part",
        *(f"{f}{j}" for j in range(m - 1) for f in ("lo", "hi", "want", "cut", "cid")),
    )
    n = internal_names(df, *roles)
    base = df.select("*", identity.column.alias(n["row"]))
    keys = CellKeys.of(base, label_col, group_names)
    counts = count_cells(base, keys, key_names, null_label_cells=True)
    _check_counts(counts, label_col)

    order: list[Any] = ordered_classes(counts)
    sizes, first = {}, 0
    for cell in order:
        sizes[cell] = part_sizes(counts[cell], shares, first)
        first = next_first(counts[cell], shares, first)
    bounds = {c: _cumulative(s) for c, s in sizes.items()}
    cuts, attempt = _find_cuts(base, keys, n, counts, bounds, seed)

    fields = [
        T.StructField(n[f"{f}{j}"], T.LongType(), False)
        for j in range(m - 1)
        for f in ("cut", "cid")
    ]
    rows = [(c, *[v for cut in cuts[c] for v in cut]) for c in counts]
    table = keys.table(df.sparkSession, rows, fields, n["cell"])
    joined = base.join(
        F.broadcast(table), on=keys.column().eqNullSafe(F.col(n["cell"])), how="inner"
    )
    # The key is its own projection: the comparisons below refer to it 2 (m - 1) times.
    keyed = joined.select(
        "*", hash_key(seed, _SPLIT_STREAM, attempt, F.col(n["row"])).alias(n["u"])
    )
    u, row = F.col(n["u"]), F.col(n["row"])
    above = [
        (u > F.col(n[f"cut{j}"])) | ((u == F.col(n[f"cut{j}"])) & (row > F.col(n[f"cid{j}"])))
        for j in range(m - 1)
    ]
    part: Column = F.lit(0)
    for a in above:
        part = part + F.when(a, 1).otherwise(0)
    assigned = keyed.select("*", part.cast("int").alias(n["part"]))

    plan = SplitPlan(
        label_col=label_col,
        seed=seed,
        parts=names,
        fractions=tuple(float(s) for s in shares),
        cells=tuple(
            CellParts(
                label=keys.label_of(c),
                count=counts[c],
                sizes=sizes[c],
                group=tuple(c[:-1]) if group_names else None,
            )
            for c in order
        ),
        group_by=group_names,
        row_identity=identity.kind,
        key_cols=key_names,
        row_identity_note=identity.note,
    )
    log.info(
        "split plan: seed=%d, %d cell(s), %s rows into %s, row identity: %s",
        seed,
        len(counts),
        f"{plan.rows:,}",
        ", ".join(f"{p} {r:,}" for p, r in plan.part_rows.items()),
        identity.described,
    )
    return assigned, n["part"], plan


def _cumulative(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """The ranks at which the parts end, but the last (the cell's count)."""
    ends, total = [], 0
    for size in sizes[:-1]:
        total += size
        ends.append(total)
    return tuple(ends)


def _find_cuts(
    base: DataFrame,
    keys: CellKeys,
    n: dict[str, str],
    counts: dict[Any, int],
    bounds: dict[Any, tuple[int, ...]],
    seed: int,
) -> tuple[dict[Any, list[tuple[int, int]]], int]:
    """Per cell, the (key, identity) at or below which exactly each of ``bounds`` rows lie,
    and the attempt whose keys they are for. One job over the cell, key and identity columns;
    a window that missed its cut (or two rows sharing key and identity at it) makes a new
    attempt with wider windows and fresh keys."""
    known = {c: [_BELOW_ALL if b == 0 else _ABOVE_ALL for b in bs] for c, bs in bounds.items()}
    inner = {c: [j for j, b in enumerate(bs) if 0 < b < counts[c]] for c, bs in bounds.items()}
    inner = {c: js for c, js in inner.items() if js}
    if not inner:
        return known, 0
    m1 = len(next(iter(bounds.values())))
    windows = [
        CutWindow(F.col(n[f"lo{j}"]), F.col(n[f"hi{j}"]), F.col(n[f"want{j}"]), f"c{j}_")
        for j in range(m1)
    ]
    fields = [
        T.StructField(n[f"{f}{j}"], T.LongType(), False)
        for j in range(m1)
        for f in ("lo", "hi", "want")
    ]
    cell_t = n["cell"] + "_t"
    for attempt in range(MAX_ATTEMPTS):
        sigmas = TAIL_SIGMAS * 2**attempt
        rows = []
        for c, js in inner.items():
            values: list[int] = []
            for j in range(m1):
                if j in js:
                    design = design_subset(counts[c], bounds[c][j], sigmas)
                    values += [design.window[0], design.window[1], bounds[c][j]]
                else:
                    values += [1, 0, 0]  # an empty window: this cut is known
            rows.append((c, *values))
        table = keys.table(base.sparkSession, rows, fields, cell_t)
        joined = base.join(
            F.broadcast(table), on=keys.column().eqNullSafe(F.col(cell_t)), how="inner"
        )
        keyed = joined.select(
            cell_t,
            n["row"],
            *[F.col(f.name) for f in fields],
            hash_key(seed, _SPLIT_STREAM, attempt, F.col(n["row"])).alias(n["u"]),
        )
        u = F.col(n["u"])
        value = F.struct(u.alias("u"), F.col(n["row"]).alias("id"))
        stats = keyed.groupBy(cell_t).agg(
            F.count(F.lit(1)).alias("total"),
            *[a for w in windows for a in window_aggregates(u, value, w)],
        )
        cuts, found = {c: list(v) for c, v in known.items()}, 0
        seen: set[Any] = set()
        for r in stats.select(
            cell_t, "total", *[x for w in windows for x in window_results(w)]
        ).collect():
            cell = keys.to_python(r[0])
            total, stats_of = r[1], r[2:]
            seen.add(cell)
            check_same_rows(cell, counts[cell], total)
            for j in inner[cell]:
                below, in_window, at_cut, after_cut = stats_of[4 * j : 4 * j + 4]
                cut = choose_threshold(
                    bounds[cell][j],
                    total,
                    below,
                    in_window,
                    None if at_cut is None else tuple(at_cut),
                    None if after_cut is None else tuple(after_cut),
                )
                if cut is not None:
                    cuts[cell][j] = cut
                    found += 1
        for cell in inner.keys() - seen:
            check_same_rows(cell, counts[cell], 0)
        if found == sum(len(js) for js in inner.values()):
            log.debug("split cuts of %d cell(s) after %d attempt(s)", len(inner), attempt + 1)
            return cuts, attempt
    raise RuntimeError(f"no exact cut after {MAX_ATTEMPTS} attempts; please report this bug")


def _check_counts(counts: dict[Any, int], label_col: str | tuple[str, ...]) -> None:
    if not counts:
        raise EmptyInputError("The input has no rows; nothing to split.")
    nans = sum(n for key, n in counts.items() if _has_nan(key))
    if nans:
        raise InvalidLabelError(
            f"{nans} row(s) have a NaN {describe_label(label_col)} (or group_by value); NaN is "
            "not a class. Replace or filter them."
        )


def _has_nan(value: Any) -> bool:
    if isinstance(value, tuple):
        return any(_has_nan(v) for v in value)
    return isinstance(value, float) and math.isnan(value)
