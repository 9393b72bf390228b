"""One measured run of a method: wall and CPU time, memory peaks, then its output checked.

Every output is read back (untimed) and compared with the case's targets: per class, or per
(group, class) cell for a group case (an O(cells) aggregation on Spark; a handful of numbers reach
the driver), and the library's plan cell by cell; the floor's total against its Poisson band.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.config import GROUP, LABEL, BenchConfig
from bench.data import Case, label_counts
from bench.methods import SPARK_RUNNERS
from bench.peers import POLL_SECONDS, SMOTE_PEER, run_peer, tree_rss
from bench.profile import Profiler, Span


@dataclass
class Run:
    """One measured run of one method on one case."""

    method: str
    repeat: int
    seconds: float | None = None
    cpu_seconds: float | None = None
    rows_out: int | None = None
    counts_ok: bool | None = None
    cells: int | None = None
    plan_seconds: float | None = None
    spark_jobs: int | None = None
    py_rss: int | None = None
    jvm_rss: int | None = None
    jvm_heap: int | None = None
    error: str | None = None
    load: tuple[float, float] | None = None  # 1-minute load average before and after the run
    profile: list[Span] | None = None  # with --profile: its jobs and driver gaps


@dataclass
class CaseResult:
    case: Case
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class DriverProbe:
    """CPU time and peak RSS of the driver's Python process and JVM (psutil; RSS sampled every
    50 ms; the JVM's with its child processes, the Python workers of Arrow UDFs such as
    SMOTE's), and the JVM heap's peak (sum of the heap pools' peak usage, reset at start). In
    local mode the JVM runs the executors too."""

    def __init__(self, spark: SparkSession) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None, "a classic Spark session (the probe reads the JVM's pools)"
        self._jvm = jvm
        beans = self._jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
        self._pools = [p for p in beans if p.getType().name() == "HEAP"]
        jvm_pid = int(self._jvm.java.lang.ProcessHandle.current().pid())
        try:
            import psutil

            self._procs = [psutil.Process(os.getpid()), psutil.Process(jvm_pid)]
        except ImportError:
            self._procs = []

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the Python driver, the JVM and the JVM's Python workers
        (and their waited-for children) so far (0 without psutil). A worker that exits during a
        run takes its seconds with it: Spark reuses its Python workers, so few do."""
        if not self._procs:
            return 0.0
        import psutil

        workers = self._procs[1].children(recursive=True)
        total = sum(sum(p.cpu_times()[:2]) for p in self._procs)
        for p in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += sum(p.cpu_times()[:4])
        return total

    @contextlib.contextmanager
    def measure(self, run: Run) -> Iterator[None]:
        """Record into ``run`` the CPU seconds used and the peaks seen while the block runs."""
        self._jvm.System.gc()
        for pool in self._pools:
            pool.resetPeakUsage()
        cpu_start = self.cpu_seconds()
        peaks = [0] * len(self._procs)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                if self._procs:
                    driver, jvm = self._procs
                    peaks[0] = max(peaks[0], driver.memory_info().rss)
                    peaks[1] = max(peaks[1], tree_rss(jvm))  # and its Python workers
                stop.wait(POLL_SECONDS)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            if self._procs:
                run.py_rss, run.jvm_rss = peaks
                run.cpu_seconds = self.cpu_seconds() - cpu_start
            run.jvm_heap = sum(int(p.getPeakUsage().getUsed()) for p in self._pools)


def measure_spark(
    spark: SparkSession,
    probe: DriverProbe,
    method: str,
    case: Case,
    out: Path,
    seed: int,
    repeat: int,
    profiler: Profiler | None = None,
) -> Run:
    """One timed run of a Spark method, then its output's counts and its plan (untimed); with a
    ``profiler``, its jobs and the driver's gaps between them in ``run.profile``."""
    run = Run(method, repeat)
    before = load_average()
    sc = spark.sparkContext
    group = f"bench-{method}-{case.path.name}-{repeat}"
    sc.setJobGroup(group, group)
    if profiler:  # a job description would hide the call sites that label the profile
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type] # null unsets
    try:
        mark = profiler.start() if profiler else None  # outside the CPU seconds measured
        with probe.measure(run), contextlib.redirect_stderr(io.StringIO()):
            start = time.perf_counter()
            planning = SPARK_RUNNERS[method](spark, case, out, seed)
            run.seconds = time.perf_counter() - start
            end = time.time()
        run.load = (before, load_average())
        if profiler and mark:
            run.profile = profiler.spans(mark, end)
        run.spark_jobs = len(sc.statusTracker().getJobIdsForGroup(group))
        check_output(spark, case, out, run)
        if planning is not None:
            planned = planning()
            run.cells, run.plan_seconds = planned.cells, planned.seconds
            run.counts_ok = run.counts_ok and planned.plan_ok is not False
    except Exception as error:  # noqa: BLE001 - a failed method is a result, not a crash
        run.error = first_line(error)
    finally:
        sc.setJobGroup("bench-check", "counts of outputs")
    return run


