"""The job's outputs written by one commit: catalog tables (``output_table``) and Delta.

The Delta tests need Delta Lake on the session's classpath: .ci/run's PySpark 3.5 pass has it
(SPARK_UPSAMPLE_TEST_JARS, fetched by .ci/setup-spark35.sh); the other passes check instead that
the job refuses ``output_format = "delta"`` without it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_upsample.job import tables
from spark_upsample.job.cli import main
from spark_upsample.job.landing import WORK_DIR
from tests.conftest import ICEBERG_CATALOG, TEST_JARS, lakehouse_settings, spark_env
from tests.fault_injection import faulty_job
from tests.helpers import assert_valid_report, label_counts, write_events
from tests.test_entry_points import ROOT
from tests.test_faults import LOCAL_JOB, ONE_ROW_PER_FILE, job_lines, output_of, wait_until
from tests.test_job import SIZES
from tests.test_reliability import finish, submit

pytestmark = pytest.mark.classic_only  # the session catalog and jars of this process's Spark

DELTA = "delta-spark" in TEST_JARS
needs_delta = pytest.mark.skipif(not DELTA, reason="needs Delta Lake (SPARK_UPSAMPLE_TEST_JARS)")


@pytest.fixture
def events(spark, tmp_path):
    """The job tests' input: ids, a string label a/b/c (40/8/2) and a double feature."""
    return write_events(spark, tmp_path / "events", SIZES)


@pytest.fixture
def table_name(spark, request):
    """A table name of the session catalog for one test, dropped after it."""
    name = f"out_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"[:100]
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    yield name
    spark.sql(f"DROP TABLE IF EXISTS {name}")


def run_job(*args: str) -> int:
    return main(list(args))


def report_of(path: Path) -> dict:
    report = json.loads(path.read_text())
    assert_valid_report(report)
    return report


def test_output_table_is_written_in_each_mode_and_verified(
    spark, events, tmp_path, table_name, capsys, caplog
):
    reference = str(tmp_path / "reference")
    assert run_job("--input", events, "--output", reference, "--seed", "7") == 0
    report = tmp_path / "report.json"
    job = ("--input", events, "--output-table", table_name, "--seed", "7")
    assert run_job(*job, "--report", str(report)) == 0
    written = spark.read.table(table_name)
    assert label_counts(written) == {"a": 40, "b": 40, "c": 40}
    assert_df_equality(written, spark.read.parquet(reference), ignore_row_order=True)
    output = report_of(report)["output"]
    assert output["table"] == table_name and output["path"] is None
    assert output["landing"] == "in place"
    assert output["format"] == "parquet"  # the catalog's default here
    err = capsys.readouterr().err
    assert f"-> table:{table_name}, seed 7" in err
    assert f"output: table:{table_name} (parquet){IN_PLACE_NOTE}\n" in err

    assert run_job(*job) == 4
    assert (
        f"error: The table {table_name!r} already exists. Pass --write-mode overwrite to "
        "replace its rows or --write-mode append to add to them, or choose another table."
    ) in capsys.readouterr().err
    assert run_job(*job, "--write-mode", "overwrite", "--seed", "8") == 0
    assert label_counts(spark.read.table(table_name)) == {"a": 40, "b": 40, "c": 40}
    with caplog.at_level(logging.WARNING, logger="spark_upsample"):
        assert run_job(*job, "--write-mode", "append") == 0
    assert label_counts(spark.read.table(table_name)) == {"a": 80, "b": 80, "c": 80}
    assert "the written counts are not verified" in caplog.text


def test_output_table_with_partition_by_is_a_partitioned_table(spark, events, table_name):
    job = ("--input", events, "--output-table", table_name, "--partition-by", "label")
    assert run_job(*job, "--output-format", "parquet") == 0
    columns = {c.name: c.isPartition for c in spark.catalog.listColumns(table_name)}
    assert columns == {"id": False, "x": False, "label": True}
    assert label_counts(spark.read.table(table_name)) == {"a": 40, "b": 40, "c": 40}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ("--output", "somewhere"),
            "error: Give one of output (a path) and output_table (a catalog table).",
        ),
        (
            ("--split", "train=0.8,test=0.2"),
            "error: split writes one folder per part under output, a path; output_table takes no "
            "parts. Write the split to a path.",
        ),
    ],
)
def test_output_table_refusals_before_spark(extra, message, capsys):
    assert run_job("--input", "in", "--output-table", "t", *extra) == 2
    assert message in capsys.readouterr().err


