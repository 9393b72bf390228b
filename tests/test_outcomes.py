"""A report for every outcome (succeeded, dry-run, failed; cancelled is in test_faults.py), its
JSON Schema and docs/report.md's field reference, and the progress lines of the job's stages."""

from __future__ import annotations

import itertools
import json
import logging
import re
import sys
import threading
import time

import pytest
from pyspark.sql import functions as F

from spark_upsample.job import progress
from spark_upsample.job.cli import main
from spark_upsample.job.progress import Stages, task_progress
from spark_upsample.job.report import SCHEMA_PATH
from tests.conftest import CONNECT_MODE
from tests.helpers import assert_valid_report
from tests.test_docs import ROOT
from tests.test_job import events as events  # noqa: F401 - the fixture, by its name
from tests.test_reliability import snapshot

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def test_reports_of_every_outcome_follow_the_schema(events, tmp_path, capsys):  # noqa: F811
    out, reports = tmp_path / "out", tmp_path / "reports"
    base = ["--input", events, "--output", str(out), "--seed", "4"]

    assert main([*base, "--report", str(reports / "ok.json")]) == 0
    ok = json.loads((reports / "ok.json").read_text())
    assert_valid_report(ok)
    assert (ok["report_version"], ok["status"], ok["rows_written"]) == (1, "succeeded", 120)
    assert not {"error", "exit_code", "stage"} & set(ok)

    assert main([*base, "--dry-run", "--report", str(reports / "plan.json")]) == 0
    plan = json.loads((reports / "plan.json").read_text())
    assert_valid_report(plan)
    assert (plan["status"], plan["rows_written"], plan["seed"]) == ("dry-run", 120, 4)
    assert f"report of the plan: {reports / 'plan.json'}" in capsys.readouterr().err

    before = snapshot(out)
    failures = {
        # exit 4 before Spark starts: the output is there and write_mode is error
        "exists": (base, 4, "check", f"The output {str(out)!r} already exists"),
        # exit 2: the configuration is refused
        "config": ([*base, "--strategy", "most"], 2, "check", "strategy must be one of"),
        # exit 3: the input has no such label column (Spark read it)
        "input": (
            [*base, "--label-col", "kind", "--write-mode", "overwrite"],
            3,
            "count_and_plan",
            "Column 'kind' is not in the input",
        ),
    }
    for name, (args, code, stage, error) in failures.items():
        path = reports / f"{name}.json"
        assert main([*args, "--report", str(path)]) == code, name
        line = capsys.readouterr().err.strip().splitlines()[-1]
        failed = json.loads(path.read_text())
        assert_valid_report(failed)
        assert (failed["status"], failed["exit_code"], failed["stage"]) == ("failed", code, stage)
        assert error in failed["error"] and line == f"spark-upsample: error: {failed['error']}"
        assert set(failed["timings_seconds"]) >= {"check", "total"}
    assert snapshot(out) == before  # no report of a failed run went into the previous output
    timings = json.loads((reports / "input.json").read_text())["timings_seconds"]
    assert list(timings) == ["check", "start", "prepare", "read", "count_and_plan", "total"]


