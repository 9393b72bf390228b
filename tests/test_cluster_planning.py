"""Runs with many cells, planned by Spark (spark_upsample.engine.cell_table): the same rows,
plans and errors as the driver's planning, with nothing per cell on the driver.

The threshold (pipeline.CLUSTER_CELLS, 10,000 cells) is lowered here so that small inputs take
the cluster's path; each test compares it with the driver's path on the same input.
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_upsample import (
    DuplicateKeyError,
    InvalidLabelError,
    InvalidStrategyError,
    RatioLimitError,
    downsample_with_plan,
    resample_with_plan,
    upsample_with_plan,
)
from spark_upsample.engine import cell_table, pipeline, sampler
from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.designs import class_design, subset_design
from spark_upsample.engine.draws import design_class, design_subset
from spark_upsample.engine.plan import Deferred
from tests.test_upsample import frozen

METHODS = {"upsample": upsample_with_plan, "downsample": downsample_with_plan}
METHODS["resample"] = resample_with_plan


def grouped(spark):
    """6,000 rows in 23 groups of 3 classes (0 most, 1 and 2 rare); group 22 holds class 0
    only, and in groups 20 and 21 classes 1 and 2 are as many (a minority tie)."""
    frame = spark.range(6000, numPartitions=3).select(
        "id",
        (F.col("id") % 23).alias("g"),
        (F.col("id") * 0.5).alias("x"),
    )
    label = (
        F.when(F.col("g") == 22, 0)
        .when(F.col("g").isin(20, 21) & (F.col("id") % 10 < 2), 1 + F.col("id") % 2)
        .when(F.col("id") % 7 == 0, 1)
        .when(F.col("id") % 11 == 0, 2)
        .otherwise(0)
    )
    return frozen(frame.withColumn("label", label))


def both_paths(monkeypatch, run):
    """``run()`` planned by the driver, then by the cluster (the threshold at 10 cells)."""
    small = run()
    with monkeypatch.context() as m:
        m.setattr(pipeline, "CLUSTER_CELLS", 10)
        large = run()
    assert isinstance(large.plan.classes, Deferred) and not isinstance(small.plan.classes, Deferred)
    return small, large


def test_the_designs_in_spark_are_the_python_designs(spark):
    draws_cases = [
        (c, d) for c in (1, 2, 7, 99, 12_345, 10**6) for d in (1, 5, 90, 10**6, 3 * 10**7)
    ]
    subset_cases = [
        (c, k) for c in (2, 7, 99, 12_345, 10**6) for k in (1, c // 2, c - 1) if 0 < k < c
    ]
    rows = [(c, d, 0) for c, d in draws_cases] + [(c, 0, k) for c, k in subset_cases]
    df = spark.createDataFrame(rows, "n long, draws long, keep long")
    for sigmas in (7.0, 28.0, 7.0 * 2**7):
        up = class_design(F.col("n"), F.col("draws"), sigmas)
        down = subset_design(F.col("n"), F.col("keep"), sigmas)
        got = df.select(
            "n",
            "draws",
            "keep",
            F.when(F.col("draws") > 0, F.array(up["primary"], up["lo"], up["hi"])).otherwise(
                F.array(down["primary"], down["lo"], down["hi"])
            ),
            F.when(F.col("draws") > 0, up["slots"]),
            F.when(F.col("draws") > 0, up["mu"]),
        ).collect()
        for n, draws, keep, (primary, lo, hi), slots, mu in got:
            python = design_class(n, draws, sigmas) if draws else design_subset(n, keep, sigmas)
            assert (primary, lo, hi) == (python.primary_key, *python.window), (n, draws, keep)
            if draws:
                assert (slots, mu) == (python.slots, python.slot_rate), (n, draws)


CASES = [
    ("upsample", {}),
    ("upsample", {"keep_originals": True, "sampling_strategy": "not minority"}),
    ("upsample", {"sampling_strategy": {1: 200, 2: 150}, "lineage_col": "lineage"}),
    ("downsample", {"replacement": True}),
    ("downsample", {"sampling_strategy": "not majority"}),
    ("resample", {"target": "median"}),
    ("resample", {"target": 120, "shuffle": True}),
    ("upsample", {"weight_col": "w"}),
    # keys Python finds equal to a class name it (numpy's, a float for an int); no max_ratio
    ("upsample", {"sampling_strategy": {np.int64(1): 200, 2.0: 150}, "max_ratio": 10**400}),
]


@pytest.mark.parametrize(("method", "options"), CASES)
def test_cells_planned_by_spark_give_the_rows_and_plan_of_the_driver(
    spark, monkeypatch, method, options
):
    df = grouped(spark)
    small, large = both_paths(
        monkeypatch, lambda: METHODS[method](df, "label", group_by=["g"], seed=5, **options)
    )

    assert_df_equality(large.df, small.df, ignore_row_order=True)
    assert (large.plan.rows_before, large.plan.rows_after) == (
        small.plan.rows_before,
        small.plan.rows_after,
    )
    assert large.plan.classes == small.plan.classes
    assert (
        tuple(large.plan.single_class_groups) == tuple(small.plan.single_class_groups) == ((22,),)
    )
    assert large.plan.to_dict() == small.plan.to_dict()


def test_cells_of_several_group_and_label_columns_plan_alike(spark, monkeypatch):
    # dates, timestamps and strings in the key, and a float ratio on binary groups
    rows = [
        (
            i,
            dt.date(2000, 1, 1 + i % 3),
            dt.datetime(2026, 3, 29, 1, i % 2, tzinfo=dt.timezone.utc),
            "a" if i % 5 else "b",
        )
        for i in range(1500)
    ]
    df = frozen(spark.createDataFrame(rows, "id long, d date, t timestamp, label string"))
    small, large = both_paths(
        monkeypatch,
        lambda: upsample_with_plan(df, "label", group_by=["d", "t"], seed=9, sampling_strategy=0.5),
    )
    assert_df_equality(large.df, small.df, ignore_row_order=True)
    assert large.plan.classes == small.plan.classes


ERRORS = [
    ("upsample", {"max_ratio": 1.5}, RatioLimitError),
    ("upsample", {"sampling_strategy": {1: 3}}, InvalidStrategyError),
    ("upsample", {"sampling_strategy": {1: -3}}, InvalidStrategyError),
    ("upsample", {"sampling_strategy": {9: 300, "x": 4}}, InvalidStrategyError),
    ("upsample", {"sampling_strategy": 0.5}, InvalidStrategyError),
    ("upsample", {"sampling_strategy": "most"}, InvalidStrategyError),
    ("downsample", {"sampling_strategy": {0: 10**6}}, InvalidStrategyError),
    ("resample", {"target": "mode"}, InvalidStrategyError),
    ("upsample", {"sampling_strategy": {1.5: 300, None: 4}}, InvalidStrategyError),
    ("downsample", {"sampling_strategy": 1e-300}, InvalidStrategyError),
    ("resample", {"target": 2**70}, RatioLimitError),
]


@pytest.mark.parametrize(("method", "options", "error"), ERRORS)
def test_cells_planned_by_spark_fail_as_the_driver_fails(
    spark, monkeypatch, method, options, error
):
    df = grouped(spark)
    messages = []
    for threshold in (10_000, 10):
        monkeypatch.setattr(pipeline, "CLUSTER_CELLS", threshold)
        with pytest.raises(error) as raised:
            METHODS[method](df, "label", group_by=["g"], seed=5, **options)
        messages.append(str(raised.value))
    assert messages[0] == messages[1]


def test_bad_rows_fail_as_on_the_driver(spark, monkeypatch):
    df = grouped(spark)
    nulls = df.withColumn("label", F.when(F.col("id") != 3, F.col("label")))
    nan = df.withColumn("g", F.when(F.col("id") != 3, F.col("g")).otherwise(F.lit(float("nan"))))
    repeated = df.withColumn("key", F.col("id") % 230)  # 230 rows apart: the same group
    cases = [
        (nulls, {}, InvalidLabelError, "1 row(s) have a null 'label'"),
        (nan, {}, InvalidLabelError, "NaN in a group_by column"),
        (repeated, {"key_cols": ["key"]}, DuplicateKeyError, "key"),
    ]
    for frame, options, error, text in cases:
        messages = []
        for threshold in (10_000, 10):
            monkeypatch.setattr(pipeline, "CLUSTER_CELLS", threshold)
            with pytest.raises(error, match=re.escape(text)) as raised:
                upsample_with_plan(frame, "label", group_by=["g"], seed=5, **options)
            messages.append(str(raised.value))
        assert messages[0] == messages[1]

    dropped = upsample_with_plan(nulls, "label", group_by=["g"], seed=5, null_labels="drop")
    assert dropped.plan.null_labels_dropped == 1 and dropped.plan.rows_before == 5999


def test_a_null_group_is_planned_by_the_driver_in_its_order(spark, monkeypatch):
    # Python orders groups that hold a None by their repr, which decides whose error is raised
    # first; Spark cannot repeat that order, so such a run keeps the driver's planning.
    df = grouped(spark).withColumn("g", F.when(F.col("g") != 3, F.col("g")))
    monkeypatch.setattr(pipeline, "CLUSTER_CELLS", 10)
    result = upsample_with_plan(df, "label", group_by=["g"], seed=5)

    assert isinstance(result.plan.classes, tuple) and len(result.plan.classes) == 67
    assert (None, 0) in result.plan.counts_after


def test_a_plan_made_by_spark_reads_its_cells_only_when_asked(spark, monkeypatch):
    df = grouped(spark)
    monkeypatch.setattr(pipeline, "CLUSTER_CELLS", 10)
    made = []
    class_plans = pipeline.class_plans
    monkeypatch.setattr(pipeline, "class_plans", lambda *a: made.append(1) or class_plans(*a))

    def no_table(*args, **kwargs):
        raise AssertionError("a per-cell table built by Python")

    monkeypatch.setattr(CellKeys, "table", no_table)
    result = upsample_with_plan(df, "label", group_by=["g"], seed=5)
    written = result.df.groupBy("g", "label").count().collect()

    assert made == [] and "not loaded" in repr(result.plan.classes)
    assert len(result.plan.classes) == 67 and len(result.plan.single_class_groups) == 1
    assert result.plan.rows_after == sum(r["count"] for r in written)
    counts = {(r["g"], r["label"]): r["count"] for r in written}
    assert result.plan.counts_after == counts and made == [1]


def test_a_table_past_the_broadcast_size_is_joined_without_a_sort(spark, monkeypatch):
    df = grouped(spark)
    monkeypatch.setattr(pipeline, "CLUSTER_CELLS", 10)
    broadcast = upsample_with_plan(df, "label", group_by=["g"], seed=5)
    monkeypatch.setattr(sampler, "BROADCAST_CELLS", 10)
    shuffled = upsample_with_plan(df, "label", group_by=["g"], seed=5)

    assert_df_equality(shuffled.df, broadcast.df, ignore_row_order=True)
    if hasattr(shuffled.df, "_jdf"):  # classic Spark: its physical plan
        plan = shuffled.df._jdf.queryExecution().executedPlan().toString()
        assert "ShuffledHashJoin" in plan and "BroadcastHashJoin" not in plan
        assert "Sort" not in plan


def test_cells_whose_ids_collide_are_hashed_again(spark, monkeypatch):
    df = grouped(spark)
    driver = upsample_with_plan(df, "label", group_by=["g"], seed=5)
    hashed = cell_table.cell_id
    monkeypatch.setattr(
        cell_table, "cell_id", lambda keys, salt=0: F.lit(7) if salt == 0 else hashed(keys, salt)
    )
    monkeypatch.setattr(pipeline, "CLUSTER_CELLS", 10)
    cluster = upsample_with_plan(df, "label", group_by=["g"], seed=5)

    assert_df_equality(cluster.df, driver.df, ignore_row_order=True)
    assert cluster.plan.classes == driver.plan.classes
