"""split and with_folds: exact sizes per class, disjoint parts that cover the input, uniform
choices, the same rows for the same seed, clear errors."""

from __future__ import annotations

from collections import Counter

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample import (
    EmptyInputError,
    InvalidLabelError,
    InvalidParameterError,
    MissingColumnError,
    split,
    split_with_plan,
    with_folds,
)
from spark_upsample.engine.identity import KEY_COLUMNS

# Uneven classes: 1,000 / 97 / 2 / 1 rows.
SIZES = {"a": 1000, "b": 97, "c": 2, "d": 1}
FRACTIONS = {"train": 0.7, "valid": 0.2, "test": 0.1}
# Largest remainders of 0.7 / 0.2 / 0.1 times each count (ties to the parts in turn).
EXPECTED = {"a": (700, 200, 100), "b": (68, 19, 10), "c": (2, 0, 0), "d": (1, 0, 0)}


def uneven(spark) -> DataFrame:
    rows, start = [], 0
    for label, n in SIZES.items():
        rows += [(start + i, label, float(i % 7)) for i in range(n)]
        start += n
    return spark.createDataFrame(rows, "id long, label string, x double")


def counts(df: DataFrame, *cols: str) -> dict:
    return {
        tuple(r[:-1]) if len(cols) > 1 else r[0]: r[-1] for r in df.groupBy(*cols).count().collect()
    }


def ids(df: DataFrame) -> list[int]:
    return [r[0] for r in df.select("id").collect()]


def test_split_gives_exact_disjoint_parts_that_cover_every_row(spark):
    df = uneven(spark)
    result = split_with_plan(df, "label", FRACTIONS, seed=7)

    assert list(result.parts) == ["train", "valid", "test"]
    for j, (name, part) in enumerate(result.parts.items()):
        assert part.columns == df.columns
        expected = {c: s[j] for c, s in EXPECTED.items() if s[j]}
        assert counts(part, "label") == expected, name
        assert result.plan.part_counts(name) == expected
    every = [i for part in result.parts.values() for i in ids(part)]
    assert len(every) == len(set(every)) == sum(SIZES.values())
    assert set(every) == set(ids(df))
    plan = result.plan
    assert [(c.label, c.count, c.sizes) for c in plan.cells] == [
        (c, SIZES[c], EXPECTED[c]) for c in sorted(SIZES)
    ]
    assert plan.part_rows == {"train": 771, "valid": 219, "test": 110}
    assert plan.to_dict()["cells"][1] == {
        "label": "b",
        "count": 97,
        "train": 68,
        "valid": 19,
        "test": 10,
    }
    assert plan.seed == 7 and plan.fractions == (0.7, 0.2, 0.1)


