"""Reliability under real faults, injected from outside the job: two runs of one output at once,
a full disk, a stop signal, a crashed run's leftovers, paths that hide an overlap, and (on a
standalone cluster) a lost executor. The table "Faults" of docs/reliability.md lists each with its
test."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CONNECT_MODE, spark_env
from pyspark.sql import functions as F

from spark_upsample.errors import OutputError
from spark_upsample.job.cli import main
from spark_upsample.job.landing import WORK_DIR, Landing
from spark_upsample.job.report import REPORT_NAME
from tests.helpers import assert_valid_report, label_counts
from tests.test_entry_points import ROOT
from tests.test_reliability import snapshot

SIZES = {"a": 300, "b": 50, "c": 10}
# One file per row: a write of 900 rows takes seconds, long enough to act while it runs.
ONE_ROW_PER_FILE = ["--output-option", "maxRecordsPerFile=1"]
LOCAL_JOB = "--master local[2] --conf spark.ui.enabled=false --conf spark.sql.shuffle.partitions=2"


def write_events(spark, path: Path) -> str:
    """A Parquet input at ``path``: ids, a string label a/b/c (300/50/10) and a feature."""
    labels = [c for c, n in SIZES.items() for _ in range(n)]
    df = spark.createDataFrame(
        [(i, c, i / 7) for i, c in enumerate(labels)], "id long, label string, x double"
    )
    df.coalesce(2).write.parquet(str(path))
    return str(path)


@pytest.fixture
def events(spark, tmp_path) -> str:
    return write_events(spark, tmp_path / "events")


def start_job(args: list[str]) -> subprocess.Popen:
    """``python -m spark_upsample ARGS`` in local[2] (its own JVM), output and errors together."""
    env = spark_env(PYSPARK_SUBMIT_ARGS=f"{LOCAL_JOB} pyspark-shell")
    return subprocess.Popen(
        [sys.executable, "-m", "spark_upsample", *args],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )


def output_of(job: subprocess.Popen, timeout: float = 300) -> str:
    try:
        return job.communicate(timeout=timeout)[0]
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()


def job_lines(output: str) -> list[str]:
    """The job's own lines in a job's console output (not its log's, nor Spark's)."""
    return [line for line in output.splitlines() if line.startswith("spark-upsample: ")]


def wait_until(condition, job: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert job.poll() is None, f"the job ended before {what}:\n{output_of(job)[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.05)


def writing(output: Path) -> bool:
    """True while a run is writing ``output``'s staging folder (Spark's temporary files in it)."""
    return any((output.parent / WORK_DIR).glob(f"{output.name}.staging-*/_temporary/*"))


def written(output: Path) -> tuple[int, int]:
    """The seed of the run whose report is in ``output``, and its data files (one row each)."""
    return json.loads((output / REPORT_NAME).read_text())["seed"], len(list(output.glob("part-*")))


def write_ids(output: Path) -> set[str]:
    """The write job ids in the names of ``output``'s data files (part-NNNNN-<id>-cNNN...)."""
    return {re.sub(r"^part-\d+-(.+)-c\d+.*$", r"\1", p.name) for p in output.glob("part-*")}


# --- Two runs at once -------------------------------------------------------------------------


def test_a_second_run_of_an_output_is_refused_while_the_first_holds_it(tmp_path):
    first = Landing(str(tmp_path / "out"), "overwrite")
    first.prepare()
    second = Landing(str(tmp_path / "out"), "overwrite")
    with pytest.raises(OutputError) as refused:
        second.prepare()
    lock = tmp_path / WORK_DIR / "out.lock"
    assert str(refused.value) == (
        f"Another run {first.run_id} (process {os.getpid()} on {socket.gethostname()}, "
        f"spark-upsample 0.1.0, started {first.lock.record.started_at}) is writing this output; "
        f"only one run at a time may. Wait for it to finish (or, if it is known to be gone, "
        f"remove {str(lock)!r})."
    )
    second.release()  # never held: the first run's lock stays
    assert json.loads(lock.read_text())["run_id"] == first.run_id
    first.release()
    assert not (tmp_path / WORK_DIR).exists()
    second.prepare()  # free again
    second.release()


