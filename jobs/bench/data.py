"""The benchmark's inputs: Parquet files generated once under ``<out>/data``, and their targets.

Every input has an integer ``id``, 8 float columns, an 8-character string ``tag`` and an integer
label; a group case has an integer group column ``g`` too. The shapes:

- 3 classes: 98 / 1.5 / 0.5 %, strategy "auto" (every class to the majority's count);
- 1000 classes: three large ones (60 / 25 / 12 %) and 997 small ones sharing 3 % Zipf-like, the
  small ones raised to one common count so that the output has as many rows as the 3-class
  case's (a dict strategy);
- groups: ``G`` groups of ``r`` rows each, 90/10 over labels 0 and 1 in every group (exactly
  ``r - ceil(r / 10)`` and ``ceil(r / 10)``), ``group_by=["g"]``, strategy "auto": 2G cells;
- high ratio: 997 classes of exactly 15 rows each, raised to 1.5 % of the input rows each
  (45,000 at 3M rows, 3,000 times their count; a dict strategy, ``max_ratio=None``), and three
  large classes (60 / 25 / 12 of 97) sharing the other rows, left as they are.
- SMOTE (its own columns: 18 doubles ``f0`` .. ``f17`` and the label, like the SUSY data set):
  shaped like SUSY at imbalance ratio 16, 2,712,173 rows of label 0 and 169,623 of label 1
  times ``factor`` (1 or 10), balanced to 1:1 by SMOTE with k = 5 (strategy "auto"); each class
  drawn from its own correlated distribution (:func:`smote_features`); ``--smote-scale``
  shrinks both counts for a dry run.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from bench.config import (
    GROUP,
    K_NEIGHBORS,
    LABEL,
    SMALL_CLASSES,
    SMALL_ROWS,
    SMOTE_FEATURES,
    SUSY_MAJORITY,
    SUSY_MINORITY,
    BenchConfig,
)
from spark_upsample.engine.strategy import DEFAULT_MAX_RATIO, over_sampling_targets

FLOAT_COLUMNS = 8
THREE_CLASS_SHARES = (0.98, 0.015, 0.005)
MANY_LARGE_SHARES = (0.60, 0.25, 0.12)  # 97 %; the other classes share the remaining 3 %
OUTPUT_FACTOR = 3 * THREE_CLASS_SHARES[0]  # output rows / input rows of "auto" on 98/1.5/0.5
HIGH_RATIO_SHARE = 0.015  # the target of each small class of the high-ratio case / input rows
ROWS_PER_FILE = 500_000
SCRAMBLE = 2_147_483_647  # a prime: id -> id * SCRAMBLE mod rows permutes 0 .. rows - 1 (rows < it)


@dataclass(frozen=True)
class Case:
    """One input and what the resampling should make of it.

    Attributes
    ----------
    shape : "classes", "groups" or "high-ratio"
    rows : input rows
    path : the Parquet input
    counts : rows per label in each cell (in every group of a group case: they are all alike)
    targets : rows per label in each cell of the output
    strategy : the library's ``sampling_strategy`` ("auto" or a dict label -> target)
    groups : number of groups of a group case (``group_by`` on :data:`GROUP`), else 0
    max_ratio : the library's ``max_ratio`` (None: no limit)
    """

    shape: str
    rows: int
    path: Path
    counts: dict[int, int]
    targets: dict[int, int]
    strategy: str | dict[int, int]
    groups: int = 0
    max_ratio: float | None = DEFAULT_MAX_RATIO
    feature_cols: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        if self.shape == "smote":
            return (
                f"{self.rows:,} rows x {len(self.feature_cols)} features, "
                f"{self.counts[1]:,} minority, SMOTE k={K_NEIGHBORS}"
            )
        if self.shape == "groups":
            return f"{self.rows:,} rows, {self.groups:,} groups x {len(self.counts)} classes"
        if self.shape == "high-ratio":
            small = self.targets[len(MANY_LARGE_SHARES)]
            return (
                f"{self.rows:,} rows, high ratio: {SMALL_CLASSES} classes of {SMALL_ROWS} rows "
                f"to {small:,} each + 3 large"
            )
        return f"{self.rows:,} rows, {len(self.counts)} classes"

    @property
    def group_by(self) -> tuple[str, ...]:
        return (GROUP,) if self.groups else ()

    @property
    def cells(self) -> int:
        """The (group, class) cells: the classes of the plan."""
        return len(self.counts) * max(self.groups, 1)

    @property
    def out_rows(self) -> int:
        return sum(self.targets.values()) * max(self.groups, 1)


def class_case(spark: SparkSession, config: BenchConfig, rows: int, classes: int) -> Case:
    """The 3- or 1000-class input of ``rows`` rows."""
    path, counts = ensure_input(
        spark,
        config,
        f"rows={rows}_classes={classes}",
        rows,
        {LABEL: label_column(classes, config.seed)},
    )
    if classes == 3:
        return Case("classes", rows, path, counts, auto_targets(counts), "auto")
    targets = equal_total_targets(counts, round(OUTPUT_FACTOR * rows))
    return Case("classes", rows, path, counts, targets, changed(counts, targets))


def group_case(spark: SparkSession, config: BenchConfig, groups: int) -> Case:
    """``groups`` groups of ``config.group_rows`` rows, 90/10 over two labels in each. Row
    ``j = id * SCRAMBLE mod rows`` is in group ``j mod groups`` and is of label 1 when
    ``j div groups`` is a multiple of 10, so the groups and the labels spread over every file."""
    rows = groups * config.group_rows
    j = f"pmod(id * {SCRAMBLE}, {rows})"
    columns = {
        GROUP: F.expr(f"CAST({j} % {groups} AS INT)"),
        LABEL: F.expr(f"CAST(CASE WHEN ({j} div {groups}) % 10 = 0 THEN 1 ELSE 0 END AS INT)"),
    }
    path, totals = ensure_input(spark, config, f"rows={rows}_groups={groups}", rows, columns)
    counts = {label: n // groups for label, n in totals.items()}
    return Case("groups", rows, path, counts, auto_targets(counts), "auto", groups)


def high_ratio_case(spark: SparkSession, config: BenchConfig, rows: int) -> Case:
    """997 classes (labels 3 .. 999) of 15 rows to 1.5 % of ``rows`` each, and 3 large ones
    (labels 0 .. 2). Rows ``j = id * SCRAMBLE mod rows`` below 997 * 15 are the small classes'."""
    j = f"pmod(id * {SCRAMBLE}, {rows})"
    large = len(MANY_LARGE_SHARES)
    total = sum(MANY_LARGE_SHARES)
    edges = [sum(MANY_LARGE_SHARES[: i + 1]) / total for i in range(large - 1)]
    label = F.when(
        F.expr(f"{j} < {SMALL_CLASSES * SMALL_ROWS}"), F.expr(f"{large} + {j} div {SMALL_ROWS}")
    ).otherwise(pick(uniform(config.seed), edges, large - 1))
    path, counts = ensure_input(spark, config, f"rows={rows}_highratio", rows, {LABEL: label})
    small = round(HIGH_RATIO_SHARE * rows)
    targets = {c: n if c < large else small for c, n in counts.items()}
    return Case("high-ratio", rows, path, counts, targets, changed(counts, targets), max_ratio=None)


