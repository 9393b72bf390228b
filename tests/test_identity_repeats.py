"""Row identity of a Parquet input behind a query that repeats rows (issue 23, item 1).

A join, ``explode``, ``crossJoin`` or ``sample(withReplacement=True)`` keeps ``_metadata``, so
every copy of a row would carry its file row index: the copies must get identities of their own
(the partition position), and the plan must say why.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_upsample import (
    DuplicateKeyError,
    Upsampler,
    downsample_with_plan,
    resample_with_plan,
    smote_with_plan,
    split_with_plan,
    upsample,
    upsample_with_plan,
    with_folds,
)
from spark_upsample.engine.identity import FILE_ROW_INDEX, PARTITION_POSITION, row_identity
from spark_upsample.job.report import summary_table

ROWS = 200  # ids 0..199; label "b" for every fifth id (40 rows), else "a" (160 rows)
NOTE = "file row index not used: the query can repeat rows ({})"

# Each operator: the query, and the operator the plan names. Every input row comes out twice
# (Poisson(2) times for the sample).
REPEATS = {
    "inner join": "Join Inner",
    "explode": "Generate",
    "crossJoin": "Join Cross",
    "sample with replacement": "Sample with replacement",
}


@pytest.fixture(scope="module")
def parquet(spark, tmp_path_factory) -> DataFrame:
    path = str(tmp_path_factory.mktemp("repeats") / "in")
    spark.range(ROWS).select(
        "id",
        F.when(F.col("id") % 5 == 0, "b").otherwise("a").alias("label"),
        F.col("id").cast("double").alias("x"),
        (F.col("id") * 7 % 13).cast("double").alias("y"),
        F.array(F.lit(1), F.lit(2)).alias("pair"),
    ).write.parquet(path)
    return spark.read.parquet(path)


def repeated(spark, parquet: DataFrame, operator: str) -> DataFrame:
    """``parquet`` through ``operator``: its columns, each input row repeated."""
    if operator == "inner join":
        tags = spark.createDataFrame(
            [("a", "t1"), ("a", "t2"), ("b", "t1"), ("b", "t2")], "lab string, tag string"
        )
        out = parquet.join(tags, parquet["label"] == tags["lab"], how="inner")
    elif operator == "explode":
        out = parquet.select("*", F.explode("pair").alias("copy"))
    elif operator == "crossJoin":
        out = parquet.crossJoin(spark.createDataFrame([(1,), (2,)], "copy int"))
    else:
        out = parquet.sample(withReplacement=True, fraction=2.0, seed=3)
    return out.select(*parquet.columns)


def multiplicity(df: DataFrame) -> dict[int, int]:
    """Copies of each id."""
    return {r["id"]: r["count"] for r in df.groupBy("id").count().collect()}


def copies_treated_as_one(before: dict[int, int], after: dict[int, int]) -> bool:
    """Whether every repeated id came out a multiple of its copies: what copies sharing one
    identity gives (they draw the same copy counts, or are kept or dropped together)."""
    repeated_ids = [i for i, m in before.items() if m >= 2]
    assert len(repeated_ids) >= 20
    return all(after.get(i, 0) % before[i] == 0 for i in repeated_ids)


def parts_of_ids(df: DataFrame, part_col: str) -> dict[int, set]:
    parts = defaultdict(set)
    for r in df.select("id", part_col).collect():
        parts[r["id"]].add(r[part_col])
    return parts


@pytest.mark.parametrize("operator", REPEATS)
def test_resampling_draws_for_each_copy_of_a_repeated_row(spark, parquet, operator):
    df = repeated(spark, parquet, operator)
    before = multiplicity(df)
    runs = {
        "upsample": upsample_with_plan(df, "label", seed=7),
        "downsample": downsample_with_plan(df, "label", seed=7),
        "resample": resample_with_plan(df, "label", target="mean", seed=7),
        "Upsampler": Upsampler(seed=8, keepOriginals=True).resampleWithPlan(df),
    }
    for method, result in runs.items():
        plan = result.plan
        assert (plan.row_identity, plan.row_identity_note) == (
            PARTITION_POSITION,
            NOTE.format(REPEATS[operator]),
        ), method
        assert plan.to_dict()["row_identity_note"] == NOTE.format(REPEATS[operator])
        assert summary_table(plan).splitlines()[-1] == (
            f"row identity: {PARTITION_POSITION}; {NOTE.format(REPEATS[operator])}"
        )
        out = result.df
        assert dict(Counter(r["label"] for r in out.select("label").collect())) == {
            c.label: c.count_after for c in plan.classes
        }
        assert out.schema == df.schema
        assert not copies_treated_as_one(before, multiplicity(out)), method


@pytest.mark.parametrize("operator", REPEATS)
def test_split_and_folds_separate_the_copies_of_a_repeated_row(spark, parquet, operator):
    df = repeated(spark, parquet, operator)
    counts = Counter(r["label"] for r in df.select("label").collect())
    divided = split_with_plan(df, "label", {"one": 0.5, "two": 0.5}, seed=7)
    tagged = (
        divided.parts["one"]
        .withColumn("part", F.lit(1))
        .unionByName(divided.parts["two"].withColumn("part", F.lit(2)))
    )
    assert tagged.count() == sum(counts.values())
    spread = parts_of_ids(tagged, "part")
    assert any(len(parts) == 2 for parts in spread.values())

    folded = with_folds(df, "label", 4, seed=7)  # raised "no exact cut after 8 attempts"
    sizes = Counter((r["label"], r["fold"]) for r in folded.select("label", "fold").collect())
    for label, count in counts.items():
        assert sorted(sizes[(label, f)] for f in range(4)) == sorted(
            count // 4 + (1 if j < count % 4 else 0) for j in range(4)
        )
    assert any(len(folds) >= 2 for folds in parts_of_ids(folded, "fold").values())
    assert divided.plan.row_identity == PARTITION_POSITION
    assert divided.plan.row_identity_note == NOTE.format(REPEATS[operator])


@pytest.mark.parametrize("operator", REPEATS)
def test_smote_takes_a_copy_of_the_base_row_as_a_neighbour(spark, parquet, operator):
    df = repeated(spark, parquet, operator)
    result = smote_with_plan(
        df, "label", feature_cols=["x", "y"], k_neighbors=3, seed=7, detail=True
    )
    rows = result.df.select("id", "smote_row_id", "smote_base_id", "smote_neighbor_id").collect()
    id_of = {r["smote_row_id"]: r["id"] for r in rows if r["smote_row_id"] is not None}
    assert len(id_of) == df.count()  # every copy has an identity of its own
    new = [r for r in rows if r["smote_base_id"] is not None]
    assert len(new) == sum(c.draws for c in result.plan.classes)
    copies = multiplicity(df)
    with_copy = [r for r in new if copies[r["id"]] >= 2]
    own = sum(id_of[r["smote_neighbor_id"]] == id_of[r["smote_base_id"]] for r in with_copy)
    # k = 3 and a copy at distance 0: about 1 in 3 of the new rows; 1-5 of 240 before the fix.
    assert own >= 0.2 * len(with_copy)
    assert result.plan.row_identity == PARTITION_POSITION
    assert result.plan.row_identity_note == NOTE.format(REPEATS[operator])


def test_key_columns_still_refuse_the_repeated_keys_of_a_join(spark, parquet):
    with pytest.raises(DuplicateKeyError, match=r"^key_cols \['id'\] do not identify the rows "):
        upsample(repeated(spark, parquet, "inner join"), "label", key_cols=["id"], seed=1)


@pytest.mark.parametrize(
    "query",
    [
        lambda p, t: p.where("id > 3").select("id", "label"),
        lambda p, t: p.join(t, p["label"] == t["lab"], how="left_semi"),
        lambda p, t: p.join(t, p["label"] == t["lab"], how="left_anti"),
        lambda p, t: p.sample(withReplacement=False, fraction=0.5, seed=1),
        lambda p, t: p.orderBy("id").repartition(3).limit(50).hint("broadcast"),
    ],
    ids=["filter-project", "semi-join", "anti-join", "sample", "sort-limit-hint"],
)
def test_queries_that_output_each_row_once_keep_the_file_row_index(spark, parquet, query):
    tags = spark.createDataFrame([("a", "t1"), ("b", "t1")], "lab string, tag string")
    identity = row_identity(query(parquet, tags))
    assert (identity.kind, identity.note) == (FILE_ROW_INDEX, "")