@pytest.mark.parametrize("reaped", [True, False], ids=["exited", "killed-not-yet-reaped"])
def test_a_lock_of_a_gone_process_is_taken_over_and_one_of_another_host_is_not(
    tmp_path, caplog, reaped
):
    gone = subprocess.Popen(["sleep", "60"])
    gone.kill()
    if reaped:
        gone.wait()
    else:  # a zombie until its parent (this test) waits for it: kill(pid, 0) still succeeds
        while Path(f"/proc/{gone.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
    lock = tmp_path / WORK_DIR / "out.lock"
    lock.parent.mkdir()
    record = {
        "run_id": "0123456789ab",
        "pid": gone.pid,
        "host": socket.gethostname(),
        "started_at": "2026-01-01T00:00:00+00:00",
        "process_start": None,
        "tool": "spark-upsample 0.0.9",
    }
    lock.write_text(json.dumps(record))
    landing = Landing(str(tmp_path / "out"), "error")
    landing.prepare()
    assert f"took over the lock {lock} of run 0123456789ab (process {gone.pid}" in caplog.text
    landing.release()

    lock.parent.mkdir()
    lock.write_text(json.dumps({**record, "host": "elsewhere.example"}))
    with pytest.raises(OutputError, match="Another run 0123456789ab .* on elsewhere.example"):
        Landing(str(tmp_path / "out"), "error").prepare()
    assert json.loads(lock.read_text())["host"] == "elsewhere.example"  # left alone
    gone.wait()


def test_a_lock_without_a_record_is_a_run_starting_until_it_is_old(tmp_path, caplog):
    lock = tmp_path / WORK_DIR / "out.lock"
    lock.parent.mkdir()
    lock.write_text("")  # a run without hard links, between its exclusive create and its record
    with pytest.raises(
        OutputError,
        match=r"Another run is starting to write this output \(its "
        rf"lock '{re.escape(str(lock))}' is being written\)",
    ):
        Landing(str(tmp_path / "out"), "error").prepare()
    os.utime(lock, (time.time() - 60, time.time() - 60))  # never finished: its run died
    landing = Landing(str(tmp_path / "out"), "error")
    landing.prepare()
    assert f"took over the lock {lock} of a run this version cannot identify" in caplog.text
    landing.release()


# Takes the lock of output "out" in folder argv[1] as run argv[2] at the time argv[3], and holds
# it for 5 seconds: racers that start late find it held, not stale.
RACER = """
import sys, time
from pathlib import Path
from spark_upsample.job.exclusion import OutputLock

lock = OutputLock(Path(sys.argv[1]), "out", sys.argv[2])
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
try:
    lock.acquire()
except Exception:
    print("refused")
else:
    print("got")
    time.sleep(5)
"""


def test_locks_taken_at_the_same_moment_exclude_each_other(tmp_path):
    start = time.time() + 4
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path), f"{i:012x}", str(start)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i in range(8)
    ]
    results = sorted(r.communicate(timeout=60)[0].strip() for r in racers)
    assert results == ["got"] + ["refused"] * 7
    assert [p.name for p in tmp_path.iterdir()] == ["out.lock"]  # no drafts left behind


@pytest.mark.slow
def test_two_runs_at_once_one_writes_the_other_exits_4_naming_it(spark, events, tmp_path, capsys):
    """A scheduler starts the job again while a first attempt writes: in either write mode the
    second run exits 4 naming the first, and the first publishes its own output, whole. (Two
    runs that take the lock at the same moment are the racers of
    test_locks_taken_at_the_same_moment_exclude_each_other.)"""
    out = tmp_path / "out"
    first = start_job(
        ["--input", events, "--output", str(out), "--seed", "3", "--write-mode", "overwrite"]
        + ["--strategy", "all", *ONE_ROW_PER_FILE]
    )
    wait_until(lambda: writing(out), first, "writing")
    for mode in ("error", "overwrite"):
        capsys.readouterr()
        args = ["--input", events, "--output", str(out), "--seed", "4", "--write-mode", mode]
        assert main(args) == 4, mode
        [refusal] = [
            line for line in capsys.readouterr().err.splitlines() if "spark-upsample: error" in line
        ]
        assert "Another run " in refusal and f"(process {first.pid} on " in refusal, refusal
    assert "seed 3" in output_of(first) and first.returncode == 0
    assert written(out) == (3, 900)  # the job checked its counts before publishing
    assert len(write_ids(out)) == 1  # every data file from one write: never a mix
    assert not (tmp_path / WORK_DIR).exists()  # no staging folder, no lock left


