"""The run report's page: written by the job beside its JSON report, rendered again from a saved
report by ``spark-upsample report``, and looked at in a real headless browser (skipped, saying
why, where there is no Chromium).

The reports are the job's own, on small generated inputs: the demo, 300 classes, ``group_by``
with 2,000 groups, and labels holding HTML, quotes and non-ASCII text.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from spark_upsample.errors import ConfigError
from spark_upsample.job.cli import main
from spark_upsample.job.config import build_config
from spark_upsample.job.report import REPORT_NAME
from spark_upsample.job.report_charts import compact
from spark_upsample.job.report_html import (
    EXTREMES,
    MAX_BARS,
    _ratio_bins,
    _size_bins,
    cell_name,
    label_text,
    render_page,
)
from tests.browser import (
    chromium,
    colours,
    dump_dom,
    network_trap,
    parse_dom,
    png_pixels,
    screenshot,
)
from tests.report_screenshot import ROOT, SIZE, run_demo

PAGE_NAME = "_upsample_report.html"
AFTER_BLUE = (43, 108, 176)  # the page's colour of the bars of rows after
needs_browser = pytest.mark.skipif(
    chromium() is None,
    reason="no headless Chromium: install chromium-headless-shell or chromium (.ci/setup.sh "
    "does, as root with apt-get)",
)
HOSTILE = [
    "<img src=x onerror=\"document.title='pwned'\">",
    "\"double\" & 'single' quotes",
    "ünïcødé 猫 ✓ — €",
    "</style></svg><script>document.title='pwned'</script>",
]


@dataclass(frozen=True)
class Run:
    """A run of the job: its JSON report as written, and its page."""

    report: dict
    page: Path
    printed: str = ""


def finished(out: Path, printed: str = "") -> Run:
    return Run(json.loads((out / REPORT_NAME).read_text()), out / PAGE_NAME, printed)


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory) -> Run:
    out = tmp_path_factory.mktemp("demo") / "out"
    with contextlib.redirect_stderr(io.StringIO()) as printed:
        assert run_demo("--output", str(out)) == out / PAGE_NAME
    return finished(out, printed.getvalue())


@pytest.fixture(scope="module")
def classes(spark, tmp_path_factory) -> Run:
    """300 classes of 1 to 40 rows (``class-000`` ... ``class-299``), upsampled to 40 each."""
    tmp = tmp_path_factory.mktemp("classes")
    spark.range(300).select(
        F.format_string("class-%03d", "id").alias("label"),
        F.explode(F.sequence(F.lit(1), F.col("id") % 40 + 1)).alias("n"),
    ).write.parquet(str(tmp / "in"))
    assert main(["--input", str(tmp / "in"), "--output", str(tmp / "out"), "--seed", "3"]) == 0
    return finished(tmp / "out")


@pytest.fixture(scope="module")
def groups(spark, tmp_path_factory) -> Run:
    """2,000 groups ``g`` of 2 to 8 rows: one row of class b and the rest a, except 8 groups of
    class a only; balanced within each group."""
    tmp = tmp_path_factory.mktemp("groups")
    rows = spark.range(2000).select(
        F.col("id").alias("g"), F.explode(F.sequence(F.lit(0), F.col("id") % 7 + 1)).alias("n")
    )
    single = F.col("g") % 250 == 0
    rows.select(
        "g", F.when((F.col("n") == 0) & ~single, "b").otherwise("a").alias("label")
    ).write.parquet(str(tmp / "in"))
    assert (
        main(
            [
                "--input",
                str(tmp / "in"),
                "--output",
                str(tmp / "out"),
                "--group-by",
                "g",
                "--seed",
                "4",
            ]
        )
        == 0
    )
    return finished(tmp / "out")


@pytest.fixture(scope="module")
def hostile(spark, tmp_path_factory) -> Run:
    """Labels that hold HTML, a script, quotes and non-ASCII text."""
    tmp = tmp_path_factory.mktemp("hostile")
    rows = [
        (i, label) for label, size in zip(HOSTILE, (5, 3, 2, 8), strict=True) for i in range(size)
    ]
    spark.createDataFrame(rows, "i long, label string").write.parquet(str(tmp / "in"))
    assert main(["--input", str(tmp / "in"), "--output", str(tmp / "out"), "--seed", "5"]) == 0
    return finished(tmp / "out")


def counts(cell: dict) -> list[str]:
    """A cell's numbers as the page's tables print them."""
    ratio = f"{cell['count_after'] / cell['count_before']:.3g}×"
    return [f"{cell['count_before']:,}", f"{cell['target']:,}", f"{cell['count_after']:,}", ratio]


def cell_row(cell: dict) -> list[str]:
    return [
        *(label_text(v) for v in (*cell.get("group", ()), cell["label"])),
        *counts(cell),
        f"{cell['kept']:,}",
        f"{cell['draws']:,}",
        cell["correction"],
    ]


def bar_names(figure) -> list[str]:
    """The names of the grouped bars of a chart, checking each has its three bars."""
    cells = figure.find_all("g", "cell")
    for cell in cells:
        assert sorted(r.attrs["class"] for r in cell.find_all("rect")) == [
            "after",
            "before",
            "target",
        ]
    return [cell.find("text", "name").own_text() for cell in cells]


def check_not_blank(png: bytes) -> None:
    """The screenshot shows a page with charts: many colours, and the bars' blue."""
    width, height, _ = png_pixels(png)
    assert (width, height) == SIZE
    seen = colours(png)
    background = max(seen.values())
    assert len(seen) > 50, f"{len(seen)} colours"
    assert background < 0.9 * width * height
    assert seen.get(AFTER_BLUE, 0) > 0.001 * width * height, "no bar of rows after drawn"


