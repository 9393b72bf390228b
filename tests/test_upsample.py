"""The upsample transform on local Spark: exact counts, copies of input rows, schema, seeds."""

from __future__ import annotations

import atexit
import datetime as dt
import math
import shutil
import tempfile
from collections import Counter
from decimal import Decimal

import pytest
from chispa import DataFramesNotEqualError, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample import (
    EmptyInputError,
    InvalidLabelError,
    InvalidParameterError,
    InvalidStrategyError,
    MissingColumnError,
    SingleClassError,
    upsample,
    upsample_with_plan,
)
from tests.helpers import CHI2_CRITICAL_9DF_P001, chi_square, iris_imbalanced, label_counts


def frame(spark, sizes: dict, partitions: int = 3):
    """Rows `id` with classes of the given sizes, spread over partitions by a deterministic
    range. A class named by a tuple ``(label, copy)`` gives a second label column, ``copy``."""
    classes = [c if isinstance(c, tuple) else (c,) for c, n in sizes.items() for _ in range(n)]
    schema = "id long, label string" + (", copy int" if len(classes[0]) == 2 else "")
    rows = spark.createDataFrame([(i, *c) for i, c in enumerate(classes)], schema)
    return frozen(frozen(rows.coalesce(1)).repartitionByRange(partitions, "id"))


def frozen(df):
    """``df`` materialised: the same rows in the same partitions, in the same order, at every
    read. ``localCheckpoint`` where the session has it; Spark Connect 3.5 has not, and there
    Parquet files in a temporary folder hold them (a shuffle's order is not the same twice)."""
    if hasattr(type(df), "localCheckpoint"):
        return df.localCheckpoint()
    path = tempfile.mkdtemp(prefix="spark-upsample-frozen-")
    atexit.register(shutil.rmtree, path, True)
    df.write.mode("overwrite").parquet(path)
    return df.sparkSession.read.parquet(path)


def test_seed_example_iris_10_vs_100_becomes_100_100(spark):
    df = iris_imbalanced(spark)
    assert label_counts(df) == {0: 10, 1: 100}

    result = upsample_with_plan(df, "label", seed=2017)

    assert label_counts(result.df) == {0: 100, 1: 100}
    assert result.plan.counts_before == {0: 10, 1: 100}
    assert result.plan.counts_after == {0: 100, 1: 100}
    assert result.df.schema == df.schema
    # The majority comes through unchanged, row for row.
    assert_df_equality(result.df.where("label = 1"), df.where("label = 1"), ignore_row_order=True)
    # Every upsampled row is a row of class 0 of the input.
    assert result.df.where("label = 0").join(df, on=df.columns, how="left_anti").count() == 0
    assert result.df.where("label = 0").select("row_id").distinct().count() <= 10


@pytest.mark.parametrize("keep_originals", [False, True])
def test_exact_counts_over_seeds_sizes_and_targets_through_both_corrections(spark, keep_originals):
    """Classes of 400, 37, 5 and 1 rows, twelve times over (the label ``(label, copy)``), each
    copy to other targets: 36 upsampled classes in one call, under two seeds."""
    sizes = {"big": 400, "mid": 37, "small": 5, "one": 1}
    df = frame(spark, {(c, k): n for k in range(12) for c, n in sizes.items()})
    corrections = Counter()
    for seed in (0, 1):
        targets = {}
        for k in range(12):
            step = 12 * seed + k
            targets |= {
                ("mid", k): 37 + 13 * step,
                ("small", k): 400 + step,
                ("one", k): 1 + 7 * step,
            }
        result = upsample_with_plan(
            df,
            ["label", "copy"],
            sampling_strategy=targets,
            seed=seed,
            keep_originals=keep_originals,
        )
        expected = {("big", k): 400 for k in range(12)} | targets
        counts = result.df.groupBy("label", "copy").count().collect()
        assert {(r.label, r.copy): r["count"] for r in counts} == expected
        assert result.plan.counts_after == expected
        for c in result.plan.classes:
            corrections[c.correction] += 1
            if c.correction == "trim":
                assert c.sample_size > c.draws
            if c.correction == "top-up":
                assert c.sample_size < c.draws
    assert corrections["trim"] >= 10 and corrections["top-up"] >= 10, corrections