def test_a_failed_runs_report_goes_only_outside_the_output(events, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    base = ["--input", events, "--output", str(out), "--seed", "4"]
    assert main(base) == 0
    before = snapshot(out)
    inside = out / "_failed.json"
    failing = [*base, "--write-mode", "overwrite", "--label-col", "no"]
    assert main([*failing, "--report", str(inside)]) == 3
    assert main(failing) == 3
    assert snapshot(out) == before and not inside.exists()
    capsys.readouterr()


@pytest.fixture(scope="module")
def strata(spark, tmp_path_factory) -> str:
    """A Parquet input with a group, a second label column and a feature."""
    path = str(tmp_path_factory.mktemp("strata") / "in")
    rows = [(i, "a" if i % 5 else "b", "M" if i % 2 else "F", i % 3, i / 7) for i in range(60)]
    schema = "id long, label string, sex string, g int, x double"
    spark.createDataFrame(rows, schema).coalesce(2).write.parquet(path)
    return path


@pytest.mark.parametrize(
    ("options", "output"),
    [
        (["--split", "train=0.75,test=0.25"], True),
        (["--split", "train=0.75,test=0.25"], False),  # the parts' paths are null then
        (["--method", "smote", "--feature-cols", "x"], True),
        (["--group-by", "g"], True),
        (["--weight-col", "w"], True),
        (["--label-col", "label", "--label-col", "sex", "--key-cols", "id"], True),
        (["--method", "resample", "--target", "median", "--lineage-col", "kind"], False),
    ],
    ids=[
        *("split", "split, no output", "smote", "group_by", "weights"),
        *("two label columns", "resample, no output"),
    ],
)
def test_dry_run_reports_of_every_kind_of_plan_follow_the_schema(
    strata, tmp_path, capsys, options, output
):
    report = tmp_path / "plan.json"
    out = ["--output", str(tmp_path / "out")] if output else []
    assert main(["--input", strata, *out, *options, "--dry-run", "--report", str(report)]) == 0
    capsys.readouterr()
    written = json.loads(report.read_text())
    assert_valid_report(written)
    assert written["status"] == "dry-run" and written["output"]["path"] == (
        str(tmp_path / "out") if output else None
    )
    for part in written.get("split", {}).get("parts", {}).values():
        assert (part["path"] is None) == (not output), part


def test_a_failed_report_never_replaces_the_one_in_the_outputs_from_a_config_file(
    events,
    tmp_path,
    capsys,  # noqa: F811
):
    """The output is the config file's and the report, inside it, the command line's: a run
    refused before the file is read must not take the report for one outside the output."""
    out = tmp_path / "out"
    config = tmp_path / "run.toml"
    config.write_text(f'input = "{events}"\noutput = "{out}"\nwrite_mode = "overwrite"\n')
    inside = str(out / "_upsample_report.json")
    assert main(["--config", str(config), "--report", inside]) == 0
    before = snapshot(out)
    assert main(["--config", str(config), "--report", inside, "--strategy", "most"]) == 2
    assert main(["--config", str(tmp_path), "--report", inside]) == 1  # a folder, not a file
    assert snapshot(out) == before
    assert "spark-upsample: unexpected error: " in capsys.readouterr().err


def test_a_failure_after_the_output_is_published_keeps_its_succeeded_report(
    events,
    tmp_path,
    capsys,  # noqa: F811
):
    """The page cannot be written once the output is in place: exit 4, and the report outside
    the output still says succeeded (the output is the run's, not as it was)."""
    report, blocker = tmp_path / "run.json", tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    args = ["--input", events, "--output", str(tmp_path / "out"), "--report", str(report)]
    assert main([*args, "--report-html", str(blocker / "page.html")]) == 4
    assert "The output is in place, but the page could not be written" in capsys.readouterr().err
    written = json.loads(report.read_text())
    assert_valid_report(written)
    assert written["status"] == "succeeded"


def test_report_schema_command_and_a_failed_report_has_no_page(tmp_path, capsys):
    assert main(["report", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA
    failed = tmp_path / "failed.json"
    failed.write_text(
        json.dumps(
            {
                "report_version": 1,
                "tool": "spark-upsample 0.1.0",
                "status": "failed",
                "started_at": "2026-12-03T10:00:00+00:00",
                "finished_at": "2026-12-03T10:00:09+00:00",
                "timings_seconds": {"check": 0.01, "start": 8.0, "total": 9.0},
                "error": "Spark could not read the input /data/in: ...",
                "exit_code": 3,
                "stage": "read",
            }
        )
    )
    assert_valid_report(json.loads(failed.read_text()))
    assert main(["report", str(failed)]) == 3
    assert capsys.readouterr().err == (
        f"spark-upsample: error: {str(failed)!r} is the report of a run that failed in its "
        "stage 'read' (exit 3): it holds no plan's page to draw.\n"
    )
    assert main(["report"]) == 2
    assert "give the report JSON to render (or --schema)" in capsys.readouterr().err


def test_the_schema_refuses_what_no_outcome_writes():
    """The schema is not a formality: each of these breaks it."""
    from jsonschema import Draft202012Validator

    good = {
        "report_version": 1,
        "tool": "spark-upsample 0.1.0",
        "status": "cancelled",
        "started_at": "2026-12-03T10:00:00+00:00",
        "finished_at": "2026-12-03T10:00:09+00:00",
        "timings_seconds": {"total": 9.0},
        "cancelled_by": "SIGTERM",
        "exit_code": 143,
        "stage": "write",
    }
    validator = Draft202012Validator(SCHEMA)
    assert validator.is_valid(good)
    for broken in (
        {**good, "status": "succeeded"},  # without the plan's fields
        {**good, "status": "failed"},  # without its error
        {**good, "error": "and an error"},  # cancelled, not failed
        {**good, "stage": "drawing"},
        {**good, "report_version": 2},
        {**good, "timings_seconds": {"total": 9.0, "sleep": 1.0}},
        {**good, "extra": True},
    ):
        assert not validator.is_valid(broken), broken


def field_reference(schema: dict) -> str:
    """docs/report.md's table of fields: one row per field of ``schema``, children after their
    parent (``classes[].label``, ``split.parts.<part>.rows``)."""
    rows = ["| field | type | what it holds |", "|---|---|---|"]

    def kind(node: dict) -> str:
        if "const" in node:
            return f"`{node['const']}`"
        if "enum" in node:
            return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
        types = node.get("type")
        names = {"string": "text", "integer": "integer", "number": "number", "boolean": "boolean"}
        names |= {"array": "list", "object": "object", "null": "null"}
        return " or ".join(names[t] for t in ([types] if isinstance(types, str) else types or []))

    def walk(properties: dict, prefix: str) -> None:
        for name, node in properties.items():
            path = prefix + name
            rows.append(f"| `{path}` | {kind(node) or 'any'} | {node['description']} |")
            if "properties" in node:
                walk(node["properties"], path + ".")
            items = node.get("items")
            if isinstance(items, dict) and "properties" in items:
                walk(items["properties"], path + "[].")
            more = node.get("additionalProperties")
            if isinstance(more, dict) and "properties" in more:
                walk(more["properties"], path + ".<part>.")

    walk(schema["properties"], "")
    return "\n".join(rows) + "\n"


def test_the_reports_field_reference_is_the_schemas():
    page = (ROOT / "docs" / "report.md").read_text()
    expected = field_reference(SCHEMA)
    assert expected in page, "docs/report.md's field table should read:\n" + expected


# --- Progress ---------------------------------------------------------------------------------


def test_a_stage_logs_its_start_its_progress_with_the_tasks_left_and_its_seconds(caplog):
    seconds = iter(range(0, 1000, 10))  # a clock 10 s further at each reading
    stages = Stages(every=0.02, clock=lambda: next(seconds))
    done = itertools.chain([3], itertools.repeat(6))  # 3 tasks done when first seen, then 6
    stages.tasks = lambda: ("job 1", next(done), 12)
    caplog.set_level(logging.INFO, logger="spark_upsample")
    with stages.stage("write", "1,000 rows to /out"):
        time.sleep(0.1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "writing 1,000 rows to /out"
    # The rate counts from when the work was first seen: 3 tasks in the 20 s since, 6 left.
    assert lines[1:3] == [
        "writing: 10 s so far, 3 of 12 tasks done",
        "writing: 30 s so far, 6 of 12 tasks done, about 40 s left",
    ]
    assert len(lines) > 4 and re.fullmatch(r"writing: done in \d+ s", lines[-1])
    assert stages.current == "write" and stages.timings["write"] > 0

    caplog.clear()
    stages.tasks = lambda: None  # a session that cannot tell: the seconds only
    with pytest.raises(ValueError), stages.stage("verify"):
        time.sleep(0.05)
        raise ValueError("a failed stage")
    assert [r.getMessage() for r in caplog.records][1].endswith(" s so far")
    assert stages.current == "verify"  # the stage a failed report names


def test_the_task_progress_of_a_running_spark_job(spark):
    """The classic status tracker, or in the Spark Connect pass the progress the server sends,
    gives the running job's tasks done out of its total."""

    @F.udf("long")
    def slow(x):
        import time

        time.sleep(1.0)
        return x

    seen: list[tuple[int, int]] = []
    with task_progress(spark, CONNECT_MODE) as running:
        job = threading.Thread(
            target=lambda: spark.range(0, 6, numPartitions=6).select(slow("id")).collect()
        )
        job.start()
        while job.is_alive():
            seen.append((running() or (None, 0, 0))[1:])
            time.sleep(0.1)
    totals = {total for _, total in seen}
    assert 6 in totals, seen
    assert any(0 < done < 6 for done, total in seen if total == 6), seen


def test_quiet_leaves_the_summary_and_errors_only(events, tmp_path, capsys):  # noqa: F811
    out = str(tmp_path / "out")
    assert main(["--input", events, "--output", out, "--quiet"]) == 0
    err = capsys.readouterr().err
    assert " INFO " not in err and "class  before  target  after" in err
    assert main(["--input", events, "--output", out, "--quiet", "--verbose"]) == 2
    assert "verbose and quiet exclude each other" in capsys.readouterr().err


def test_progress_lines_in_a_log_file_are_whole_lines(events, tmp_path, monkeypatch):  # noqa: F811
    """The job with its stderr a file and a progress line every 0.02 s from a thread of its own,
    while a file per output row keeps the write busy: every line of its log is whole, and each
    stage has its lines."""
    log_file = tmp_path / "stderr.log"
    with log_file.open("w") as err:
        monkeypatch.setattr(sys, "stderr", err)
        out = str(tmp_path / "out")
        one_file_per_row = ["--output-option", "maxRecordsPerFile=1"]
        code = main(
            ["--input", events, "--output", out, "--progress-seconds", "0.02", *one_file_per_row]
        )
    text = log_file.read_text()
    assert code == 0, text[-3000:]
    assert "\r" not in text and "class  before  target  after\n" in text
    ours = [line for line in text.splitlines() if re.search(STAMP, line)]
    for line in ours:
        assert re.fullmatch(rf"{STAMP} (INFO|WARNING) spark_upsample[\w.]*: [^\n]*", line), line
        assert len(re.findall(STAMP, line)) == 1, line
    for words in progress.STAGES.values():
        if words != progress.STAGES["check"]:
            assert any(re.search(rf": {words}: done in [\d.]+ s$", x) for x in ours), words
    assert any(re.search(r": writing: [\d.]+ s so far", x) for x in ours), ours


def test_the_docs_failed_report_is_what_its_command_writes(tmp_path, monkeypatch, capsys):
    """docs/report.md's failed report follows the schema, and its command (the demo's config
    with a mistyped label column) fails the same way: exit, status, stage, error and stages."""
    page = (ROOT / "docs" / "report.md").read_text()
    given = re.search(r"\(`bash jobs/demo.sh (.+?) --report \S+`, exit (\d)\)", page)
    assert given is not None
    example = json.loads(re.search(r"(?ms)^```json\n(.*?)^```", page).group(1))
    assert_valid_report(example)
    monkeypatch.chdir(ROOT)  # the demo's config names its input relative to the checkout
    report, out = tmp_path / "failed.json", str(tmp_path / "out")
    args = ["--config", "conf/demo.toml", *given.group(1).split(), "--output", out]
    assert main([*args, "--report", str(report)]) == int(given.group(2))
    written = json.loads(report.read_text())
    for key in ("report_version", "status", "error", "exit_code", "stage"):
        assert written[key] == example[key], key
    assert list(written["timings_seconds"]) == list(example["timings_seconds"])
    assert capsys.readouterr().err.endswith(f"spark-upsample: error: {example['error']}\n")


def test_the_docs_progress_lines_are_in_the_jobs_formats():
    """docs/report.md's sample of a long run's stderr: each line is one the job writes."""
    page = (ROOT / "docs" / "report.md").read_text().split("## Progress lines", 1)[1]
    sample = re.search(r"(?ms)^```\n(.*?)^```", page).group(1).splitlines()
    words = "|".join(map(re.escape, progress.STAGES.values()))
    seconds = r"(\d+\.\d s|\d+ s|\d+ min \d+ s)"
    formats = [
        rf"({words})( .+)?",
        rf"({words}): {seconds} so far(, [\d,]+ of [\d,]+ tasks done(, about {seconds} left)?)?",
        rf"({words}): done in {seconds}",
    ]
    assert len(sample) >= 8 and any("tasks done, about" in line for line in sample)
    for line in sample:
        stamp, logger, message = re.fullmatch(rf"({STAMP}) INFO ([\w.]+): (.*)", line).groups()
        if logger == "spark_upsample":
            assert any(re.fullmatch(f, message) for f in formats), line