def test_output_table_cannot_be_the_input_table(capsys):
    assert run_job("--input-table", "t", "--output-table", "t") == 2
    assert (
        "error: output_table 't' is the input table; writing there could destroy the input "
        "while it is read. Choose another table."
    ) in capsys.readouterr().err


@pytest.mark.skipif(DELTA, reason="this session has Delta Lake")
def test_delta_without_delta_lake_is_refused_naming_how_to_add_it(events, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_job("--input", events, "--output", str(out), "--output-format", "delta") == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert lines == [
        'spark-upsample: error: output_format = "delta" needs Delta Lake, which this Spark '
        f"session does not have: {tables.DELTA_HINT}."
    ]
    assert not out.exists()


def history(spark, reference: str) -> list[tuple[int, str, str | None]]:
    rows = spark.sql(f"DESCRIBE HISTORY {reference}").orderBy("version").collect()
    return [(r["version"], r["operation"], r["userMetadata"]) for r in rows]


@needs_delta
def test_delta_path_every_write_is_one_commit_verified_at_its_version(spark, events, tmp_path):
    reference, out = str(tmp_path / "reference"), tmp_path / "out"
    assert run_job("--input", events, "--output", reference, "--seed", "7") == 0
    job = ("--input", events, "--output", str(out), "--output-format", "delta", "--seed", "7")
    reports = [tmp_path / f"report{i}.json" for i in range(3)]
    assert run_job(*job, "--report", str(reports[0])) == 0
    delta = spark.read.format("delta").load(str(out))
    assert_df_equality(delta, spark.read.parquet(reference), ignore_row_order=True)
    assert not (tmp_path / WORK_DIR).exists()  # written in place, never staged

    assert (
        run_job(*job, "--write-mode", "overwrite", "--seed", "8", "--report", str(reports[1])) == 0
    )
    assert run_job(*job, "--write-mode", "append", "--report", str(reports[2])) == 0
    assert label_counts(spark.read.format("delta").load(str(out))) == {"a": 80, "b": 80, "c": 80}
    outputs = [report_of(r)["output"] for r in reports]
    assert [(o["format"], o["version"]) for o in outputs] == [("delta", v) for v in (0, 1, 2)]
    assert {o["landing"] for o in outputs} == {"commit"}
    commits = history(spark, f"delta.`{out}`")
    assert [(v, op) for v, op, _ in commits] == [(0, "WRITE"), (1, "WRITE"), (2, "WRITE")]
    assert all(meta and meta.startswith("spark-upsample run ") for _, _, meta in commits)
    assert len({meta for _, _, meta in commits}) == 3  # one run, one commit
    version_1 = spark.read.format("delta").option("versionAsOf", 1).load(str(out))
    assert label_counts(version_1) == {"a": 40, "b": 40, "c": 40}  # the overwrite replaced all


@needs_delta
def test_delta_table_partitioned_then_appended_in_its_own_format(
    spark, events, tmp_path, table_name, capsys
):
    job = ("--input", events, "--output-table", table_name, "--partition-by", "label")
    assert run_job(*job, "--output-format", "delta") == 0
    report = tmp_path / "report.json"
    assert run_job(*job, "--write-mode", "append", "--report", str(report)) == 0  # no format
    output = report_of(report)["output"]
    assert (output["format"], output["version"]) == ("delta", 1)
    assert f"output: table:{table_name} (delta, version 1)" in capsys.readouterr().err
    detail = spark.sql(f"DESCRIBE DETAIL {table_name}").first()
    assert detail["format"] == "delta" and detail["partitionColumns"] == ["label"]
    assert label_counts(spark.read.table(table_name)) == {"a": 80, "b": 80, "c": 80}
    assert [op for _, op, _ in history(spark, table_name)] == [
        "CREATE TABLE AS SELECT",
        "WRITE",
    ]


@needs_delta
def test_delta_write_that_fails_verification_names_its_version(
    spark, events, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "out"
    monkeypatch.setattr(tables, "cell_counts", lambda df, config: {"a": 40})
    assert run_job("--input", events, "--output", str(out), "--output-format", "delta") == 4
    assert (
        "error: The written output does not match the plan: 'b': expected 40, found 0, 'c': "
        f"expected 40, found 0. It was committed as version 0, the first, of {str(out)!r}: "
        "check it, or remove the table."
    ) in capsys.readouterr().err


@needs_delta
def test_delta_error_mode_refuses_an_existing_delta_table(spark, events, tmp_path, capsys):
    out = tmp_path / "out"
    spark.range(3).write.format("delta").save(str(out))
    assert run_job("--input", events, "--output", str(out), "--output-format", "delta") == 4
    assert f"error: The output {str(out)!r} already exists." in capsys.readouterr().err
    assert spark.read.format("delta").load(str(out)).count() == 3


def test_the_readmes_table_to_table_run_runs_as_written(spark, capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("spark-upsample --input-table")]
    args = shlex.split(line.split("#")[0])[1:]
    spark.sql("CREATE DATABASE IF NOT EXISTS raw")
    spark.sql("CREATE DATABASE IF NOT EXISTS ml")
    try:
        labels = [c for c, n in SIZES.items() for _ in range(n)]
        events = spark.createDataFrame(list(enumerate(labels)), "id long, label string")
        events.write.saveAsTable("raw.events")
        assert run_job(*args) == 0
        assert label_counts(spark.read.table("ml.events_balanced")) == {"a": 40, "b": 40, "c": 40}
        assert "spark-upsample: table:raw.events -> table:ml.events_balanced, seed 42" in (
            capsys.readouterr().err
        )
    finally:
        spark.sql("DROP DATABASE IF EXISTS raw CASCADE")
        spark.sql("DROP DATABASE IF EXISTS ml CASCADE")


@needs_delta
@pytest.mark.parametrize("where", ["path", "table"])
def test_a_rerun_with_the_same_idempotency_key_commits_nothing_twice_and_says_so(
    spark, events, tmp_path, table_name, where, capsys
):
    out = str(tmp_path / "out")
    target = (
        ("--output", out, "--output-format", "delta")
        if where == "path"
        else ("--output-table", table_name, "--output-format", "delta")
    )
    job = ("--input", events, *target, "--write-mode", "append", "--seed", "7")
    reports = [tmp_path / f"report{i}.json" for i in range(3)]
    assert run_job(*job, "--idempotency-key", "run-1", "--report", str(reports[0])) == 0
    capsys.readouterr()
    assert run_job(*job, "--idempotency-key", "run-1", "--report", str(reports[1])) == 0
    err = capsys.readouterr().err
    assert (
        "(delta, version 0, committed by an earlier run with idempotency key 'run-1': nothing "
        "committed again)"
    ) in err
    written = spark.read.format("delta").load(out) if where == "path" else spark.table(table_name)
    assert label_counts(written) == {"a": 40, "b": 40, "c": 40}
    reference = history(spark, f"delta.`{out}`" if where == "path" else table_name)
    assert len(reference) == 1 and reference[0][2].endswith(", idempotency key run-1")

    assert run_job(*job, "--idempotency-key", "run-2", "--report", str(reports[2])) == 0
    written = spark.read.format("delta").load(out) if where == "path" else spark.table(table_name)
    assert label_counts(written) == {"a": 80, "b": 80, "c": 80}
    outputs = [report_of(r)["output"] for r in reports]
    assert [(o["idempotency_key"], o["version"], o["already_committed"]) for o in outputs] == [
        ("run-1", 0, False),
        ("run-1", 0, True),
        ("run-2", 1, False),
    ]


def test_an_idempotency_key_needs_a_delta_output(events, tmp_path, table_name, capsys):
    out = str(tmp_path / "out")
    assert run_job("--input", events, "--output", out, "--idempotency-key", "k") == 2
    assert (
        "error: idempotency_key makes a rerun of a Delta write commit nothing twice; the output "
        f"{out!r} is written as parquet. Leave idempotency_key out, or pass output_format = "
        '"delta".'
    ) in capsys.readouterr().err
    job = ("--input", events, "--output-table", table_name, "--output-format", "parquet")
    assert run_job(*job, "--idempotency-key", "k") == 2
    assert (
        f"{('table:' + table_name)!r} is written as parquet, not Delta or Iceberg."
        in capsys.readouterr().err
    )
    assert not Path(out).exists()


@needs_delta
@pytest.mark.parametrize(
    "partial",
    [("--replace-where", "day = 2"), ("--output-option", "partitionOverwriteMode=dynamic")],
    ids=["replace_where", "dynamic"],
)
def test_a_partial_rerun_replaces_only_its_partitions_in_one_commit(spark, tmp_path, partial):
    labels = [c for c, n in SIZES.items() for _ in range(n)]
    rows = [(d * 100 + i, c, d) for d in (1, 2) for i, c in enumerate(labels)]
    days = spark.createDataFrame(rows, "id long, label string, day int")
    both, day_2, out = (str(tmp_path / name) for name in ("both", "day2", "out"))
    days.write.parquet(both)
    days.where("day = 2").write.parquet(day_2)
    delta = ("--output", out, "--output-format", "delta", "--partition-by", "day")
    assert run_job("--input", both, *delta, "--group-by", "day", "--seed", "7") == 0
    before = spark.read.format("delta").load(out).where("day = 1").collect()
    rerun = ("--input", day_2, *delta, "--group-by", "day", "--write-mode", "overwrite")
    assert run_job(*rerun, "--seed", "8", *partial) == 0

    table = spark.read.format("delta").load(out)
    assert_df_equality(
        table.where("day = 1"), spark.createDataFrame(before, table.schema), ignore_row_order=True
    )
    counts = {
        (r["day"], r["label"]): r["count"] for r in table.groupBy("day", "label").count().collect()
    }
    assert counts == {(d, c): 40 for d in (1, 2) for c in SIZES}
    assert [op for _, op, _ in history(spark, f"delta.`{out}`")] == ["WRITE", "WRITE"]
    commit = spark.read.json(f"{out}/_delta_log/{1:020d}.json")
    touched = {
        r[0].split("/")[0]
        for kind in ("add", "remove")
        for r in commit.where(F.col(kind).isNotNull()).select(f"{kind}.path").collect()
    }
    assert touched == {"day=2"}


@needs_delta
def test_replace_where_refuses_rows_outside_it_and_leaves_the_table(
    spark, events, tmp_path, capsys
):
    out = str(tmp_path / "out")
    delta = ("--input", events, "--output", out, "--output-format", "delta")
    assert run_job(*delta, "--partition-by", "label") == 0
    rerun = (*delta, "--write-mode", "overwrite", "--replace-where", "label = 'c'")
    assert run_job(*rerun, "--partition-by", "label") == 4
    assert f"error: Writing {out!r} failed: " in capsys.readouterr().err
    assert len(history(spark, f"delta.`{out}`")) == 1


def test_replace_where_goes_with_overwrite_and_delta(tmp_path, capsys):
    job = ("--input", "in", "--output", str(tmp_path / "out"), "--replace-where", "day = 2")
    assert run_job(*job, "--output-format", "delta") == 2
    assert (
        "error: replace_where replaces the rows of a Delta table that match it: it goes with "
        "write_mode = overwrite, not error."
    ) in capsys.readouterr().err
    assert run_job(*job, "--write-mode", "overwrite") == 2
    assert 'is written as parquet. Pass output_format = "delta"' in capsys.readouterr().err


@needs_delta
def test_two_writers_at_once_delta_refuses_the_later_commit_and_the_job_exits_4(
    spark, events, tmp_path, monkeypatch, capsys
):
    out = str(tmp_path / "out")
    job = ("--input", events, "--output", out, "--output-format", "delta")
    assert run_job(*job) == 0
    other = spark.read.format("delta").load(out).limit(1)

    def commit_meanwhile() -> None:  # another writer, while the job writes its files
        time.sleep(1.0)
        other.write.format("delta").mode("append").save(out)

    real_write = tables.TableOutput.write

    def slow_write(self, df):  # one task, 120 rows at 30 ms: the other core is the other writer's
        slow = F.udf(lambda: time.sleep(0.03) or True, "boolean")
        writer = threading.Thread(target=commit_meanwhile)
        writer.start()
        try:
            real_write(self, df.coalesce(1).where(slow()))
        finally:
            writer.join()

    monkeypatch.setattr(tables.TableOutput, "write", slow_write)
    assert run_job(*job, "--write-mode", "overwrite") == 4
    err = capsys.readouterr().err
    assert (
        f"error: Another writer committed to {out!r} while this run wrote, and Delta's conflict "
        "detection refused this run's commit: "
    ) in err and "The table holds the other commit and none of this run's rows: run it" in err
    assert re.search(r"Concurrent\w*Exception", err)
    assert [v for v, _, _ in history(spark, f"delta.`{out}`")] == [0, 1]  # the other's append
    assert spark.read.format("delta").load(out).count() == 121


@needs_delta
@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "SIGTERM"])
def test_a_delta_write_stopped_midway_leaves_the_previous_version_and_the_rerun_lands_once(
    spark, events, tmp_path, stop
):
    out = tmp_path / "out"
    delta = ("--input", events, "--output", str(out), "--output-format", "delta")
    assert run_job(*delta, "--seed", "1") == 0
    before = spark.read.format("delta").load(str(out))
    rows = before.collect()
    files = set(out.glob("*.parquet"))
    rerun = (*delta, "--seed", "2", "--write-mode", "overwrite", "--idempotency-key", "day-2")
    settings = [f"--conf={key}={value}" for key, value in lakehouse_settings().items()]
    job = subprocess.Popen(
        [sys.executable, "-m", "spark_upsample", *rerun, *ONE_ROW_PER_FILE, *settings],
        cwd=ROOT,
        env=spark_env(PYSPARK_SUBMIT_ARGS=f"{LOCAL_JOB} pyspark-shell"),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # kill -9 takes its JVM too, as a lost machine would
    )
    try:
        wait_until(lambda: set(out.glob("*.parquet")) - files, job, "writing")
        if stop == signal.SIGKILL:
            os.killpg(job.pid, signal.SIGKILL)
        else:
            job.send_signal(stop)
        output = output_of(job, timeout=120)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    if stop == signal.SIGTERM:
        assert job.returncode == 143, output[-3000:]
        assert job_lines(output) == [
            "spark-upsample: cancelled by SIGTERM: the Spark jobs were cancelled before the "
            f"commit; {str(out)!r} is as it was if it is a Delta table (a table of another "
            "format is written in place: check it)."
        ]
    assert [v for v, _, _ in history(spark, f"delta.`{out}`")] == [0]
    previous = spark.createDataFrame(rows, before.schema)
    assert_df_equality(spark.read.format("delta").load(str(out)), previous, ignore_row_order=True)

    assert run_job(*rerun) == 0  # the stopped run committed nothing: this one commits
    assert run_job(*rerun) == 0  # and a retry of it commits nothing twice
    assert [v for v, _, _ in history(spark, f"delta.`{out}`")] == [0, 1]
    assert label_counts(spark.read.format("delta").load(str(out))) == {"a": 40, "b": 40, "c": 40}


