"""Exact cuts by counting: per cell, the k-th smallest of a uniform key, with no sort of the data.

A cut is the key that exactly ``want`` rows of a cell (or copies) are at or below. It is found in
one aggregation over the cell's keys: the number below a window ``[lo, hi]`` that holds the cut
with high probability (:func:`spark_upsample.engine.draws.design_class`,
:func:`~spark_upsample.engine.draws.design_subset`), and the O(sqrt(want)) values whose key lies
inside it, sorted where they are aggregated. :func:`spark_upsample.engine.draws.choose_threshold`
turns those numbers into the cut, or says that the window missed it (the caller retries with wider
margins).
Several cuts of the same cell share one aggregation, one window each. The counts come from an
earlier job over the same frame: :func:`check_same_rows` refuses an input that gives other rows
when it is read again, for which no exact cut exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from spark_upsample.errors import InvalidDataError


@dataclass(frozen=True)
class CutWindow:
    """One cut to find per cell, given by columns of the per-cell table joined to the rows.

    Attributes
    ----------
    lo, hi : the window of keys (inclusive) that holds the cut
    want : the rank of the cut: the number of values at or below it
    name : a prefix, unique among the windows of one aggregation, for the result columns
    """

    lo: Column
    hi: Column
    want: Column
    name: str


def window_aggregates(key: Column, value: Column, window: CutWindow) -> list[Column]:
    """Aggregate expressions over a cell's rows: those whose ``key`` is below the window, the
    wanted rank, and the sorted ``value`` of every row whose ``key`` is inside the window.

    ``value`` orders the rows: ``key`` itself, or a struct that starts with the key and breaks
    ties (struct values sort field by field).
    """
    inside = (key >= window.lo) & (key <= window.hi)
    return [
        F.count(F.when(key < window.lo, 1)).alias(f"{window.name}below"),
        F.max(window.want).alias(f"{window.name}want"),
        F.array_sort(F.collect_list(F.when(inside, value))).alias(f"{window.name}window"),
    ]


def window_results(window: CutWindow) -> list[Column]:
    """From the columns of :func:`window_aggregates`: the rows below the window, the rows in it,
    the ``(want - below)``-th smallest value in it and the value after it (null where there is
    none): the arguments of :func:`spark_upsample.engine.draws.choose_threshold` after the total."""
    name = window.name
    values = F.col(f"{name}window")
    need = (F.col(f"{name}want") - F.col(f"{name}below")).cast("int")
    return [
        F.col(f"{name}below"),
        F.size(values),
        F.when((need >= 1) & (need <= F.size(values)), F.element_at(values, need)),
        F.when((need >= 1) & (need < F.size(values)), F.element_at(values, need + 1)),
    ]


def check_same_rows(cell: Any, counted: int, seen: int) -> None:
    """Refuse an input that gave ``cell`` ``counted`` rows when its cells were counted and
    ``seen`` rows when the cut job read it again.

    Raises
    ------
    InvalidDataError
        ``seen != counted``: the input does not give the same rows each time it is read.
    """
    if seen != counted:
        raise InvalidDataError(
            f"The input gave {counted:,} row(s) of class {cell!r} when counted and {seen:,} "
            "when read again: it must give the same rows each time it is read. Materialise it "
            "first (write it out, or checkpoint it), or remove what changes it between reads "
            "(a nondeterministic expression or UDF, a source being written)."
        )
