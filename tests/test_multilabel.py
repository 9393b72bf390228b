"""Strata on several columns: ``label_col`` a list, whose classes are the combinations present.

Through the library (every method and option, keyed by tuples) and the job (a config list and
a repeated ``--label-col``), with the plan, report and stderr table naming the classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_upsample import (
    DuplicateKeyError,
    InvalidLabelError,
    InvalidParameterError,
    InvalidStrategyError,
    MissingColumnError,
    downsample_with_plan,
    resample_with_plan,
    upsample,
    upsample_with_plan,
)
from spark_upsample.job.cli import main
from spark_upsample.job.report import REPORT_NAME, summary_table

SIZES = {(0, "M"): 30, (0, "F"): 12, (1, "M"): 5, (1, "F"): 3}  # label x sex
LABEL = ["label", "sex"]


def rows_of(sizes: dict, start: int = 0) -> list[tuple]:
    """(id, day, label, sex, x) rows: each class's rows alternate between days d0 and d1."""
    rows, i = [], start
    for (label, sex), n in sizes.items():
        for j in range(n):
            rows.append((i, f"d{j % 2}", label, sex, float(i)))
            i += 1
    return rows


SCHEMA = "id long, day string, label int, sex string, x double"


@pytest.fixture
def people(spark):
    return spark.createDataFrame(rows_of(SIZES), SCHEMA)


def counts(df, *columns: str) -> dict:
    return {tuple(r[:-1]): r[-1] for r in df.groupBy(*columns).count().collect()}


def test_upsample_balances_every_combination_and_names_them(spark, people):
    result = upsample_with_plan(people, LABEL, seed=3)
    assert counts(result.df, "label", "sex") == {k: 30 for k in SIZES}
    plan = result.plan
    assert plan.label_col == ("label", "sex")
    assert plan.counts_before == SIZES and plan.counts_after == {k: 30 for k in SIZES}
    assert [c.label for c in plan.classes] == [(0, "F"), (0, "M"), (1, "F"), (1, "M")]
    # The majority class is left as it is; every copy is a row of its own class.
    assert_df_equality(
        result.df.where("label = 0 AND sex = 'M'"),
        people.where("label = 0 AND sex = 'M'"),
        ignore_row_order=True,
    )
    joined = result.df.join(
        people.select("id", F.col("label").alias("l0"), F.col("sex").alias("s0")), "id"
    )
    assert joined.count() == 120 and joined.where("label != l0 OR sex != s0").count() == 0
    plan_dict = plan.to_dict()
    assert plan_dict["label_col"] == ["label", "sex"]
    assert plan_dict["classes"][2] == {
        "label": [1, "F"],
        "count_before": 3,
        "target": 30,
        "count_after": 30,
        "kept": 0,
        "draws": 30,
        "sample_size": plan.classes[2].sample_size,
        "correction": plan.classes[2].correction,
        # 3 of the 50 input rows, 30 of the 120 output rows
        "prior_factor": pytest.approx((3 / 50) / (30 / 120)),
    }
    assert json.loads(json.dumps(plan_dict)) == plan_dict
    assert summary_table(plan).splitlines()[:6] == [
        "class           before  target  after",
        "label=0, sex=F      12      30     30",
        "label=0, sex=M      30      30     30",
        "label=1, sex=F       3      30     30",
        "label=1, sex=M       5      30     30",
        "total               50            120",
    ]


def test_a_list_of_one_column_is_that_column(spark, people):
    assert_df_equality(
        upsample(people, ["label"], seed=4),
        upsample(people, "label", seed=4),
        ignore_row_order=True,
    )
    assert upsample_with_plan(people, ("sex",), seed=4).plan.label_col == "sex"


