"""The job end to end, in-process through main(argv): every option, the report, exit codes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_upsample.job.cli import main
from spark_upsample.job.landing import WORK_DIR
from spark_upsample.job.report import REPORT_NAME
from tests.helpers import assert_valid_report, label_counts, write_events
from tests.test_reliability import snapshot

SIZES = {"a": 40, "b": 8, "c": 2}


@pytest.fixture
def events(spark, tmp_path):
    """A Parquet input: ids, a string label a/b/c (40/8/2) and a double feature."""
    return write_events(spark, tmp_path / "events", SIZES)


def run(*args: str) -> int:
    return main(list(args))


def test_parquet_in_parquet_out_with_report(spark, events, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert run("--input", events, "--output", out, "--seed", "5") == 0
    result = spark.read.parquet(out)
    assert label_counts(result) == {"a": 40, "b": 40, "c": 40}
    assert result.schema == spark.read.parquet(events).schema
    assert_df_equality(
        result.where("label = 'a'"),
        spark.read.parquet(events).where("label = 'a'"),
        ignore_row_order=True,
    )
    report = json.loads(Path(out, REPORT_NAME).read_text())
    assert report["status"] == "succeeded" and report["seed"] == 5
    assert report["rows_read"] == 50 and report["rows_written"] == 120
    classes = [
        (c["label"], c["count_before"], c["target"], c["count_after"]) for c in report["classes"]
    ]
    assert classes == [("a", 40, 40, 40), ("b", 8, 40, 40), ("c", 2, 40, 40)]
    assert report["input"] == {"source": events, "format": "parquet"}
    assert report["output"]["path"] == out and report["output"]["write_mode"] == "error"
    assert list(report["timings_seconds"]) == [
        *("check", "start", "prepare", "read", "count_and_plan", "write", "verify", "total")
    ]
    assert_valid_report(report)
    assert report["spark"]["version"] == spark.version
    assert report["spark"]["master"].startswith("local")
    err = capsys.readouterr().err
    assert "class  before  target  after" in err and f"report: {out}/{REPORT_NAME}" in err
    assert "\ntotal      50            120\n" in err


def test_same_seed_same_files_content(spark, events, tmp_path):
    first, second = str(tmp_path / "one"), str(tmp_path / "two")
    assert run("--input", events, "--output", first, "--seed", "3") == 0
    assert run("--input", events, "--output", second, "--seed", "3") == 0
    assert_df_equality(spark.read.parquet(first), spark.read.parquet(second), ignore_row_order=True)


def test_random_seed_is_reported_and_replays(spark, events, tmp_path):
    first, replay = str(tmp_path / "first"), str(tmp_path / "replay")
    assert run("--input", events, "--output", first) == 0
    seed = json.loads(Path(first, REPORT_NAME).read_text())["seed"]
    assert run("--input", events, "--output", replay, "--seed", str(seed)) == 0
    assert_df_equality(spark.read.parquet(first), spark.read.parquet(replay), ignore_row_order=True)


def test_config_file_with_overrides(spark, events, tmp_path):
    conf = tmp_path / "job.toml"
    conf.write_text(
        f'input = "{events}"\noutput = "{tmp_path / "x"}"\nstrategy = {{ c = 10 }}\nseed = 1\n'
    )
    out = str(tmp_path / "y")
    assert run("--config", str(conf), "--output", out, "--strategy", "b=12,c=11") == 0
    assert label_counts(spark.read.parquet(out)) == {"a": 40, "b": 12, "c": 11}
    assert not (tmp_path / "x").exists()


def test_keep_originals_and_minority_strategy(spark, events, tmp_path):
    out = str(tmp_path / "out")
    assert (
        run(
            "--input",
            events,
            "--output",
            out,
            "--strategy",
            "minority",
            "--keep-originals",
            "--seed",
            "2",
        )
        == 0
    )
    result = spark.read.parquet(out)
    assert label_counts(result) == {"a": 40, "b": 8, "c": 40}
    assert {r.id for r in result.where("label = 'c'").collect()} == {48, 49}


def test_csv_input_inferred_and_with_schema_and_options(spark, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("id;label;x\n" + "".join(f"{i};{1 if i < 3 else 0};{i}.5\n" for i in range(12)))
    out = str(tmp_path / "inferred")
    assert (
        run(
            "--input",
            str(src),
            "--input-format",
            "csv",
            "--input-option",
            "sep=;",
            "--output",
            out,
            "--label-col",
            "label",
            "--seed",
            "1",
        )
        == 0
    )
    assert dict(spark.read.parquet(out).dtypes)["label"] == "int"
    assert label_counts(spark.read.parquet(out)) == {0: 9, 1: 9}
    out2 = str(tmp_path / "typed")
    assert (
        run(
            "--input",
            str(src),
            "--input-format",
            "csv",
            "--input-option",
            "sep=;",
            "--input-schema",
            "id LONG, label STRING, x DOUBLE",
            "--output",
            out2,
            "--strategy",
            "1=5",
            "--seed",
            "1",
        )
        == 0
    )
    assert dict(spark.read.parquet(out2).dtypes)["label"] == "string"
    assert label_counts(spark.read.parquet(out2)) == {"0": 9, "1": 5}


@pytest.mark.parametrize("fmt", ["json", "orc", "csv"])
def test_other_input_and_output_formats(spark, events, tmp_path, fmt):
    src = str(tmp_path / f"in_{fmt}")
    spark.read.parquet(events).write.format(fmt).option("header", "true").save(src)
    out = str(tmp_path / f"out_{fmt}")
    assert (
        run(
            "--input",
            src,
            "--input-format",
            fmt,
            "--output",
            out,
            "--output-format",
            fmt,
            "--output-option",
            "header=true",
            "--seed",
            "4",
        )
        == 0
    )
    result = spark.read.format(fmt).option("header", "true").load(out)
    assert label_counts(result) == {"a": 40, "b": 40, "c": 40}


def test_input_table(spark, events, tmp_path):
    spark.read.parquet(events).createOrReplaceTempView("events_view")
    out = str(tmp_path / "out")
    assert run("--input-table", "events_view", "--output", out, "--seed", "1") == 0
    assert label_counts(spark.read.parquet(out)) == {"a": 40, "b": 40, "c": 40}
    report = json.loads(Path(out, REPORT_NAME).read_text())
    assert report["input"]["source"] == "table:events_view"


def test_partition_by_compression_and_output_files(spark, events, tmp_path):
    out = tmp_path / "out"
    assert (
        run(
            "--input",
            events,
            "--output",
            str(out),
            "--partition-by",
            "label",
            "--compression",
            "gzip",
            "--seed",
            "1",
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["label=a", "label=b", "label=c"]
    files = list(out.rglob("*.parquet"))
    assert files and all(".gz." in f.name for f in files)
    assert label_counts(spark.read.parquet(str(out))) == {"a": 40, "b": 40, "c": 40}

    out3 = tmp_path / "three"
    assert run("--input", events, "--output", str(out3), "--output-files", "3", "--seed", "1") == 0
    assert len(list(out3.glob("part-*.parquet"))) == 3


def test_partition_columns_that_cannot_be_written_are_refused_before_any_work(
    spark, events, tmp_path, capsys
):
    out = tmp_path / "out"
    assert run("--input", events, "--output", str(out), "--partition-by", "lable") == 2
    assert (
        "partition_by names 'lable', which is not a column of the output; its columns are "
        "['id', 'label', 'x']. Did you mean 'label'?"
    ) in capsys.readouterr().err
    assert run("--input", events, "--output", str(out), "--partition-by", "id,label,x") == 2
    assert "covers every column of the output" in capsys.readouterr().err
    assert (
        run(
            "--input",
            events,
            "--output",
            str(out),
            "--partition-by",
            "id,label,x",
            "--lineage-col",
            "origin",
            "--seed",
            "1",
        )
        == 0
    )
    assert not list(out.glob("*.parquet")) and label_counts(spark.read.parquet(str(out))) == {
        "a": 40,
        "b": 40,
        "c": 40,
    }


def test_partition_values_that_look_like_numbers_verify_as_written(spark, tmp_path):
    src, out = str(tmp_path / "codes"), tmp_path / "out"
    spark.createDataFrame(
        [(i, "01" if i < 6 else "02") for i in range(8)], "id long, label string"
    ).write.parquet(src)
    assert run("--input", src, "--output", str(out), "--partition-by", "label", "--seed", "1") == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["label=01", "label=02"]
    assert report_of(out)["classes"][1]["label"] == "02"


def test_write_modes(spark, events, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert run("--input", events, "--output", out, "--seed", "1") == 0
    before = sorted(p.name for p in Path(out).iterdir())
    assert run("--input", events, "--output", out, "--seed", "2") == 4
    assert "already exists. Pass --write-mode overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in Path(out).iterdir()) == before

    assert run("--input", events, "--output", out, "--seed", "2", "--write-mode", "overwrite") == 0
    assert label_counts(spark.read.parquet(out)) == {"a": 40, "b": 40, "c": 40}
    assert json.loads(Path(out, REPORT_NAME).read_text())["seed"] == 2

    assert run("--input", events, "--output", out, "--seed", "3", "--write-mode", "append") == 0
    assert label_counts(spark.read.parquet(out)) == {"a": 80, "b": 80, "c": 80}
    assert not (Path(out).parent / ".spark-upsample").exists()


def test_report_elsewhere(spark, events, tmp_path):
    out, report = str(tmp_path / "out"), tmp_path / "reports" / "run.json"
    assert run("--input", events, "--output", out, "--report", str(report), "--seed", "1") == 0
    assert json.loads(report.read_text())["rows_written"] == 120
    assert not Path(out, REPORT_NAME).exists()


def test_dry_run_prints_the_plan_and_writes_nothing(spark, events, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("--input", events, "--output", str(out), "--dry-run", "--seed", "1") == 0
    err = capsys.readouterr().err
    assert "\nb           8      40     40\n" in err and "nothing written (dry run)" in err
    assert not out.exists()


def test_null_labels_error_or_drop(spark, tmp_path, capsys):
    src = str(tmp_path / "nulls")
    spark.createDataFrame(
        [(i, None if i < 2 else ("x" if i < 12 else "y")) for i in range(15)],
        "id int, label string",
    ).write.parquet(src)
    out = str(tmp_path / "out")
    assert run("--input", src, "--output", out) == 3
    assert "2 row(s) have a null 'label'" in capsys.readouterr().err
    assert not Path(out).exists()
    assert run("--input", src, "--output", out, "--null-labels", "drop", "--seed", "1") == 0
    assert label_counts(spark.read.parquet(out)) == {"x": 10, "y": 10}
    assert json.loads(Path(out, REPORT_NAME).read_text())["null_labels_dropped"] == 2


def test_verbose_logs_debug(spark, events, tmp_path, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="spark_upsample")
    assert run("--input", events, "--output", str(tmp_path / "o"), "--verbose", "--seed", "1") == 0
    assert any("reading" in r.message for r in caplog.records)
    assert logging.getLogger("spark_upsample").level == logging.DEBUG
    logging.getLogger("spark_upsample").setLevel(logging.INFO)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--input", "{events}", "--output", "{out}", "--strategy", "majority"],
            2,
            "strategy must be one of auto",
        ),
        (
            ["--input", "{events}", "--output", "{out}", "--seed", "-1"],
            2,
            "seed must be an integer in [0, 2**63)",
        ),
        (
            ["--input", "{events}", "--output", "{out}", "--write-mode", "replace"],
            2,
            "write_mode must be one of error, overwrite, append",
        ),
        (["--input", "{events}", "--output", "{out}", "--bogus"], 2, "unknown option --bogus"),
        (["--input", "{events}", "--output", "{events}/sub"], 2, "overlaps the input"),
        (
            ["--input", "{events}", "--output", "{out}", "--strategy", "z=5"],
            2,
            "class(es) 'z' that are not in the data",
        ),
        (
            ["--input", "{events}", "--output", "{out}", "--label-col", "lable"],
            3,
            "Column 'lable' is not in the input",
        ),
        (["--input", "{missing}", "--output", "{out}"], 3, "Cannot read input"),
    ],
)
def test_bad_runs_exit_non_zero_with_a_message_and_write_nothing(
    spark, events, tmp_path, capsys, args, code, message
):
    out = tmp_path / "out"
    values = {"events": events, "out": str(out), "missing": str(tmp_path / "nope")}
    assert run(*[a.format(**values) for a in args]) == code
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_help_and_version(capsys):
    assert run("--help") == 0
    assert "--write-mode" in capsys.readouterr().out
    assert run("--version") == 0
    assert "spark-upsample 0.1.0" in capsys.readouterr().out


def test_the_active_session_is_reused_not_stopped(spark, events, tmp_path):
    assert run("--input", events, "--output", str(tmp_path / "o"), "--seed", "1") == 0
    assert spark.range(3).count() == 3  # still alive


def test_failed_verification_publishes_nothing(spark, events, tmp_path, monkeypatch, capsys):
    import spark_upsample.job.cli as cli

    real = cli.write_output
    monkeypatch.setattr(cli, "write_output", lambda df, *a: real(df.where("label != 'c'"), *a))
    out = tmp_path / "out"
    assert run("--input", events, "--output", str(out), "--seed", "1") == 4
    assert "does not match the plan" in capsys.readouterr().err
    assert not out.exists()
    assert not (tmp_path / ".spark-upsample").exists()


def report_of(out) -> dict:
    return json.loads(Path(out, REPORT_NAME).read_text())


def test_method_downsample_and_resample(spark, events, tmp_path):
    down, down_r, to = tmp_path / "down", tmp_path / "down_r", tmp_path / "to"
    assert (
        run("--input", events, "--output", str(down), "--method", "downsample", "--seed", "1") == 0
    )
    assert label_counts(spark.read.parquet(str(down))) == {"a": 2, "b": 2, "c": 2}
    assert report_of(down)["method"] == "downsample"
    assert (
        run(
            "--input",
            events,
            "--output",
            str(down_r),
            "--method",
            "downsample",
            "--strategy",
            "a=20",
            "--replacement",
            "--seed",
            "1",
        )
        == 0
    )
    assert label_counts(spark.read.parquet(str(down_r))) == {"a": 20, "b": 8, "c": 2}
    assert report_of(down_r)["replacement"] is True
    assert (
        run(
            "--input",
            events,
            "--output",
            str(to),
            "--method",
            "resample",
            "--target",
            "median",
            "--seed",
            "1",
        )
        == 0
    )
    assert label_counts(spark.read.parquet(str(to))) == {"a": 8, "b": 8, "c": 8}
    assert report_of(to)["target"] == "median"


def test_group_by_weights_lineage_shrinkage_and_shuffle(spark, tmp_path, capsys):
    src = str(tmp_path / "days")
    rows = [(i, f"d{i % 2}", "a" if i % 5 else "b", float(i)) for i in range(60)]
    spark.createDataFrame(rows, "id long, day string, label string, x double").write.parquet(src)

    grouped = tmp_path / "grouped"
    assert run("--input", src, "--output", str(grouped), "--group-by", "day", "--seed", "2") == 0
    counts = {
        (r.day, r.label): r["count"]
        for r in spark.read.parquet(str(grouped)).groupBy("day", "label").count().collect()
    }
    assert counts == {("d0", "a"): 24, ("d0", "b"): 24, ("d1", "a"): 24, ("d1", "b"): 24}
    report = report_of(grouped)
    assert report["group_by"] == ["day"] and report["classes"][0]["group"] == ["d0"]
    assert "group/class" in capsys.readouterr().err

    weighted = tmp_path / "weighted"
    assert run("--input", src, "--output", str(weighted), "--weight-col", "w", "--seed", "2") == 0
    out = spark.read.parquet(str(weighted))
    assert out.count() == 60 and out.columns == ["id", "day", "label", "x", "w"]
    totals = {r.label: r[1] for r in out.groupBy("label").agg(F.sum("w")).collect()}
    assert totals == pytest.approx({"a": 48.0, "b": 48.0})

    marked = tmp_path / "marked"
    assert (
        run(
            "--input",
            src,
            "--output",
            str(marked),
            "--lineage-col",
            "origin",
            "--keep-originals",
            "--shrinkage",
            "b=1.0",
            "--shrinkage-cols",
            "x",
            "--shuffle",
            "--output-files",
            "3",
            "--seed",
            "2",
        )
        == 0
    )
    out = spark.read.parquet(str(marked))
    by_origin = out.groupBy("label", "origin").count().collect()
    assert {(r.label, r.origin): r["count"] for r in by_origin} == {
        ("a", "original"): 48,
        ("b", "original"): 12,
        ("b", "copy"): 36,
    }
    originals = spark.read.parquet(src).select("id", F.col("x").alias("x0"))
    copies = out.where("origin = 'copy'").join(originals, "id")
    assert copies.where("x != x0").count() == 36  # smoothed
    assert len(list(Path(marked).glob("part-*"))) == 3
    assert report_of(marked)["shuffle"] is True


def test_config_class_names_match_typed_labels_per_group(spark, tmp_path, capsys):
    src = str(tmp_path / "typed")
    rows = [("d0", 0)] * 20 + [("d0", 1)] * 4 + [("d0", 2)] * 2 + [("d1", 0)] * 10 + [("d1", 1)] * 3
    spark.createDataFrame(rows, "day string, label int").write.parquet(src)

    out = tmp_path / "out"
    assert (
        run(
            "--input",
            src,
            "--output",
            str(out),
            "--group-by",
            "day",
            "--strategy",
            "2=6, 1=5",
            "--seed",
            "3",
        )
        == 0
    )  # day d1 has no class 2
    counts = {
        (r.day, r.label): r["count"]
        for r in spark.read.parquet(str(out)).groupBy("day", "label").count().collect()
    }
    assert counts == {("d0", 0): 20, ("d0", 1): 5, ("d0", 2): 6, ("d1", 0): 10, ("d1", 1): 5}

    dropped = tmp_path / "dropped"
    assert (
        run(
            "--input",
            src,
            "--output",
            str(dropped),
            "--method",
            "downsample",
            "--strategy",
            "2=0",
            "--seed",
            "3",
        )
        == 0
    )
    assert label_counts(spark.read.parquet(str(dropped))) == {0: 30, 1: 7}

    assert run("--input", src, "--output", str(tmp_path / "bad"), "--strategy", "two=6") == 2
    assert "strategy names class 'two', which is not a int value" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_config_class_names_match_32_bit_float_labels(spark, tmp_path):
    src, out, conf = str(tmp_path / "floats"), tmp_path / "out", tmp_path / "job.toml"
    spark.createDataFrame(
        [(i, 0.7 if i < 3 else 0.1) for i in range(12)], "id int, label float"
    ).write.parquet(src)
    assert run("--input", src, "--output", str(out), "--strategy", "0.7=10", "--seed", "1") == 0
    seven, one = (struct.unpack("f", struct.pack("f", x))[0] for x in (0.7, 0.1))
    assert label_counts(spark.read.parquet(str(out))) == {seven: 10, one: 9}
    conf.write_text(
        f'input = "{src}"\noutput = "{tmp_path / "conf"}"\nseed = 1\nstrategy = {{ "0.7" = 5 }}\n'
    )
    assert run("--config", str(conf)) == 0
    assert label_counts(spark.read.parquet(str(tmp_path / "conf"))) == {seven: 5, one: 9}


def test_checkpoint_input_and_no_ratio_limit(spark, events, tmp_path):
    if not hasattr(type(spark.range(1)), "localCheckpoint"):
        pytest.skip("Spark Connect 3.5 has no localCheckpoint (test_packaging checks the refusal)")
    out = tmp_path / "out"
    assert (
        run(
            "--input",
            events,
            "--output",
            str(out),
            "--strategy",
            "c=40000",
            "--max-ratio",
            "0",
            "--checkpoint-input",
            "--seed",
            "4",
        )
        == 0
    )
    assert label_counts(spark.read.parquet(str(out))) == {"a": 40, "b": 8, "c": 40_000}


def test_only_paths_on_this_machines_disk_are_staged(tmp_path):
    from spark_upsample.job.landing import Landing

    assert Landing(str(tmp_path / "o"), "error", local_disk=True).staged
    assert Landing("o", "error", local_disk=True).staged  # relative to this process, as for Spark
    assert not Landing(str(tmp_path / "o"), "error", local_disk=False).staged  # a cluster's
    assert Landing(f"file://{tmp_path}/o", "error", local_disk=False).staged
    assert not Landing("hdfs://namenode/o", "error").staged
    # Spark Connect: the server resolves paths, relative ones against its working directory.
    assert Landing(str(tmp_path / "o"), "error", local_disk=True, connect=True).staged
    assert not Landing("o", "error", local_disk=True, connect=True).staged
    assert not Landing("file:o", "error", local_disk=True, connect=True).staged
    assert not Landing(f"file://{tmp_path}/o", "error", local_disk=False, connect=True).staged


@pytest.mark.connect_only
def test_a_relative_output_is_resolved_by_the_spark_connect_server(
    spark, events, tmp_path, monkeypatch, capsys
):
    client = tmp_path / "client"  # this process's working directory; the server has its own
    client.mkdir()
    monkeypatch.chdir(client)
    relative = f"relative-{tmp_path.name}"
    assert run("--input", events, "--output", relative, "--seed", "1") == 0
    assert list(client.iterdir()) == []  # Spark wrote in place, where the server resolves it
    assert label_counts(spark.read.parquet(relative)) == {"a": 40, "b": 40, "c": 40}
    assert "report: not written (pass --report PATH for this output)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("parquet", []),
        ("csv", []),
        ("csv", ["header=true"]),
        ("json", []),
        ("orc", []),
    ],
)
def test_every_output_format_is_verified_with_the_writers_options(
    spark, events, tmp_path, fmt, options
):
    out = tmp_path / "out"
    writer_options = [arg for option in options for arg in ("--output-option", option)]
    assert (
        run(
            "--input",
            events,
            "--output",
            str(out),
            "--output-format",
            fmt,
            *writer_options,
            "--seed",
            "4",
        )
        == 0
    )
    reader = spark.read.format(fmt).schema(spark.read.parquet(events).schema)
    result = reader.options(**dict(o.split("=") for o in options)).load(str(out))
    assert label_counts(result) == {"a": 40, "b": 40, "c": 40}
    if fmt == "csv":
        first_lines = {f.read_text().splitlines()[0] for f in out.glob("part-*.csv")}
        assert ("id,label,x" in first_lines) == bool(options)


def test_overwrite_replaces_a_file_and_append_refuses_one(spark, events, tmp_path, capsys):
    out, notes = tmp_path / "out", tmp_path / "notes"
    for path in (out, notes):
        path.write_text("not an output\n")
    assert (
        run("--input", events, "--output", str(out), "--write-mode", "overwrite", "--seed", "1")
        == 0
    )
    assert label_counts(spark.read.parquet(str(out))) == {"a": 40, "b": 40, "c": 40}
    assert not (tmp_path / WORK_DIR).exists()
    capsys.readouterr()
    assert run("--input", events, "--output", str(notes), "--write-mode", "append") == 4
    assert (
        f"The output '{notes}' is a file, not a folder, so there is nothing to append to."
        in capsys.readouterr().err
    )
    assert notes.read_text() == "not an output\n"


def test_a_report_inside_the_output_lands_with_it(spark, events, tmp_path, capsys):
    out = tmp_path / "out"
    report = out / "_run.json"
    args = ["--input", events, "--output", str(out), "--report", str(report)]
    for seed, mode, rows in [("1", "error", 40), ("2", "overwrite", 40), ("3", "append", 80)]:
        assert run(*args, "--seed", seed, "--write-mode", mode) == 0, capsys.readouterr().err
        assert f"report: {report}\n" in capsys.readouterr().err
        written = json.loads(report.read_text())
        assert (written["status"], written["seed"], written["output"]["write_mode"]) == (
            "succeeded",
            int(seed),
            mode,
        )
        assert label_counts(spark.read.parquet(str(out))) == {"a": rows, "b": rows, "c": rows}
    assert not Path(out, REPORT_NAME).exists()
    assert not (tmp_path / WORK_DIR).exists()

    before = snapshot(out)
    assert run(*args[:-1], str(out / "run.json"), "--write-mode", "overwrite") == 2
    assert (
        f"The report '{out}/run.json' is inside the output '{out}', where Spark's readers "
        "would read it as data. Give it a name that starts with an underscore (as the default "
        "_upsample_report.json), or write it elsewhere."
    ) in capsys.readouterr().err
    assert snapshot(out) == before


def test_a_report_elsewhere_is_written_once_the_output_is_in_place(
    spark, events, tmp_path, monkeypatch, capsys
):
    import spark_upsample.job.landing as landing

    out, report = tmp_path / "out", tmp_path / "reports" / "run.json"
    args = [
        "--input",
        events,
        "--output",
        str(out),
        "--report",
        str(report),
        "--write-mode",
        "overwrite",
    ]
    for seed in ("1", "2"):
        assert run(*args, "--seed", seed) == 0
        assert json.loads(report.read_text())["seed"] == int(seed)
        assert f"report: {report}\n" in capsys.readouterr().err

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(landing.os, "rename", refuse)
    assert run(*args, "--seed", "3") == 4
    monkeypatch.undo()
    assert "Could not move the new output into" in capsys.readouterr().err
    failed = json.loads(report.read_text())  # the failed run's report, in place of the last
    assert_valid_report(failed)
    assert (failed["status"], failed["seed"], failed["exit_code"], failed["stage"]) == (
        "failed",
        3,
        4,
        "publish",
    )
    assert failed["error"].startswith("Could not move the new output into")

    notes = tmp_path / "notes"
    notes.write_text("a file, not a folder\n")
    before = snapshot(out)
    assert (
        run(
            *args[:4],
            "--report",
            str(notes / "run.json"),
            "--write-mode",
            "overwrite",
            "--seed",
            "4",
        )
        == 4
    )
    assert (
        f"The output is in place, but the report could not be written to '{notes}/run.json'"
    ) in capsys.readouterr().err
    assert snapshot(out) != before  # the new output is in place, as the message says
    assert label_counts(spark.read.parquet(str(out))) == {"a": 40, "b": 40, "c": 40}


def day_label_counts(spark, path) -> dict:
    return {
        (r.day, r.label): r["count"]
        for r in spark.read.parquet(str(path)).groupBy("day", "label").count().collect()
    }


def test_dynamic_partition_overwrite_replaces_only_the_partitions_written(spark, tmp_path, capsys):
    both, day2, out = tmp_path / "both", tmp_path / "day2", tmp_path / "out"
    df = spark.createDataFrame(
        [(i, 1 + i // 8, "a" if i % 4 else "b") for i in range(16)],
        "id long, day int, label string",
    )  # per day: 6 a, 2 b
    df.write.parquet(str(both))
    df.where("day = 2").write.parquet(str(day2))
    common = ["--output", str(out), "--partition-by", "day", "--group-by", "day"]
    assert run("--input", str(both), *common, "--seed", "1") == 0
    day1 = snapshot(out / "day=1")

    overwrite = ["--input", str(day2), *common, "--write-mode", "overwrite"]
    assert (
        run(
            *overwrite,
            "--output-option",
            "partitionOverwriteMode=dynamic",
            "--strategy",
            "b=4",
            "--seed",
            "2",
        )
        == 0
    )
    assert day_label_counts(spark, out) == {(1, "a"): 6, (1, "b"): 6, (2, "a"): 6, (2, "b"): 4}
    assert snapshot(out / "day=1") == day1 and report_of(out)["seed"] == 2

    key = "spark.sql.sources.partitionOverwriteMode"
    spark.conf.set(key, "DYNAMIC")
    try:
        assert run(*overwrite, "--seed", "3") == 0
        assert day_label_counts(spark, out) == {(1, "a"): 6, (1, "b"): 6, (2, "a"): 6, (2, "b"): 6}
        assert snapshot(out / "day=1") == day1
        # The writer option wins over the session's setting, as in Spark.
        assert (
            run(*overwrite, "--output-option", "partitionOverwriteMode=static", "--seed", "4") == 0
        )
    finally:
        spark.conf.unset(key)
    assert day_label_counts(spark, out) == {(2, "a"): 6, (2, "b"): 6}
    assert not (tmp_path / WORK_DIR).exists()

    before = snapshot(out)
    assert run(*overwrite, "--output-option", "partitionOverwriteMode=dynamc") == 2
    assert (
        "output option partitionOverwriteMode must be static or dynamic. Got 'dynamc' instead."
    ) in capsys.readouterr().err
    assert snapshot(out) == before


# --- row identity, many cells, timestamp labels (the engine issue) ---------------------------


def test_key_columns_through_the_job_and_the_identity_in_the_report(
    spark, events, tmp_path, capsys
):
    out = str(tmp_path / "out")
    assert run("--input", events, "--output", out, "--seed", "3", "--key-col", "id") == 0
    report = report_of(out)
    assert (report["row_identity"], report["key_cols"]) == ("key columns", ["id"])
    assert "row identity: key columns (id)" in capsys.readouterr().err
    plain = str(tmp_path / "plain")
    assert run("--input", events, "--output", plain, "--seed", "3") == 0
    assert report_of(plain)["row_identity"] == "file row index"
    assert "row identity: file row index" in capsys.readouterr().err


def test_a_repeated_key_is_refused_before_anything_is_written(spark, tmp_path, capsys):
    source = str(tmp_path / "dup")
    rows = [(i, "a") for i in range(10)] + [(4, "b"), (4, "b"), (5, "b")]
    spark.createDataFrame(rows, "id long, label string").write.parquet(source)
    out = tmp_path / "out"
    assert run("--input", source, "--output", str(out), "--key-col", "id") == 3
    err = capsys.readouterr().err
    assert (
        "spark-upsample: error: key_cols ['id'] do not identify the rows of class 'b': "
        "the key (id=4) occurs 2 times." in err
    )
    assert not out.exists() and not (tmp_path / WORK_DIR).exists()


def test_more_cells_than_the_report_lists_go_to_a_parquet_table(spark, tmp_path):
    groups = 5_001  # 10,002 cells: two above the JSON's limit
    source = str(tmp_path / "groups")
    spark.range(3 * groups).select(
        (F.col("id") % groups).alias("g"),
        F.when(F.col("id") < 2 * groups, "a").otherwise("b").alias("label"),
    ).write.parquet(source)
    out = str(tmp_path / "out")
    assert run("--input", source, "--output", out, "--group-by", "g", "--seed", "1") == 0
    report = report_of(out)
    table = str(Path(out, "_upsample_report_cells.parquet"))
    assert report["cells"] == {"total": 10_002, "listed": 10_000, "table": table}
    assert len(report["classes"]) == 10_000
    cells = spark.read.parquet(table)
    assert cells.count() == 10_002
    assert cells.where("count_after != 2 OR target != 2").count() == 0
    assert cells.select("cell.*").columns == ["g", "label"]
    assert [(f.name, f.dataType.simpleString()) for f in cells.schema] == [
        ("cell", "struct<g:bigint,label:string>"),
        *((n, "bigint") for n in ("count_before", "target", "count_after", "kept", "draws")),
        ("sample_size", "bigint"),
        ("correction", "string"),
    ]
    first = cells.where("cell.g = 0").orderBy("cell.label").drop("sample_size", "correction")
    assert [tuple(r) for r in first.collect()] == [
        ((0, "a"), 2, 2, 2, 2, 0),
        ((0, "b"), 1, 2, 2, 0, 2),
    ]
    assert cells.select("cell.g").distinct().count() == groups
    assert spark.read.parquet(out).count() == 4 * groups  # Spark's readers skip the table


def test_timestamp_labels_in_a_fall_back_hour_verify_as_written(spark, tmp_path, monkeypatch):
    import time as clock

    source = str(tmp_path / "ts")
    times = ["2026-11-01 05:30:00"] * 10 + ["2026-11-01 06:30:00"] * 3 + ["2026-11-02 12:00:00"] * 6
    spark.createDataFrame(list(enumerate(times)), "id long, t string").select(
        "id", F.to_timestamp("t").alias("label")
    ).write.parquet(source)
    monkeypatch.setenv("TZ", "America/New_York")
    clock.tzset()
    try:
        out = str(tmp_path / "out")
        assert run("--input", source, "--output", out, "--seed", "2") == 0
    finally:
        monkeypatch.undo()
        clock.tzset()
    written = spark.read.parquet(out).groupBy(F.col("label").cast("string")).count().collect()
    assert sorted(written) == [
        ("2026-11-01 05:30:00", 10),
        ("2026-11-01 06:30:00", 10),
        ("2026-11-02 12:00:00", 10),
    ]
    assert len(report_of(out)["classes"]) == 3


def test_an_append_keeps_earlier_data_but_not_the_earlier_report_or_cell_table(tmp_path):
    from spark_upsample.job.landing import _keep_previous_files

    previous, staging = tmp_path / "out", tmp_path / "staging"
    for path, text in [
        ("part-0.parquet", "old data"),
        ("_upsample_report.json", "old report"),
        ("_upsample_report_cells.parquet/part-a.parquet", "old cells"),
        ("_other/part-a", "old hidden"),
        ("_kept/part-a", "kept hidden"),
    ]:
        (previous / path).parent.mkdir(parents=True, exist_ok=True)
        (previous / path).write_text(text)
    for path in ("part-1.parquet", "_other/part-b"):
        (staging / path).parent.mkdir(parents=True, exist_ok=True)
        (staging / path).write_text("new")

    _keep_previous_files(previous, staging, replaced=set())

    kept = sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file())
    assert kept == ["_kept/part-a", "_other/part-b", "part-0.parquet", "part-1.parquet"]


@pytest.mark.classic_only
def test_master_and_conf_are_refused_for_a_session_the_job_does_not_start(spark, capsys):
    """In a process with an active session (Databricks, a notebook, these tests), --master and
    --conf could not apply: one line, exit 2, before anything runs."""
    capsys.readouterr()
    assert main(["--input", "x", "--dry-run", "--conf", "spark.x.y=1"]) == 2
    assert capsys.readouterr().err == (
        "spark-upsample: error: --master and --conf apply to a session spark-upsample starts; "
        "this run uses an active session. Give them to spark-submit, or set them on that "
        "session.\n"
    )