def test_the_job_writes_the_page_of_its_report_beside_it(demo, classes, groups, hostile):
    for run in (demo, classes, groups, hostile):
        assert run.page.read_text(encoding="utf-8") == render_page(run.report)
    assert demo.report["groups"] is None and groups.report["groups"] == 2000
    assert groups.report["cells"] == {"total": 3992, "listed": 3992, "table": None}
    assert len(groups.report["single_class_groups"]) == 8


def test_the_demo_prints_where_its_page_is_as_the_readme_shows(demo):
    readme = (ROOT / "README.md").read_text()
    closing = readme.split("leaves them out):\n\n```\n", 1)[1].split("```", 1)[0]
    assert closing.endswith("page: demo-output/iris_balanced/_upsample_report.html\n")
    out = str(demo.page.parent)
    assert demo.printed.endswith(closing.replace("demo-output/iris_balanced", out))


@needs_browser
def test_the_demos_page_in_a_browser(demo, tmp_path):
    dom = parse_dom(dump_dom(demo.page))
    labels = [label_text(c["label"]) for c in demo.report["classes"]]
    assert labels == ["0", "1"]
    for figure in dom.find_all("figure"):  # the linear chart and the log chart
        assert bar_names(figure) == labels
    assert {tuple(f.classes) for f in dom.find_all("figure")} == {("lin",), ("log",)}
    assert dom.find("table", "cells").table() == [cell_row(c) for c in demo.report["classes"]]
    facts = dict(
        zip(
            [dt.text() for dt in dom.find_all("dt")],
            [dd.text() for dd in dom.find_all("dd")],
            strict=True,
        )
    )
    report = demo.report
    assert facts["seed"] == "2017" == str(report["seed"])
    assert facts["row identity"] == "key columns (row_id)"
    assert (facts["method"], facts["strategy"]) == ("upsample", "auto")
    assert facts["input"] == "spark_upsample/data/iris_imbalanced.csv (csv)"
    assert facts["output"] == f"{report['output']['path']} (parquet)"
    assert (facts["rows read"], facts["rows written"]) == ("110", "200")
    assert (facts["Spark"], facts["master"]) == (
        report["spark"]["version"],
        report["spark"]["master"],
    )
    timings = next(s for s in dom.find_all("section") if s.attrs.get("id") == "timings")
    stages = [s.find("title").text() for s in timings.find_all("g", "segment")]
    assert stages == [
        f"{name.replace('_', ' ')}: {seconds:.3f} s"
        for name, seconds in report["timings_seconds"].items()
        if name != "total"
    ]
    assert [s.split(":")[0] for s in stages] == [
        *("check", "start", "prepare", "read", "count and plan", "write", "verify")
    ]
    assert 'class="plan-banner"' not in demo.page.read_text()
    check_not_blank(screenshot(demo.page, tmp_path / "demo.png", SIZE))


