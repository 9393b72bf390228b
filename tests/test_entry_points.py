"""The job's entry points in their own processes: spark-submit, the console script, python -m."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

from spark_upsample.job.report import REPORT_NAME
from tests.helpers import FIXTURES, SPARK_4, label_counts, sqlstate

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def job_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        SPARK_HOME=os.path.dirname(pyspark.__file__),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    return env


def run(args: list[str], timeout: int = 300, **env: str) -> subprocess.CompletedProcess:
    """Run ``args``; its output as text, with every carriage return kept (``text=True`` would
    turn them into line breaks)."""
    done = subprocess.run(
        args,
        cwd=ROOT,
        env={**job_env(), **env},
        capture_output=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


@pytest.mark.slow
def test_spark_submit_runs_the_job(spark, tmp_path):
    out = tmp_path / "balanced"
    result = run(
        [
            str(BIN / "spark-submit"),
            "--master",
            "local[2]",
            "--properties-file",
            "conf/spark-defaults.conf",
            "--conf",
            "spark.ui.enabled=false",
            "jobs/upsample.py",
            "--config",
            "conf/demo.toml",
            "--output",
            str(out),
            "--write-mode",
            "error",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    df = spark.read.parquet(str(out))
    assert label_counts(df) == {0: 100, 1: 100}
    assert df.columns == [
        "row_id",
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
        "species",
        "label",
    ]
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["spark"]["master"] == "local[2]"
    assert report["seed"] == 2017 and report["rows_written"] == 200
    # spark-submit passes the Python driver's stderr on to its stdout (docs/report.md says so).
    assert "class  before  target  after" in result.stdout + result.stderr
    assert "All paths were ignored" not in result.stdout + result.stderr


@pytest.mark.slow
def test_spark_submit_puts_the_job_lines_on_stdout_and_spark_log_on_stderr(spark, tmp_path):
    """What docs/report.md says: the summary and error lines reach spark-submit's stdout (its
    launcher passes the Python driver's stderr on to its stdout), Spark's log stays on stderr."""
    page = " ".join((ROOT / "docs" / "report.md").read_text().split())
    assert (
        "Under spark-submit it reaches spark-submit's stdout, as do the job's error and log "
        "lines (spark-submit's launcher passes the Python driver's stderr on to its stdout), "
        "while Spark's own log stays on stderr."
    ) in page
    submit = [
        str(BIN / "spark-submit"),
        "--master",
        "local[1]",
        "--conf",
        "spark.ui.enabled=false",
        "jobs/upsample.py",
        "--config",
        "conf/demo.toml",
    ]

    done = run([*submit, "--output", str(tmp_path / "out"), "--verbose"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "\nclass  before  target  after\n" in done.stdout
    assert " DEBUG spark_upsample: plan: " in done.stdout
    assert "class  before" not in done.stderr and " spark_upsample: " not in done.stderr
    assert re.search(r"(?m)^\d\d/\d\d/\d\d [\d:]+ INFO SparkContext: ", done.stderr), done.stderr

    failed = run([*submit, "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "x")])
    assert failed.returncode == 3
    assert [line for line in failed.stdout.splitlines() if "error" in line] == [
        f"spark-upsample: error: Cannot read input {tmp_path / 'missing'} as csv: "
        f"[PATH_NOT_FOUND] Path does not exist: file:{tmp_path / 'missing'}.{sqlstate('42K03')}"
    ]
    assert "spark-upsample" not in failed.stderr


SPARK_LOG_LINE = r"(?m)^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN|ERROR) "
JOB_LOG_LINE = r"^\d{4}-\d\d-\d\d [\d:,]+ (INFO|WARNING) spark_upsample(\.\w+)*: "


@pytest.mark.slow
def test_console_script_runs_the_demo_in_local_mode(tmp_path):
    """As jobs/demo.sh runs it (SPARK_LOCAL_IP on loopback, as job_env sets it): the result table
    and, before it, only the job's own log lines (and the JVM's notice of the incubator module
    that Spark 4's launcher adds): no Spark warnings. Without --verbose: no Spark INFO line and
    no debug line anywhere."""
    out = tmp_path / "demo"
    result = run([str(BIN / "spark-upsample"), "--config", "conf/demo.toml", "--output", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\n0          10     100    100\n1         100     100    100\n" in result.stderr
    before_table = result.stderr.split("\nspark-upsample: ", 1)[0].splitlines()
    assert all(
        re.match(JOB_LOG_LINE, line) or line.startswith("WARNING: Using incubator modules: ")
        for line in before_table
    ), result.stderr
    assert not re.search(SPARK_LOG_LINE.replace("|WARN|ERROR", ""), result.stderr), result.stderr
    assert " DEBUG " not in result.stderr
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["spark"]["master"] == "local[*]"
    assert [c["count_after"] for c in report["classes"]] == [100, 100]


@pytest.mark.slow
def test_verbose_shows_spark_info_and_the_jobs_debug_logs(tmp_path):
    """Spark's INFO log and the job's debug lines (the demo's test checks that a run without
    --verbose shows neither)."""
    demo = [str(BIN / "spark-upsample"), "--config", "conf/demo.toml", "--dry-run"]
    verbose = run([*demo, "--verbose"])
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    # Spark's INFO log from the start of the session, and the job's plan at debug.
    assert re.search(
        r"(?m)^\d\d/\d\d/\d\d [\d:]+ INFO SparkContext: Running Spark version ", verbose.stderr
    ), verbose.stderr[-3000:]
    assert re.search(
        r"(?m)^[\d\- :,]+ DEBUG spark_upsample: plan: \{\"method\": \"upsample\"", verbose.stderr
    ), verbose.stderr[-3000:]


@pytest.fixture(scope="module")
def failed_runs(spark, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """The console script (stderr a pipe, not a terminal) on a missing input path and on a
    Parquet input with one corrupt file among good ones."""
    folder = tmp_path_factory.mktemp("failed_runs")
    corrupt = folder / "corrupt"
    rows = [(i, "a" if i < 40 else "b") for i in range(50)]
    spark.createDataFrame(rows, "id long, label string").coalesce(1).write.parquet(str(corrupt))
    (corrupt / "part-99999-corrupt.snappy.parquet").write_bytes(b"PAR1 this is not parquet")
    # No web UI: other Spark processes on this machine would make it warn about a busy port.
    return {
        name: run(
            [
                str(BIN / "spark-upsample"),
                "--input",
                str(folder / name),
                "--output",
                str(folder / f"{name}-out"),
            ],
            PYSPARK_SUBMIT_ARGS="--conf spark.ui.enabled=false pyspark-shell",
        )
        for name in ("missing", "corrupt")
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing", "corrupt"])
def test_a_failure_is_one_line_without_java_stack_traces(failed_runs, case):
    result = failed_runs[case]
    assert result.returncode == 3
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("spark-upsample: error: ")]
    assert len(errors) == 1, result.stderr
    assert (
        "Cannot read input" if case == "missing" else "Spark could not read the input"
    ) in errors[0]
    if case == "corrupt":  # the root cause, from the exception chain
        assert "part-99999-corrupt.snappy.parquet is not a Parquet file" in errors[0], errors[0]
    # The job's own log lines and the notice of Spark 4's JVM about its modules are all that is
    # left.
    others = [line for line in lines if line not in errors and not re.match(JOB_LOG_LINE, line)]
    notices = ["WARNING: Using incubator modules: jdk.incubator.vector"] if SPARK_4 else []
    assert others == notices, result.stderr
    assert "Exception" not in result.stderr and "\tat " not in result.stderr


@pytest.mark.slow
def test_the_quiet_log_recipe_for_spark_submit_leaves_no_java_trace(failed_runs, tmp_path):
    """docs/runtimes.md's recipe: its command, run as written, prints no INFO line; the same
    options on the corrupt input print no Java stack trace, and the job's one error line names
    the cause."""
    import shlex

    page = (ROOT / "docs" / "runtimes.md").read_text()
    [command] = re.findall(r"(?m)^(spark-submit --driver-java-options .*\\\n.*)$", page)
    args = shlex.split(command.replace("\\\n", " "))
    args[0] = str(BIN / "spark-submit")
    quiet = run(args)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert "nothing written (dry run)" in quiet.stdout, quiet.stdout
    assert " INFO " not in quiet.stderr and "\tat " not in quiet.stderr, quiet.stderr[-3000:]

    corrupt = Path(failed_runs["corrupt"].args[2])
    submit = args[: args.index("jobs/upsample.py") + 1]
    done = run([*submit, "--input", str(corrupt), "--output", str(tmp_path / "out")])
    assert done.returncode == 3, done.stderr[-3000:]
    both = done.stdout + done.stderr
    assert "\tat " not in both and "Exception" not in both, done.stderr[-3000:]
    assert " INFO " not in done.stderr, done.stderr[-3000:]
    errors = [line for line in done.stdout.splitlines() if line.startswith("spark-upsample: error")]
    assert len(errors) == 1 and "is not a Parquet file" in errors[0], done.stdout


@pytest.mark.slow
def test_the_error_line_starts_a_line_of_a_log(failed_runs):
    """No progress bar shares the error's line when stderr is not a terminal: grep finds it.
    (The corrupt file fails a running stage, which would have drawn the bar.)"""
    err = failed_runs["corrupt"].stderr
    assert "\r" not in err
    starts = re.findall(r"(?m)^spark-upsample: error: ", err)
    assert len(starts) == err.count("spark-upsample: error") == 1, err


RECORD_SESSION = """
import json, sys
from spark_upsample.job import cli

