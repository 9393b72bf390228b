"""The Spark methods: each writes the resampled case to ``out``.

A runner returns None, or a function that gives its :class:`Planning` once the timed run is over
(reading the plan or the job's report is not part of the time).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bench.config import K_NEIGHBORS, LABEL
from bench.data import Case
from spark_upsample import smote_with_plan, upsample_with_plan
from spark_upsample.engine.plan import ResamplePlan
from spark_upsample.engine.strategy import over_sampling_targets
from spark_upsample.job.cli import main as job_main
from spark_upsample.job.report import REPORT_NAME


@dataclass(frozen=True)
class Planning:
    """What a method planned: its (group, class) cells, the seconds of its counting and cut jobs
    before the write, and whether the plan's per-cell counts after are the case's targets (None:
    not checked here; the job checks its written counts against its plan itself)."""

    cells: int
    seconds: float
    plan_ok: bool | None = None


Runner = Callable[[SparkSession, Case, Path, int], Callable[[], Planning] | None]


def run_floor(spark: SparkSession, case: Case, out: Path, seed: int) -> None:
    """A plain sampled copy with as many rows (in expectation) as the upsampled output."""
    df = spark.read.parquet(str(case.path))
    df.sample(True, case.out_rows / case.rows, seed).write.parquet(str(out))


def run_library(spark: SparkSession, case: Case, out: Path, seed: int) -> Callable[[], Planning]:
    """``upsample_with_plan`` (``smote_with_plan`` for a SMOTE case; timed apart as the
    planning) and a Parquet write."""
    df = spark.read.parquet(str(case.path))
    start = time.perf_counter()
    if case.feature_cols:
        result = smote_with_plan(
            df,
            LABEL,
            list(case.feature_cols),
            k_neighbors=K_NEIGHBORS,
            sampling_strategy=case.strategy,
            seed=seed,
        )
    else:
        result = upsample_with_plan(
            df,
            LABEL,
            sampling_strategy=case.strategy,
            seed=seed,
            group_by=list(case.group_by),
            max_ratio=case.max_ratio,
        )
    seconds = time.perf_counter() - start
    result.df.write.parquet(str(out))
    plan = result.plan
    return lambda: Planning(len(plan.classes), seconds, plan_matches(plan, case))


def plan_matches(plan: ResamplePlan, case: Case) -> bool:
    """The plan has the case's cells, each with its label's target rows after (O(cells)); for
    a plan made on the cluster, whose cells stay in Spark until read, the cells and the rows
    after (reading them would grow the driver's memory after the run, and the written output's
    counts are checked cell by cell anyway)."""
    if plan.totals is not None:
        rows = sum(case.targets.values()) * max(case.groups, 1)
        return len(plan.classes) == case.cells and plan.rows_after == rows
    return len(plan.classes) == case.cells and all(
        c.count_after == case.targets[c.label] for c in plan.classes
    )


def run_job(spark: SparkSession, case: Case, out: Path, seed: int) -> Callable[[], Planning]:
    """The job's whole path, in-process: staging, write, count verification, publish
    (``--method smote`` for a SMOTE case)."""
    argv = ["--input", str(case.path), "--output", str(out), "--seed", str(seed)]
    argv += ["--write-mode", "overwrite", "--max-ratio", str(case.max_ratio or 0)]
    if case.group_by:
        argv += ["--group-by", ",".join(case.group_by)]
    if case.feature_cols:
        argv += ["--method", "smote", "--k-neighbors", str(K_NEIGHBORS)]
        argv += [a for f in case.feature_cols for a in ("--feature-col", f)]
    if isinstance(case.strategy, dict):
        argv += ["--strategy", ",".join(f"{c}={t}" for c, t in sorted(case.strategy.items()))]
    code = job_main(argv)
    if code != 0:
        raise RuntimeError(f"spark-upsample exited with {code}")
    return lambda: job_planning(out / REPORT_NAME)


def job_planning(report_path: Path) -> Planning:
    """The cells and the ``count_and_plan`` seconds of the job's report."""
    report = json.loads(report_path.read_text())
    return Planning(report["cells"]["total"], report["timings_seconds"]["count_and_plan"])


def run_tutorial(spark: SparkSession, case: Case, out: Path, seed: int) -> None:
    """The common recipe: per class, sample with replacement at target/count, then trim an
    overshoot with ``orderBy(rand()).limit(target)`` or top an undershoot up with another
    ``sample().limit()``; union the classes and write."""
    df = spark.read.parquet(str(case.path))
    counts: dict[Any, int] = {int(r[0]): int(r[1]) for r in df.groupBy(LABEL).count().collect()}
    targets = over_sampling_targets(counts, case.strategy)
    parts = []
    for i, c in enumerate(sorted(counts)):
        rows, target = df.where(F.col(LABEL) == c), targets[c]
        if target == counts[c]:
            parts.append(rows)
            continue
        sampled = rows.sample(True, target / counts[c], seed + i)
        got = sampled.count()
        if got >= target:
            parts.append(sampled.orderBy(F.rand(seed + i)).limit(target))
        else:
            missing = target - got
            fraction = (missing + 6 * math.sqrt(missing) + 10) / counts[c]
            top_up = rows.sample(True, fraction, seed + 1000 + i).limit(missing)
            parts.append(sampled.unionAll(top_up))
    reduce(DataFrame.unionAll, parts).write.parquet(str(out))


SPARK_RUNNERS: dict[str, Runner] = {
    "floor": run_floor,
    "library": run_library,
    "job": run_job,
    "tutorial": run_tutorial,
}