@needs_browser
def test_300_classes_are_summarised_in_a_browser(classes, tmp_path):
    cells = classes.report["classes"]
    assert len(cells) == 300 > MAX_BARS
    dom = parse_dom(dump_dom(classes.page))
    by_size = sorted(cells, key=lambda c: -c["count_before"])
    figures = {frozenset(f.classes): f for f in dom.find_all("figure")}
    assert set(figures) == {
        frozenset((size, scale)) for size in ("largest", "smallest") for scale in ("lin", "log")
    }
    for scale in ("lin", "log"):
        largest, smallest = (
            figures[frozenset(("largest", scale))],
            figures[frozenset(("smallest", scale))],
        )
        assert bar_names(largest) == [c["label"] for c in by_size[:EXTREMES]]
        assert bar_names(smallest) == [c["label"] for c in by_size[-EXTREMES:][::-1]]
    bins = dom.find_all("g", "bin")
    assert sum(int(b.attrs["data-count"]) for b in bins) == 300
    assert [b.find("text", "count").text() for b in bins] == [b.attrs["data-count"] for b in bins]
    assert dom.find("table", "cells").table() == [cell_row(c) for c in cells]
    check_not_blank(screenshot(classes.page, tmp_path / "classes.png", SIZE))


@needs_browser
def test_2000_groups_in_a_browser(groups, tmp_path):
    cells = groups.report["classes"]
    dom = parse_dom(dump_dom(groups.page))
    section = next(s for s in dom.find_all("section") if s.attrs.get("id") == "groups")
    assert section.find("p", "summary").text().startswith("2,000 groups of g, 3,992 cells")
    sizes, ratios = [h for h in section.find_all("svg")]
    assert sum(int(b.attrs["data-count"]) for b in sizes.find_all("g", "bin")) == 2000
    assert sum(int(b.attrs["data-count"]) for b in ratios.find_all("g", "bin")) == 2000
    assert [b.find("text", "tick").text() for b in sizes.find_all("g", "bin")] == ["2", "5"]
    assert "Single-class groups: 8" in section.text()
    assert section.find("p", "single").text().startswith("0, 250, 500, 750, 1000, 1250, 1500")
    by_size = sorted(cells, key=lambda c: -c["count_before"])
    assert dom.find("table", "largest").table() == [cell_row(c) for c in by_size[:EXTREMES]]
    assert dom.find("table", "smallest").table() == [cell_row(c) for c in by_size[-EXTREMES:][::-1]]
    totals = {
        label: [
            sum(c[k] for c in cells if c["label"] == label)
            for k in ("count_before", "target", "count_after")
        ]
        for label in "ab"
    }
    assert dom.find("table", "totals").table() == [
        [
            label,
            *counts(
                dict(zip(("count_before", "target", "count_after"), totals[label], strict=True))
            ),
        ]
        for label in "ab"
    ]
    for figure in dom.find_all("figure"):
        assert bar_names(figure) == ["a", "b"]
    check_not_blank(screenshot(groups.page, tmp_path / "groups.png", SIZE))


@needs_browser
def test_the_page_loads_with_the_network_cut_and_references_nothing_outside(
    demo, classes, groups, tmp_path
):
    for run in (demo, classes, groups):
        html = run.page.read_text()
        assert not re.search(r"https?:|\bsrc\s*=|\bhref\s*=|url\(|@import|<script", html, re.I)
        assert "default-src 'none'" in html  # nor may the browser fetch or run anything
    with network_trap() as (requests, offline):
        dom = parse_dom(dump_dom(demo.page, network=offline))
        png = screenshot(demo.page, tmp_path / "offline.png", SIZE, network=offline)
        assert requests == []
        # The trap does see a page that fetches: a check that can fail.
        fetching = tmp_path / "fetching.html"
        fetching.write_text('<p>x</p><img src="http://example.com/x.png">')
        dump_dom(fetching, network=offline)
        assert any(r.startswith(b"GET http://example.com/x.png") for r in requests), requests
    assert len(dom.find("table", "cells").table()) == 2
    check_not_blank(png)


