"""The wheel wherever Spark's Python runs: PySpark is the platform's, or an extra's.

- Its metadata: no unconditional pyspark (the extras ``spark`` and ``client`` bring one),
  ``py.typed``, and the classifiers, keywords and Spark range a package index shows.
- Without PySpark: the entry points print one line naming the extras and exit 2, and
  the public names raise an ImportError with that advice (``--help``, ``--version`` and ``report``
  work); a PySpark before 3.5 is named.
- The platform's PySpark is left alone: pip, asked to install the wheel where a PySpark is (this
  venv's: 4.x, or 3.5.x in the 3.5 pass of ``.ci/run``), installs none; nor where none is.
- Spark Connect before 4.0 has no ``localCheckpoint``: ``checkpoint_input`` fails up front there.
- The thin client: the wheel with its ``client`` extra (``pyspark-client``, no JVM) in a fresh
  venv runs the job and the library against the Spark Connect pass's server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pyspark
import pytest
from conftest import free_port, spark_env
from packaging.requirements import Requirement

from spark_upsample import InvalidParameterError, upsample
from spark_upsample.job.config import tomllib
from tests.helpers import label_counts

ROOT = Path(__file__).resolve().parents[1]
SPARK = "pip install 'pyspark>=3.5,<5'"
CLIENT = "pip install 'pyspark-client>=4,<5' 'pandas>=2.2,<3'"
INSTALL = (
    f"{SPARK} (PySpark with its JVM: local mode, spark-submit) "
    f"or {CLIENT} (a Spark Connect client only), not both"
)
NO_PYSPARK = (
    "no PySpark is installed; spark-upsample needs PySpark 3.5 or newer: "
    f"{INSTALL}; on Databricks the runtime provides it."
)


def run(
    args: list, cwd: Path, timeout: int = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env or spark_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def pip(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    """This venv's pip, acting on the environment that ``--python`` (in ``args``) names."""
    result = run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], cwd)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return result


def fresh_venv(path: Path) -> tuple[Path, Path]:
    """A new venv without pip (this venv's pip installs into it): its python and site-packages."""
    result = run([sys.executable, "-m", "venv", "--without-pip", path], path.parent)
    assert result.returncode == 0, result.stderr
    python = path / "bin" / "python"
    site = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], path.parent
    ).stdout.strip()
    return python, Path(site)


