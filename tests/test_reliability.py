"""Reliability: retried tasks give the same rows, killed or failed runs never damage the output,
inputs that change between reads are made consistent."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from spark_upsample import upsample_with_plan
from spark_upsample.job.cli import main
from spark_upsample.job.landing import WORK_DIR
from tests.fault_injection import MESSAGE, faulty_job
from tests.helpers import label_counts
from tests.test_entry_points import BIN, ROOT, job_env

SIZES = {"a": 3000, "b": 200, "c": 30}


@pytest.fixture
def events(spark, tmp_path):
    """A Parquet input in 4 files: ids, a string label a/b/c (3000/200/30) and a feature."""
    labels = [c for c, n in SIZES.items() for _ in range(n)]
    df = spark.createDataFrame(
        [(i, c, i / 7) for i, c in enumerate(labels)], "id long, label string, x double"
    )
    path = str(tmp_path / "events")
    df.repartition(4, "id").write.parquet(path)
    return path


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def submit(
    args: list[str], master: str, fault: str, marker: Path, confs: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """spark-submit of the job with the fault ``fault`` (see :mod:`tests.fault_injection`) injected
    from outside it: its input wrapped, the fault armed while the output is written; ``confs``
    are more Spark settings."""
    settings = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", **(confs or {})}
    command = [
        str(BIN / "spark-submit"),
        "--master",
        master,
        *(f"--conf={key}={value}" for key, value in settings.items()),
        "tests/fault_injection.py",
        fault,
        str(marker),
        *args,
    ]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=job_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen, timeout: int = 300) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
        return output
    finally:
        kill_group(process)


def kill_group(process: subprocess.Popen) -> None:
    """Kill what is left of a job (its Python driver, Spark's Python workers), then reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=60)


@pytest.mark.slow
@pytest.mark.classic_only
def test_a_failed_and_retried_task_gives_the_same_rows(spark, events, tmp_path):
    clean, retried, marker = tmp_path / "clean", tmp_path / "retried", tmp_path / "fault-fired"
    args = ["--input", events, "--seed", "11", "--strategy", "all"]
    # The same job, its input read through the same (here unarmed) mapInArrow: the same identity.
    with faulty_job("off", str(marker)):
        assert main([*args, "--output", str(clean)]) == 0
    # local[2,4]: two cores, and a task may fail up to 4 times before the job fails.
    faulty = submit([*args, "--output", str(retried)], "local[2,4]", "fail", marker)
    output = finish(faulty)
    assert faulty.returncode == 0, output[-3000:]
    assert marker.exists(), "the injected fault did not fire"
    # One attempt failed, with the injected error: in the write (armed), none in the jobs before it.
    assert re.findall(r"WARN TaskSetManager: Lost task (\S+) in stage", output) == ["0.0"], output
    assert MESSAGE in output
    expected = spark.read.parquet(str(clean))
    assert label_counts(expected) == {"a": 3000, "b": 3000, "c": 3000}
    assert_df_equality(spark.read.parquet(str(retried)), expected, ignore_row_order=True)


@pytest.mark.slow
def test_a_run_killed_while_writing_leaves_the_previous_output_whole(spark, events, tmp_path):
    out, marker = tmp_path / "out", tmp_path / "writing"
    assert main(["--input", events, "--output", str(out), "--seed", "1"]) == 0
    before = snapshot(out)

    job = submit(
        ["--input", events, "--output", str(out), "--seed", "2", "--write-mode", "overwrite"],
        "local[2]",
        "hang",
        marker,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert job.poll() is None, job.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the job never started writing"
            time.sleep(0.2)
        staging = list((tmp_path / WORK_DIR).glob("out.staging-*"))
        assert staging and (staging[0] / "_temporary").exists()  # killed in the middle of writing
        # kill -9 the spark-submit process and its children at once, as a lost machine would (the
        # Python driver, left alive, would notice the dead JVM and clean up after itself).
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(timeout=60)
    finally:
        kill_group(job)

    assert snapshot(out) == before
    assert (tmp_path / WORK_DIR).exists()  # the killed run's leftovers ...
    assert (
        main(["--input", events, "--output", str(out), "--seed", "3", "--write-mode", "overwrite"])
        == 0
    )
    assert not (tmp_path / WORK_DIR).exists()  # ... are cleaned up by the next run
    assert label_counts(spark.read.parquet(str(out))) == {"a": 3000, "b": 3000, "c": 3000}


@pytest.mark.parametrize("failing_move", [1, 2], ids=["old-output-aside", "new-output-in"])
def test_a_failure_before_the_swap_leaves_the_previous_output_whole(
    spark, events, tmp_path, monkeypatch, capsys, failing_move
):
    import spark_upsample.job.landing as landing

    out = tmp_path / "out"
    assert main(["--input", events, "--output", str(out), "--seed", "1"]) == 0
    before = snapshot(out)
    moves, real_rename = [], os.rename

    def rename(src, dst):
        moves.append((src, dst))
        if len(moves) == failing_move:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(landing.os, "rename", rename)
    assert (
        main(["--input", events, "--output", str(out), "--seed", "2", "--write-mode", "overwrite"])
        == 4
    )
    monkeypatch.undo()
    assert len(moves) == failing_move + (failing_move == 2)  # the second failure is undone
    assert "Could not move the new output into" in capsys.readouterr().err
    assert snapshot(out) == before
    assert not (tmp_path / WORK_DIR).exists()


# Runs the job, and dies as kill -9 would right after its n-th file operation (of the kinds
# named) on a path that starts with the one given.
KILLED_AFTER = """
import os, sys
from spark_upsample.job.cli import main

kinds, n, folder, *args = sys.argv[1:]
done = []

def dying(real):
    def operation(src, dst, *rest, **options):
        real(src, dst, *rest, **options)
        if str(src).startswith(folder):
            done.append(src)
            if len(done) == int(n):
                os._exit(137)
    return operation

for kind in kinds.split(","):
    setattr(os, kind, dying(getattr(os, kind)))
sys.exit(main(args))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("operations", "output_after_kill", "warning"),
    [
        ("link,replace", "previous", "the staged output of an earlier run that did not finish"),
        ("rename", "missing", "an earlier run stopped while replacing it"),
    ],
    ids=["after-its-first-file", "after-moving-the-previous-output-aside"],
)
def test_an_append_killed_while_publishing_lands_whole_or_not_at_all(
    spark, tmp_path, capsys, operations, output_after_kill, warning
):
    src, out = tmp_path / "in", tmp_path / "out"
    spark.createDataFrame(
        [(i, "a" if i < 30 else "b" if i < 40 else "c") for i in range(45)], "id long, label string"
    ).write.parquet(str(src))
    args = ["--input", str(src), "--output", str(out), "--output-files", "4"]
    assert main([*args, "--seed", "1"]) == 0
    before = snapshot(out)

    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_AFTER,
            operations,
            "1",
            str(out),
            *args,
            "--seed",
            "2",
            "--write-mode",
            "append",
        ],
        cwd=ROOT,
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 137, killed.stderr[-3000:]
    if output_after_kill == "previous":
        assert snapshot(out) == before  # not a single new row
    else:
        assert not out.exists()
    leftovers = sorted(p for p in (tmp_path / WORK_DIR).iterdir() if p.name != "out.lock")

    capsys.readouterr()
    assert main([*args, "--seed", "3", "--write-mode", "append"]) == 0
    err = capsys.readouterr().err
    assert f"{leftovers[0]}: {warning}" in err
    assert label_counts(spark.read.parquet(str(out))) == {"a": 60, "b": 60, "c": 60}
    data = {name: digest for name, digest in before.items() if name.startswith("part-")}
    assert len(data) == 4 and data.items() <= snapshot(out).items()  # the previous files, as were
    assert not (tmp_path / WORK_DIR).exists()


def test_an_append_copies_the_previous_files_where_hard_links_are_refused(
    spark, events, tmp_path, monkeypatch
):
    import spark_upsample.job.landing as landing

    out = tmp_path / "out"
    assert main(["--input", events, "--output", str(out), "--seed", "1"]) == 0
    before = snapshot(out)

    def refuse(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(landing.os, "link", refuse)
    assert (
        main(["--input", events, "--output", str(out), "--seed", "2", "--write-mode", "append"])
        == 0
    )
    assert label_counts(spark.read.parquet(str(out))) == {"a": 6000, "b": 6000, "c": 6000}
    data = {name: digest for name, digest in before.items() if name.startswith("part-")}
    assert data and data.items() <= snapshot(out).items()


def test_an_input_that_changes_between_reads_is_checkpointed(spark, tmp_path):
    """Labels from a nondeterministic UDF differ on every read; checkpoint_input reads them once."""
    import random

    coin = F.udf(lambda i: "rare" if random.random() < 0.1 else "common", "string")
    df = spark.range(0, 2000, numPartitions=2).withColumn("label", coin.asNondeterministic()("id"))
    result = upsample_with_plan(df, "label", seed=5, checkpoint_input=True)
    counts = result.plan.counts_before
    assert counts["rare"] < counts["common"] and sum(counts.values()) == 2000
    output = result.df.persist()
    assert (
        label_counts(output)
        == result.plan.counts_after
        == {"rare": counts["common"], "common": counts["common"]}
    )
    common = output.where("label = 'common'")
    assert_df_equality(common, common.distinct(), ignore_row_order=True)  # each common row once
    output.unpersist()