def smote_case(config: BenchConfig, factor: int) -> Case:
    """The SUSY-shaped input: :data:`SUSY_MAJORITY` rows of label 0 and ``factor`` times
    :data:`SUSY_MINORITY` of label 1 (both times ``config.smote_scale``), 18 double features;
    strategy "auto" (1:1). Written with pyarrow in files of :data:`ROWS_PER_FILE` rows, each
    from its own seeded generator, so the data are the same on every machine."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    majority = round(SUSY_MAJORITY * config.smote_scale)
    minority = round(SUSY_MINORITY * factor * config.smote_scale)
    rows = majority + minority
    counts = {0: majority, 1: minority}
    name = f"smote_rows={rows}_minority={minority}_seed={config.seed}"
    path = config.out / "data" / name
    features = tuple(f"f{i}" for i in range(SMOTE_FEATURES))
    if not (path / "_bench_counts.json").exists():
        print(f"generating {path} ...", flush=True)
        path.mkdir(parents=True, exist_ok=True)
        shapes = class_distributions(config.seed)
        for part, start in enumerate(range(0, rows, ROWS_PER_FILE)):
            ids = np.arange(start, min(start + ROWS_PER_FILE, rows), dtype=np.int64)
            labels = ((ids * SCRAMBLE) % rows < minority).astype(np.int32)  # exactly `minority`
            rng = np.random.default_rng([config.seed, part])
            x = smote_features(rng, labels, shapes)
            columns = {f: x[:, i] for i, f in enumerate(features)} | {LABEL: labels}
            pq.write_table(pa.table(columns), path / f"part-{part:05d}.parquet")
        (path / "_bench_counts.json").write_text(json.dumps({str(c): n for c, n in counts.items()}))
    return Case("smote", rows, path, counts, auto_targets(counts), "auto", feature_cols=features)


def class_distributions(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per label, a mean and a lower-triangular factor of a covariance matrix, both drawn from
    ``seed``: the classes differ in location, scale and correlation."""
    rng = np.random.default_rng(seed)
    shapes = []
    for shift in (0.0, 0.8):
        mixing = rng.normal(size=(SMOTE_FEATURES, SMOTE_FEATURES)) / math.sqrt(SMOTE_FEATURES)
        covariance = mixing @ mixing.T + 0.3 * np.eye(SMOTE_FEATURES)
        mean = shift * rng.normal(size=SMOTE_FEATURES)
        shapes.append((mean, np.linalg.cholesky(covariance)))
    return shapes