ICEBERG = "iceberg-spark-runtime" in TEST_JARS
needs_iceberg = pytest.mark.skipif(
    not ICEBERG, reason="needs Iceberg's Spark runtime (SPARK_UPSAMPLE_TEST_JARS)"
)


@pytest.fixture
def iceberg_table(spark, request):
    """A table name of the tests' Iceberg catalog for one test, dropped after it."""
    name = f"{ICEBERG_CATALOG}.db.{request.node.name.split('[')[0][-60:]}"
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    yield name
    spark.sql(f"DROP TABLE IF EXISTS {name}")


def snapshots(spark, table: str) -> list[tuple[int, str, str | None, str | None]]:
    rows = spark.sql(f"SELECT * FROM {table}.snapshots").orderBy("committed_at").collect()
    return [
        (
            r["snapshot_id"],
            r["operation"],
            r["summary"].get(tables.RUN_PROPERTY),
            r["summary"].get(tables.KEY_PROPERTY),
        )
        for r in rows
    ]


@needs_iceberg
def test_iceberg_every_write_is_one_snapshot_stamped_with_its_run(
    spark, events, tmp_path, iceberg_table, capsys
):
    reference = str(tmp_path / "reference")
    assert run_job("--input", events, "--output", reference, "--seed", "7") == 0
    job = ("--input", events, "--output-table", iceberg_table, "--output-format", "iceberg")
    reports = [tmp_path / f"report{i}.json" for i in range(3)]
    assert run_job(*job, "--seed", "7", "--report", str(reports[0])) == 0
    assert_df_equality(
        spark.read.table(iceberg_table), spark.read.parquet(reference), ignore_row_order=True
    )
    assert run_job(*job, "--write-mode", "append", "--report", str(reports[1])) == 0
    assert label_counts(spark.read.table(iceberg_table)) == {"a": 80, "b": 80, "c": 80}
    assert run_job(*job, "--write-mode", "overwrite", "--report", str(reports[2])) == 0
    assert label_counts(spark.read.table(iceberg_table)) == {"a": 40, "b": 40, "c": 40}

    commits = snapshots(spark, iceberg_table)
    outputs = [report_of(r)["output"] for r in reports]
    assert [o["snapshot_id"] for o in outputs] == [c[0] for c in commits]  # one run, one snapshot
    assert [o["format"] for o in outputs] == ["iceberg"] * 3
    assert all(run and len(run) == 12 for _, _, run, _ in commits)
    assert len({run for _, _, run, _ in commits}) == 3
    assert f"(iceberg, snapshot {commits[-1][0]})" in capsys.readouterr().err


