"""The cost shape of the upsampled frame, checked on its physical plan (not timed).

The performance contract (docs/performance.md): the returned frame reads the input once, with no
sort and no exchange of data rows (only the broadcast of the small per-cell table), and the
library runs a small, constant number of Spark jobs before the write, whatever the number of
classes. jobs/benchmark.py measures the time; these tests pin the plan that makes it cheap.
"""

from __future__ import annotations

import re

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample import upsample_with_plan
from spark_upsample.engine import pipeline, sampler
from spark_upsample.engine.draws import design_class

pytestmark = pytest.mark.classic_only  # reads the JVM plan and the SparkContext's job tracker

# Spark jobs that upsample_with_plan runs, with adaptive query execution on (the default):
# the class count (a label-only aggregation: its shuffle-map stage, then its result) = 2, and the
# cut statistics (the label-only aggregation's shuffle-map stage and result) = 2; one more to
# broadcast the per-cell table where there is one (more than sampler.LITERAL_CELLS cells), and
# one more for the statistics' second aggregation past sampler.SORT_FALLBACK_CELLS cells. Two
# actions in all, whatever the number of classes.
JOBS_BEFORE_WRITE = {3: 4, 300: 6}

_NODE = re.compile(r"^[\s:|+-]*([A-Za-z]+)")


def plan_nodes(df: DataFrame) -> list[str]:
    """The operator names of ``df``'s physical plan, top down."""
    text = df._jdf.queryExecution().executedPlan().toString()
    return [m.group(1) for line in text.splitlines() if (m := _NODE.match(line))]


def imbalanced(spark: SparkSession, path: str, classes: int) -> DataFrame:
    """A small Parquet input: 12,000 rows, 90 % in class 0, the rest spread over the others."""
    frame = spark.range(12_000, numPartitions=4).select(
        "id",
        F.rand(7).alias("x"),
        F.when(F.col("id") % 10 != 0, 0)
        .otherwise(1 + F.floor(F.col("id") / 10) % (classes - 1))
        .alias("label"),
    )
    frame.write.parquet(path)
    return spark.read.parquet(path)


def jobs_of(spark: SparkSession, group: str, action) -> tuple[int, object]:
    """The number of Spark jobs ``action()`` runs, and its result."""
    sc = spark.sparkContext
    sc.setJobGroup(group, group)
    try:
        result = action()
        return len(sc.statusTracker().getJobIdsForGroup(group)), result
    finally:
        # setJobGroup also names the jobs after the group; a later test's jobs keep their own
        for key in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(key, None)


@pytest.mark.parametrize("classes", [3, 300])
def test_upsampled_frame_reads_once_without_sort_or_shuffle(spark, tmp_path, classes):
    df = imbalanced(spark, str(tmp_path / "in"), classes)

    result = upsample_with_plan(df, "label", seed=3)

    nodes = plan_nodes(result.df)
    assert [n for n in nodes if n.startswith("Sort")] == []
    assert nodes.count("FileScan") == 1  # the input, read once; the broadcast table is local
    if classes <= sampler.LITERAL_CELLS:  # the cells' fields are literals: no table, no join
        assert [n for n in nodes if n.endswith("Exchange") or "Join" in n] == []
    else:
        assert [n for n in nodes if n.endswith("Exchange")] == ["BroadcastExchange"]
        assert "BroadcastHashJoin" in nodes


def test_jobs_before_the_write_are_few_and_constant(spark, tmp_path):
    jobs = {}
    for classes in (3, 300):
        df = imbalanced(spark, str(tmp_path / f"in{classes}"), classes)
        jobs[classes], result = jobs_of(
            spark, f"plan-{classes}", lambda df=df: upsample_with_plan(df, "label", seed=3)
        )
        assert len(result.plan.counts_after) == classes

    assert jobs == JOBS_BEFORE_WRITE


def test_the_write_is_one_pass(spark, tmp_path):
    df = imbalanced(spark, str(tmp_path / "in"), 3)
    result = upsample_with_plan(df, "label", seed=3)

    # One job scans the input and writes: three cells need no per-cell table to broadcast.
    writes, _ = jobs_of(spark, "write", lambda: result.df.write.parquet(str(tmp_path / "out")))

    assert writes == 1
    written = spark.read.parquet(str(tmp_path / "out")).groupBy("label").count().collect()
    assert {r[0]: r[1] for r in written} == result.plan.counts_after