def smote_features(
    rng: np.random.Generator, labels: np.ndarray, shapes: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Rows of correlated normal features, label by label from ``shapes``; the first 8 columns
    made positive and skewed like SUSY's kinematic ones (momenta: exponentials of normals)."""
    z = rng.standard_normal((len(labels), SMOTE_FEATURES))
    x = np.empty_like(z)
    for label, (mean, factor) in enumerate(shapes):
        mine = labels == label
        x[mine] = mean + z[mine] @ factor.T
    x[:, :8] = np.exp(0.5 * x[:, :8])
    return x


def ensure_input(
    spark: SparkSession, config: BenchConfig, name: str, rows: int, columns: dict[str, Column]
) -> tuple[Path, dict[int, int]]:
    """The input ``<out>/data/<name>_seed=<seed>`` (generated once, then reused) and its rows per
    label. ``columns``: the columns after the common ones (the label's last), cast to int."""
    path = config.out / "data" / f"{name}_seed={config.seed}"
    meta = path / "_bench_counts.json"
    if not meta.exists():
        s = config.seed
        frame = spark.range(0, rows, numPartitions=max(4, math.ceil(rows / ROWS_PER_FILE))).select(
            "id",
            *[F.rand(s + 1 + i).alias(f"f{i}") for i in range(FLOAT_COLUMNS)],
            F.substring(F.md5(F.col("id").cast("string")), 1, 8).alias("tag"),
            *[c.cast("int").alias(n) for n, c in columns.items()],
        )
        print(f"generating {path} ...", flush=True)
        frame.write.mode("overwrite").parquet(str(path))
        counts = label_counts(spark, path)
        meta.write_text(json.dumps({str(c): n for c, n in sorted(counts.items())}))
    return path, {int(c): n for c, n in json.loads(meta.read_text()).items()}


def uniform(seed: int) -> Column:
    """A uniform in [0, 1) per row: a hash of the id, not ``rand()``, because a ``rand()``
    repeated in a CASE chain is a new, unsynchronised stream in every branch."""
    return F.shiftrightunsigned(F.xxhash64(F.lit(seed), F.col("id")), 11) / float(1 << 53)


def pick(u: Column, edges: list[float], otherwise: Any) -> Column:
    """Label ``i`` for the first ``edges[i]`` above ``u``, else ``otherwise``."""
    label = F.when(u < edges[0], 0)
    for i, edge in enumerate(edges[1:], start=1):
        label = label.when(u < edge, i)
    return label.otherwise(otherwise)


def label_column(classes: int, seed: int) -> Column:
    """The label of a generated row: 98/1.5/0.5 % for 3 classes; for 1000, three large classes
    (60/25/12 %) and 997 small ones sharing 3 % with P(k) ~ log((k+1)/k), about 1/k. The first
    1000 ids get label = id so that every class has at least one row."""
    u = uniform(seed)
    if classes == 3:
        a, b, _ = THREE_CLASS_SHARES
        return pick(u, [a, a + b], 2)
    edges = [sum(MANY_LARGE_SHARES[: i + 1]) for i in range(len(MANY_LARGE_SHARES))]
    small = classes - len(MANY_LARGE_SHARES)
    v = (u - edges[-1]) / (1 - edges[-1])  # uniform in [0, 1) over the small classes
    k = F.floor(F.exp(v * math.log(small + 1))).cast("int")  # 1 .. small
    drawn = pick(u, edges, k + 2)
    return F.when(F.col("id") < classes, F.col("id").cast("int")).otherwise(drawn)


def auto_targets(counts: Mapping[Any, int]) -> dict[Any, int]:
    """Every class to the majority's count (strategy "auto")."""
    return over_sampling_targets(counts, "auto")


def equal_total_targets(counts: dict[int, int], want: int) -> dict[int, int]:
    """Classes below a common count ``t`` raised to it, ``t`` the smallest count that makes the
    output at least ``want`` rows."""
    lo, hi = 1, want
    while lo < hi:
        t = (lo + hi) // 2
        if sum(max(n, t) for n in counts.values()) >= want:
            hi = t
        else:
            lo = t + 1
    return {c: max(n, lo) for c, n in counts.items()}


def changed(counts: dict[int, int], targets: dict[int, int]) -> dict[int, int]:
    """The dict strategy of ``targets``: the classes whose count changes."""
    return {c: t for c, t in targets.items() if t != counts[c]}


def label_counts(spark: SparkSession, path: Path) -> dict[int, int]:
    """Rows per label of the Parquet files at ``path`` (reads the label column only)."""
    rows = spark.read.parquet(str(path)).groupBy(LABEL).count().collect()
    return {int(r[0]): int(r[1]) for r in rows}
