"""Beyond imbalanced-learn: undersampling, any target, per-group balance, weights, smoothed
bootstrap, shuffled output and lineage, on local Spark."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_upsample import (
    InvalidDataError,
    InvalidLabelError,
    InvalidParameterError,
    InvalidStrategyError,
    downsample,
    downsample_with_plan,
    resample_with_plan,
    upsample,
    upsample_with_plan,
)
from spark_upsample.engine.smoothing import bandwidth, class_stds
from tests.helpers import CHI2_CRITICAL_9DF_P001, chi_square, label_counts
from tests.test_upsample import frame

SIZES = {"a": 300, "b": 40, "c": 10}


def assert_rows_of_input(out, df, columns=("id", "label")):
    assert out.join(df, on=list(columns), how="left_anti").count() == 0


# --- undersampling -------------------------------------------------------------------------


def test_downsample_keeps_an_exact_uniform_subset_without_replacement(spark):
    df = frame(spark, SIZES)
    result = downsample_with_plan(df, "label", seed=4)
    out = result.df.persist()
    assert label_counts(out) == result.plan.counts_after == {"a": 10, "b": 10, "c": 10}
    assert out.count() == out.distinct().count()  # each row at most once
    assert_rows_of_input(out, df)
    assert_df_equality(out.where("label = 'c'"), df.where("label = 'c'"), ignore_row_order=True)
    assert out.schema == df.schema
    assert [(c.label, c.kept, c.draws) for c in result.plan.classes] == [
        ("a", 10, 0),
        ("b", 10, 0),
        ("c", 10, 0),
    ]
    assert_df_equality(downsample(df, "label", seed=4), out, ignore_row_order=True)
    assert sorted(downsample(df, "label", seed=5).collect()) != sorted(out.collect())
    out.unpersist()


def test_downsample_is_uniform_over_the_class_and_hits_both_corrections(spark):
    df = frame(spark, {"big": 20_000, "small": 5_000}, partitions=4)
    result = downsample_with_plan(df, "label", seed=21)
    kept = result.df.where("label = 'big'").select("id").collect()
    assert len(kept) == 5_000
    buckets = Counter(r.id // 2_000 for r in kept)  # ten ranges of ids, across partitions
    assert chi_square(buckets, list(range(10))) < CHI2_CRITICAL_9DF_P001

    # Twelve copies of a 2,000-row class cut to the 500 of the smallest class, in one call.
    copies = frame(
        spark, {(c, k): n for k in range(12) for c, n in {"big": 2_000, "small": 500}.items()}
    )
    result = downsample_with_plan(copies, ["label", "copy"], seed=21)
    counts = result.df.groupBy("label", "copy").count().collect()
    assert {(r.label, r.copy): r["count"] for r in counts} == {
        (c, k): 500 for c in ("big", "small") for k in range(12)
    }
    corrections = Counter(c.correction for c in result.plan.classes if c.label[0] == "big")
    assert corrections["trim"] >= 2 and corrections["top-up"] >= 2, corrections


def test_downsample_with_replacement_strategies_and_errors(spark):
    df = frame(spark, SIZES)
    out = downsample(df, "label", sampling_strategy={"a": 120}, replacement=True, seed=2)
    assert label_counts(out) == {"a": 120, "b": 40, "c": 10}
    assert out.where("label = 'a'").distinct().count() < 120  # 120 draws from 300 repeat rows
    assert_rows_of_input(out, df)
    assert label_counts(downsample(df, "label", sampling_strategy="majority", seed=2)) == {
        "a": 10,
        "b": 40,
        "c": 10,
    }
    assert label_counts(
        downsample(frame(spark, {"a": 300, "c": 10}), "label", sampling_strategy=0.25, seed=2)
    ) == {"a": 40, "c": 10}
    with pytest.raises(InvalidStrategyError, match="above the 40 it has"):
        downsample(df, "label", sampling_strategy={"b": 41})


# --- any target ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "value"),
    [("median", 40), ("mean", 116), ("majority", 300), ("minority", 10), (100, 100)],
)
def test_resample_every_class_to_one_count_up_and_down_in_one_job(spark, target, value):
    df = frame(spark, SIZES)
    result = resample_with_plan(df, "label", target=target, seed=3)
    assert label_counts(result.df) == {"a": value, "b": value, "c": value}
    assert_rows_of_input(result.df, df)
    by_class = {c.label: c for c in result.plan.classes}
    if value < 300:
        assert (by_class["a"].kept, by_class["a"].draws) == (value, 0)  # a subset
    if value > 10:
        assert (by_class["c"].kept, by_class["c"].draws) == (0, value)  # draws


def test_resample_keep_originals_and_replacement(spark):
    df = frame(spark, SIZES)
    result = resample_with_plan(
        df, "label", target=100, keep_originals=True, replacement=True, seed=3
    )
    by_class = {c.label: (c.kept, c.draws) for c in result.plan.classes}
    assert by_class == {"a": (0, 100), "b": (40, 60), "c": (10, 90)}
    assert label_counts(result.df) == {"a": 100, "b": 100, "c": 100}
    assert result.df.where("label = 'b'").select("id").distinct().count() == 40


# --- per-group balance ---------------------------------------------------------------------


def test_group_by_balances_classes_within_each_group(spark):
    rows = (
        [("d1", "a", i) for i in range(50)]
        + [("d1", "b", 100 + i) for i in range(5)]
        + [("d2", "a", 200 + i) for i in range(20)]
        + [("d2", "b", 300 + i) for i in range(20)]
        + [("d2", "c", 400 + i) for i in range(2)]
        + [("d3", "a", 500 + i) for i in range(7)]
        + [(None, "a", 600 + i) for i in range(4)]
        + [(None, "b", 700)]
    )
    df = spark.createDataFrame(rows, "day string, label string, id long")
    result = upsample_with_plan(df, "label", group_by=["day"], seed=6)
    counts = {
        (r.day, r.label): r["count"] for r in result.df.groupBy("day", "label").count().collect()
    }
    assert counts == {
        ("d1", "a"): 50,
        ("d1", "b"): 50,
        ("d2", "a"): 20,
        ("d2", "b"): 20,
        ("d2", "c"): 20,
        ("d3", "a"): 7,
        (None, "a"): 4,
        (None, "b"): 4,
    }
    assert result.plan.counts_after == counts
    assert result.plan.single_class_groups == (("d3",),)
    assert result.df.schema == df.schema
    assert_rows_of_input(
        result.df.fillna("-", ["day"]), df.fillna("-", ["day"]), ("day", "label", "id")
    )
    report = result.plan.to_dict()
    assert report["group_by"] == ["day"] and report["single_class_groups"] == [["d3"]]
    d2c = [c for c in report["classes"] if c["group"] == ["d2"] and c["label"] == "c"]
    assert [(c["count_before"], c["target"], c["draws"]) for c in d2c] == [(2, 20, 20)]


def test_group_by_thousands_of_groups_in_one_pass(spark):
    groups = 2_000
    df = spark.range(groups * 12).select(
        (F.col("id") % groups).alias("tenant"),
        F.when(F.col("id") < groups * 3, "rare").otherwise("common").alias("label"),
        "id",
    )
    result = downsample_with_plan(df, "label", group_by=["tenant"], seed=1)
    wrong = result.df.groupBy("tenant", "label").count().where("count != 3").count()
    assert wrong == 0 and result.df.count() == groups * 6
    assert len(result.plan.classes) == 2 * groups


def test_group_by_dict_strategy_names_known_classes(spark):
    df = spark.createDataFrame(
        [("x", "a", 1), ("x", "b", 2), ("x", "a", 3)], "g string, label string, id long"
    )
    with pytest.raises(InvalidStrategyError, match="class\\(es\\) 'z' that are in no group"):
        upsample(df, "label", group_by=["g"], sampling_strategy={"z": 4})
    with pytest.raises(InvalidParameterError, match="group_by must not include the label"):
        upsample(df, "label", group_by=["label"])


def test_group_by_columns_must_be_atomic_and_not_nan(spark):
    df = spark.createDataFrame(
        [([1], 0.5, "a", 1), ([2], float("nan"), "b", 2)],
        "tags array<int>, score double, label string, id long",
    )
    with pytest.raises(
        InvalidLabelError,
        match=r"Group_by column 'tags' has type array<int>; a "
        r"group_by must be an integer, string",
    ):
        upsample(df, "label", group_by=["tags"])
    with pytest.raises(
        InvalidLabelError,
        match=r"1 row\(s\) have NaN in a group_by column "
        r"\['score'\]; NaN is not a group",
    ):
        upsample(df, "label", group_by=["score"])


# --- weights -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["upsample", "downsample"])
def test_weights_instead_of_copies(spark, method):
    df = frame(spark, SIZES)
    call = upsample_with_plan if method == "upsample" else downsample_with_plan
    result = call(df, "label", weight_col="weight", seed=1)
    assert result.df.columns == ["id", "label", "weight"]
    assert_df_equality(result.df.drop("weight"), df, ignore_row_order=True)  # every row once
    sums = result.df.groupBy("label").agg(F.sum("weight").alias("total")).collect()
    totals = {r.label: r.total for r in sums}
    targets = {c.label: c.target for c in result.plan.classes}
    assert targets == (
        {"a": 300, "b": 300, "c": 300} if method == "upsample" else {"a": 10, "b": 10, "c": 10}
    )
    assert totals == pytest.approx(targets, rel=1e-12)


# --- smoothed bootstrap --------------------------------------------------------------------


def test_shrinkage_noise_has_the_scale_of_imbalanced_learns_formula(spark):
    rows = [(i, "minor", float(i % 10), 100.0 + 3.0 * (i % 7)) for i in range(50)]
    rows += [(1000 + i, "major", 0.0, 0.0) for i in range(200)]
    df = spark.createDataFrame(rows, "id long, label string, x double, y double")
    out = upsample(
        df,
        "label",
        sampling_strategy={"minor": 20_050},
        keep_originals=True,
        shrinkage={"minor": 2.0},
        shrinkage_cols=["x", "y"],
        seed=7,
    )
    joined = (
        out.alias("o")
        .join(df.alias("i"), on="id")
        .select(
            "id",
            "o.label",
            (F.col("o.x") - F.col("i.x")).alias("dx"),
            (F.col("o.y") - F.col("i.y")).alias("dy"),
        )
    )
    minor = joined.where("label = 'minor'")
    moved = minor.where("dx != 0 or dy != 0")
    assert moved.count() == 20_000  # every drawn copy is smoothed, the 50 originals are not
    stats = moved.agg(F.stddev_pop("dx"), F.stddev_pop("dy"), F.avg("dx")).first()
    std = df.where("label = 'minor'").agg(F.stddev_pop("x"), F.stddev_pop("y")).first()
    h = bandwidth(n_features=2, n_samples=250)
    assert stats[0] == pytest.approx(2.0 * h * std[0], rel=0.03)
    assert stats[1] == pytest.approx(2.0 * h * std[1], rel=0.03)
    assert abs(stats[2]) < 0.05 * stats[0]
    assert_df_equality(
        out.where("label = 'major'"), df.where("label = 'major'"), ignore_row_order=True
    )
    again = upsample(
        df,
        "label",
        sampling_strategy={"minor": 20_050},
        keep_originals=True,
        shrinkage={"minor": 2.0},
        shrinkage_cols=["x", "y"],
        seed=7,
    )
    assert_df_equality(again, out, ignore_row_order=True)


def test_class_stds_match_numpy_and_skip_nulls(spark):
    rng = np.random.default_rng(1)
    rows = [
        (
            int(rng.integers(0, 3)),
            float(rng.normal(5, 2)),
            None if i % 7 == 0 else float(rng.normal(0, 1e6)),
        )
        for i in range(3000)
    ]
    rows.append((9, None, None))
    df = spark.createDataFrame(rows, "k int, x double, y double").repartition(5, "x")
    stats = class_stds(df, F.col("k"), ["x", "y"], F.xxhash64("x", "y")).collect()
    got = {r[0]: (r[1], r[2]) for r in stats}
    for k in range(3):
        xs = np.array([r[1] for r in rows if r[0] == k])
        ys = np.array([r[2] for r in rows if r[0] == k and r[2] is not None])
        assert got[k] == pytest.approx((xs.std(), ys.std()), rel=1e-12)
    assert got[9] == (None, None)
    nulls = {r[0]: (r[3], r[4]) for r in stats}  # then the NaN or null values per column
    expected = {k: (0, sum(1 for r in rows if r[0] == k and r[2] is None)) for k in range(3)}
    assert nulls == {**expected, 9: (1, 1)}


def test_class_stds_are_the_same_bits_on_any_partitioning(spark):
    """Sums in identity order: 1 or 7 partitions, in any order, give the same doubles."""
    rng = np.random.default_rng(2)
    rows = [(i, int(rng.integers(0, 2)), float(rng.normal(3, 1e3))) for i in range(4000)]
    df = spark.createDataFrame(rows, "id long, k int, x double")
    results = [
        sorted(class_stds(frame, F.col("k"), ["x"], F.xxhash64("id")).collect())
        for frame in (df.coalesce(1), df.repartition(7), df.repartition(3, "x").orderBy(F.rand(1)))
    ]
    assert results[0] == results[1] == results[2]
    # The classic aggregation does depend on the order of its partial sums (so this test could
    # fail): in most orders the last bits differ.
    plain = {
        tuple(sorted(frame.groupBy("k").agg(F.stddev_pop("x")).collect()))
        for frame in (df.coalesce(1), df.repartition(7), df.repartition(5, "x"))
    }
    assert len(plain) > 1


def test_nan_or_null_in_a_smoothed_column_is_refused(spark):
    rows = [(i, "a" if i < 30 else "b", 1.0 * i, 2.0 * i, 3.0 * i) for i in range(40)]
    rows[3] = (3, "a", float("nan"), None, 9.0)  # a class that is not drawn from counts too
    rows[35] = (35, "b", None, 70.0, 105.0)
    rows[36] = (36, "b", 36.0, float("nan"), 108.0)
    df = spark.createDataFrame(rows, "id long, label string, x double, y float, z double")
    with pytest.raises(InvalidDataError) as info:
        upsample(df, "label", shrinkage=1.0, shrinkage_cols=["z", "x", "y"], seed=1)
    assert str(info.value) == (
        "shrinkage_cols: NaN or null values (2 in 'x', 2 in 'y'); a smoothed column needs a "
        "number in every row. Fill or filter them first, or leave the column out of "
        "shrinkage_cols."
    )
    smoothed_z = upsample(df, "label", shrinkage=1.0, shrinkage_cols=["z"], seed=1)
    assert smoothed_z.where(F.isnan("z") | F.col("z").isNull()).count() == 0


def test_shrinkage_errors(spark):
    df = frame(spark, SIZES)
    with pytest.raises(InvalidParameterError, match="column 'id' has type bigint"):
        upsample(df, "label", shrinkage=1.0, shrinkage_cols=["id"])
    with pytest.raises(
        InvalidParameterError,
        match=r"shrinkage_cols must not include the label "
        r"or group_by columns; got \['g', 'label'\]",
    ):
        upsample(
            df.withColumn("g", F.lit(1.0)),
            "label",
            group_by=["g"],
            shrinkage=1.0,
            shrinkage_cols=["label", "g"],
        )
    with pytest.raises(InvalidParameterError, match="shrinkage needs shrinkage_cols"):
        upsample(df, "label", shrinkage=1.0)
    with pytest.raises(InvalidParameterError, match="number >= 0"):
        upsample(df.withColumn("x", F.lit(1.0)), "label", shrinkage=-1.0, shrinkage_cols=["x"])
    with pytest.raises(InvalidParameterError, match="no factor for the resampled class"):
        upsample(
            df.withColumn("x", F.lit(1.0)), "label", shrinkage={"b": 1.0}, shrinkage_cols=["x"]
        )


# --- shuffled output and lineage -----------------------------------------------------------


def test_shuffled_output_spreads_copies_and_is_deterministic(spark):
    df = frame(spark, {"a": 400, "b": 4}, partitions=1)
    out = upsample(df, "label", shuffle=4, seed=9)
    layout = out.select(F.spark_partition_id().alias("p"), "id", "label").collect()
    assert label_counts(out) == {"a": 400, "b": 400}
    per_part = Counter(r.p for r in layout if r.label == "b")
    assert len(per_part) == 4 and min(per_part.values()) > 60  # 400 copies over 4 files
    first = [r.label for r in layout[:40]]
    assert 5 < first.count("b") < 35  # classes interleaved, not one block after another
    again = upsample(df, "label", shuffle=4, seed=9)
    assert again.select(F.spark_partition_id().alias("p"), "id", "label").collect() == layout
    other = upsample(df, "label", shuffle=4, seed=10)
    assert other.select(F.spark_partition_id().alias("p"), "id", "label").collect() != layout


def test_lineage_tells_originals_from_copies(spark):
    df = frame(spark, SIZES)
    kept = upsample(df, "label", keep_originals=True, lineage_col="origin", seed=2)
    counts = {
        (r.label, r.origin): r["count"] for r in kept.groupBy("label", "origin").count().collect()
    }
    assert counts == {
        ("a", "original"): 300,
        ("b", "original"): 40,
        ("b", "copy"): 260,
        ("c", "original"): 10,
        ("c", "copy"): 290,
    }
    assert_df_equality(kept.where("origin = 'original'").drop("origin"), df, ignore_row_order=True)
    replaced = upsample(df, "label", lineage_col="origin", seed=2)
    assert {r.origin for r in replaced.where("label = 'c'").collect()} == {"copy"}
    with pytest.raises(InvalidParameterError, match="already a column of the input"):
        upsample(df, "label", lineage_col="ID")
