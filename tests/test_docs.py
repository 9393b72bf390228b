"""The documentation: a short README that reaches every reference page in one click, links that
resolve, a configuration page that names every config key, and the README's library code running
as written. (The pages' other code and tables are checked where their subject is tested: the
errors table in test_bad_input.py, the faults table in test_faults.py, the spark-submit recipe
in test_runtimes.py, the "Train a model" code in test_splitting.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from spark_upsample.job.config import KEYS
from tests.helpers import label_counts

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


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


def test_the_configuration_page_names_every_config_key():
    page = (ROOT / "docs" / "configuration.md").read_text()
    table = page.split("| key | default | meaning |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(\w+)`", table))
    assert [key for key in KEYS if key not in named] == []


def test_the_readmes_library_code_runs_as_written(spark, tmp_path, capsys):
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## The library\n", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    df = spark.createDataFrame(
        [(i, "fraud" if i < 10 else "ok") for i in range(60)], "id long, label string"
    )
    # "out/" would resolve against the JVM's working directory: write to tmp_path instead.
    assert code.count('"out/"') == 1
    code = code.replace('"out/"', repr(str(tmp_path / "out")))
    scope = {"df": df}
    exec(code, scope)  # noqa: S102 - the README's own code
    assert label_counts(scope["balanced"]) == {"fraud": 50, "ok": 50}
    assert label_counts(scope["smaller"]) == {"fraud": 10, "ok": 10}
    assert label_counts(scope["even"]) == {"fraud": 30, "ok": 30}
    assert label_counts(spark.read.parquet(str(tmp_path / "out"))) == {"fraud": 50_000, "ok": 50}
    printed = "{'fraud': 10, 'ok': 50} -> {'fraud': 50000, 'ok': 50} seed 42\n"
    assert capsys.readouterr().out == printed