def test_keep_originals_keeps_every_row_once_and_adds_draws(spark):
    df = frame(spark, {"a": 50, "b": 7})
    result = upsample_with_plan(df, "label", seed=3, keep_originals=True)
    assert label_counts(result.df) == {"a": 50, "b": 50}
    minority = Counter(r.id for r in result.df.where("label = 'b'").collect())
    assert set(minority) <= {r.id for r in df.where("label = 'b'").collect()}
    assert all(minority[i] >= 1 for i in range(50, 57))
    assert result.plan.classes[1].draws == 43


def test_default_replaces_the_class_by_draws_with_replacement(spark):
    df = frame(spark, {"a": 150, "b": 100})
    out = upsample(df, "label", seed=11)
    copies = Counter(r.id for r in out.where("label = 'b'").collect())
    assert sum(copies.values()) == 150
    # Bootstrap semantics: 150 draws from 100 rows leave 100 * exp(-1.5) ~ 22 rows undrawn
    # (standard deviation ~4) and draw some rows 3 times or more.
    assert 8 <= 100 - len(copies) <= 36
    assert max(copies.values()) >= 3


def test_same_seed_same_rows_other_seed_other_rows(spark):
    df = frame(spark, {"a": 300, "b": 20, "c": 3})
    first = upsample(df, "label", seed=42)
    again = upsample(df, "label", seed=42)
    other = upsample(df, "label", seed=43)
    assert_df_equality(first, again, ignore_row_order=True)
    with pytest.raises(DataFramesNotEqualError):
        assert_df_equality(first, other, ignore_row_order=True)


def test_seed_none_picks_one_and_reports_it(spark):
    df = frame(spark, {"a": 60, "b": 6})
    result = upsample_with_plan(df, "label")
    assert isinstance(result.plan.seed, int) and result.plan.seed >= 0
    replay = upsample(df, "label", seed=result.plan.seed)
    assert_df_equality(result.df, replay, ignore_row_order=True)


def test_uniform_draws_in_both_trim_and_top_up(spark):
    """300 classes of 10 rows, each drawn 60 times: per correction path, every row position is
    drawn equally often (chi-square, 9 df, p = 0.001). Rows of a class sit in all partitions."""
    classes, per_class, draws = 300, 10, 60
    df = (
        spark.range(0, classes * per_class, 1, numPartitions=4)
        .withColumn("label", (F.col("id") % classes).cast("int"))
        .withColumn("position", (F.col("id") / classes).cast("int"))
        .unionByName(
            spark.range(classes * per_class, classes * per_class + 100, 1, numPartitions=1)
            .withColumn("label", F.lit(-1))
            .withColumn("position", F.lit(-1))
        )
    )
    targets = {c: draws for c in range(classes)}
    result = upsample_with_plan(df, "label", sampling_strategy=targets, seed=5)
    path = {c.label: c.correction for c in result.plan.classes}
    by_path = {"trim": Counter(), "top-up": Counter()}
    for row in result.df.where("label >= 0").groupBy("label", "position").count().collect():
        if path[row.label] in by_path:
            by_path[path[row.label]][row.position] += row["count"]
    for name, observed in by_path.items():
        assert sum(observed.values()) >= 100 * draws, name  # enough classes took this path
        statistic = chi_square(observed, list(range(per_class)))
        assert statistic < CHI2_CRITICAL_9DF_P001, (name, statistic, observed)