@needs_browser
def test_labels_with_html_show_as_text_and_never_run(hostile, tmp_path):
    html = hostile.page.read_text(encoding="utf-8")
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=&quot;document.title=&#x27;pwned&#x27;&quot;&gt;" in html
    dom = parse_dom(dump_dom(hostile.page))
    source = hostile.report["input"]["source"]
    assert dom.find("title").text() == f"spark-upsample run report: {source} (parquet)"
    assert not dom.find_all("img") and not dom.find_all("script")
    labels = [c["label"] for c in hostile.report["classes"]]
    assert sorted(labels) == sorted(HOSTILE)
    assert [row[0] for row in dom.find("table", "cells").table()] == labels
    for figure in dom.find_all("figure"):
        names = [c.find("text", "name").find("title").text() for c in figure.find_all("g", "cell")]
        assert names == labels
    check_not_blank(screenshot(hostile.page, tmp_path / "hostile.png", SIZE))


def test_a_dry_run_writes_the_plans_page_only_when_asked(hostile, tmp_path, capsys):
    source = hostile.report["input"]["source"]
    out, page = tmp_path / "out", tmp_path / "pages" / "plan.html"
    assert main(["--input", source, "--output", str(out), "--dry-run", "--seed", "5"]) == 0
    assert not out.exists() and not page.parent.exists()
    capsys.readouterr()
    assert (
        main(
            [
                "--input",
                source,
                "--output",
                str(out),
                "--dry-run",
                "--seed",
                "5",
                "--report-html",
                str(page),
            ]
        )
        == 0
    )
    assert capsys.readouterr().err.endswith(
        f"nothing written (dry run)\npage of the plan: {page}\n"
    )
    assert not out.exists()
    plan = page.read_text(encoding="utf-8")
    assert "<h1>spark-upsample plan</h1>" in plan and 'class="plan-banner"' in plan
    assert "rows planned" in plan
    planned = parse_dom(plan).find("table", "cells").table()
    assert planned == parse_dom(hostile.page.read_text()).find("table", "cells").table()

    inside = out / "_plan.html"
    assert (
        main(["--input", source, "--output", str(out), "--dry-run", "--report-html", str(inside)])
        == 2
    )
    assert (
        f"The page '{inside}' is inside the output '{out}', which a dry run leaves untouched. "
        "Give --report-html a path outside it."
    ) in capsys.readouterr().err
    assert not out.exists()


def test_where_the_page_goes(hostile, tmp_path, capsys):
    source = hostile.report["input"]["source"]
    out, page = tmp_path / "out", tmp_path / "pages" / "run.html"
    args = ["--input", source, "--output", str(out), "--seed", "5", "--write-mode", "overwrite"]
    assert main([*args, "--report-html", str(page)]) == 0
    assert capsys.readouterr().err.endswith(f"report: {out}/{REPORT_NAME}\npage: {page}\n")
    assert not (out / PAGE_NAME).exists()
    assert page.read_text() == render_page(json.loads((out / REPORT_NAME).read_text()))

    assert main([*args, "--no-report-html"]) == 0
    assert not (out / PAGE_NAME).exists() and "page:" not in capsys.readouterr().err

    staged = out / "_pages" / "run.html"  # inside the output: it lands with it
    assert (
        main([*args, "--report", str(tmp_path / "r" / "run.json"), "--report-html", str(staged)])
        == 0
    )
    assert staged.read_text() == render_page(json.loads((tmp_path / "r/run.json").read_text()))
    assert (tmp_path / "r" / "run.html").exists() is False

    assert main([*args, "--report", str(tmp_path / "r" / "run.json")]) == 0
    assert (tmp_path / "r" / "run.html").read_text() == render_page(
        json.loads((tmp_path / "r/run.json").read_text())
    )

    capsys.readouterr()
    assert main([*args, "--report-html", str(out / "page.html")]) == 2
    assert f"The report '{out}/page.html' is inside the output" in capsys.readouterr().err


def test_the_config_key(tmp_path):
    base = {"input": "i", "output": "o"}
    assert build_config(base).report_html is None
    assert build_config(base, {"report_html": False}).report_html is False
    assert build_config(base, {"report_html": "p.html"}).report_html == "p.html"
    for bad in (True, "", 3):
        with pytest.raises(ConfigError) as info:
            build_config(base, {"report_html": bad})
        assert str(info.value) == (
            f"report_html must be a path, or false for no page. Got {bad!r} instead."
        )
    toml = tmp_path / "c.toml"
    toml.write_text('input = "i"\noutput = "o"\nreport_html = false\n')
    from spark_upsample.job.cli import config_from_args

    assert config_from_args(["--config", str(toml)]).report_html is False
    assert config_from_args(["--config", str(toml), "--report-html", "x.html"]).report_html == (
        "x.html"
    )