@needs_iceberg
def test_iceberg_overwrite_partitions_and_idempotent_rerun(spark, tmp_path, iceberg_table):
    labels = [c for c, n in SIZES.items() for _ in range(n)]
    rows = [(d * 100 + i, c, d) for d in (1, 2) for i, c in enumerate(labels)]
    days = spark.createDataFrame(rows, "id long, label string, day int")
    both, day_2 = str(tmp_path / "both"), str(tmp_path / "day2")
    days.write.parquet(both)
    days.where("day = 2").write.parquet(day_2)
    table = ("--output-table", iceberg_table, "--output-format", "iceberg", "--group-by", "day")
    assert run_job("--input", both, *table, "--partition-by", "day", "--seed", "7") == 0
    before = spark.read.table(iceberg_table).where("day = 1").collect()
    rerun = (
        *table,
        "--write-mode",
        "overwrite",
        "--output-option",
        "partitionOverwriteMode=dynamic",
    )
    report = tmp_path / "report.json"
    for _ in range(2):
        assert (
            run_job("--input", day_2, *rerun, "--idempotency-key", "day-2", "--report", str(report))
            == 0
        )

    written = spark.read.table(iceberg_table)
    assert_df_equality(
        written.where("day = 1"),
        spark.createDataFrame(before, written.schema),
        ignore_row_order=True,
    )
    cells = written.groupBy("day", "label").count().collect()
    assert {(r["day"], r["label"]): r["count"] for r in cells} == {
        (d, c): 40 for d in (1, 2) for c in SIZES
    }
    commits = snapshots(spark, iceberg_table)
    assert [(op, key) for _, op, _, key in commits] == [("append", None), ("overwrite", "day-2")]
    output = report_of(report)["output"]
    assert (output["snapshot_id"], output["already_committed"]) == (commits[1][0], True)


