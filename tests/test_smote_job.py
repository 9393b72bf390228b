"""The job's ``method = "smote"``, in-process through main(argv): the written Parquet, its
report, the config and command-line keys, and the exit codes and messages of bad runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from chispa import assert_df_equality

from spark_upsample.job.cli import main
from spark_upsample.job.report import REPORT_NAME
from tests.conftest import spark_env
from tests.helpers import label_counts

SIZES = {"a": 30, "b": 8, "c": 4}
FEATURES = ("x", "y")


@pytest.fixture
def points(spark, tmp_path):
    """A Parquet input: an id, a string label a/b/c (30/8/4), double features x and y (each
    class in its own box: x in [10k, 10k + 1), y in [-k - 1, -k) for the k-th class), an
    integer z that is no feature and a string tag."""
    rows = [
        (i, c, 10 * k + j / n, -k - j / n, i * 7, f"t{i}")
        for k, (c, n) in enumerate(SIZES.items())
        for j in range(n)
        for i in [k * 100 + j]
    ]
    df = spark.createDataFrame(rows, "id long, label string, x double, y double, z int, tag string")
    path = str(tmp_path / "points")
    df.coalesce(2).write.parquet(path)
    return path


def run(*args: str) -> int:
    return main(list(args))


def smote_args(points: str, out: Path, *extra: str) -> list[str]:
    return [
        "--input",
        points,
        "--output",
        str(out),
        "--method",
        "smote",
        "--feature-col",
        "x",
        "--feature-col",
        "y",
        *extra,
    ]


def report_of(out: Path) -> dict:
    return json.loads(Path(out, REPORT_NAME).read_text())


def test_smote_writes_exact_counts_keeps_the_originals_and_reports(spark, points, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(*smote_args(points, out, "--seed", "3", "--lineage-col", "origin")) == 0
    source, result = spark.read.parquet(points), spark.read.parquet(str(out))
    assert result.columns == [*source.columns, "origin"]
    assert {
        (r.label, r.origin): r["count"] for r in result.groupBy("label", "origin").count().collect()
    } == {
        ("a", "original"): 30,
        ("b", "original"): 8,
        ("b", "synthetic"): 22,
        ("c", "original"): 4,
        ("c", "synthetic"): 26,
    }
    assert_df_equality(
        result.where("origin = 'original'").drop("origin"), source, ignore_row_order=True
    )
    synthetic = (
        result.where("origin = 'synthetic'").alias("s").join(source.alias("o"), "id", how="inner")
    )
    # Every other column is copied from a base row of the same class; the features are new
    # values inside that class's box (on a segment between two of its rows).
    assert synthetic.count() == 48
    assert synthetic.where("s.label != o.label OR s.z != o.z OR s.tag != o.tag").count() == 0
    boxes = {c: (10 * k, 10 * k + 1, -k - 1, -k) for k, c in enumerate(SIZES)}
    for r in result.where("origin = 'synthetic'").collect():
        x0, x1, y0, y1 = boxes[r.label]
        assert x0 <= r.x < x1 and y0 < r.y <= y1, r
    assert result.where("origin = 'synthetic'").select("x", "y").distinct().count() > 40

    report = report_of(out)
    assert report["method"] == "smote" and report["seed"] == 3
    assert report["feature_cols"] == ["x", "y"] and report["k_neighbors"] == 5
    assert report["lineage_col"] == "origin"
    assert report["rows_read"] == 42 and report["rows_written"] == 90
    assert [
        (c["label"], c["count_before"], c["target"], c["count_after"]) for c in report["classes"]
    ] == [("a", 30, 30, 30), ("b", 8, 30, 30), ("c", 4, 30, 30)]
    assert Path(out, REPORT_NAME).with_suffix(".html").exists()
    assert "\ntotal      42             90\n" in capsys.readouterr().err


def test_a_config_file_with_k_a_strategy_and_a_split_smotes_the_train_part(spark, points, tmp_path):
    out, config = tmp_path / "out", tmp_path / "smote.toml"
    config.write_text(
        f'input = "{points}"\noutput = "{out}"\nmethod = "smote"\nfeature_cols = ["x", "y"]\n'
        'k_neighbors = 2\nseed = 8\nstrategy = { b = 20, c = 10 }\nlineage_col = "origin"\n'
        "split = { train = 0.5, test = 0.5 }\n"
    )
    assert run("--config", str(config)) == 0
    train, test = (spark.read.parquet(str(out / part)) for part in ("train", "test"))
    assert label_counts(test) == {"a": 15, "b": 4, "c": 2}
    assert {
        (r.label, r.origin): r["count"] for r in train.groupBy("label", "origin").count().collect()
    } == {
        ("a", "original"): 15,
        ("b", "original"): 4,
        ("b", "synthetic"): 16,
        ("c", "original"): 2,
        ("c", "synthetic"): 8,
    }
    # c's two rows are each other's only neighbour: its new rows lie between them.
    c = sorted((r.x, r.y) for r in train.where("label = 'c' AND origin = 'original'").collect())
    for r in train.where("label = 'c' AND origin = 'synthetic'").collect():
        assert c[0][0] <= r.x <= c[1][0] and c[1][1] <= r.y <= c[0][1]
        assert (
            abs((r.x - c[0][0]) * (c[1][1] - c[0][1]) - (r.y - c[0][1]) * (c[1][0] - c[0][0]))
            < 1e-9
        )
    report = report_of(out)
    assert (report["feature_cols"], report["k_neighbors"]) == (["x", "y"], 2)
    assert report["split"]["parts"]["train"]["rows_written"] == 45


def test_a_dry_run_prints_the_plan_and_writes_nothing(points, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(*smote_args(points, out, "--dry-run", "--strategy", "minority")) == 0
    err = capsys.readouterr().err
    assert "nothing written (dry run)" in err and "c           4      30     30" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--method", "smote"],
            "method = smote needs feature_cols: the numeric columns to "
            "interpolate between neighbours (e.g. --feature-col x --feature-col y).",
        ),
        (["--feature-col", "x"], "feature_cols goes with method = smote only (method upsample)."),
        (
            ["--method", "downsample", "--k-neighbors", "3"],
            "k_neighbors goes with method = smote only (method downsample).",
        ),
        (
            ["--method", "resample", "--target", "8", "--feature-col", "x", "--k-neighbors", "3"],
            "feature_cols and k_neighbors go with method = smote only (method resample).",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--k-neighbors", "0"],
            "k_neighbors must be an integer >= 1. Got 0 instead.",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--k-neighbors", "five"],
            "k_neighbors must be an integer >= 1. Got 'five' instead.",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--shrinkage", "0.5"],
            "shrinkage does not apply to method = smote: SMOTE interpolates between neighbours "
            "instead of smoothing copies.",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--keep-originals"],
            "keep_originals does not apply to method = smote: SMOTE always keeps the original "
            "rows.",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--weight-col", "w"],
            "weight_col does not apply to method = smote: SMOTE writes new rows, not weights.",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--null-labels", "drop"],
            "null_labels does not apply to method = smote: SMOTE refuses null labels; filter them "
            "out first.",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--max-ratio", "0"],
            "max_ratio does not apply to method = smote: SMOTE's limit is 10,000 times a "
            "class's rows.",
        ),
        (
            ["--method", "smote", "--feature-col", "x", "--strategy", "majority"],
            "strategy must be one of auto, minority, not minority, not majority, all",
        ),
    ],
)
def test_keys_that_do_not_fit_smote_exit_2_before_spark_reads_anything(
    tmp_path, capsys, args, message
):
    out = tmp_path / "out"
    assert run("--input", str(tmp_path / "never-read"), "--output", str(out), *args) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_config_file_feature_cols_must_be_a_list_of_names(tmp_path, capsys):
    config = tmp_path / "bad.toml"
    config.write_text('input = "i"\noutput = "o"\nmethod = "smote"\nfeature_cols = [1, 2]\n')
    assert run("--config", str(config)) == 2
    assert (
        "feature_cols must be a list of column names. Got [1, 2] instead."
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("features", "code", "message"),
    [
        (["x", "nope"], 3, "spark-upsample: error: Column 'nope' is not in the input"),
        (
            ["x", "tag"],
            2,
            "spark-upsample: error: feature_cols: column 'tag' has type string; SMOTE needs "
            "numeric feature columns (integer, float, double or decimal).",
        ),
        (["label"], 2, "spark-upsample: error: feature_cols: column 'label' is a label"),
        (["x", "x"], 2, "spark-upsample: error: feature_cols repeats a column: ['x', 'x']."),
    ],
)
def test_bad_feature_columns_fail_with_their_message_and_write_nothing(
    spark, points, tmp_path, capsys, features, code, message
):
    out = tmp_path / "out"
    args = ["--input", points, "--output", str(out), "--method", "smote"]
    assert run(*args, *[a for f in features for a in ("--feature-col", f)]) == code
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_one_row_class_is_an_input_error_naming_it(spark, tmp_path, capsys):
    src = str(tmp_path / "lonely")
    rows = [(float(i), "a") for i in range(6)] + [(9.0, "b")]
    spark.createDataFrame(rows, "x double, label string").write.parquet(src)
    out = tmp_path / "out"
    assert run("--input", src, "--output", str(out), "--method", "smote", "--feature-col", "x") == 3
    assert (
        "spark-upsample: error: class 'b' has 1 row and needs 5 new one(s): SMOTE needs a "
        "neighbour of the same class." in capsys.readouterr().err
    )
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.classic_only  # the subject is the local session the job starts itself
def test_a_local_run_gives_its_executors_the_jobs_python_not_the_first_on_path(
    spark, points, tmp_path
):
    """SMOTE runs numpy and pyarrow in Python workers: a local run started from a venv must
    give them that venv's interpreter, not a ``python3`` found on PATH (here one that fails)."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("python3", "python"):
        (stubs / name).write_text("#!/bin/sh\necho 'not the job python' >&2\nexit 1\n")
        (stubs / name).chmod(0o755)
    env = spark_env()
    del env["PYSPARK_PYTHON"], env["PYSPARK_DRIVER_PYTHON"]
    env["PATH"] = f"{stubs}{os.pathsep}{env['PATH']}"
    out = tmp_path / "out"
    args = smote_args(points, out, "--seed", "1")
    done = subprocess.run(
        [sys.executable, "-m", "spark_upsample", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert label_counts(spark.read.parquet(str(out))) == {"a": 30, "b": 30, "c": 30}