# --- A full disk ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted at ``tmp_path/disk`` for the test, unmounted after it."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        reason = mounted.stderr.strip() or f"mount exited {mounted.returncode}"
        pytest.skip(f"cannot mount a small tmpfs here: {reason}")
    try:
        yield disk
    finally:
        # lazily: Spark's JVM may still hold a file it failed to write there
        subprocess.run(["umount", "-l", str(disk)], check=True)


@pytest.mark.slow
def test_a_full_disk_fails_with_exit_4_and_leaves_the_previous_output(spark, tmp_path, small_disk):
    events = tmp_path / "events"
    # 1 KB of random hex per row: Parquet cannot shrink it, so 1,900 rows need about 1.9 MB.
    payload = F.concat(
        *[F.sha2(F.concat(F.col("id").cast("string"), F.lit(k)), 256) for k in range(16)]
    )
    label = F.when(F.col("id") < 1900, "a").when(F.col("id") < 1980, "b").otherwise("c")
    spark.range(2000).select("id", label.alias("label"), payload.alias("payload")).coalesce(
        2
    ).write.parquet(str(events))
    out = small_disk / "out"
    args = ["--input", str(events), "--output", str(out)]
    assert main([*args, "--seed", "1", "--method", "downsample"]) == 0  # 60 rows: fit
    before, free_before = snapshot(out), os.statvfs(small_disk).f_bfree

    job = start_job([*args, "--seed", "2", "--write-mode", "overwrite"])  # 5,700 rows: not
    output = output_of(job)
    assert job.returncode == 4, output[-3000:]
    [line] = job_lines(output)
    assert re.fullmatch(
        rf"spark-upsample: error: The file system of '{out}' is full \(No space left on device\) "
        r"while writing 5,700 rows; the partial output was removed \([\d.]+ MB of 2\.0 MB free "
        r"now\)\. Free space or choose another output path\.",
        line,
    ), line
    assert snapshot(out) == before
    assert not (small_disk / WORK_DIR).exists()
    # The space is free again (once the job's JVM has exited: Spark leaves the file it failed to
    # close open until then).
    assert os.statvfs(small_disk).f_bfree == free_before


# --- A stop signal ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_a_stop_signal_while_writing_cancels_cleans_up_and_exits_128_plus_it(
    spark, events, tmp_path, request, stop, code
):
    """In the Spark Connect pass the job runs with --remote (the pass's server)."""
    out, report = tmp_path / "out", tmp_path / "report.json"
    assert main(["--input", events, "--output", str(out), "--seed", "1"]) == 0
    before = snapshot(out)

    remote = ["--remote", request.getfixturevalue("connect_url")] if CONNECT_MODE else []
    job = start_job(
        [
            *remote,
            "--input",
            events,
            "--output",
            str(out),
            "--seed",
            "2",
            "--strategy",
            "all",
            "--write-mode",
            "overwrite",
            "--report",
            str(report),
            *ONE_ROW_PER_FILE,
        ]
    )
    wait_until(lambda: writing(out), job, "writing")
    clock = time.monotonic()
    job.send_signal(stop)
    output = output_of(job, timeout=120)
    print(f"{stop.name}: the job exited {job.returncode} {time.monotonic() - clock:.1f}s after it")
    assert job.returncode == code, output[-3000:]
    assert job_lines(output) == [
        f"spark-upsample: cancelled by {stop.name}: the Spark jobs were cancelled and the "
        f"staged output removed; the output {str(out)!r} is as it was."
    ]
    assert snapshot(out) == before
    assert not (tmp_path / WORK_DIR).exists(), sorted((tmp_path / WORK_DIR).rglob("*"))
    written = json.loads(report.read_text())
    assert_valid_report(written)
    assert (written["status"], written["cancelled_by"], written["exit_code"]) == (
        "cancelled",
        stop.name,
        code,
    )
    assert written["stage"] == "write" and written["rows_written"] == 900  # the plan was made