real_run = cli.run


def run(spark, config, *rest):
    keys = ("spark.master", "spark.x.y", "spark.sql.shuffle.partitions")
    with open(sys.argv[1], "w") as handle:
        json.dump({key: spark.conf.get(key) for key in keys}, handle)
    return real_run(spark, config, *rest)


cli.run = run
raise SystemExit(cli.main(sys.argv[2:]))
"""


@pytest.mark.slow
def test_master_and_conf_reach_the_session_the_job_starts(spark, tmp_path):
    """--master and --conf, as spark-submit spells them, are the settings of the session the
    console script starts (over PYSPARK_SUBMIT_ARGS's master)."""
    data = tmp_path / "input"
    spark.createDataFrame(
        [(i, "ab"[i % 2]) for i in range(6)], "id long, label string"
    ).write.parquet(str(data))
    (tmp_path / "record.py").write_text(RECORD_SESSION)
    result = run(
        [
            sys.executable,
            str(tmp_path / "record.py"),
            str(tmp_path / "seen.json"),
            *("--input", str(data), "--dry-run", "--master", "local[1]"),
            *("--conf", "spark.x.y=seen", "--conf", "spark.sql.shuffle.partitions=3"),
            *("--conf", "spark.ui.enabled=false"),
        ],
        PYSPARK_SUBMIT_ARGS="--master local[2] pyspark-shell",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((tmp_path / "seen.json").read_text()) == {
        "spark.master": "local[1]",
        "spark.x.y": "seen",
        "spark.sql.shuffle.partitions": "3",
    }


@pytest.mark.slow
def test_a_missing_input_table_is_named_and_leaves_no_warehouse(tmp_path):
    """The job's own session: the table is named as a table, and the catalog's spark-warehouse
    folder that Spark made in the working directory is gone."""
    done = subprocess.run(
        [sys.executable, "-m", "spark_upsample", "--input-table", "nosuch.tbl", "--dry-run"],
        cwd=tmp_path,
        env={**job_env(), "PYSPARK_SUBMIT_ARGS": "--conf spark.ui.enabled=false pyspark-shell"},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 3, done.stderr[-3000:]
    [line] = [x for x in done.stderr.splitlines() if x.startswith("spark-upsample: error: ")]
    assert line.startswith(
        "spark-upsample: error: The input table 'nosuch.tbl' does not exist in this session's "
        "catalog: [TABLE_OR_VIEW_NOT_FOUND] The table or view `nosuch`.`tbl` cannot be found."
    ), line
    assert list(tmp_path.iterdir()) == []


def test_python_dash_m_and_exit_code_of_a_bad_config(tmp_path):
    result = run(
        [
            sys.executable,
            "-m",
            "spark_upsample",
            "--input",
            "x",
            "--output",
            "y",
            "--write-mode",
            "replace",
        ]
    )
    assert result.returncode == 2
    assert "write_mode must be one of error, overwrite, append. Got 'replace'" in result.stderr
    assert not (ROOT / "y").exists()


def test_demo_data_is_the_seed_example():
    """The bundled demo file is iris without its first 40 rows, label 0 for setosa, else 1."""
    with open(FIXTURES / "iris.csv") as handle:
        iris = list(csv.DictReader(handle))[40:]
    with open(ROOT / "spark_upsample" / "data" / "iris_imbalanced.csv") as handle:
        demo = list(csv.DictReader(handle))
    assert len(demo) == len(iris) == 110
    names = ["setosa", "versicolor", "virginica"]
    for offset, (a, b) in enumerate(zip(iris, demo, strict=True)):
        assert int(b["row_id"]) == offset + 40
        assert [a[k] for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")] == [
            b[k] for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")
        ]
        assert b["species"] == names[int(a["species"])]
        assert b["label"] == ("0" if a["species"] == "0" else "1")


@pytest.mark.parametrize(
    "caller",
    [
        [str(BIN / "spark-upsample")],
        [sys.executable, "-m", "spark_upsample"],
        [str(BIN / "spark-submit"), "--master", "local[1]", str(ROOT / "jobs" / "upsample.py")],
    ],
    ids=["console script", "python -m", "spark-submit"],
)
def test_every_process_caller_exits_with_the_jobs_exit_code(caller, tmp_path):
    failed = run([*caller, "--input", "x", "--output", str(tmp_path / "o"), "--bogus"])
    assert failed.returncode == 2, failed.stderr
    assert "unknown option --bogus" in failed.stdout + failed.stderr
    assert run([*caller, "--version"]).returncode == 0


def test_the_wheel_entry_point_called_as_a_function_raises_on_failure(spark, tmp_path, monkeypatch):
    """As a Databricks python_wheel_task calls it: the console script's entry point, found
    through importlib.metadata and called with no arguments (the parameters in sys.argv), its
    return value ignored. A failure must raise SystemExit with the code; a success return."""
    from importlib import metadata

    (found,) = metadata.entry_points(group="console_scripts", name="spark-upsample")
    entry = found.load()
    data = tmp_path / "in"
    spark.range(40).selectExpr("id", "CAST(id % 4 = 0 AS INT) AS label").write.parquet(str(data))

    missing = ["--input", str(tmp_path / "nope"), "--output", str(tmp_path / "never")]
    monkeypatch.setattr(sys, "argv", ["spark-upsample", *missing])
    with pytest.raises(SystemExit) as exited:
        entry()
    assert exited.value.code == 3
    assert not (tmp_path / "never").exists()

    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["spark-upsample", "--input", str(data), "--output", str(out)])
    assert entry() is None
    assert label_counts(spark.read.parquet(str(out))) == {0: 30, 1: 30}
