"""The plan of a resampling run, as a plain value: what happened to every class, and the seed."""

from __future__ import annotations

import datetime as _dt
import decimal
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload


@dataclass(frozen=True, slots=True)
class ClassPlan:
    """One class (of one group, with ``group_by``) before and after.

    Attributes
    ----------
    label : the class value, as Spark returns it (int, str, bool, float, ...); with several
        label columns, the tuple of their values in the order of ``label_col``
    count_before : rows of the class in the input
    target : rows of the class in the output (its total weight in weights mode)
    kept : original rows kept once each (all, none, or a uniform subset)
    draws : rows drawn with replacement
    sample_size : size of the classic sample before the exact correction (Poisson at fraction
        ``draws / count_before``, or Bernoulli at ``kept / count_before`` for a subset), or None
        when the class was not sampled
    group : the values of the ``group_by`` columns, or None without ``group_by``
    prior_factor : original prior / resampled prior of the class (within its group with
        ``group_by``): ``(count_before / rows before) / (target / rows after)``, the targets
        counting as weights in weights mode. A model trained on the resampled rows scores
        ``p'(c|x)``; ``p'(c|x) * prior_factor_c``, renormalised over the classes, is the
        probability under the original class priors (see :func:`spark_upsample.prior_correction`).
        None for a class with a target of 0 (the model never sees it); see
        :func:`prior_factors`.
    k_neighbors : SMOTE only: the neighbours each new row of the class chose from, ``k_neighbors``
        or, for a class of fewer than ``k_neighbors + 1`` rows, its rows less one; else None
    """

    label: Any
    count_before: int
    target: int
    kept: int
    draws: int = 0
    sample_size: int | None = None
    group: tuple[Any, ...] | None = None
    prior_factor: float | None = None
    k_neighbors: int | None = None

    @property
    def key(self) -> Any:
        """The label, or ``(*group, label)`` with ``group_by``: the key of the plan's counts."""
        return self.label if self.group is None else (*self.group, self.label)

    @property
    def count_after(self) -> int:
        """Rows of the class in the output: ``kept + draws``, always equal to ``target``."""
        return self.kept + self.draws

    @property
    def correction(self) -> str:
        """How the classic sample was made exact: ``"trim"``, ``"top-up"``, ``"none"`` (it hit
        the target), or ``"unsampled"`` for a class left as it is."""
        if self.sample_size is None:
            return "unsampled"
        wanted = self.draws or self.kept
        if self.sample_size > wanted:
            return "trim"
        if self.sample_size < wanted:
            return "top-up"
        return "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: label (and group) as JSON scalars (a label of several columns as a
        list of them), counts, the correction."""
        group = {} if self.group is None else {"group": [json_label(g) for g in self.group]}
        return {
            **group,
            "label": json_label(self.label),
            "count_before": self.count_before,
            "target": self.target,
            "count_after": self.count_after,
            "kept": self.kept,
            "draws": self.draws,
            "sample_size": self.sample_size,
            "correction": self.correction,
            "prior_factor": self.prior_factor,
            **({} if self.k_neighbors is None else {"k_neighbors": self.k_neighbors}),
        }


T_co = TypeVar("T_co", covariant=True)


class Deferred(Sequence[T_co]):
    """A tuple whose items are made on first use: a plan's per-cell entries for a run planned
    on the cluster (:mod:`spark_upsample.engine.cell_table`), which reach the driver only when
    something reads them. Its length is known without them."""

    def __init__(self, length: int, load: Callable[[], Sequence[T_co]]) -> None:
        self._length = length
        self._load: Callable[[], Sequence[T_co]] | None = load
        self._items: tuple[T_co, ...] = ()

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> T_co: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[T_co, ...]: ...

    def __getitem__(self, index: int | slice) -> T_co | tuple[T_co, ...]:
        return self.items[index]

    @property
    def items(self) -> tuple[T_co, ...]:
        """Every item, loaded once."""
        if self._load is not None:
            self._items, self._load = tuple(self._load()), None
        return self._items

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self.items == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.items)

    def __repr__(self) -> str:
        if self._load is not None:
            return f"Deferred({self._length} items, not loaded)"
        return f"Deferred({self._items!r})"


@dataclass(frozen=True)
class ResamplePlan:
    """What a resampling run does, per class, and everything needed to reproduce it.

    ``classes`` are in (group and) label order. Running the same input with the same parameters
    and ``seed`` gives the same output, row for row.

    Attributes
    ----------
    method : "upsample", "downsample" or "resample"
    label_col, group_by : the label column (a tuple of them for strata on several columns) and
        the grouping columns
    seed : the seed used (picked at random when none was given)
    sampling_strategy : the strategy or target, as text
    keep_originals, replacement : how classes grow and shrink
    weight_col : the weight column in weights mode, else None
    null_labels_dropped : rows left out for a null label
    classes : one :class:`ClassPlan` per class (per group and class with ``group_by``): a
        tuple, or a :class:`Deferred` sequence for a run planned on the cluster (``group_by``
        with more than 10,000 cells), read from Spark when first used
    single_class_groups : groups with one class only, left as they are (also :class:`Deferred`
        for a run planned on the cluster)
    row_identity : what the random numbers were keyed on (:mod:`spark_upsample.engine.identity`):
        ``"key columns"``, ``"file row index"`` or ``"partition position (same partitioning
        only)"``; only the last one depends on how the input is split into partitions
    key_cols : the key columns, with ``row_identity == "key columns"``
    row_identity_note : why the file row index of a Parquet input was not used (the query can
        repeat rows), else empty
    totals : ``(rows before, rows after)`` of a run planned on the cluster, whose ``classes``
        and ``single_class_groups`` are :class:`Deferred` (read from Spark when first used),
        else None
    """

    method: str
    label_col: str | tuple[str, ...]
    seed: int
    sampling_strategy: str
    keep_originals: bool
    replacement: bool
    null_labels_dropped: int
    classes: Sequence[ClassPlan]
    group_by: tuple[str, ...] = ()
    weight_col: str | None = None
    single_class_groups: Sequence[tuple[Any, ...]] = ()
    row_identity: str = "partition position (same partitioning only)"
    key_cols: tuple[str, ...] = ()
    row_identity_note: str = ""
    totals: tuple[int, int] | None = None

    @property
    def rows_before(self) -> int:
        """Rows in the input (after dropping null labels, if asked)."""
        if self.totals is not None:
            return self.totals[0]
        return sum(c.count_before for c in self.classes)

    @property
    def rows_after(self) -> int:
        """Rows in the output (each input row once in weights mode)."""
        if self.weight_col:
            return self.rows_before
        if self.totals is not None:
            return self.totals[1]
        return sum(c.count_after for c in self.classes)

    @property
    def counts_before(self) -> dict[Any, int]:
        """Rows per class key (the label, or ``(*group, label)``) in the input."""
        return {c.key: c.count_before for c in self.classes}

    @property
    def counts_after(self) -> dict[Any, int]:
        """Rows per class key in the output: the classes it holds (a target of 0 drops a class)."""
        if self.weight_col:
            return self.counts_before
        return {c.key: c.count_after for c in self.classes if c.count_after}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole plan."""
        return {
            "method": self.method,
            "label_col": self.label_col
            if isinstance(self.label_col, str)
            else list(self.label_col),
            "group_by": list(self.group_by),
            "seed": self.seed,
            "row_identity": self.row_identity,
            "row_identity_note": self.row_identity_note,
            "key_cols": list(self.key_cols),
            "sampling_strategy": self.sampling_strategy,
            "keep_originals": self.keep_originals,
            "replacement": self.replacement,
            "weight_col": self.weight_col,
            "null_labels_dropped": self.null_labels_dropped,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "classes": [c.to_dict() for c in self.classes],
            "single_class_groups": [
                [json_label(g) for g in group] for group in self.single_class_groups
            ],
        }


