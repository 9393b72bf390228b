"""Types and shapes: every Spark SQL type, 500 columns, wide rows, 1,000 classes, 1 row ->
100,000."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample import RatioLimitError, upsample, upsample_with_plan
from tests.helpers import label_counts


def assert_rows_come_from(out: DataFrame, df: DataFrame, key: str = "id") -> None:
    """Every output row equals the input row with its ``key``, field by field (maps included)."""
    originals = {r[key]: r for r in df.collect()}
    for row in out.collect():
        assert row == originals[row[key]]


ALL_TYPES = T.StructType(
    [
        T.StructField("id", T.IntegerType(), False),
        T.StructField("label", T.StringType(), False),
        T.StructField("b", T.ByteType()),
        T.StructField("sh", T.ShortType()),
        T.StructField("l", T.LongType()),
        T.StructField("f", T.FloatType()),
        T.StructField("d", T.DoubleType()),
        T.StructField("dec", T.DecimalType(38, 18)),
        T.StructField("dec_small", T.DecimalType(10, 2)),
        T.StructField("bool", T.BooleanType()),
        T.StructField("bin", T.BinaryType()),
        T.StructField("date", T.DateType()),
        T.StructField("ts", T.TimestampType()),
        T.StructField("ts_ntz", T.TimestampNTZType()),
        T.StructField(
            "nested",
            T.StructType(
                [
                    T.StructField("name", T.StringType()),
                    T.StructField("tags", T.ArrayType(T.StringType())),
                    T.StructField(
                        "inner", T.StructType([T.StructField("x", T.DoubleType(), False)])
                    ),
                ]
            ),
        ),
        T.StructField("items", T.ArrayType(T.StructType([T.StructField("k", T.IntegerType())]))),
        T.StructField("lookup", T.MapType(T.StringType(), T.ArrayType(T.IntegerType()))),
        T.StructField("always_null", T.StringType()),
    ]
)


def typed_row(i: int) -> tuple:
    null = i % 4 == 3  # every fourth row has nulls in every nullable column
    values = (
        i % 128,
        i * 7,
        i * 10**12,
        i / 3,
        i / 7,
        Decimal(f"{i % 10}1234567890123456789.123456789012345678"),
        Decimal(f"{i}.25"),
        i % 2 == 0,
        bytes([i % 256, 0, 255]),
        dt.date(2026, 1, 1) + dt.timedelta(days=i),
        dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i),
        dt.datetime(2026, 1, 1, 12) + dt.timedelta(minutes=i),
        (f"n{i}", ["a", None, f"t{i}"], (i / 2,)),
        [(i,), (None,)],
        {"k": [i, None]},
    )
    return (i, "rare" if i < 4 else "common", *([None] * len(values) if null else values), None)


def test_schema_and_values_survive_for_every_spark_sql_type(spark):
    df = spark.createDataFrame([typed_row(i) for i in range(20)], ALL_TYPES)
    out = upsample(df, "label", seed=3)
    assert out.schema == df.schema
    assert label_counts(out) == {"rare": 16, "common": 16}
    assert_rows_come_from(out, df)


def test_five_hundred_columns(spark):
    columns = [F.col("id"), F.when(F.col("id") < 10, "rare").otherwise("common").alias("label")]
    columns += [(F.col("id") * k).cast("double").alias(f"c{k}") for k in range(498)]
    df = spark.range(100).select(*columns)
    out = upsample(df, "label", seed=8)
    assert len(out.columns) == 500 and out.schema == df.schema
    assert label_counts(out) == {"rare": 90, "common": 90}
    assert out.join(df, on=df.columns, how="left_anti").count() == 0


def test_wide_rows(spark):
    df = spark.range(40).select(
        "id",
        F.when(F.col("id") < 5, "rare").otherwise("common").alias("label"),
        F.repeat(F.sha2(F.col("id").cast("string"), 256), 3_000).alias("payload"),  # 192 KB
    )
    out = upsample(df, "label", seed=2)
    assert label_counts(out) == {"rare": 35, "common": 35}
    assert out.join(df, on=["id", "label", "payload"], how="left_anti").count() == 0
    assert out.agg(F.min(F.length("payload"))).first()[0] == 192_000


def test_a_thousand_classes_some_with_a_single_row(spark):
    sizes = {c: 1 + c % 20 for c in range(1000)}  # 50 classes of 1 row ... 50 of 20 rows
    df = spark.createDataFrame(
        [(c * 100 + k, c) for c, n in sizes.items() for k in range(n)], "id long, label int"
    )
    result = upsample_with_plan(df, "label", seed=13)
    counts = label_counts(result.df)
    assert len(counts) == 1000 and set(counts.values()) == {20}
    assert result.plan.counts_after == counts
    assert result.df.join(df, on=["id", "label"], how="left_anti").count() == 0
    keep = upsample(df, "label", seed=13, keep_originals=True)
    assert_df_equality(
        keep.where("label % 20 = 19"), df.where("label % 20 = 19"), ignore_row_order=True
    )  # classes already at the target come through


def test_one_row_upsampled_to_a_hundred_thousand(spark):
    df = spark.createDataFrame(
        [(0, "one")] + [(i, "many") for i in range(1, 100_001)], "id long, label string"
    )
    with pytest.raises(RatioLimitError, match="is 100,000 times its 1 row"):
        upsample(df, "label", seed=1)
    out = upsample(df, "label", seed=1, max_ratio=None).persist()
    assert label_counts(out) == {"one": 100_000, "many": 100_000}
    assert out.where("label = 'one'").select("id").distinct().collect() == [(0,)]
    out.unpersist()
