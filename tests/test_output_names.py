"""Output names are names, never patterns: a name with glob characters (``?*[]{}\\``), spaces,
``%``, ``#`` or non-ASCII letters lands whole and reads back, and a run of it never touches what
belongs to another output whose name the pattern would match (its displaced previous output, its
staging folder, its lock)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest

from spark_upsample.job.cli import main
from spark_upsample.job.exclusion import RunRecord
from spark_upsample.job.io import literal_path
from spark_upsample.job.landing import WORK_DIR
from spark_upsample.job.report import REPORT_NAME
from tests.helpers import label_counts
from tests.test_faults import write_events
from tests.test_reliability import snapshot

BALANCED = {"a": 300, "b": 300, "c": 300}  # write_events's input (300/50/10), upsampled


@pytest.fixture
def events(spark, tmp_path) -> str:
    return write_events(spark, tmp_path / "events")


def counts_in(spark, folder: Path, tmp_path: Path) -> dict:
    """Rows per label of the Parquet output ``folder``, read from a copy under a plain name (so
    that the test does not rely on the escaping it checks)."""
    plain = tmp_path / f"plain-{len(list(tmp_path.iterdir()))}"
    shutil.copytree(folder, plain)
    return label_counts(spark.read.parquet(str(plain)))


@pytest.mark.parametrize(
    "name", ["out?", "out*", "o[1]", "a]b", "o{x,y}", "b\\s", "sp ace", "pc%41", "données é"]
)
def test_a_name_with_any_characters_lands_whole_and_reads_back(
    spark, events, tmp_path, capsys, name
):
    out = tmp_path / "j" / name
    assert main(["--input", events, "--output", str(out), "--seed", "3"]) == 0
    assert counts_in(spark, out, tmp_path) == BALANCED
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["status"] == "succeeded" and report["output"]["path"] == str(out)
    assert report["rows_written"] == 900
    assert sorted(os.listdir(out.parent)) == [name]  # the work folder is gone, nothing else
    assert f"output: {out} (parquet)" in capsys.readouterr().err


def other_outputs_leftovers(work: Path) -> None:
    """What runs of ``out2`` left in ``work``: a displaced previous output (``out2`` itself is
    missing: its run was killed between its two renames), and a live run's lock, lock draft
    and staging folder with Spark's temporary files."""
    displaced = work / "out2.previous-0123456789ab"
    displaced.mkdir(parents=True)
    (displaced / "part-00000.parquet").write_bytes(b"PAR1 out2's previous output")
    record = RunRecord.of_this_process("0123456789cd")  # alive: this process
    (work / "out2.lock").write_text(json.dumps(asdict(record)))
    (work / "out2.lock.0123456789cd").write_text("a draft")
    staging = work / "out2.staging-0123456789cd" / "_temporary" / "0"
    staging.mkdir(parents=True)
    (staging / "part-00000.parquet").write_bytes(b"PAR1 half")


@pytest.mark.parametrize("name", ["out?", "out*", "o[u]t2", "out{2,3}"])
def test_a_run_of_a_pattern_like_name_never_touches_another_outputs_files(
    spark, events, tmp_path, capsys, name
):
    work = tmp_path / WORK_DIR
    other_outputs_leftovers(work)
    before = snapshot(work)
    out = tmp_path / name
    args = ["--input", events, "--output", str(out), "--seed", "3", "--write-mode", "overwrite"]
    assert main(args) == 0
    assert snapshot(work) == before  # out2's previous output, lock, draft and staging
    assert not (tmp_path / "out2").exists()  # nothing restored as out2, or as this output
    assert counts_in(spark, out, tmp_path) == BALANCED
    err = capsys.readouterr().err
    assert "restored" not in err and "removed" not in err


def test_a_file_url_with_a_question_mark_or_a_hash_names_that_output(
    spark, events, tmp_path, capsys
):
    # To Spark (Hadoop's Path), "?" and "#" in a file: URL are characters of the name, not the
    # start of a query or a fragment: the output is "out?v=1#2", and "out" beside it is another.
    other = tmp_path / "out"
    assert main(["--input", events, "--output", str(other), "--seed", "1"]) == 0
    before = snapshot(other)
    capsys.readouterr()
    out = tmp_path / "out?v=1#2"
    args = ["--input", events, "--output", f"file://{out}", "--seed", "3"]
    assert main([*args, "--write-mode", "overwrite"]) == 0
    assert snapshot(other) == before
    assert counts_in(spark, out, tmp_path) == BALANCED
    assert json.loads((out / REPORT_NAME).read_text())["seed"] == 3


def test_read_back_paths_escape_glob_characters_outside_the_authority():
    assert literal_path("/d/o[1]*?{a,b}\\", "parquet") == "/d/o\\[1\\]\\*\\?\\{a,b\\}\\\\"
    assert literal_path("hdfs://[::1]:8020/d/o[1]", "CSV") == "hdfs://[::1]:8020/d/o\\[1\\]"
    assert literal_path("/d/sp ace%41 é", "orc") == "/d/sp ace%41 é"
    # Table formats read a path as it is: no escaping.
    assert literal_path("/d/o[1]", "delta") == "/d/o[1]"