def isolated_env(**extra: str) -> dict[str, str]:
    """An environment that leaks nothing of this venv, this checkout or Spark into a child."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "PYSPARK", "SPARK", "VIRTUAL_ENV"))
    }
    env.update(extra)
    return env


def requirement_of(wheel: Path, extras: str = "") -> str:
    return f"spark-upsample{extras} @ {wheel.as_uri()}"


def would_install(python: Path, requirement: str, cwd: Path) -> dict[str, str]:
    """What pip would install into ``python``'s environment for ``requirement``: {name: version}."""
    result = pip(
        "--python", python, "install", "--dry-run", "--quiet", "--report", "-", requirement, cwd=cwd
    )
    report = json.loads(result.stdout)
    return {
        re.sub(r"[-_.]+", "-", item["metadata"]["name"]).lower(): item["metadata"]["version"]
        for item in report["install"]
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    pip("wheel", ".", "--no-deps", "--quiet", "-w", dist, cwd=ROOT)
    [built] = dist.glob("spark_upsample-*.whl")
    return built


# --- The wheel's metadata ---------------------------------------------------------------------


def test_the_wheel_declares_pyspark_only_in_its_extras_and_ships_py_typed(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        [info] = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(archive.read(info).decode())
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    unconditional = {r.name for r in requires if r.marker is None or "extra" not in str(r.marker)}
    assert unconditional == {"numpy", "tomli"}  # tomli only below Python 3.11
    by_extra = {
        (r.name, str(r.specifier), str(r.marker)) for r in requires if r.name.startswith("pyspark")
    }
    assert {
        ("pyspark", "<5,>=3.5", 'extra == "spark"'),
        ("pyspark-client", "<5,>=4", 'extra == "client"'),
    } <= by_extra
    assert {"spark", "client", "test"} <= set(meta.get_all("Provides-Extra"))
    assert "spark_upsample/py.typed" in names

    assert "PySpark 3.5 and 4.x" in meta["Summary"]
    classifiers = set(meta.get_all("Classifier"))
    assert {
        f"Programming Language :: Python :: 3.{minor}" for minor in (10, 11, 12, 13)
    } <= classifiers
    assert {
        "License :: OSI Approved :: Apache Software License",
        "Typing :: Typed",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    } <= classifiers
    assert {
        "pyspark",
        "spark-connect",
        "databricks",
        "imbalanced-learn",
        "oversampling",
        "undersampling",
    } <= set(meta["Keywords"].split(","))
    assert meta["Requires-Python"] == ">=3.10"


def extras() -> dict[str, list[str]]:
    """pyproject.toml's extras: {name: requirements}."""
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_the_client_extra_keeps_pandas_below_3():
    """pyspark-client pulls the newest pandas, which PySpark 4.x warns it does not fully support
    (4 FutureWarning lines on every run): the extra keeps pandas below 3, as the test extra does."""
    [pandas] = [Requirement(r) for r in extras()["client"] if Requirement(r).name == "pandas"]
    assert not pandas.specifier.contains("3.0.0")
    assert pandas.specifier.contains("2.3.3")


def test_the_missing_pyspark_advice_installs_what_the_extras_do_and_the_docs_say():
    """The package is on no index, so ``pip install 'spark-upsample[spark]'`` cannot work: the
    advice installs from PyPI exactly the requirements of the ``spark`` or ``client`` extra, and
    docs/runtimes.md gives the same two commands."""
    for command, extra in ((SPARK, "spark"), (CLIENT, "client")):
        assert re.findall(r"'([^']+)'", command) == extras()[extra], extra
    page = (ROOT / "docs" / "runtimes.md").read_text()
    assert SPARK in page and CLIENT in page


def test_the_set_up_installs_again_only_when_pyproject_changed(tmp_path):
    """``bash jobs/demo.sh`` sources .ci/setup.sh on every run: pip runs when the venv is new or
    pyproject.toml changed, not on a second run (which then needs no network), and a failed
    install is tried again. The venv's python here only records how it was called."""
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "setup.sh").write_text((ROOT / ".ci" / "setup.sh").read_text())
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    calls = tmp_path / "calls"
    python = tmp_path / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >>{calls}\nexit "${{FAIL:-0}}"\n')
    python.chmod(0o755)

    def set_up(**env: str) -> list[str]:
        result = run(["bash", "-c", "source .ci/setup.sh"], tmp_path, env={**os.environ, **env})
        assert result.returncode == int(env.get("FAIL", "0")), result.stderr
        return calls.read_text().splitlines() if calls.exists() else []

    install = "-m pip install --quiet --disable-pip-version-check -e .[spark,test,lint]"
    assert set_up(FAIL="1") == [install]
    assert set_up() == [install] * 2  # the failed install left no stamp
    assert set_up() == [install] * 2  # nothing changed: no pip
    with (tmp_path / "pyproject.toml").open("a") as changed:
        changed.write("# a change\n")
    assert set_up() == [install] * 3
    assert set_up() == [install] * 3


# --- Without PySpark --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv with the wheel and its hard dependencies (numpy; tomli below Python 3.11),
    and no PySpark: those come from this venv through a folder that holds only them."""
    root = tmp_path_factory.mktemp("bare")
    python, site = fresh_venv(root / "venv")
    pip("--python", python, "install", "--no-deps", "--quiet", wheel, cwd=root)
    ours = Path(
        next(p for p in sys.path if p.endswith("site-packages") and (Path(p) / "numpy").is_dir())
    )
    deps = root / "deps"
    deps.mkdir()
    for name in ("numpy", "numpy.libs", "tomli"):
        if (ours / name).exists():
            (deps / name).symlink_to(ours / name)
    (site / "zz_dependencies.pth").write_text(f"{deps}\n")
    check = run(
        [python, "-c", "import numpy, importlib.util; print(importlib.util.find_spec('pyspark'))"],
        root,
        env=isolated_env(),
    )
    assert check.stdout.strip() == "None", check  # no PySpark anywhere on its path
    return root / "venv"


def test_without_pyspark_the_entry_points_print_one_line_and_exit_2(bare_venv, tmp_path):
    for command in (
        [bare_venv / "bin" / "spark-upsample", "--input", "x", "--output", "y"],
        [bare_venv / "bin" / "python", "-m", "spark_upsample", "--input", "x", "--dry-run"],
    ):
        result = run(command, tmp_path, env=isolated_env())
        assert (result.returncode, result.stdout, result.stderr) == (
            2,
            "",
            f"spark-upsample: error: {NO_PYSPARK}\n",
        ), command


SAVED_REPORT = {
    "status": "succeeded",
    "label_col": "label",
    "method": "upsample",
    "seed": 1,
    "classes": [
        {"label": "a", "count_before": 2, "target": 4, "count_after": 4, "kept": 0, "draws": 4},
        {"label": "b", "count_before": 4, "target": 4, "count_after": 4, "kept": 4, "draws": 0},
    ],
}


def test_without_pyspark_help_version_and_report_work(bare_venv, tmp_path):
    """What needs no Spark runs where no PySpark is: the options, the version, a saved report's
    page; and a bad option is its one line, not the missing PySpark."""
    script, python = bare_venv / "bin" / "spark-upsample", bare_venv / "bin" / "python"
    for command in ([script, "--help"], [python, "-m", "spark_upsample", "--help"]):
        result = run(command, tmp_path, env=isolated_env())
        assert (result.returncode, result.stderr) == (0, ""), command
        assert result.stdout.startswith("usage: spark-upsample"), result.stdout
        assert "--key-cols A,B" in result.stdout and "--conf KEY=VALUE" in result.stdout
    result = run([script, "--version"], tmp_path, env=isolated_env())
    assert (result.returncode, result.stdout, result.stderr) == (0, "spark-upsample 0.1.0\n", "")

    (tmp_path / "run.json").write_text(json.dumps(SAVED_REPORT))
    result = run([script, "report", "run.json"], tmp_path, env=isolated_env())
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "page: run.html\n")
    assert "<html" in (tmp_path / "run.html").read_text()

    result = run([script, "--key-colz", "id"], tmp_path, env=isolated_env())
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "spark-upsample: error: unknown option --key-colz; did you mean --key-col?\n",
    )


def test_without_pyspark_the_public_api_raises_an_import_error_with_the_advice(bare_venv, tmp_path):
    """``import spark_upsample`` works (the command line imports it), but every public name is
    an ImportError with the advice."""
    python = bare_venv / "bin" / "python"
    caught = (
        "import importlib.util, json\n"
        "origin = importlib.util.find_spec('spark_upsample').origin\n"
        "try:\n"
        "    from spark_upsample import upsample\n"
        "except ImportError as error:\n"
        "    print(json.dumps({'message': str(error), 'origin': origin}))\n"
        "raise ValueError('an unrelated failure keeps its traceback')\n"
    )
    result = run([python, "-c", caught], tmp_path, env=isolated_env())
    assert json.loads(result.stdout)["message"] == NO_PYSPARK
    assert Path(json.loads(result.stdout)["origin"]).is_relative_to(bare_venv)  # the wheel's
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ValueError: an unrelated failure keeps its traceback" in result.stderr

    for code in ("from spark_upsample import Upsampler", "import spark_upsample as s; s.split"):
        result = run([python, "-c", code], tmp_path, env=isolated_env())
        assert (result.returncode, result.stderr) == (2, f"spark-upsample: error: {NO_PYSPARK}\n")


def test_a_pyspark_older_than_3_5_is_named(bare_venv, tmp_path):
    """A Python whose PySpark is 3.4 (an older runtime): one line, exit 2, naming both versions."""
    (tmp_path / "old" / "pyspark").mkdir(parents=True)
    (tmp_path / "old" / "pyspark" / "__init__.py").write_text('__version__ = "3.4.1"\n')
    result = run(
        [bare_venv / "bin" / "spark-upsample", "--input", "x", "--output", "y"],
        tmp_path,
        env=isolated_env(PYTHONPATH=str(tmp_path / "old")),
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "spark-upsample: error: PySpark 3.4.1 is installed; spark-upsample needs PySpark 3.5 or "
        "newer: pip install --upgrade 'pyspark>=3.5,<5' to upgrade it, or on Databricks a "
        "runtime with Spark 3.5 or newer.\n"
    )


# --- The platform's PySpark is left alone -----------------------------------------------------


def test_installing_the_wheel_keeps_the_pyspark_that_is_there(wheel, tmp_path):
    """This venv stands for a platform with its own PySpark (4.x here, 3.5.x in the 3.5 pass):
    pip installs no PySpark over it, without extras (as the Databricks bundle installs the
    wheel) nor with ``[spark]``, whose range the PySpark there meets."""
    assert Requirement("pyspark>=3.5,<5").specifier.contains(pyspark.__version__)
    for extras in ("", "[spark]"):
        planned = would_install(Path(sys.executable), requirement_of(wheel, extras), tmp_path)
        assert "pyspark" not in planned and "pyspark-client" not in planned, (extras, planned)


@pytest.mark.slow
def test_the_wheel_alone_brings_no_pyspark_where_pip_sees_none(wheel, tmp_path):
    """Databricks Runtime and serverless put PySpark where pip does not see it: there pip must not
    add one. In an empty venv the wheel without extras brings numpy and nothing of Spark."""
    python, _ = fresh_venv(tmp_path / "empty")
    planned = would_install(python, requirement_of(wheel), tmp_path)
    assert set(planned) - {"tomli"} == {"spark-upsample", "numpy"}, planned


# --- Spark Connect before 4.0 -----------------------------------------------------------------


def test_checkpoint_input_on_a_spark_connect_3_5_client_fails_up_front_naming_spark_4():
    """PySpark 3.5's Spark Connect DataFrame has no ``localCheckpoint``: ``checkpoint_input``
    is refused before anything reaches the server (none listens on this port). Spark 4's has it,
    and the Spark Connect pass runs ``checkpoint_input`` there for real (tests/test_job.py)."""
    from pyspark.sql.connect.dataframe import DataFrame as ConnectDataFrame
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    if hasattr(ConnectDataFrame, "localCheckpoint"):
        assert int(pyspark.__version__.split(".")[0]) >= 4
        pytest.skip(f"PySpark {pyspark.__version__}'s Spark Connect has localCheckpoint")
    session = RemoteSparkSession(connection=f"sc://127.0.0.1:{free_port()}")
    try:
        df = session.range(3).withColumnRenamed("id", "label")
        with pytest.raises(InvalidParameterError) as info:
            upsample(df, "label", checkpoint_input=True)
    finally:
        session.client.close()
    assert str(info.value) == (
        "checkpoint_input needs DataFrame.localCheckpoint, which Spark Connect has from Spark 4.0 "
        f"on; this is PySpark {pyspark.__version__}'s Spark Connect client. Use Spark 4 or "
        "classic Spark, or leave checkpoint_input off."
    )


# --- The thin client --------------------------------------------------------------------------

LIBRARY_CALLS = """
import json, sys
import pyspark, spark_upsample
from pyspark.sql import SparkSession
from spark_upsample import downsample, upsample

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
sizes = {("x", "a"): 6, ("x", "b"): 2, ("y", "a"): 3, ("y", "b"): 9}
rows = [(g, label) for (g, label), n in sizes.items() for _ in range(n)]
df = spark.createDataFrame(rows, "g string, label string")

def counts(frame):
    rows = frame.groupBy("g", "label").count().collect()
    return sorted([r["g"], r["label"], r["count"]] for r in rows)

print(json.dumps({
    "pyspark": pyspark.__file__, "library": spark_upsample.__file__,
    "session": type(spark).__module__,
    "upsample": counts(upsample(df, "label", group_by=["g"], seed=3)),
    "downsample": counts(downsample(df, "label", group_by=["g"], seed=3)),
}))
spark.stop()
"""


@pytest.mark.slow
@pytest.mark.connect_only
def test_the_job_and_the_library_run_from_a_venv_with_only_the_thin_client(
    spark, connect_url, wheel, tmp_path
):
    """``pip install 'spark-upsample[client]'`` into a fresh venv: ``pyspark-client`` (no JVM, no
    jars) is its PySpark, and the job (``--remote``) and library calls run on the server."""
    python, site = fresh_venv(tmp_path / "thin")
    pip("--python", python, "install", "--quiet", requirement_of(wheel, "[client]"), cwd=tmp_path)
    listed = pip("--python", python, "list", "--format", "json", cwd=tmp_path).stdout
    installed = {item["name"].lower() for item in json.loads(listed)}
    assert {"spark-upsample", "pyspark-client", "numpy"} <= installed
    assert "pyspark" not in installed
    assert (site / "pyspark" / "sql" / "connect").is_dir()
    assert not (site / "pyspark" / "jars").exists()  # no JVM side at all

    # The server resolves paths itself: absolute ones, on this machine.
    out = tmp_path / "balanced"
    result = run(
        [
            tmp_path / "thin" / "bin" / "spark-upsample",
            "--remote",
            connect_url,
            "--config",
            ROOT / "conf" / "demo.toml",
            "--input",
            ROOT / "spark_upsample" / "data" / "iris_imbalanced.csv",
            "--output",
            out,
            "--write-mode",
            "error",
        ],
        tmp_path,
        env=isolated_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert label_counts(spark.read.parquet(str(out))) == {0: 100, 1: 100}
    assert "class  before  target  after" in result.stderr

    # A file, not ``python -c``: under -c pyspark-client takes __main__ for its own doctests and
    # looks for a SPARK_HOME, which it does not have.
    (tmp_path / "calls.py").write_text(LIBRARY_CALLS)
    result = run([python, tmp_path / "calls.py", connect_url], tmp_path, env=isolated_env())
    assert result.returncode == 0, result.stderr[-3000:]
    calls = json.loads(result.stdout)
    assert Path(calls["pyspark"]).is_relative_to(site)
    assert Path(calls["library"]).is_relative_to(site)
    assert calls["session"] == "pyspark.sql.connect.session"
    assert calls["upsample"] == [["x", "a", 6], ["x", "b", 6], ["y", "a", 9], ["y", "b", 9]]
    assert calls["downsample"] == [["x", "a", 2], ["x", "b", 2], ["y", "a", 3], ["y", "b", 3]]