def test_strategies_keyed_by_tuples_strings_ratio_and_callable(spark, people):
    wanted = {(1, "F"): 7, (1, "M"): 9}
    plan = upsample_with_plan(people, LABEL, sampling_strategy=wanted, seed=1).plan
    assert plan.counts_after == {**SIZES, **wanted}

    minority = upsample_with_plan(people, LABEL, sampling_strategy="minority", seed=1)
    assert counts(minority.df, "label", "sex") == {**SIZES, (1, "F"): 30}

    halves = downsample_with_plan(
        people,
        LABEL,
        seed=1,
        sampling_strategy=lambda n: {k: v // 2 for k, v in n.items() if k[1] == "M"},
    )
    assert counts(halves.df, "label", "sex") == {
        (0, "M"): 15,
        (0, "F"): 12,
        (1, "M"): 2,
        (1, "F"): 3,
    }
    assert halves.plan.sampling_strategy.startswith("callable ")

    two = people.where("sex = 'F'")  # two combinations: a float ratio applies
    ratio = upsample_with_plan(two, LABEL, sampling_strategy=0.5, seed=1)
    assert counts(ratio.df, "label", "sex") == {(0, "F"): 12, (1, "F"): 6}

    with pytest.raises(
        InvalidStrategyError,
        match=r"names class\(es\) \(2, 'F'\) that are not "
        r"in the data; the classes are \(0, 'F'\), \(0, 'M'\), \(1, 'F'\), "
        r"\(1, 'M'\)\.",
    ):
        upsample(people, LABEL, sampling_strategy={(2, "F"): 40})
    with pytest.raises(InvalidStrategyError, match=r"names class\(es\) 1 that are not"):
        upsample(people, LABEL, sampling_strategy={1: 40})


def test_resample_and_downsample_per_group_with_key_columns(spark, people):
    resampled = resample_with_plan(
        people, LABEL, target="median", group_by=["day"], key_cols=["id"], seed=2
    )
    # Per day: (0,M) 15, (0,F) 6, (1,M) 3 or 2, (1,F) 2 or 1; the median of four counts.
    assert resampled.plan.counts_before == {
        ("d0", (0, "F")): 6,
        ("d0", (0, "M")): 15,
        ("d0", (1, "F")): 2,
        ("d0", (1, "M")): 3,
        ("d1", (0, "F")): 6,
        ("d1", (0, "M")): 15,
        ("d1", (1, "F")): 1,
        ("d1", (1, "M")): 2,
    }
    assert counts(resampled.df, "day", "label", "sex") == {
        ("d0", 0, "F"): 4,
        ("d0", 0, "M"): 4,
        ("d0", 1, "F"): 4,
        ("d0", 1, "M"): 4,
        ("d1", 0, "F"): 4,
        ("d1", 0, "M"): 4,
        ("d1", 1, "F"): 4,
        ("d1", 1, "M"): 4,
    }
    assert resampled.plan.classes[0].group == ("d0",)
    assert resampled.plan.classes[0].label == (0, "F")
    assert resampled.plan.to_dict()["classes"][0]["group"] == ["d0"]
    assert resampled.plan.to_dict()["classes"][0]["label"] == [0, "F"]
    assert "d1/label=1, sex=F       1       4      4" in summary_table(resampled.plan)
    # Keyed on the key column: the same rows however the input is split.
    again = resample_with_plan(
        people.repartition(5), LABEL, target="median", group_by=["day"], key_cols=["id"], seed=2
    )
    assert_df_equality(again.df, resampled.df, ignore_row_order=True)

    only_day0_f = people.where("NOT (day = 'd1' AND sex = 'F')")
    down = downsample_with_plan(
        only_day0_f, LABEL, group_by=["day"], sampling_strategy={(0, "M"): 4}, seed=2
    )
    assert counts(down.df, "day", "label", "sex") == {
        ("d0", 0, "F"): 6,
        ("d0", 0, "M"): 4,
        ("d0", 1, "F"): 2,
        ("d0", 1, "M"): 3,
        ("d1", 0, "M"): 4,
        ("d1", 1, "M"): 2,
    }


def test_weights_lineage_shrinkage_and_keep_originals(spark, people):
    weighted = upsample_with_plan(people, LABEL, weight_col="w")
    out = weighted.df
    assert out.count() == 50 and out.columns == [*people.columns, "w"]
    totals = {(r.label, r.sex): r[2] for r in out.groupBy("label", "sex").agg(F.sum("w")).collect()}
    assert totals == pytest.approx({k: 30.0 for k in SIZES})

    marked = upsample(
        people,
        LABEL,
        keep_originals=True,
        lineage_col="origin",
        shrinkage={(1, "F"): 1.0, (1, "M"): 0.0, (0, "F"): 0.0},
        shrinkage_cols=["x"],
        seed=5,
    )
    assert counts(marked, "label", "sex", "origin") == {
        (0, "M", "original"): 30,
        (0, "F", "original"): 12,
        (0, "F", "copy"): 18,
        (1, "M", "original"): 5,
        (1, "M", "copy"): 25,
        (1, "F", "original"): 3,
        (1, "F", "copy"): 27,
    }
    copies = marked.where("origin = 'copy'").join(people.select("id", F.col("x").alias("x0")), "id")
    changed = counts(copies.where("x != x0"), "label", "sex")
    assert changed == {(1, "F"): 27}  # only the class with a non-zero factor is smoothed
    with pytest.raises(
        InvalidParameterError,
        match=r"no factor for the resampled class\(es\) "
        r"\(1, 'F'\)",
    ):
        upsample(people, LABEL, shrinkage={(1, "M"): 1.0, (0, "F"): 1.0}, shrinkage_cols=["x"])


def test_a_null_in_any_label_column_follows_null_labels(spark):
    rows = rows_of(SIZES) + [
        (100, "d0", None, "F", 0.0),
        (101, "d1", 1, None, 0.0),
        (102, "d0", None, None, 0.0),
    ]
    df = spark.createDataFrame(rows, SCHEMA)
    with pytest.raises(
        InvalidLabelError,
        match=r"^3 row\(s\) have a null in label columns "
        r"\['label', 'sex'\]\. Fill or filter them first, or pass "
        r"null_labels='drop'",
    ):
        upsample(df, LABEL)
    result = upsample_with_plan(df, LABEL, null_labels="drop", seed=1)
    assert result.plan.null_labels_dropped == 3
    assert counts(result.df, "label", "sex") == {k: 30 for k in SIZES}
    grouped = upsample_with_plan(df, LABEL, null_labels="drop", group_by=["day"], seed=1)
    assert grouped.plan.null_labels_dropped == 3
    assert grouped.df.where("label IS NULL OR sex IS NULL").count() == 0
    assert counts(grouped.df, "label", "sex") == {k: 30 for k in SIZES}
    nan = spark.createDataFrame([(1, float("nan")), (1, 2.0), (2, 2.0)], "a int, b double")
    with pytest.raises(
        InvalidLabelError,
        match=r"1 row\(s\) have NaN in label columns "
        r"\['a', 'b'\]; NaN is not a class",
    ):
        upsample(nan, ["a", "b"])


def test_bad_label_lists_are_refused(spark, people):
    with pytest.raises(
        InvalidParameterError,
        match=r"label_col must be a column name or a list "
        r"of distinct column names\. Got \['label', 'label'\] instead\.",
    ):
        upsample(people, ["label", "label"])
    with pytest.raises(InvalidParameterError, match=r"Got \[\] instead"):
        upsample(people, [])
    with pytest.raises(MissingColumnError, match=r"Column 'gender' is not in the input"):
        upsample(people, ["label", "gender"])
    with pytest.raises(
        InvalidParameterError, match="group_by must not include the label column 'sex'"
    ):
        upsample(people, LABEL, group_by=["sex"])
    with pytest.raises(InvalidLabelError, match="Label column 'tags' has type array<string>"):
        upsample(people.withColumn("tags", F.array("sex")), ["label", "tags"])


def test_timestamp_and_boolean_label_columns_match_strategy_tuples(spark):
    import datetime as dt

    rows = [(i, dt.datetime(2024, 1, 1 + i % 2), i % 3 == 0) for i in range(12)]
    df = spark.createDataFrame(rows, "id int, at timestamp, flag boolean")
    before = upsample_with_plan(df, ["at", "flag"], sampling_strategy="all", seed=1).plan
    assert set(before.counts_after.values()) == {4}
    first = before.classes[0].label
    assert first[0].tzinfo is not None  # keyed as an aware UTC datetime, as a single label
    naive = first[0].astimezone().replace(tzinfo=None)  # as a user would write it
    result = upsample_with_plan(
        df, ["at", "flag"], sampling_strategy={(naive, first[1]): 9}, seed=1
    )
    assert result.plan.counts_after[first] == 9
    assert result.df.count() == sum(result.plan.counts_after.values())


# The job ------------------------------------------------------------------------------------


@pytest.fixture
def people_path(spark, people, tmp_path):
    path = str(tmp_path / "people")
    people.coalesce(2).write.parquet(path)
    return path


BY_LABEL_AND_SEX = ("--label-col", "label", "--label-col", "sex")


def job(*args: str) -> int:
    return main(list(args))


def report_of(out) -> dict:
    return json.loads(Path(out, REPORT_NAME).read_text())


def test_job_with_a_label_list_in_the_config(spark, people_path, tmp_path, capsys):
    out, conf = tmp_path / "out", tmp_path / "job.toml"
    conf.write_text(
        f'input = "{people_path}"\noutput = "{out}"\nseed = 7\n'
        'label_col = ["label", "sex"]\nstrategy = { "1/F" = 20, " 0 / F " = 15 }\n'
    )
    assert job("--config", str(conf)) == 0
    assert counts(spark.read.parquet(str(out)), "label", "sex") == {
        (0, "M"): 30,
        (0, "F"): 15,
        (1, "M"): 5,
        (1, "F"): 20,
    }
    report = report_of(out)
    assert report["label_col"] == ["label", "sex"]
    assert report["strategy"] == {"1/F": 20, " 0 / F ": 15}
    assert [(c["label"], c["count_before"], c["count_after"]) for c in report["classes"]] == [
        ([0, "F"], 12, 15),
        ([0, "M"], 30, 30),
        ([1, "F"], 3, 20),
        ([1, "M"], 5, 5),
    ]
    err = capsys.readouterr().err
    assert (
        "class           before  target  after\n"
        "label=0, sex=F      12      15     15\n"
        "label=0, sex=M      30      30     30\n"
        "label=1, sex=F       3      20     20\n"
        "label=1, sex=M       5       5      5\n"
        "total               50             70\n"
    ) in err
    page = (out / "_upsample_report.html").read_text()
    assert "<th>label, sex</th>" in page and "<td>1, F</td>" in page


def test_job_with_repeated_label_col_options_groups_and_a_cell_table(
    spark, people_path, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("spark_upsample.job.report.MAX_REPORT_CELLS", 3)
    out = tmp_path / "out"
    assert (
        job(
            "--input",
            people_path,
            "--output",
            str(out),
            *BY_LABEL_AND_SEX,
            "--group-by",
            "day",
            "--method",
            "downsample",
            "--strategy",
            "0/M=4,1/M=2",
            "--seed",
            "1",
        )
        == 0
    )
    assert counts(spark.read.parquet(str(out)), "day", "label", "sex") == {
        ("d0", 0, "F"): 6,
        ("d0", 0, "M"): 4,
        ("d0", 1, "F"): 2,
        ("d0", 1, "M"): 2,
        ("d1", 0, "F"): 6,
        ("d1", 0, "M"): 4,
        ("d1", 1, "F"): 1,
        ("d1", 1, "M"): 2,
    }
    report = report_of(out)
    assert report["cells"]["total"] == 8 and report["cells"]["listed"] == 3
    assert report["classes"][0]["group"] == ["d0"] and report["classes"][0]["label"] == [0, "F"]
    cells = spark.read.parquet(report["cells"]["table"])
    assert cells.select("cell.*").columns == ["day", "label", "sex"]
    assert {
        (r.cell.day, r.cell.label, r.cell.sex): r.count_after for r in cells.collect()
    } == counts(spark.read.parquet(str(out)), "day", "label", "sex")
    err = capsys.readouterr().err
    assert "group/class        before  target  after\n" in err
    assert "\nd0/label=0, sex=M      15       4      4\n" in err

    bad = ("--input", people_path, "--output", str(tmp_path / "bad"))
    assert job(*bad, *BY_LABEL_AND_SEX, "--strategy", "1=4") == 2
    assert (
        "strategy names class '1', which is not 2 values separated by '/', one per label column."
    ) in capsys.readouterr().err
    assert job(*bad, *BY_LABEL_AND_SEX, "--strategy", "one/F=4") == 2
    assert (
        "strategy names class 'one/F', whose 'one' is not a int value like its label column's."
    ) in capsys.readouterr().err
    assert job(*bad, *BY_LABEL_AND_SEX, "--label-col", "label") == 2
    assert (
        "label_col must be a column name or a list of distinct column names. Got "
        "['label', 'sex', 'label'] instead."
    ) in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_job_null_in_one_label_column(spark, tmp_path, capsys):
    src, out = str(tmp_path / "nulls"), tmp_path / "out"
    rows = rows_of(SIZES) + [(100, "d0", 1, None, 0.0)]
    spark.createDataFrame(rows, SCHEMA).write.parquet(src)
    assert job("--input", src, "--output", str(out), *BY_LABEL_AND_SEX) == 3
    assert "1 row(s) have a null in label columns ['label', 'sex']" in capsys.readouterr().err
    assert (
        job(
            "--input",
            src,
            "--output",
            str(out),
            *BY_LABEL_AND_SEX,
            "--null-labels",
            "drop",
            "--seed",
            "1",
        )
        == 0
    )
    assert counts(spark.read.parquet(str(out)), "label", "sex") == {k: 30 for k in SIZES}
    assert report_of(out)["null_labels_dropped"] == 1


def test_key_columns_are_unique_per_combination_and_nulls_are_not_checked(spark):
    rows = [(1, 0, "F"), (1, 0, "M"), (2, 0, "M"), (3, 1, "M"), (3, 1, "M"), (9, None, "F"),
            (9, None, "F")]  # fmt: skip
    df = spark.createDataFrame(rows, "id long, label int, sex string")
    with pytest.raises(DuplicateKeyError, match=r"of class \(1, 'M'\): the key \(id=3\) occurs 2"):
        upsample(df, LABEL, key_cols=["id"], null_labels="drop")
    fine = upsample(df.where("id != 3"), LABEL, key_cols=["id"], null_labels="drop", seed=1)
    assert counts(fine, "label", "sex") == {(0, "F"): 2, (0, "M"): 2}
