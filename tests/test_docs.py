"""The documentation: a short README that reaches every reference page in one click, links that
resolve, a configuration page that names every config key, and every ```python block of the
README and of each page in docs/ running as written. (The pages' tables and shell recipes are
checked where their subject is tested: the errors table in test_bad_input.py, the faults table in
test_faults.py, the spark-submit recipe in test_runtimes.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_upsample.job.cli import build_parser
from spark_upsample.job.config import KEYS, tomllib
from tests.helpers import label_counts

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")
PYTHON_BLOCK = re.compile(r"(?ms)^```python\n(.*?)^```")
# Pages whose code is run: the README and every docs page with a ```python block.
CODE_PAGES = [
    page for page in [ROOT / "README.md", *PAGES] if PYTHON_BLOCK.search(page.read_text())
]
# A relative output path in the docs' code: Spark's JVM resolves it against its own working
# directory, not the test's, so the test writes it under its tmp_path instead.
OUTPUT = '"out/"'


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``."""
    headings = re.findall(r"(?m)^#+ (.+)$", page.read_text())
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_the_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert len(PAGES) >= 6
    linked = {target.split("#")[0] for target in LINK.findall(readme)}
    assert {f"docs/{page.name}" for page in PAGES} <= linked


def test_every_relative_link_of_the_docs_resolves():
    for source in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *PAGES]:
        for target in LINK.findall(source.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (source.parent / path).resolve() if path else source
            assert resolved.exists(), (source.name, target)
            if anchor:
                assert anchor in anchors(resolved), (source.name, target)


def test_contributings_marker_expressions_select_some_tests_and_leave_out_others():
    """A ``-m`` expression in CONTRIBUTING.md's commands, on its file, deselects some tests (and
    keeps some): a command that deselects nothing teaches nothing."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    commands = re.findall(r'(?m)^\S*python -m pytest (\S+) .*?-m "([^"]+)"', text)
    assert commands
    for path, expression in commands:
        collected = subprocess.run(
            [sys.executable, "-m", "pytest", path, "-m", expression, "--collect-only", "-q"]
            + ["-p", "no:cacheprovider"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert collected.returncode == 0, collected.stdout[-2000:]
        found = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", collected.stdout)
        assert found and int(found.group(1)) > 0 and int(found.group(3)) > 0, (path, expression)


def test_the_readmes_screenshot_command_without_chromium_says_how_to_get_one(tmp_path):
    """``tests/report_screenshot.py``, where no Chromium is on PATH: one line, exit 1, no
    traceback, nothing run or written."""
    env = {k: v for k, v in os.environ.items() if k != "SPARK_UPSAMPLE_CHROMIUM"}
    done = subprocess.run(
        [sys.executable, ROOT / "tests" / "report_screenshot.py", tmp_path / "shot.png"],
        cwd=tmp_path,
        env={**env, "PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "report_screenshot: error: no headless Chromium found; install one (Debian/Ubuntu, as "
        "root: apt-get install chromium-headless-shell, as bash .ci/run does) or name its binary "
        "in SPARK_UPSAMPLE_CHROMIUM\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_the_wheel_the_docs_name_is_the_version_pyproject_builds():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    named = re.findall(
        r"spark_upsample-([^-*]+)-py3-none-any\.whl", (ROOT / "docs" / "runtimes.md").read_text()
    )
    assert named and set(named) == {version}


def test_the_configuration_page_names_every_config_key():
    page = (ROOT / "docs" / "configuration.md").read_text()
    table = page.split("| key | default | meaning |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(\w+)`", table))
    assert [key for key in KEYS if key not in named] == []


# --- Every ```python block runs as written ----------------------------------------------------


def events(spark: SparkSession) -> DataFrame:
    """The ``df`` of the README, docs/library.md and docs/smote.md: 10 "fraud" rows against 50
    "ok", with every column their code names (features ``x1``-``x3``, ``x``, ``y``, a ``day``
    and a ``sex``, each with both classes in every value)."""
    rows = [
        (i, "fraud" if i < 10 else "ok", i % 7 * 1.0, i % 5 * 0.5, i % 3 * 2.0, i % 4 * 1.5)
        + (i % 6 * 0.25, f"d{i % 2}", "M" if i % 3 == 0 else "F")
        for i in range(60)
    ]
    schema = (
        "id long, label string, x1 double, x2 double, x3 double, x double, y double, "
        "day string, sex string"
    )
    return spark.createDataFrame(rows, schema)


def separable(spark: SparkSession) -> DataFrame:
    """The ``df`` of docs/training.md: a 0/1 ``label`` (40 of 400 rows are 1) that ``x1``
    separates, and ``x2``."""
    return spark.range(400).select(
        (F.col("id") % 10 == 0).cast("double").alias("label"),
        ((F.col("id") % 10 == 0).cast("double") + F.col("id") % 7 * 0.05).alias("x1"),
        (F.col("id") % 3 * 0.1).alias("x2"),
    )


def airflow(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Airflow's Apache Spark provider, which is not installed here, stood in for by a
    ``SparkSubmitOperator`` that records its arguments: the list it returns."""
    made: list[dict[str, Any]] = []

    class SparkSubmitOperator:
        def __init__(self, **arguments: Any) -> None:
            made.append(arguments)

    name = "airflow.providers.apache.spark.operators.spark_submit"
    for end in range(1, name.count(".") + 2):
        parent = ".".join(name.split(".")[:end])
        monkeypatch.setitem(sys.modules, parent, ModuleType(parent))
    sys.modules[name].SparkSubmitOperator = SparkSubmitOperator  # type: ignore[attr-defined]
    return made


# What a page's code finds defined besides ``spark``: the ``df`` its text describes.
SETUP: dict[str, Callable[[SparkSession, pytest.MonkeyPatch], dict[str, Any]]] = {
    "README.md": lambda spark, _: {"df": events(spark)},
    "library.md": lambda spark, _: {"df": events(spark)},
    "smote.md": lambda spark, _: {"df": events(spark)},
    "training.md": lambda spark, _: {"df": separable(spark)},
    "runtimes.md": lambda _, monkeypatch: {"operators": airflow(monkeypatch)},
}
PRINTED = "{'fraud': 10, 'ok': 50} -> {'fraud': 50000, 'ok': 50} seed 42\n"


def check_readme(scope: dict[str, Any], out: Path, printed: str) -> None:
    assert label_counts(scope["balanced"]) == {"fraud": 50, "ok": 50}
    assert label_counts(scope["smaller"]) == {"fraud": 10, "ok": 10}
    assert label_counts(scope["even"]) == {"fraud": 30, "ok": 30}
    check_library(scope, out, printed)


def check_library(scope: dict[str, Any], out: Path, printed: str) -> None:
    assert label_counts(scope["balanced"]) == {"fraud": 50, "ok": 50}
    spark = scope["df"].sparkSession
    assert label_counts(spark.read.parquet(str(out))) == {"fraud": 50_000, "ok": 50}
    assert printed == PRINTED


def check_smote(scope: dict[str, Any], out: Path, printed: str) -> None:
    assert label_counts(scope["balanced"]) == {"fraud": 50, "ok": 50}
    origins = {
        r["origin"]: r["count"] for r in scope["result"].df.groupBy("origin").count().collect()
    }
    assert origins == {"original": 60, "synthetic": 40}


def check_training(scope: dict[str, Any], out: Path, printed: str) -> None:
    assert scope["auc"] > 0.9
    assert label_counts(scope["train"]) == {0.0: 288, 1.0: 288}
    assert label_counts(scope["parts"]["test"]) == {0.0: 72, 1.0: 8}
    assert scope["scored"].count() == 80
    assert "p" in scope["scored"].columns


def check_runtimes(scope: dict[str, Any], out: Path, printed: str) -> None:
    """The Airflow task: the job's own parser takes its arguments, and the files it names (at
    the checkout's place on the worker) are the checkout's, but for the zip the recipe builds."""
    [operator] = scope["operators"]
    build_parser().parse_args(operator["application_args"])
    checkout = Path("/opt/jobs/spark-upsample")
    for argument in ("application", "properties_file", "files"):
        assert (ROOT / Path(operator[argument]).relative_to(checkout)).is_file(), argument
    assert Path(operator["py_files"]).relative_to(checkout) == Path("dist/spark_upsample.zip")


CHECKS: dict[str, Callable[[dict[str, Any], Path, str], None]] = {
    "README.md": check_readme,
    "library.md": check_library,
    "smote.md": check_smote,
    "training.md": check_training,
    "runtimes.md": check_runtimes,
}


def test_every_page_with_python_code_is_run():
    assert {page.name for page in CODE_PAGES} == set(SETUP) == set(CHECKS)


@pytest.mark.parametrize("page", CODE_PAGES, ids=lambda page: page.name)
def test_every_python_block_of_the_docs_runs_as_written(page, spark, tmp_path, monkeypatch, capsys):
    """A page's blocks run in order in one namespace holding ``spark`` and what :data:`SETUP`
    gives the page, from a temporary working directory, ``"out/"`` written under it; then the
    page's check in :data:`CHECKS` looks at what the code made and printed."""
    scope = {"spark": spark, **SETUP[page.name](spark, monkeypatch)}
    monkeypatch.chdir(tmp_path)
    for number, code in enumerate(PYTHON_BLOCK.findall(page.read_text()), 1):
        code = code.replace(OUTPUT, repr(str(tmp_path / "out")))
        exec(compile(code, f"{page.name}, python block {number}", "exec"), scope)  # noqa: S102 - the docs' own code
    CHECKS[page.name](scope, tmp_path / "out", capsys.readouterr().out)