def test_iceberg_is_written_to_a_table_not_a_path(tmp_path, capsys):
    out = tmp_path / "out"
    assert run_job("--input", "in", "--output", str(out), "--output-format", "iceberg") == 2
    assert (
        "error: Iceberg is written to a table of an Iceberg catalog: pass output_table (such as "
        "catalog.db.events) instead of output."
    ) in capsys.readouterr().err


IN_PLACE_NOTE = (
    ', written in place by Spark: no atomic landing and no lock (output_format = "delta" commits '
    "it whole, once)"
)


def test_a_path_on_an_object_store_is_written_in_place_and_says_so(
    spark, events, s3_bucket, tmp_path, capsys
):
    out, report = f"{s3_bucket}/{tmp_path.name}/balanced", tmp_path / "report.json"
    assert run_job("--input", events, "--output", out, "--seed", "7", "--report", str(report)) == 0
    assert label_counts(spark.read.parquet(out)) == {"a": 40, "b": 40, "c": 40}
    assert f"output: {out} (parquet){IN_PLACE_NOTE}\n" in capsys.readouterr().err
    assert report_of(report)["output"]["landing"] == "in place"


@needs_delta
def test_delta_on_an_object_store_overwrites_in_one_commit_and_reruns_once(
    spark, events, s3_bucket, tmp_path, capsys
):
    out = f"{s3_bucket}/{tmp_path.name}/delta"
    job = ("--input", events, "--output", out, "--output-format", "delta")
    assert run_job(*job, "--seed", "1") == 0
    first = spark.read.format("delta").load(out).collect()
    reports = [tmp_path / f"report{i}.json" for i in range(2)]
    rerun = (*job, "--seed", "2", "--write-mode", "overwrite", "--idempotency-key", "run-2")
    for report in reports:
        assert run_job(*rerun, "--report", str(report)) == 0
    assert IN_PLACE_NOTE not in capsys.readouterr().err
    outputs = [report_of(r)["output"] for r in reports]
    assert [(o["landing"], o["version"], o["already_committed"]) for o in outputs] == [
        ("commit", 1, False),
        ("commit", 1, True),
    ]
    assert [v for v, _, _ in history(spark, f"delta.`{out}`")] == [0, 1]
    assert label_counts(spark.read.format("delta").load(out)) == {"a": 40, "b": 40, "c": 40}
    version_0 = spark.read.format("delta").option("versionAsOf", 0).load(out)
    assert_df_equality(
        version_0, spark.createDataFrame(first, version_0.schema), ignore_row_order=True
    )