def test_split_per_group_and_class_with_rows_unchanged(spark):
    df = uneven(spark).withColumn("g", (F.col("id") % 3).cast("int"))
    parts = split(df, "label", {"train": 0.5, "test": 0.5}, seed=1, group_by=["g"])
    cells = counts(df, "g", "label")
    train, test = counts(parts["train"], "g", "label"), counts(parts["test"], "g", "label")
    for cell, n in cells.items():
        assert {train.get(cell, 0), test.get(cell, 0)} <= {n // 2, n - n // 2}
        assert train.get(cell, 0) + test.get(cell, 0) == n
    # Rows are the input's, unchanged: together the parts equal the input.
    assert_df_equality(parts["train"].unionByName(parts["test"]), df, ignore_row_order=True)


def test_split_and_folds_on_several_label_columns(spark):
    df = uneven(spark).withColumn("sex", F.when(F.col("id") % 4 == 0, "F").otherwise("M"))
    result = split_with_plan(df, ["label", "sex"], {"train": 0.5, "test": 0.5}, seed=2)
    cells = counts(df, "label", "sex")
    train = counts(result.parts["train"], "label", "sex")
    test = counts(result.parts["test"], "label", "sex")
    for cell, n in cells.items():
        assert {train.get(cell, 0), test.get(cell, 0)} <= {n // 2, n - n // 2}, cell
        assert train.get(cell, 0) + test.get(cell, 0) == n, cell
    assert {c.label: c.count for c in result.plan.cells} == cells
    assert result.plan.to_dict()["label_col"] == ["label", "sex"]
    assert_df_equality(
        result.parts["train"].unionByName(result.parts["test"]), df, ignore_row_order=True
    )
    folds = counts(with_folds(df, ["label", "sex"], 3, seed=2), "label", "sex", "fold")
    for (label, sex), n in cells.items():
        sizes = [folds.get((label, sex, f), 0) for f in range(3)]
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1, (label, sex)


def test_each_part_is_a_uniform_subset_of_its_cell(spark):
    """200 groups of 10 rows: over the groups, every position in a group lands in the 30 %
    part about equally often (a bias toward the first rows, the order of the input or the
    identity would show)."""
    groups, size = 200, 10
    df = spark.range(groups * size).select(
        "id", (F.col("id") % groups).alias("g"), F.lit("x").alias("label")
    )
    part = split(df, "label", {"a": 0.3, "b": 0.7}, seed=5, group_by=["g"])["a"]
    positions = Counter(i // groups for i in ids(part))
    assert sum(positions.values()) == groups * 3
    expected, sd = groups * 0.3, (groups * 0.3 * 0.7) ** 0.5
    assert all(abs(positions[p] - expected) < 5 * sd for p in range(size)), positions


def test_the_same_seed_gives_the_same_parts_and_another_seed_others(spark):
    df = uneven(spark)
    first = split(df, "label", FRACTIONS, seed=3)
    again = split(df, "label", FRACTIONS, seed=3)
    for name in FRACTIONS:
        assert_df_equality(first[name], again[name], ignore_row_order=True)
    other = split(df, "label", FRACTIONS, seed=4)
    assert set(ids(first["train"])) != set(ids(other["train"]))


def test_key_columns_give_the_same_parts_whatever_the_order_and_partitioning(spark):
    df = uneven(spark)
    shuffled = df.repartition(5).orderBy(F.rand(1))
    first = split_with_plan(df.coalesce(1), "label", FRACTIONS, seed=9, key_cols=["id"])
    again = split(shuffled, "label", FRACTIONS, seed=9, key_cols=["id"])
    assert first.plan.row_identity == KEY_COLUMNS
    for name in FRACTIONS:
        assert_df_equality(first.parts[name], again[name], ignore_row_order=True)
    folds = with_folds(df.coalesce(1), "label", 4, seed=9, key_cols=["id"])
    assert_df_equality(
        folds, with_folds(shuffled, "label", 4, seed=9, key_cols=["id"]), ignore_row_order=True
    )


def test_null_labels_are_a_class_of_their_own(spark):
    df = spark.createDataFrame(
        [(i, None if i < 4 else "a") for i in range(14)], "id long, label string"
    )
    result = split_with_plan(df, "label", {"train": 0.5, "test": 0.5}, seed=2)
    assert result.plan.part_counts("train") == {None: 2, "a": 5}
    assert sorted(ids(result.parts["train"]) + ids(result.parts["test"])) == list(range(14))


@pytest.mark.parametrize("k", [2, 3, 5])
def test_with_folds_gives_every_row_one_fold_sizes_within_one(spark, k):
    df = uneven(spark)
    folded = with_folds(df, "label", k, seed=11)

    assert folded.columns == [*df.columns, "fold"]
    assert folded.schema["fold"].dataType == T.IntegerType()
    assert sorted(ids(folded)) == sorted(ids(df))
    by_cell = counts(folded, "label", "fold")
    assert {f for (_, f) in by_cell} <= set(range(k))
    for label, n in SIZES.items():
        sizes = [by_cell.get((label, f), 0) for f in range(k)]
        assert sum(sizes) == n and max(sizes) - min(sizes) <= 1, (label, sizes)
    totals = [sum(v for (_, f), v in by_cell.items() if f == fold) for fold in range(k)]
    assert max(totals) - min(totals) <= 1, totals


def test_with_folds_feeds_cross_validator_fold_col(spark):
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import VectorAssembler
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    df = spark.range(120).select(
        "id",
        (F.col("id") % 4 == 0).cast("double").alias("label"),
        ((F.col("id") % 4 == 0).cast("double") + F.col("id") % 3 * 0.1).alias("x"),
    )
    folded = VectorAssembler(inputCols=["x"], outputCol="features").transform(
        with_folds(df, "label", 3, seed=1)
    )
    lr = LogisticRegression(maxIter=5)
    cv = CrossValidator(
        estimator=lr,
        estimatorParamMaps=ParamGridBuilder().build(),
        evaluator=BinaryClassificationEvaluator(),
        foldCol="fold",
        numFolds=3,
    )
    assert cv.fit(folded).avgMetrics[0] > 0.9


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda df: split(df, "lable", FRACTIONS),
            MissingColumnError,
            "Column 'lable' is not in the input; its columns are ['id', 'label', 'x']. Did you "
            "mean 'label'?",
        ),
        (
            lambda df: split(df, "label", {"train": 0.9, "test": 0.2}),
            InvalidParameterError,
            "The fractions must add up to 1; {'train': 0.9, 'test': 0.2} adds up to 1.1.",
        ),
        (
            lambda df: with_folds(df, "label", 1),
            InvalidParameterError,
            "k must be an integer >= 2 (the number of folds). Got 1.",
        ),
        (
            lambda df: with_folds(df, "label", 3, fold_col="X"),
            InvalidParameterError,
            "fold_col='X' is already a column of the input; choose another name.",
        ),
        (
            lambda df: split(df, "label", FRACTIONS, seed=-1),
            InvalidParameterError,
            "seed must be an integer in [0, 2**63) or None. Got -1 instead.",
        ),
        (
            lambda df: split(df.where("id < 0"), "label", FRACTIONS),
            EmptyInputError,
            "The input has no rows; nothing to split.",
        ),
        (
            lambda df: split(df, "x", FRACTIONS.copy() | {"train": 0.7}, group_by=["x"]),
            InvalidParameterError,
            "group_by must not include the label column 'x'.",
        ),
    ],
)
def test_bad_calls_are_refused_with_a_clear_message(spark, call, error, message):
    with pytest.raises(error) as caught:
        call(uneven(spark))
    assert str(caught.value) == message


def test_nan_labels_are_refused(spark):
    df = spark.createDataFrame([(1, float("nan")), (2, 1.0)], "id long, label double")
    with pytest.raises(InvalidLabelError) as caught:
        split(df, "label", {"a": 0.5, "b": 0.5})
    assert str(caught.value) == (
        "1 row(s) have a NaN 'label' (or group_by value); NaN is not a "
        "class. Replace or filter them."
    )


@pytest.mark.classic_only  # reads the JVM plan
def test_parts_read_the_input_once_without_sort_or_shuffle(spark, tmp_path):
    uneven(spark).write.parquet(str(tmp_path / "in"))
    df = spark.read.parquet(str(tmp_path / "in"))
    parts = split(df, "label", FRACTIONS, seed=1)
    for frame in (*parts.values(), with_folds(df, "label", 3, seed=1)):
        text = frame._jdf.queryExecution().executedPlan().toString()
        assert "Sort" not in text
        assert text.count("Exchange") == text.count("BroadcastExchange") == 1
        assert text.count("FileScan") == 1