def test_schema_and_values_survive_for_nested_and_odd_types(spark):
    schema = T.StructType(
        [
            T.StructField("label", T.StringType(), False),
            T.StructField("s", T.StructType([T.StructField("x", T.IntegerType(), True)]), True),
            T.StructField("arr", T.ArrayType(T.DoubleType(), True), True),
            T.StructField("m", T.MapType(T.StringType(), T.LongType(), True), True),
            T.StructField("dec", T.DecimalType(38, 18), True),
            T.StructField("ts", T.TimestampType(), True),
            T.StructField("bin", T.BinaryType(), True),
            T.StructField("nothing", T.StringType(), True),
            T.StructField("id", T.IntegerType(), False),
        ]
    )
    row = (
        "x",
        {"x": 1},
        [1.5, None],
        {"k": 2},
        Decimal("12345678901234567890.123456789012345678"),
        dt.datetime(2026, 1, 2, 3, 4, 5, 6),
        b"\x00\xff",
        None,
    )
    rows = [(("minor" if i < 3 else "major"), *row[1:], i) for i in range(12)]
    df = spark.createDataFrame(rows, schema)
    out = upsample(df, "label", seed=1)
    assert out.schema == df.schema
    assert label_counts(out) == {"minor": 9, "major": 9}
    values = {repr(tuple(r)[1:-1]) for r in out.collect()}
    assert values == {repr(tuple(r)[1:-1]) for r in df.collect()}


@pytest.mark.parametrize(
    ("labels", "schema"),
    [
        ([True] * 9 + [False] * 2, "label boolean"),
        ([7] * 9 + [-3] * 2, "label long"),
        (["yes"] * 9 + ["no"] * 2, "label string"),
        ([1.0] * 9 + [0.0] * 2, "label double"),
    ],
)
def test_label_types(spark, labels, schema):
    df = spark.createDataFrame([(v,) for v in labels], schema)
    result = upsample_with_plan(df, "label", seed=9)
    assert sorted(label_counts(result.df).values()) == [9, 9]
    assert result.df.schema == df.schema


def test_null_labels_are_an_error_unless_dropped(spark):
    df = spark.createDataFrame(
        [(i, None if i % 10 == 0 else i % 3 == 0) for i in range(40)], "id int, label boolean"
    )
    with pytest.raises(
        InvalidLabelError, match=r"4 row\(s\) have a null 'label'.*null_labels='drop'"
    ):
        upsample(df, "label", seed=1)
    result = upsample_with_plan(df, "label", seed=1, null_labels="drop")
    assert result.plan.null_labels_dropped == 4
    assert label_counts(result.df) == {True: 24, False: 24}


def test_strategies_through_spark(spark):
    df = frame(spark, {"a": 60, "b": 20, "c": 5})
    assert label_counts(upsample(df, "label", sampling_strategy="minority", seed=1)) == {
        "a": 60,
        "b": 20,
        "c": 60,
    }
    assert label_counts(upsample(df, "label", sampling_strategy="not minority", seed=1)) == {
        "a": 60,
        "b": 60,
        "c": 5,
    }
    assert label_counts(
        upsample(df, "label", sampling_strategy=lambda n: {"c": n["c"] * 3}, seed=1)
    ) == {"a": 60, "b": 20, "c": 15}
    binary = frame(spark, {"a": 60, "c": 5})
    assert label_counts(upsample(binary, "label", sampling_strategy=0.5, seed=1)) == {
        "a": 60,
        "c": 30,
    }


def test_counting_reads_only_the_label_column(spark):
    """The planning jobs must not evaluate any other column: here one that fails when read."""
    from pyspark.sql.functions import udf

    @udf("double")
    def explode_when_read(x):
        raise RuntimeError("a non-label column was read")

    df = frame(spark, {"a": 30, "b": 4}).withColumn("boom", explode_when_read("id"))
    result = upsample_with_plan(df, "label", seed=1)  # counts and cuts run here
    assert result.plan.counts_after == {"a": 30, "b": 30}
    with pytest.raises(Exception, match="a non-label column was read"):
        result.df.collect()