@needs_delta
@pytest.mark.slow
def test_a_failed_and_retried_task_of_a_delta_write_gives_the_same_rows(spark, events, tmp_path):
    clean, retried, marker = tmp_path / "clean", tmp_path / "retried", tmp_path / "fault-fired"
    args = ["--input", events, "--seed", "11", "--output-format", "delta"]
    # The same job, its input read through the same (here unarmed) mapInArrow: the same identity.
    with faulty_job("off", str(marker)):
        assert run_job(*args, "--output", str(clean)) == 0
    # local[2,4]: two cores, and a task may fail up to 4 times before the job fails.
    confs = lakehouse_settings()
    faulty = submit([*args, "--output", str(retried)], "local[2,4]", "fail", marker, confs)
    output = finish(faulty)
    assert faulty.returncode == 0, output[-3000:]
    assert marker.exists(), "the injected fault did not fire"
    # One attempt failed, in the write (armed), none in the jobs before it; one commit all the same.
    assert re.findall(r"WARN TaskSetManager: Lost task (\S+) in stage", output) == ["0.0"], output
    expected = spark.read.format("delta").load(str(clean))
    assert label_counts(expected) == {"a": 40, "b": 40, "c": 40}
    written = spark.read.format("delta").load(str(retried))
    assert_df_equality(written, expected, ignore_row_order=True)
    assert [v for v, _, _ in history(spark, f"delta.`{retried}`")] == [0]
