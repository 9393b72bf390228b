"""The job's entry points in their own processes: spark-submit, the console script, python -m."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

from spark_upsample.report import REPORT_NAME
from tests.helpers import FIXTURES, label_counts

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


def run(args: list[str], timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=job_env(), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_spark_submit_runs_the_job(spark, tmp_path):
    out = tmp_path / "balanced"
    result = run([
        str(BIN / "spark-submit"), "--master", "local[2]",
        "--properties-file", "conf/spark-defaults.conf", "--conf", "spark.ui.enabled=false",
        "jobs/upsample.py", "--config", "conf/demo.toml", "--output", str(out),
        "--write-mode", "error",
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    df = spark.read.parquet(str(out))
    assert label_counts(df) == {0: 100, 1: 100}
    assert df.columns == ["row_id", "sepal_length", "sepal_width", "petal_length",
                          "petal_width", "species", "label"]
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["spark"]["master"] == "local[2]"
    assert report["seed"] == 2017 and report["rows_written"] == 200
    # spark-submit passes the Python driver's stderr on to its stdout.
    assert "class  before  target  after" in result.stdout + result.stderr
    assert "All paths were ignored" not in result.stdout + result.stderr


@pytest.mark.slow
def test_console_script_runs_the_demo_in_local_mode(tmp_path):
    out = tmp_path / "demo"
    result = run([str(BIN / "spark-upsample"), "--config", "conf/demo.toml", "--output", str(out)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "\n0          10     100    100\n1         100     100    100\n" in result.stderr
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["spark"]["master"] == "local[*]"
    assert [c["count_after"] for c in report["classes"]] == [100, 100]


def test_python_dash_m_and_exit_code_of_a_bad_config(tmp_path):
    result = run([sys.executable, "-m", "spark_upsample", "--input", "x", "--output", "y",
                  "--write-mode", "replace"])
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
    for offset, (a, b) in enumerate(zip(iris, demo)):
        assert int(b["row_id"]) == offset + 40
        assert [a[k] for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")] == [
            b[k] for k in ("sepal_length", "sepal_width", "petal_length", "petal_width")]
        assert b["species"] == names[int(a["species"])]
        assert b["label"] == ("0" if a["species"] == "0" else "1")