def test_a_too_narrow_margin_is_detected_and_retried_exactly(spark, monkeypatch):
    import spark_upsample.engine.sampler as sampler

    monkeypatch.setattr(sampler, "TAIL_SIGMAS", 0.05)
    df = frame(spark, {"a": 300, "b": 10, "c": 4})
    calls = []
    real = sampler.draw_exact

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        calls.append(result.attempts)
        return result

    monkeypatch.setattr("spark_upsample.engine.pipeline.draw_exact", spy)
    out = upsample(df, "label", seed=8)
    assert calls[0] > 1
    assert label_counts(out) == {"a": 300, "b": 300, "c": 300}


def test_cells_as_literals_take_the_rows_the_per_cell_table_joins(spark, monkeypatch):
    """Up to 16 cells the engine matches rows to cells by literals; past that, a table joins
    them. Both give the same rows, for date groups classic PySpark cannot make literals of
    directly (year 1, a day of the Julian calendar's gap), a null group and decimal labels."""
    from spark_upsample.engine import sampler

    days = [dt.date(1, 1, 1), dt.date(1582, 10, 10), dt.date(2026, 12, 7), None]
    rows = [(i, days[i % 4], Decimal("1.50") if i % 9 else Decimal("-2.25")) for i in range(120)]
    df = spark.createDataFrame(rows, "id long, day date, label decimal(5,2)")

    literals = upsample_with_plan(df, "label", group_by=["day"], seed=4)
    monkeypatch.setattr(sampler, "LITERAL_CELLS", 0)
    joined = upsample_with_plan(df, "label", group_by=["day"], seed=4)

    assert len(literals.plan.classes) == 8
    assert literals.plan.counts_after == joined.plan.counts_after
    assert_df_equality(literals.df, joined.df, ignore_row_order=True)
    assert literals.df.where("day = date'0001-01-01' AND label = -2.25").count() > 0


def test_a_class_of_minus_zero_and_zero_is_read_whole_from_parquet(spark, tmp_path):
    """-0.0 and 0.0 are one class; a file holding only -0.0 is read like the others (a test
    Spark pushed into the Parquet scan would skip it: its dictionary filter tells them apart)."""
    path = str(tmp_path / "in")
    spark.createDataFrame([(i, -0.0) for i in range(5)], "id long, label double").coalesce(
        1
    ).write.parquet(path)
    spark.createDataFrame(
        [(5 + i, 0.0 if i < 5 else 1.0) for i in range(95)], "id long, label double"
    ).coalesce(1).write.mode("append").parquet(path)

    result = upsample_with_plan(spark.read.parquet(path), "label", seed=6)

    assert result.plan.counts_after == {0.0: 90, 1.0: 90}
    # Filtered in Python: Spark's own `label = 0.0` on this Parquet input would miss the -0.0s.
    drawn = Counter(r.id for r in result.df.collect() if r.label == 0.0)
    assert sum(drawn.values()) == 90 and set(drawn) == set(range(10))


