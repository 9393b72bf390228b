"""Row identity: the same rows for the same seed on any layout; key columns; cells at scale."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_upsample import DuplicateKeyError, upsample, upsample_with_plan
from spark_upsample.engine.identity import FILE_ROW_INDEX, KEY_COLUMNS, PARTITION_POSITION
from tests.conftest import spark_env
from tests.layout_run import split_size, write_outputs

LAYOUT_RUN = Path(__file__).parent / "layout_run.py"
TRANSFORMS = (
    "upsample",
    "downsample",
    "resample",
    "group_by",
    "keep_originals",
    "shrinkage",
    "csv_key_cols",
    "split",
    "folds",
    "csv_split",
)


def events(spark, rows: int = 3000) -> DataFrame:
    """Three classes (80 / 15 / 5 %), three groups, a float column; an id unique per row."""
    return spark.range(rows).select(
        "id",
        (F.col("id") % 3).cast("int").alias("g"),
        (F.col("id") * 0.37 % 11).alias("x"),
        F.when(F.col("id") % 20 == 0, "c")
        .when(F.col("id") % 20 < 4, "b")
        .otherwise("a")
        .alias("label"),
    )


@pytest.mark.slow
@pytest.mark.classic_only  # starts its own Spark processes with other core counts
def test_same_rows_for_the_same_seed_on_any_cores_split_size_and_folder(spark, tmp_path):
    data = events(spark)
    parquet_in, csv_in = tmp_path / "in", tmp_path / "csv"
    # Many small row groups, so that smaller split sizes really split the files.
    data.repartition(3).write.option("parquet.block.size", 4096).parquet(str(parquet_in))
    data.repartition(2).write.csv(str(csv_in), header=True)
    moved = tmp_path / "elsewhere" / "copied"
    shutil.copytree(parquet_in, moved)

    # One layout in a process of its own (one core, whole files per split, the original folder),
    # one in this test's session (two cores, small splits, the moved folder).
    elsewhere = tmp_path / "out"
    subprocess.run(
        [
            sys.executable,
            str(LAYOUT_RUN),
            "local[1]",
            "128m",
            str(parquet_in),
            str(csv_in),
            str(elsewhere),
        ],
        env=spark_env(),
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    with split_size(spark, "8192"):  # local[2], two shuffle partitions, the moved folder
        write_outputs(spark, str(moved), str(csv_in), str(tmp_path / "here"))
    outs = [elsewhere, tmp_path / "here"]

    partitions = [json.loads((out / "layout.json").read_text()) for out in outs]
    assert len({p["parquet_partitions"] for p in partitions}) == 2, partitions
    assert len({p["csv_partitions"] for p in partitions}) == 2, partitions
    read = [
        {name: spark.read.parquet(str(out / name)) for name in (*TRANSFORMS, "positional")}
        for out in outs
    ]
    for name in TRANSFORMS:
        for other in read[1:]:
            assert_df_equality(read[0][name], other[name], ignore_row_order=True)
    # The control keyed by partition position draws other rows on another layout.
    positional = [r["positional"].orderBy("id").select("id").collect() for r in read]
    assert positional[0] != positional[1]


def test_the_plan_names_the_identity_used(spark, tmp_path):
    events(spark, 200).write.parquet(str(tmp_path / "in"))
    parquet = spark.read.parquet(str(tmp_path / "in"))

    def identity(frame, **options):
        return upsample_with_plan(frame, "label", seed=1, **options).plan.row_identity

    assert identity(parquet) == FILE_ROW_INDEX
    assert identity(parquet.where("id > 3").select("id", "label")) == FILE_ROW_INDEX
    assert identity(parquet.unionByName(parquet.limit(0))) == PARTITION_POSITION
    assert identity(events(spark, 200)) == PARTITION_POSITION
    assert identity(events(spark, 200), key_cols=["id"]) == KEY_COLUMNS
    plan = upsample_with_plan(parquet, "label", seed=1, key_cols=["g", "id"]).plan
    assert plan.to_dict()["row_identity"] == "key columns"
    assert plan.to_dict()["key_cols"] == ["g", "id"]


def test_key_columns_give_the_same_rows_whatever_the_order_and_partitioning(spark):
    df = events(spark, 1000)
    shuffled = df.repartition(7).orderBy(F.rand(3))
    first = upsample(df.coalesce(1), "label", key_cols=["id"], seed=5)
    again = upsample(shuffled, "label", key_cols=["id"], seed=5)
    assert_df_equality(first, again, ignore_row_order=True)
    assert first.groupBy("label").count().collect() != []


def test_a_key_repeated_within_a_class_is_refused(spark):
    rows = [(i, "a") for i in range(20)] + [(i, "b") for i in (1, 2, 7, 7, 7)]
    df = spark.createDataFrame(rows, "id long, label string")
    with pytest.raises(DuplicateKeyError) as caught:
        upsample(df, "label", key_cols=["id"], seed=1)
    assert str(caught.value) == (
        "key_cols ['id'] do not identify the rows of class 'b': the key (id=7) occurs 3 times. "
        "Give columns that are unique within each class (add more key columns), or leave "
        "key_cols out."
    )
    # The same key in two classes is fine: keys identify rows within a class.
    ok = upsample(
        spark.createDataFrame([(1, "a"), (2, "a"), (1, "b")], "id long, label string"),
        "label",
        key_cols=["id"],
        seed=1,
    )
    assert sorted(ok.groupBy("label").count().collect()) == [("a", 2), ("b", 2)]


@pytest.mark.classic_only  # inspects the SparkContext's jobs and spies on collect()
def test_planning_a_hundred_thousand_cells_keeps_the_cells_in_spark(spark, monkeypatch):
    groups = 50_000
    df = spark.range(3 * groups).select(
        (F.col("id") % groups).alias("g"),
        F.when(F.col("id") < 2 * groups, "a").otherwise("b").alias("label"),
    )
    from spark_upsample.engine import pipeline
    from spark_upsample.engine.cells import CellKeys

    tables, collected = [], []
    frame_type = type(df)  # classic PySpark 4's DataFrame is a subclass of pyspark.sql's
    real_table, real_collect = CellKeys.table, frame_type.collect

    def spy_table(self, *args, **kwargs):
        tables.append(real_table(self, *args, **kwargs))
        return tables[-1]

    def spy_collect(self):
        rows = real_collect(self)
        collected.append(len(rows))
        return rows

    monkeypatch.setattr(CellKeys, "table", spy_table)
    monkeypatch.setattr(frame_type, "collect", spy_collect)
    result = upsample_with_plan(df, "label", group_by=["g"], seed=2)
    monkeypatch.undo()

    cells = 2 * groups
    # planned by Spark: no per-cell table from Python, and what reached the driver is the first
    # CLUSTER_CELLS + 1 counts (to tell that there are more), then rows of totals, one at a time
    assert tables == []
    assert collected[0] == pipeline.CLUSTER_CELLS + 1 and max(collected[1:]) <= 1
    assert len(result.plan.classes) == cells and result.plan.rows_after == 2 * cells
    written = result.df.groupBy("g", "label").count()
    assert written.where("count != 2").count() == 0 and written.count() == cells


@pytest.mark.parametrize("data_type", ["timestamp", "timestamp_ntz"])
def test_timestamp_labels_in_a_daylight_saving_fall_back_hour_stay_apart(spark, data_type):
    """2026-11-01 05:30Z and 06:30Z are both 01:30 in New York (EDT, then EST)."""
    previous = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        utc = dt.timezone.utc
        instants = (
            [dt.datetime(2026, 11, 1, 5, 30, tzinfo=utc)] * 10
            + [dt.datetime(2026, 11, 1, 6, 30, tzinfo=utc)] * 3
            + [dt.datetime(2026, 11, 2, 12, 0, tzinfo=utc)] * 20
        )
        text = [(i, t.strftime("%Y-%m-%d %H:%M:%S")) for i, t in enumerate(instants)]
        df = spark.createDataFrame(text, "id long, t string").select(
            "id", F.to_timestamp("t").cast(data_type).alias("label")
        )  # the session is in UTC

        result = upsample_with_plan(df, "label", seed=4)

        assert len(result.plan.classes) == 3
        assert sorted(result.plan.counts_before.values()) == [3, 10, 20]
        written = result.df.groupBy(F.col("label").cast("string")).count().collect()
        assert sorted(written) == [
            ("2026-11-01 05:30:00", 20),
            ("2026-11-01 06:30:00", 20),
            ("2026-11-02 12:00:00", 20),
        ]
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        time.tzset()


def test_key_columns_with_nulls_keep_rows_apart(spark):
    from spark_upsample.engine.identity import row_identity

    df = spark.createDataFrame([(1, None), (None, 1), (None, None), (1, 1)], "a int, b int")
    ids = df.select(row_identity(df, ["a", "b"]).column.alias("id")).distinct().count()
    assert ids == 4  # xxhash64 alone skips nulls: (1, null) and (null, 1) would be one id


def test_repeated_keys_among_dropped_null_labels_are_not_an_error(spark):
    rows = [(1, "a"), (2, "a"), (3, "b"), (9, None), (9, None)]
    df = spark.createDataFrame(rows, "id long, label string")
    out = upsample(df, "label", key_cols=["id"], null_labels="drop", seed=1)
    assert sorted(out.groupBy("label").count().collect()) == [("a", 2), ("b", 2)]


@pytest.mark.parametrize(
    ("folder", "path", "relative"),
    [
        ("/tmp/in/", "file:/tmp/in/part-0.parquet", "part-0.parquet"),
        ("/tmp/in/", "file:///tmp/in/day=1/part-0.parquet", "day=1/part-0.parquet"),
        ("/", "hdfs://nn:8020/a/x.parquet", "a/x.parquet"),
        ("/t/", "s3a://bucket/t/x.parquet", "x.parquet"),
        ("/tmp/a%20b/", "file:/tmp/a%20b/x.parquet", "x.parquet"),
        ("/tmp/in/", "file:/elsewhere/x.parquet", ""),  # not below: the whole path is used
    ],
)
def test_file_paths_are_made_relative_to_the_input_folder(spark, folder, path, relative):
    from spark_upsample.engine.identity import _folder_path, _relative_pattern

    got = (
        spark.createDataFrame([(path,)], "p string")
        .select(F.regexp_extract("p", _relative_pattern(folder), 1))
        .first()[0]
    )
    assert got == relative
    assert _folder_path(["file:///tmp/in/a.parquet", "file:///tmp/in/b/c.parquet"]) == "/tmp/in/"
    assert _folder_path(["hdfs://nn:8020/a/x.parquet", "hdfs://nn:8020/b/y.parquet"]) == "/"
    assert _folder_path(["s3a://bucket/t/x.parquet"]) == "/t/"


@pytest.mark.parametrize(
    ("files", "prefixes"),
    [
        (
            ["file:///tmp/in/a.parquet", "file:///tmp/in/b/c.parquet"],
            ["file:///tmp/in/", "file:/tmp/in/"],  # as listed, and as _metadata writes it
        ),
        (["file:/tmp/in/a.parquet"], ["file:/tmp/in/"]),
        (["s3a://bucket/t/x.parquet", "s3a://bucket/t/y.parquet"], ["s3a://bucket/t/"]),
        (["hdfs://nn:8020/a/x.parquet", "hdfs://nn:8020/b/y.parquet"], ["hdfs://nn:8020/"]),
        # A line terminator in a rest: the pattern's "." stops there, so the pattern decides.
        (["file:///tmp/in/a\u2028b.parquet", "file:///tmp/in/c.parquet"], []),
    ],
)
def test_the_paths_whose_rest_is_taken_without_the_pattern(files, prefixes):
    from spark_upsample.engine.identity import _uri_prefixes

    assert _uri_prefixes(files) == prefixes


@pytest.mark.parametrize("folder", ["in", "entrée-ü"])
def test_the_file_row_identity_is_the_patterns_value_without_a_pattern_per_row(
    spark, tmp_path, folder
):
    """The identity of every row of a Parquet input in nested folders is the hash of the
    relative path the pattern extracts and the row index, as before the prefixes were used
    (the path is cut by bytes: a folder of non-ASCII characters has more bytes than them)."""
    from spark_upsample.engine.identity import _folder_path, _relative_pattern, row_identity

    frame = spark.range(40).select("id", (F.col("id") % 2).alias("day"))
    frame.repartition(2).write.partitionBy("day").parquet(str(tmp_path / folder))
    df = spark.read.parquet(str(tmp_path / folder))
    identity = row_identity(df)
    assert identity.kind == FILE_ROW_INDEX
    path = F.col("_metadata.file_path")
    relative = F.regexp_extract(path, _relative_pattern(_folder_path(df.inputFiles())), 1)
    expected = F.xxhash64(relative, F.col("_metadata.row_index"))
    rows = df.select(identity.column.alias("got"), expected.alias("expected"), relative).collect()
    assert len(rows) == 40 and all(r.got == r.expected for r in rows)
    assert {r[2].split("/")[0] for r in rows} == {"day=0", "day=1"}