def class_name(label_col: str | tuple[str, ...], label: Any) -> str:
    """A class as the summary table names it: its value (``1``), or with several label columns
    each column with its value (``label=1, sex=F``)."""
    if isinstance(label_col, str):
        return str(label)
    return ", ".join(f"{c}={v}" for c, v in zip(label_col, label, strict=True))


def prior_factors(
    counts: Mapping[Any, int], targets: Mapping[Any, int], grouped: bool = False
) -> dict[Any, float | None]:
    """:attr:`ClassPlan.prior_factor` of every cell key: the share of its group's rows the class
    had, over the share of its group's targets it got (the group is ``key[:-1]`` when
    ``grouped``; else there is one group). None for a target of 0."""
    before: dict[Any, int] = defaultdict(int)
    after: dict[Any, int] = defaultdict(int)
    for key, n in counts.items():
        group = key[:-1] if grouped else None
        before[group] += n
        after[group] += targets[key]
    factors: dict[Any, float | None] = {}
    for key, n in counts.items():
        group = key[:-1] if grouped else None
        target = targets[key]
        factors[key] = (n / before[group]) / (target / after[group]) if target else None
    return factors


def json_label(label: Any) -> Any:
    """A label as a JSON scalar: bool, int, float and str as they are, anything else as str; the
    tuple of a label of several columns as a list of those."""
    if isinstance(label, tuple):
        return [json_label(v) for v in label]
    if label is None or isinstance(label, (bool, int, float, str)):
        return label
    if isinstance(label, (decimal.Decimal, _dt.date, _dt.datetime)):
        return str(label)
    return repr(label)
