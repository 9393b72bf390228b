"""The job with a split: every part in its folder, the training part resampled, one report, all
landing together or not at all."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality

from spark_upsample.job.landing import WORK_DIR
from spark_upsample.job.report import REPORT_NAME
from tests.helpers import label_counts, write_events
from tests.test_job import run
from tests.test_reliability import snapshot

SIZES = {"a": 60, "b": 12, "c": 3}


@pytest.fixture
def events(spark, tmp_path):
    """A Parquet input: ids, a string label a/b/c (60/12/3) and a double feature."""
    return write_events(spark, tmp_path / "events", SIZES)


def ids(spark, path) -> set[int]:
    return {r[0] for r in spark.read.parquet(str(path)).select("id").collect()}


def test_a_split_run_writes_every_part_and_resamples_the_training_part(
    spark, events, tmp_path, capsys
):
    out = tmp_path / "out"
    assert (
        run("--input", events, "--output", str(out), "--seed", "4", "--split", "train=0.8,test=0.2")
        == 0
    )

    listing = sorted(p.name for p in out.iterdir())
    assert listing == ["_upsample_report.html", REPORT_NAME, "test", "train"]
    # Train: 48 / 10 / 2 (0.8 of 60 / 12 / 3, largest remainders), upsampled to 48 each.
    assert label_counts(spark.read.parquet(str(out / "train"))) == {"a": 48, "b": 48, "c": 48}
    test = spark.read.parquet(str(out / "test"))
    assert label_counts(test) == {"a": 12, "b": 2, "c": 1}
    assert ids(spark, out / "train").isdisjoint(ids(spark, out / "test"))
    # The untouched part holds the input's rows as they were.
    source = spark.read.parquet(events)
    assert_df_equality(
        test, source.join(test.select("id"), "id").select(*source.columns), ignore_row_order=True
    )

    report = json.loads((out / REPORT_NAME).read_text())
    assert report["seed"] == 4 and report["rows_read"] == 75
    assert report["rows_written"] == 144 + 15
    split = report["split"]
    assert split["fractions"] == {"train": 0.8, "test": 0.2}
    assert split["resample_part"] == "train"
    assert split["parts"] == {
        "train": {"path": f"{out}/train", "rows": 60, "rows_written": 144},
        "test": {"path": f"{out}/test", "rows": 15, "rows_written": 15},
    }
    assert split["cells"] == [
        {"label": "a", "count": 60, "train": 48, "test": 12},
        {"label": "b", "count": 12, "train": 10, "test": 2},
        {"label": "c", "count": 3, "train": 2, "test": 1},
    ]
    assert [(c["label"], c["count_before"], c["count_after"]) for c in report["classes"]] == [
        ("a", 48, 48),
        ("b", 10, 48),
        ("c", 2, 48),
    ]
    err = capsys.readouterr().err
    assert "part train: 60 rows, upsampled to 144\npart test: 15 rows\n" in err


def test_the_config_file_names_the_split_and_the_part_to_resample(spark, events, tmp_path):
    config = tmp_path / "job.toml"
    config.write_text(
        'method = "downsample"\nsplit = { fit = 0.5, holdout = 0.5 }\n'
        'resample_part = "holdout"\nseed = 2\n'
    )
    out = tmp_path / "out"
    assert run("--config", str(config), "--input", events, "--output", str(out)) == 0
    assert label_counts(spark.read.parquet(str(out / "fit"))) == {"a": 30, "b": 6, "c": 2}
    assert label_counts(spark.read.parquet(str(out / "holdout"))) == {"a": 1, "b": 1, "c": 1}
    # The same seed replays the run: the same parts, row for row.
    again = tmp_path / "again"
    assert run("--config", str(config), "--input", events, "--output", str(again)) == 0
    for part in ("fit", "holdout"):
        assert_df_equality(
            spark.read.parquet(str(out / part)),
            spark.read.parquet(str(again / part)),
            ignore_row_order=True,
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--split", "train=0.8,test=0.3"],
            "split: The fractions must add up to 1; {'train': 0.8, 'test': 0.3} adds up to 1.1.",
        ),
        (
            ["--split", "fit=0.8,test=0.2"],
            "resample_part must name a part of split (fit, test). Got 'train' instead.",
        ),
        (
            ["--resample-part", "fit"],
            "resample_part goes with split (e.g. split = { train = 0.8, test = 0.2 }); without "
            "split the whole input is resampled.",
        ),
        (
            [
                "--split",
                "train=0.8,test=0.2",
                "--lineage-col",
                "origin",
                "--partition-by",
                "origin",
            ],
            "partition_by names 'origin', which only the resampled part 'train' has; with split, "
            "partition by input columns.",
        ),
    ],
)
def test_bad_split_settings_exit_2_before_any_work(events, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert run("--input", events, "--output", str(out), *args) == 2
    assert capsys.readouterr().err.strip().endswith(f"error: {message}")
    assert not out.exists()


def test_a_failure_between_two_parts_lands_nothing(spark, events, tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        run("--input", events, "--output", str(out), "--seed", "1", "--split", "train=0.8,test=0.2")
        == 0
    )
    before = snapshot(out)
    capsys.readouterr()

    # From outside the job: once the run's staging folder appears (Spark writing the training
    # part into it), a folder takes the test part's place, so that the second write fails.
    work, stop = tmp_path / WORK_DIR, threading.Event()
    blocked: list[Path] = []

    def block_the_second_part() -> None:
        while not stop.is_set() and not blocked:
            for staging in work.glob("out.staging-*") if work.is_dir() else []:
                (staging / "test").mkdir(parents=True, exist_ok=True)
                blocked.append(staging)
            time.sleep(0.002)

    watcher = threading.Thread(target=block_the_second_part)
    watcher.start()
    try:
        code = run(
            "--input",
            events,
            "--output",
            str(out),
            "--seed",
            "2",
            "--write-mode",
            "overwrite",
            "--split",
            "train=0.8,test=0.2",
        )
    finally:
        stop.set()
        watcher.join()
    assert blocked, "the staging folder never appeared"
    assert code == 4
    err = capsys.readouterr().err
    assert f"error: Writing '{out}/test' failed: [PATH_ALREADY_EXISTS]" in err
    assert snapshot(out) == before  # the previous output, byte for byte
    assert not work.exists()  # the staged training part is gone too