def test_spark_upsample_report_renders_a_saved_report_again(groups, tmp_path, capsys):
    saved = tmp_path / "saved" / "run.json"
    saved.parent.mkdir()
    saved.write_text(json.dumps(groups.report))
    assert main(["report", str(saved)]) == 0
    assert capsys.readouterr().err == f"page: {tmp_path}/saved/run.html\n"
    assert (tmp_path / "saved" / "run.html").read_text() == groups.page.read_text()
    assert main(["report", str(saved), "-o", str(tmp_path / "elsewhere" / "p.html")]) == 0
    assert (tmp_path / "elsewhere" / "p.html").read_text() == groups.page.read_text()

    # The console script, in its own process: no Spark session needed.
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "spark-upsample"),
            "report",
            str(saved),
            "--output",
            str(tmp_path / "cli.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stderr) == (0, f"page: {tmp_path}/cli.html\n")
    assert (tmp_path / "cli.html").read_text() == groups.page.read_text()

    capsys.readouterr()
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "other.json").write_text('{"rows": 1}')
    (tmp_path / "a-file").write_text("")
    for args, code, message in [
        (
            [str(tmp_path / "missing.json")],
            3,
            f"error: Cannot read the report '{tmp_path}/missing.json': No such file or directory.",
        ),
        (
            [str(tmp_path / "bad.json")],
            3,
            f"error: The report '{tmp_path}/bad.json' is not valid "
            "JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1).",
        ),
        (
            [str(tmp_path / "other.json")],
            3,
            f"error: '{tmp_path}/other.json' is not a "
            "spark-upsample run report: it has no list of classes. Pass the _upsample_report.json "
            "a run wrote.",
        ),
        (
            [str(saved), "-o", str(tmp_path / "a-file" / "p.html")],
            4,
            f"error: The page could not be written to '{tmp_path}/a-file/p.html': ",
        ),
    ]:
        assert main(["report", *args]) == code
        assert capsys.readouterr().err.startswith(f"spark-upsample: {message}")
    assert main(["report", "--help"]) == 0
    assert "usage: spark-upsample report" in capsys.readouterr().out


def test_a_report_listing_part_of_its_cells_says_so(groups):
    report = {
        **groups.report,
        "cells": {"total": 12_000, "listed": 3992, "table": "/out/_upsample_report_cells.parquet"},
    }
    text = parse_dom(render_page(report)).find("p", "listing").text()
    assert text == (
        "The JSON report lists 3,992 of 12,000 cells (all of them are in the table "
        "/out/_upsample_report_cells.parquet); this page shows the cells it lists, "
        "and its totals and histograms cover those."
    )
    assert 'class="note listing"' not in groups.page.read_text()


def test_histogram_bins():
    assert _ratio_bins([(10, 100), (100, 100), (4, 2), (5, 0), (3, 5), (8, 1)]) == [
        ("0×", "dropped (0×)", 1),
        ("0.125×", "0.125× to 0.25×", 1),
        ("0.25×", "0.25× to 0.5×", 0),
        ("0.5×", "0.5× to 1×", 1),
        ("1×", "unchanged (1×)", 1),
        (">1×", "above 1× and below 2×", 1),
        ("2×", "2× to 4×", 0),
        ("4×", "4× to 8×", 0),
        ("8×", "8× to 16×", 1),
    ]
    assert _size_bins([1, 2, 4, 5, 19, 20, 1999, 0]) == [
        ("0", "0 rows", 1),
        ("1", "1 row", 1),
        ("2", "2 to 4 rows", 2),
        ("5", "5 to 9 rows", 1),
        ("10", "10 to 19 rows", 1),
        ("20", "20 to 49 rows", 1),
        ("50", "50 to 99 rows", 0),
        ("100", "100 to 199 rows", 0),
        ("200", "200 to 499 rows", 0),
        ("500", "500 to 999 rows", 0),
        ("1k", "1,000 to 1,999 rows", 1),
    ]
    assert cell_name({"group": [1, None], "label": True}) == "1 / null / true"


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0, "0"),
        (0.25, "0.25"),
        (950, "950"),
        (999.7, "1k"),
        (1500, "1.5k"),
        (999_999, "1M"),
        (3e6, "3M"),
        (2.5e9, "2.5G"),
        (999.9e9, "1T"),
        (1e12, "1T"),
        (1.5e13, "15T"),
        (2**40, "1.1T"),
        (1e15, "1P"),
        (250e15, "250P"),
        (999.6e15, "1e18"),
        (1e18, "1e18"),
        (4.2e21, "4.2e21"),
        (-2e12, "-2T"),
    ],
)
def test_axis_labels_read_sensibly_at_every_magnitude(value, label):
    assert compact(value) == label