# --- A crashed run's leftovers ----------------------------------------------------------------


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Files made immutable (chattr +i: not even root may delete them), made mutable after."""
    made: list[Path] = []
    yield made
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_crashed_runs_leftovers_do_not_stop_the_next_run(
    spark, events, tmp_path, capsys, immutable
):
    out, report, work = tmp_path / "out", tmp_path / "report.json", tmp_path / WORK_DIR
    gone = subprocess.Popen(["true"])
    gone.wait()
    work.mkdir()
    # A run of another version, killed while writing: its lock, its staging folder and the
    # report it was writing outside the output.
    (work / "out.lock").write_text(
        json.dumps(
            {
                "run_id": "00000000dead",
                "pid": gone.pid,
                "host": socket.gethostname(),
                "started_at": "2026-01-01T00:00:00+00:00",
                "process_start": None,
                "tool": "spark-upsample 0.0.9",
            }
        )
    )
    crashed = work / "out.staging-00000000dead"
    (crashed / "_temporary" / "0").mkdir(parents=True)
    (crashed / "_temporary" / "0" / "part-00000.parquet").write_bytes(b"PAR1 half")
    report.write_text('{"tool": "spark-upsample 0.0.9", "status": "succ')
    # One it cannot remove, and another output's run writing beside it right now.
    stuck = work / "out.staging-0000000stuck"
    stuck.mkdir()
    (stuck / "part-00000.parquet").write_bytes(b"PAR1")
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this file system")
    immutable.append(stuck)
    other = work / "other.staging-0123456789ab"
    other.mkdir()

    assert (
        main(["--input", events, "--output", str(out), "--seed", "1", "--report", str(report)]) == 0
    )
    err = capsys.readouterr().err
    assert f"took over the lock {work / 'out.lock'} of run 00000000dead (process {gone.pid}" in err
    assert f"removed {crashed}: the staged output of an earlier run that did not finish" in err
    assert (
        f"left {stuck} (the staged output of an earlier run that did not finish): could not "
        f"remove it ([Errno 1] Operation not permitted: " in err
    )
    assert f"replacing {report}: a report an earlier run left half-written" in err
    assert json.loads(report.read_text())["status"] == "succeeded"
    assert label_counts(spark.read.parquet(str(out))) == {"a": 300, "b": 300, "c": 300}
    assert sorted(p.name for p in work.iterdir()) == [other.name, stuck.name]  # what it left


# --- Paths that hide an overlap ---------------------------------------------------------------


@pytest.mark.parametrize(
    "form", ["symlink", "dot-dot", "trailing-slash", "file-uri", "file-uri-inside"]
)
def test_an_output_overlapping_the_input_by_another_spelling_is_refused(tmp_path, capsys, form):
    data = tmp_path / "data"
    (data / "input").mkdir(parents=True)
    (data / "input" / "part-0.parquet").write_bytes(b"PAR1")
    (tmp_path / "link").symlink_to(data / "input")
    output = {
        "symlink": f"{tmp_path}/link/balanced",
        "dot-dot": f"{data}/other/../input/balanced",
        "trailing-slash": f"{data}/input/",
        "file-uri": f"file://{data}/input",
        "file-uri-inside": f"file:{data}/./input/balanced",
    }[form]
    before = snapshot(data)
    assert main(["--input", str(data / "input"), "--output", output]) == 2
    assert capsys.readouterr().err == (
        f"spark-upsample: error: The output {output!r} overlaps the input "
        f"{str(data / 'input')!r} (equal, inside or containing it); writing there could destroy "
        f"the input. Choose another output path.\n"
    )
    assert snapshot(data) == before


def test_the_fault_table_names_tests_that_exist():
    page = (ROOT / "docs" / "reliability.md").read_text()
    table = page.split("**Faults**", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert len(rows) == 11
    for row in rows:
        tests = re.findall(r"`(?:(test_\w+\.py))?::(test_\w+)`", row.split(" | ")[-1])
        assert tests, row
        module = None
        for file, name in tests:
            module = file or module
            assert f"def {name}(" in (ROOT / "tests" / module).read_text(), (module, name)