def test_counting_first_gives_the_cuts_of_one_aggregation_and_a_shared_key_is_retried(
    spark, monkeypatch
):
    """The cut statistics of many large cells count the copies before collecting their keys
    (sampler._count_first); the cuts, so the rows, are those of the one aggregation. A key that
    two copies share inside a window gives no cut: the engine draws fresh keys."""
    from spark_upsample.engine import sampler

    df = frame(spark, {"a": 3000, "b": 40, "c": 7})
    monkeypatch.setattr(sampler, "_count_first", lambda designs: False)
    once = upsample(df, "label", seed=12)
    monkeypatch.setattr(sampler, "_count_first", lambda designs: True)
    real_stats, real_draw, calls, attempts = sampler._cut_stats, sampler.draw_exact, [], []

    def shared_at_first(copies, names, count_first):
        calls.append(count_first)
        stats = real_stats(copies, names, count_first)
        return stats.withColumn("shared", F.lit(2)) if len(calls) == 1 else stats

    def spy(*args, **kwargs):
        result = real_draw(*args, **kwargs)
        attempts.append(result.attempts)
        return result

    counted = upsample(df, "label", seed=12)
    assert_df_equality(counted, once, ignore_row_order=True)

    monkeypatch.setattr(sampler, "_cut_stats", shared_at_first)
    monkeypatch.setattr("spark_upsample.engine.pipeline.draw_exact", spy)
    retried = upsample(df, "label", seed=12)
    assert calls == [True, True] and attempts == [2]
    assert label_counts(retried) == {"a": 3000, "b": 3000, "c": 3000}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"label_col": "lable"},
            MissingColumnError,
            r"Column 'lable' is not in the input; its columns are \['id', 'label'\]. "
            r"Did you mean 'label'\?",
        ),
        ({"label_col": "LABEL"}, MissingColumnError, r"Did you mean 'label'\?"),
        (
            {"seed": -1},
            InvalidParameterError,
            r"seed must be an integer in \[0, 2\*\*63\) or None. "
            r"Got -1 instead.",
        ),
        ({"seed": 1.5}, InvalidParameterError, r"Got 1.5 instead."),
        ({"seed": 2**63}, InvalidParameterError, r"Got 9223372036854775808 instead."),
        (
            {"null_labels": "skip"},
            InvalidParameterError,
            r"null_labels must be one of \('error', 'drop'\). Got 'skip' instead.",
        ),
        ({"keep_originals": "yes"}, InvalidParameterError, r"keep_originals must be True or False"),
        ({"sampling_strategy": "majority"}, InvalidStrategyError, r"Got 'majority' instead"),
        ({"sampling_strategy": {"z": 9}}, InvalidStrategyError, r"class\(es\) 'z' that are not"),
    ],
)
def test_bad_arguments_raise_clear_errors(spark, kwargs, error, message):
    df = frame(spark, {"a": 10, "b": 2})
    args = {"label_col": "label", **kwargs}
    with pytest.raises(error, match=message):
        upsample(df, args.pop("label_col"), **args)


def test_bad_inputs_raise_clear_errors(spark):
    with pytest.raises(SingleClassError, match=r"got 1 \('a'\)"):
        upsample(frame(spark, {"a": 10}), "label")
    with pytest.raises(EmptyInputError, match="The input has no rows"):
        upsample(spark.createDataFrame([], "id long, label string"), "label")
    with pytest.raises(InvalidLabelError, match=r"has type array<int>"):
        upsample(spark.createDataFrame([([1],)], "label array<int>"), "label")
    nan = spark.createDataFrame([(float("nan"),), (1.0,), (2.0,)], "label double")
    with pytest.raises(InvalidLabelError, match=r"1 row\(s\) have a NaN 'label'"):
        upsample(nan, "label")


def test_works_with_transform_chaining(spark):
    df = frame(spark, {"a": 8, "b": 2})
    out = df.transform(upsample, "label", seed=3)
    assert label_counts(out) == {"a": 8, "b": 8}


def test_the_slot_copy_count_in_spark_inverts_the_cdf_computed_in_python(spark):
    """The Spark expression gives every uniform u the count that draws.slot_cdf gives it,
    including just below and at each CDF value and deep in the tail."""
    import bisect

    from spark_upsample.engine.draws import MAX_SLOT_COPIES, slot_cdf
    from spark_upsample.engine.sampler import _poisson

    cases = []
    for mu in (1e-6, 0.3, 0.75, 1.0):
        cdf = slot_cdf(mu)
        for f in cdf[:12]:
            cases += [(mu, f), (mu, math.nextafter(f, 0.0))]
        cases += [(mu, 0.0), (mu, 0.5), (mu, 1.0 - 2.0**-53)]
    df = spark.createDataFrame(cases, "mu double, u double")
    got = df.select("mu", "u", F.exp(-F.col("mu")).alias("p0")).select(
        "mu", "u", _poisson("u", "mu", "p0").alias("k")
    )
    for mu, u, k in got.collect():
        expected = min(bisect.bisect_right(slot_cdf(mu), u), MAX_SLOT_COPIES)
        assert k == expected, (mu, u)