def test_the_cut_statistics_group_by_an_integer_cell_id(spark, tmp_path, monkeypatch):
    # With group_by the cell key is a struct; hashing and sorting it in the statistics'
    # aggregation cost about 1.5x as much, with 60,000 cells, as grouping by an integer id.
    df = imbalanced(spark, str(tmp_path / "in"), 3).withColumn("g", F.col("id") % 47)
    seen: list[DataFrame] = []
    cut_stats = sampler._cut_stats
    monkeypatch.setattr(
        sampler, "_cut_stats", lambda *args: seen.append(cut_stats(*args)) or seen[-1]
    )

    result = upsample_with_plan(df, "label", group_by=["g"], seed=3)

    assert len(result.plan.classes) == 47 * 3 and len(seen) == 1
    stats = seen[0]
    assert isinstance(stats.schema[0].dataType, T.IntegerType)
    analyzed = stats._jdf.queryExecution().analyzed().toString()
    cell_id = re.search(rf"{re.escape(stats.columns[0])}#\d+", analyzed).group(0)
    assert re.findall(r"Aggregate \[([^\]]*)\]", analyzed) == [cell_id]


def test_many_cells_are_planned_by_spark_without_a_table_from_python(spark, tmp_path, monkeypatch):
    # Past pipeline.CLUSTER_CELLS cells (lowered here: 141 cells), the per-cell table is Spark's
    # own (counts, targets, designs and cuts computed there), not rows sent from Python.
    df = imbalanced(spark, str(tmp_path / "in"), 3).withColumn("g", F.col("id") % 47)
    driver = upsample_with_plan(df, "label", group_by=["g"], seed=3)
    monkeypatch.setattr(pipeline, "CLUSTER_CELLS", 100)
    cluster = upsample_with_plan(df, "label", group_by=["g"], seed=3)

    def text(df: DataFrame) -> str:
        return df._jdf.queryExecution().executedPlan().toString()

    # the driver's table: arrays of values sent from Python, zipped into rows by the JVM
    assert "inline(arrays_zip(" in text(driver.df)
    assert "inline(" not in text(cluster.df)
    nodes = plan_nodes(cluster.df)
    assert not [n for n in nodes if n.startswith("Sort")]
    assert nodes.count("FileScan") == 1  # the input, read once; the cell table is kept in Spark
    assert [n for n in nodes if n.endswith("Exchange")] == ["BroadcastExchange"]


def test_many_large_cells_count_the_copies_outside_their_windows_first():
    # Collecting keys in one aggregation sorts every copy past 128 cells a task; counting
    # first pays only where the windows hold a small share of the copies (large cells).
    large = [design_class(30, 20_000)] * (sampler.SORT_FALLBACK_CELLS + 1)
    small = [design_class(10, 80)] * 100_000
    assert sampler._count_first(large)
    assert not sampler._count_first(large[:-1])  # few cells: no sort to avoid
    assert not sampler._count_first(small)  # windows hold most copies: no row saved


def test_the_cut_statistics_report_keys_shared_inside_the_window(spark):
    # Counted first, the keys inside a window are collected once each: a tie would be hidden,
    # so the statistics say how many copies share a key, and the engine takes no cut from it.
    cell = {"lo": 10, "hi": 100, "primary": 50, "want": 3, "entry": 1, "keep": 0}
    names = {r: r for r in ("w", "id", *cell)}
    keys = [(0, w) for w in (5, 20, 20, 30, 200)] + [(1, w) for w in (5, 20, 30)]
    copies = spark.createDataFrame(keys, "id int, w long").select(
        "*", *[F.lit(v).alias(c) for c, v in cell.items()]
    )

    stats = {r[0]: tuple(r[1:]) for r in sampler._cut_stats(copies, names, True).collect()}

    # total, primary, below, in window, the cut and the key after it, most copies on one key
    assert stats == {0: (5, 4, 1, 2, 30, None, 2), 1: (3, 3, 1, 2, 30, None, 1)}