def measure_peer(
    spark: SparkSession, config: BenchConfig, method: str, case: Case, out: Path, repeat: int
) -> Run:
    """One timed run of a single-machine peer in a subprocess, then its counts (untimed)."""
    run = Run(method, repeat)
    before = load_average()
    targets = config.out / "out" / "targets.json"
    targets.write_text(json.dumps(case.targets))
    try:
        cpu_start, start = children_cpu_seconds(), time.perf_counter()
        limit = config.peer_memory_limit
        peer = SMOTE_PEER if case.feature_cols else method
        run.py_rss = run_peer(
            peer, case.path, out, config.seed, limit, targets, config.peer_time_limit
        )
        run.seconds = time.perf_counter() - start
        run.cpu_seconds = children_cpu_seconds() - cpu_start
        run.load = (before, load_average())
        check_output(spark, case, out, run)
    except Exception as error:  # noqa: BLE001 - a failed peer is a result, not a crash
        run.error = first_line(error)
    return run


def load_average() -> float:
    """The machine's 1-minute load average (0 where the OS does not tell)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def children_cpu_seconds() -> float:
    """User + system CPU seconds of all waited-for child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_output(spark: SparkSession, case: Case, out: Path, run: Run) -> None:
    """Set ``run.rows_out`` and ``run.counts_ok``: the floor's total within a 6-sigma band around
    its Poisson expectation; every other output's counts per cell equal to the targets."""
    if run.method == "floor":
        run.rows_out = sum(label_counts(spark, out).values())
        run.counts_ok = abs(run.rows_out - case.out_rows) <= 6 * math.sqrt(case.out_rows) + 6
    elif case.groups:
        run.rows_out, run.counts_ok = check_cells(spark, case, out)
    else:
        counts = label_counts(spark, out)
        run.rows_out = sum(counts.values())
        run.counts_ok = counts == case.targets


def check_cells(spark: SparkSession, case: Case, out: Path) -> tuple[int, bool]:
    """The output's rows, and whether each of its (group, label) cells has its label's target.

    Spark counts the rows per cell, then the cells per (label, count) with their smallest and
    largest group. It holds when each label has exactly one such line, with the label's target,
    ``groups`` cells and groups 0 to ``groups - 1``: then every group has its cell of each label
    (the cells are distinct) and no other cell exists."""
    cells = spark.read.parquet(str(out)).groupBy(GROUP, LABEL).count()
    lines = cells.groupBy(LABEL, "count").agg(F.count("*"), F.min(GROUP), F.max(GROUP)).collect()
    found = {(r[0], r[1]): (r[2], r[3], r[4]) for r in lines}
    expected = {(c, t): (case.groups, 0, case.groups - 1) for c, t in case.targets.items()}
    return sum(count * n for (_, count), (n, _, _) in found.items()), found == expected


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