def test_a_chart_of_trillions_labels_its_axis_in_units():
    cells = [
        {"label": "a", "count_before": 10**12, "target": 3 * 10**12, "count_after": 3 * 10**12},
        {"label": "b", "count_before": 3 * 10**18, "target": 3 * 10**18, "count_after": 3 * 10**18},
    ]
    page = render_page({"classes": cells, "label_col": "label"})
    ticks = re.findall(r'text-anchor="middle">([^<]*)</text>', page)
    assert {"1e18", "3e18"} <= set(ticks) and not [t for t in ticks if "+" in t]


CELL = {"label": 1, "count_before": 5, "target": 10, "count_after": 10, "kept": 5, "draws": 5}


@pytest.mark.parametrize(
    ("report", "problem"),
    [
        ({"classes": [{"label": 1}]}, "classes[0] has no count_before, target, count_after"),
        ({"classes": [1]}, "classes[0] is 1, not an object"),
        ({"classes": [CELL], "group_by": ["g"]}, "classes[0] has no group"),
        ({"classes": [{**CELL, "group": "g"}]}, 'classes[0].group is "g", not a list'),
        (
            {"classes": [CELL], "timings_seconds": {"read": 1.5, "total": "fast"}},
            'timings_seconds is {"read": 1.5, "total": "fast"}, not an object of numbers',
        ),
        ({"classes": [{**CELL, "target": "10"}]}, 'classes[0].target is "10", not a number'),
        (
            {"classes": [{**CELL, "count_after": None}]},
            "classes[0].count_after is null, not a number",
        ),
        ({"classes": [CELL, {**CELL, "draws": True}]}, "classes[1].draws is true, not a number"),
        ({"classes": [CELL], "label_col": 3}, "label_col is 3, not a text or a list of texts"),
        ({"classes": [CELL], "group_by": "g"}, 'group_by is "g", not a list of texts'),
        ({"classes": [CELL], "output": []}, "output is [], not an object"),
        (
            {"classes": [CELL], "output": {"partition_by": "day"}},
            'output.partition_by is "day", not a list of texts',
        ),
        ({"classes": [CELL], "cells": {"total": "many"}}, 'cells.total is "many", not an integer'),
        (
            {"classes": [CELL], "single_class_groups": ["a" * 50]},
            f'single_class_groups is ["{"a" * 35}..., not a list of lists',
        ),
        ({"classes": {"a": 1}}, "it has no list of classes"),
        ([CELL], "it has no list of classes"),
    ],
)
def test_a_malformed_report_is_refused_in_one_line_with_exit_3(tmp_path, capsys, report, problem):
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(report))
    assert main(["report", str(saved)]) == 3
    assert capsys.readouterr().err == (
        f"spark-upsample: error: '{saved}' is not a spark-upsample run report: {problem}. "
        "Pass the _upsample_report.json a run wrote.\n"
    )
    assert not (tmp_path / "run.html").exists()


def test_a_report_of_an_older_version_without_optional_keys_is_drawn(tmp_path, capsys):
    saved = tmp_path / "run.json"
    cell = {**CELL, "kept": None, "draws": None, "correction": None}
    grouped = {**cell, "group": ["g1"], "label": None}
    report = {"classes": [cell], "timings_seconds": None, "single_class_groups": None}
    for each, name in [(report, "1"), ({**report, "classes": [grouped], "group_by": ["g"]}, "g1")]:
        saved.write_text(json.dumps(each))
        assert main(["report", str(saved)]) == 0
        assert capsys.readouterr().err == f"page: {tmp_path}/run.html\n"
        assert f"<td>{name}</td>" in (tmp_path / "run.html").read_text()
