"""Benchmark: spark-upsample side by side with a plain copy, the tutorial recipe and single-machine peers.

Run from the project root (see the README's Performance section)::

    .venv/bin/python jobs/benchmark.py --rows 1000000,10000000 --classes 3,1000 --repeats 3
    spark-submit jobs/benchmark.py --rows 1000000 --repeats 1

For every case (input rows x number of classes) it generates a Parquet input once (reused from
``<out>/data`` when present), then measures, alternating and in a rotating order, ``repeats`` times:

- ``floor``: read the input and write as many rows as the upsampled output has, with
  ``sample(True, out_rows / in_rows)`` and no resampling logic;
- ``library``: :func:`spark_upsample.upsample_with_plan` and ``df.write.parquet``;
- ``job``: :func:`spark_upsample.cli.main` in-process on the same session (staging folder, write,
  re-read of the label column to verify the counts, publish);
- ``tutorial``: per class ``sample(True, fraction)``, trimmed by ``orderBy(rand()).limit(n)`` or
  topped up by another ``sample().limit()``, unioned and written (3-class cases only: with 1,000
  classes it is 1,000 counts and sorts);
- ``numpy`` and ``imblearn``: pyarrow + ``numpy.random.Generator.choice``, and imbalanced-learn's
  ``RandomOverSampler``, each in a subprocess killed when its process tree passes
  ``--peer-memory-limit`` (needs the ``bench`` extra; skipped with a note when absent).

Each run is timed on the wall clock and in CPU seconds (user + system of the driver's Python
process and JVM, which in local mode runs the executors too; of the peer's subprocess), the
measure that stays comparable when other work shares the machine. Every output is then read back
(untimed) and its per-class counts compared with the targets (the floor's total with its Poisson
expectation). Memory is sampled every 50 ms (psutil): the driver's Python process RSS, the JVM's
RSS and the JVM heap peak (heap pools' peak usage, reset before each run); for the peers, the RSS
of the whole process tree. Medians, ratios to the floor and peaks go to a table, printed and
written as Markdown (with the raw runs as JSON) under ``<out>``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import reduce
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # a fresh clone; an installed spark_upsample or PYTHONPATH wins
    sys.path.append(str(ROOT))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from spark_upsample import upsample_with_plan  # noqa: E402
from spark_upsample.cli import main as job_main  # noqa: E402
from spark_upsample.strategy import over_sampling_targets  # noqa: E402

LABEL = "label"
FLOAT_COLUMNS = 8
THREE_CLASS_SHARES = (0.98, 0.015, 0.005)
MANY_LARGE_SHARES = (0.60, 0.25, 0.12)  # 97 %; the other classes share the remaining 3 %
OUTPUT_FACTOR = 3 * THREE_CLASS_SHARES[0]  # output rows / input rows of "auto" on 98/1.5/0.5
ROWS_PER_FILE = 500_000
SPARK_METHODS = ("floor", "library", "job", "tutorial")
PEER_METHODS = ("numpy", "imblearn")
METHODS = SPARK_METHODS + PEER_METHODS
POLL_SECONDS = 0.05
MIB = 1 << 20


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and where.

    Attributes
    ----------
    rows : input sizes (rows)
    classes : 3 (98/1.5/0.5 %, strategy "auto") and/or 1000 (three large classes with 97 %, the
        rest Zipf-like; the small classes are raised to one common count so that the output has
        as many rows as the 3-class case's)
    repeats : runs of every method per case (the median is reported)
    methods : which of :data:`METHODS` to run
    out : folder for data, outputs and results (gitignored)
    seed : seed of the data generator and of every sampler
    driver_memory : ``spark.driver.memory`` of a session this script creates
    peer_memory_limit : bytes; a peer whose process tree's RSS passes it is killed
    """

    rows: tuple[int, ...] = (1_000_000, 10_000_000)
    classes: tuple[int, ...] = (3,)
    repeats: int = 3
    methods: tuple[str, ...] = METHODS
    out: Path = Path("bench-results")
    seed: int = 1
    driver_memory: str = "6g"
    peer_memory_limit: int = 10 << 30


@dataclass(frozen=True)
class Case:
    """One input: its rows, classes, path, per-class counts and the per-class targets."""

    rows: int
    classes: int
    path: Path
    counts: dict[int, int]
    targets: dict[int, int]

    @property
    def name(self) -> str:
        return f"{self.rows:,} rows, {self.classes} classes"

    @property
    def out_rows(self) -> int:
        return sum(self.targets.values())

    @property
    def strategy(self) -> str | dict[int, int]:
        """The library's ``sampling_strategy``: "auto" for 3 classes, else a dict of targets."""
        if self.classes == 3:
            return "auto"
        return {c: t for c, t in self.targets.items() if t != self.counts[c]}


@dataclass
class Run:
    """One measured run of one method on one case."""

    method: str
    repeat: int
    seconds: float | None = None
    cpu_seconds: float | None = None
    rows_out: int | None = None
    counts_ok: bool | None = None
    spark_jobs: int | None = None
    py_rss: int | None = None
    jvm_rss: int | None = None
    jvm_heap: int | None = None
    error: str | None = None


@dataclass
class CaseResult:
    case: Case
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Command line and session


def parse_args(argv: list[str] | None) -> BenchConfig:
    """The :class:`BenchConfig` of the command line."""
    d = BenchConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default=",".join(map(str, d.rows)), help="comma-separated input sizes")
    p.add_argument("--classes", default=",".join(map(str, d.classes)), help="3 and/or 1000")
    p.add_argument("--repeats", type=int, default=d.repeats)
    p.add_argument("--methods", default=",".join(d.methods), help=f"subset of {','.join(METHODS)}")
    p.add_argument("--peers", action=argparse.BooleanOptionalAction, default=True,
                   help="run the single-machine peers (numpy, imblearn)")
    p.add_argument("--out", default=str(d.out))
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--driver-memory", default=d.driver_memory)
    p.add_argument("--peer-memory-limit", type=float, default=d.peer_memory_limit / (1 << 30),
                   help="GiB; a peer whose process tree passes it is killed")
    a = p.parse_args(argv)
    methods = tuple(m for m in a.methods.split(",") if m)
    unknown = set(methods) - set(METHODS)
    classes = tuple(int(c) for c in a.classes.split(","))
    if unknown or not methods:
        p.error(f"--methods: unknown {sorted(unknown)}; choose from {METHODS}")
    if set(classes) - {3, 1000}:
        p.error("--classes takes 3 and/or 1000")
    if a.repeats < 1:
        p.error("--repeats must be >= 1")
    if not a.peers:
        methods = tuple(m for m in methods if m not in PEER_METHODS)
    return BenchConfig(
        rows=tuple(int(r) for r in a.rows.split(",")),
        classes=classes,
        repeats=a.repeats,
        methods=methods,
        out=Path(a.out),
        seed=a.seed,
        driver_memory=a.driver_memory,
        peer_memory_limit=int(a.peer_memory_limit * (1 << 30)),
    )


def get_session(config: BenchConfig) -> SparkSession:
    """The active session (spark-submit), else a new ``local[2]`` one with the UI off."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName("spark-upsample-benchmark")
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit: we pick the settings
        builder = (
            builder.master("local[2]")
            .config("spark.driver.memory", config.driver_memory)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


# --------------------------------------------------------------------------------------------
# Inputs and targets


def label_column(classes: int, seed: int) -> Any:
    """The label of a generated row: 98/1.5/0.5 % for 3 classes; for 1000, three large classes
    (60/25/12 %) and 997 small ones sharing 3 % with P(k) ~ log((k+1)/k), about 1/k. The first
    1000 ids get label = id so that every class has at least one row. The uniform is a hash of the
    id, not ``rand()``: a ``rand()`` repeated in a CASE chain is a new, unsynchronised stream in
    every branch."""
    u = F.shiftrightunsigned(F.xxhash64(F.lit(seed), F.col("id")), 11) / float(1 << 53)
    if classes == 3:
        a, b, _ = THREE_CLASS_SHARES
        return F.when(u < a, 0).when(u < a + b, 1).otherwise(2)
    edges = [sum(MANY_LARGE_SHARES[: i + 1]) for i in range(len(MANY_LARGE_SHARES))]
    small = classes - len(MANY_LARGE_SHARES)
    v = (u - edges[-1]) / (1 - edges[-1])  # uniform in [0, 1) over the small classes
    k = F.floor(F.exp(v * math.log(small + 1))).cast("int")  # 1 .. small
    drawn = F.when(u < edges[0], 0).when(u < edges[1], 1).when(u < edges[2], 2).otherwise(k + 2)
    return F.when(F.col("id") < classes, F.col("id").cast("int")).otherwise(drawn)


def ensure_input(spark: SparkSession, config: BenchConfig, rows: int, classes: int) -> Case:
    """The case's input under ``<out>/data`` (generated once, then reused) and its targets."""
    path = config.out / "data" / f"rows={rows}_classes={classes}_seed={config.seed}"
    meta = path / "_bench_counts.json"
    if not meta.exists():
        files = max(4, math.ceil(rows / ROWS_PER_FILE))
        s = config.seed
        frame = spark.range(0, rows, numPartitions=files).select(
            "id",
            *[F.rand(s + 1 + i).alias(f"f{i}") for i in range(FLOAT_COLUMNS)],
            F.substring(F.md5(F.col("id").cast("string")), 1, 8).alias("tag"),
            label_column(classes, s).cast("int").alias(LABEL),
        )
        print(f"generating {path} ...", flush=True)
        frame.write.mode("overwrite").parquet(str(path))
        counts = label_counts(spark, path)
        meta.write_text(json.dumps({str(c): n for c, n in sorted(counts.items())}))
    counts = {int(c): n for c, n in json.loads(meta.read_text()).items()}
    targets = three_class_targets(counts) if classes == 3 else equal_total_targets(counts, rows)
    return Case(rows, classes, path, counts, targets)


def three_class_targets(counts: Mapping[int, int]) -> dict[int, int]:
    """Every class to the majority's count (strategy "auto")."""
    return over_sampling_targets(counts, "auto")


def equal_total_targets(counts: Mapping[int, int], rows: int) -> dict[int, int]:
    """Classes below a common count ``t`` raised to it, ``t`` the smallest count that makes the
    output at least ``OUTPUT_FACTOR * rows`` rows: as many as the 3-class case's output."""
    want = round(OUTPUT_FACTOR * rows)
    lo, hi = 1, want
    while lo < hi:
        t = (lo + hi) // 2
        if sum(max(n, t) for n in counts.values()) >= want:
            hi = t
        else:
            lo = t + 1
    return {c: max(n, lo) for c, n in counts.items()}


def label_counts(spark: SparkSession, path: Path) -> dict[int, int]:
    """Rows per label of the Parquet files at ``path`` (reads the label column only)."""
    rows = spark.read.parquet(str(path)).groupBy(LABEL).count().collect()
    return {int(r[0]): int(r[1]) for r in rows}


# --------------------------------------------------------------------------------------------
# The Spark methods: each writes the resampled ``case`` to ``out``


def run_floor(spark: SparkSession, case: Case, out: Path, seed: int) -> None:
    """A plain sampled copy with as many rows (in expectation) as the upsampled output."""
    df = spark.read.parquet(str(case.path))
    df.sample(True, case.out_rows / case.rows, seed).write.parquet(str(out))


def run_library(spark: SparkSession, case: Case, out: Path, seed: int) -> None:
    """``upsample_with_plan`` and a Parquet write."""
    df = spark.read.parquet(str(case.path))
    result = upsample_with_plan(df, LABEL, sampling_strategy=case.strategy, seed=seed)
    result.df.write.parquet(str(out))


def run_job(spark: SparkSession, case: Case, out: Path, seed: int) -> None:
    """The job's whole path, in-process: staging, write, count verification, publish."""
    argv = ["--input", str(case.path), "--output", str(out), "--seed", str(seed),
            "--write-mode", "overwrite"]
    if isinstance(case.strategy, dict):
        argv += ["--strategy", ",".join(f"{c}={t}" for c, t in sorted(case.strategy.items()))]
    code = job_main(argv)
    if code != 0:
        raise RuntimeError(f"spark-upsample exited with {code}")


def run_tutorial(spark: SparkSession, case: Case, out: Path, seed: int) -> None:
    """The common recipe: per class, sample with replacement at target/count, then trim an
    overshoot with ``orderBy(rand()).limit(target)`` or top an undershoot up with another
    ``sample().limit()``; union the classes and write."""
    df = spark.read.parquet(str(case.path))
    counts = {int(r[0]): int(r[1]) for r in df.groupBy(LABEL).count().collect()}
    targets = over_sampling_targets(counts, case.strategy)
    parts = []
    for i, c in enumerate(sorted(counts)):
        rows, target = df.where(F.col(LABEL) == c), targets[c]
        if target == counts[c]:
            parts.append(rows)
            continue
        sampled = rows.sample(True, target / counts[c], seed + i)
        got = sampled.count()
        if got >= target:
            parts.append(sampled.orderBy(F.rand(seed + i)).limit(target))
        else:
            missing = target - got
            fraction = (missing + 6 * math.sqrt(missing) + 10) / counts[c]
            top_up = rows.sample(True, fraction, seed + 1000 + i).limit(missing)
            parts.append(sampled.unionAll(top_up))
    reduce(DataFrame.unionAll, parts).write.parquet(str(out))


SPARK_RUNNERS: dict[str, Callable[[SparkSession, Case, Path, int], None]] = {
    "floor": run_floor,
    "library": run_library,
    "job": run_job,
    "tutorial": run_tutorial,
}


# --------------------------------------------------------------------------------------------
# Single-machine peers, each run in a subprocess: ``benchmark.py peer METHOD INPUT OUTPUT TARGETS``


def peer_main(argv: list[str]) -> int:
    """Run one peer: read ``INPUT`` with pyarrow, resample to ``TARGETS`` (a JSON file of
    label -> count), write ``OUTPUT/part-0.parquet``."""
    import numpy as np
    import pyarrow.parquet as pq

    method, source, target_dir, targets_file, seed = argv
    targets = {int(c): t for c, t in json.loads(Path(targets_file).read_text()).items()}
    table = pq.read_table(source)
    if method == "numpy":
        labels = table.column(LABEL).to_numpy()
        order = np.argsort(labels, kind="stable")
        classes, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
        rng = np.random.default_rng(int(seed))
        picks = []
        for c, start, size in zip(classes.tolist(), starts, sizes):
            members = order[start:start + size]
            picks.append(members if targets[c] == size else rng.choice(members, targets[c]))
        result = table.take(np.concatenate(picks))
    else:
        import pyarrow as pa
        from imblearn.over_sampling import RandomOverSampler

        frame = table.to_pandas()
        del table
        sampler = RandomOverSampler(sampling_strategy=targets, random_state=int(seed))
        x, y = sampler.fit_resample(frame.drop(columns=LABEL), frame[LABEL])
        del frame
        x[LABEL] = y.to_numpy()
        result = pa.Table.from_pandas(x, preserve_index=False)
    Path(target_dir).mkdir(parents=True)
    pq.write_table(result, f"{target_dir}/part-0.parquet")
    return 0


def missing_peer_packages() -> list[str]:
    """The ``bench`` extra's packages that are not importable."""
    import importlib.util

    return [m for m in ("pyarrow", "imblearn", "pandas", "psutil") if importlib.util.find_spec(m) is None]


def run_peer(method: str, case: Case, out: Path, seed: int, limit: int, targets_file: Path) -> int:
    """Run a peer in a subprocess; returns the peak RSS (bytes) of its process tree.

    Raises RuntimeError when it fails or passes ``limit`` bytes (it is then killed)."""
    import psutil

    cmd = [sys.executable, str(Path(__file__).resolve()), "peer", method, str(case.path), str(out),
           str(targets_file), str(seed)]
    with tempfile.TemporaryFile("w+") as stderr:
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
        peak, killed = 0, False
        proc = psutil.Process(child.pid)
        while child.poll() is None:
            rss = tree_rss(proc)
            peak = max(peak, rss)
            if rss > limit:
                for p in [*proc.children(recursive=True), proc]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.kill()
                killed = True
            time.sleep(POLL_SECONDS)
        stderr.seek(0)
        err = stderr.read()
    if killed:
        raise RuntimeError(f"killed at {limit / (1 << 30):.0f} GiB of RSS (peak seen {peak / MIB:,.0f} MiB)")
    if child.returncode != 0:
        last = (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
        raise RuntimeError(f"failed: {last}")
    return peak


def tree_rss(proc: Any) -> int:
    """RSS of a psutil process and all its descendants (0 for those gone meanwhile)."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


# --------------------------------------------------------------------------------------------
# Measurement


class DriverProbe:
    """CPU time and peak RSS of the driver's Python process and JVM (psutil; RSS sampled every
    50 ms), and the JVM heap's peak (sum of the heap pools' peak usage, reset at start). In local
    mode the JVM runs the executors too."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm = spark.sparkContext._jvm
        self._pools = [p for p in self._jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
                       if p.getType().name() == "HEAP"]
        jvm_pid = int(self._jvm.java.lang.ProcessHandle.current().pid())
        try:
            import psutil

            self._procs = [psutil.Process(os.getpid()), psutil.Process(jvm_pid)]
        except ImportError:
            self._procs = []

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the Python driver and the JVM so far (0 without psutil)."""
        return sum(sum(p.cpu_times()[:2]) for p in self._procs)

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
                for i, p in enumerate(self._procs):
                    peaks[i] = max(peaks[i], p.memory_info().rss)
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


def measure_spark(spark: SparkSession, memory: DriverProbe, method: str, case: Case, out: Path,
                  seed: int, repeat: int) -> Run:
    """One timed run of a Spark method, then its output's counts checked (untimed)."""
    run = Run(method, repeat)
    sc = spark.sparkContext
    group = f"bench-{method}-{case.rows}-{case.classes}-{repeat}"
    sc.setJobGroup(group, group)
    try:
        with memory.measure(run), contextlib.redirect_stderr(io.StringIO()):
            start = time.perf_counter()
            SPARK_RUNNERS[method](spark, case, out, seed)
            run.seconds = time.perf_counter() - start
        run.spark_jobs = len(sc.statusTracker().getJobIdsForGroup(group))
        check_output(spark, case, out, run)
    except Exception as error:  # noqa: BLE001 - a failed method is a result, not a crash
        run.error = first_line(error)
    finally:
        sc.setJobGroup("bench-check", "counts of outputs")
    return run


def measure_peer(spark: SparkSession, config: BenchConfig, method: str, case: Case, out: Path,
                 repeat: int) -> Run:
    """One timed run of a single-machine peer in a subprocess, then its counts (untimed)."""
    run = Run(method, repeat)
    targets_file = config.out / "out" / "targets.json"
    targets_file.write_text(json.dumps(case.targets))
    try:
        cpu_start, start = children_cpu_seconds(), time.perf_counter()
        run.py_rss = run_peer(method, case, out, config.seed, config.peer_memory_limit, targets_file)
        run.seconds = time.perf_counter() - start
        run.cpu_seconds = children_cpu_seconds() - cpu_start
        check_output(spark, case, out, run)
    except Exception as error:  # noqa: BLE001
        run.error = first_line(error)
    return run


def children_cpu_seconds() -> float:
    """User + system CPU seconds of all waited-for child processes so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_output(spark: SparkSession, case: Case, out: Path, run: Run) -> None:
    """Per-class counts of the output against the targets; the floor's total against a 6-sigma
    band around its Poisson expectation."""
    counts = label_counts(spark, out)
    run.rows_out = sum(counts.values())
    if run.method == "floor":
        run.counts_ok = abs(run.rows_out - case.out_rows) <= 6 * math.sqrt(case.out_rows) + 6
    else:
        run.counts_ok = counts == case.targets


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def method_order(methods: tuple[str, ...], repeat: int) -> tuple[str, ...]:
    """The methods rotated by ``repeat``, so that none always runs first (or after another)."""
    k = repeat % len(methods)
    return methods[k:] + methods[:k]


def bench_case(spark: SparkSession, config: BenchConfig, memory: DriverProbe, case: Case,
               peer_note: str | None) -> CaseResult:
    result = CaseResult(case)
    methods = list(config.methods)
    if case.classes != 3 and "tutorial" in methods:
        methods.remove("tutorial")
        result.notes.append("tutorial: not run with 1,000 classes (a count and a sort per class)")
    if peer_note:
        methods = [m for m in methods if m not in PEER_METHODS]
        if set(config.methods) & set(PEER_METHODS):
            result.notes.append(peer_note)
    for repeat in range(config.repeats):
        for method in method_order(tuple(methods), repeat):
            out = config.out / "out" / f"{case.path.name}-{method}"
            clean(out)
            if method in PEER_METHODS:
                run = measure_peer(spark, config, method, case, out, repeat)
            else:
                run = measure_spark(spark, memory, method, case, out, config.seed, repeat)
            clean(out)
            result.runs.append(run)
            if run.error and run.error.startswith("killed at"):
                methods.remove(method)  # the same input gives the same peak: no need to retry
                result.notes.append(f"{method}: {run.error}; not repeated")
            status = (f"{run.seconds:7.1f} s, CPU {run.cpu_seconds or 0:6.1f} s"
                      if run.error is None else f"FAILED: {run.error}")
            print(f"  {case.name} | run {repeat + 1}/{config.repeats} | {method:9} {status}",
                  flush=True)
    return result


def clean(out: Path) -> None:
    """Remove an output and the job's staging leftovers beside it."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out.parent / ".spark-upsample", ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Report


def summary_rows(result: CaseResult) -> list[dict[str, Any]]:
    """Per method: median seconds, ratio to the floor, runs, rows, counts and memory peaks."""
    by_method: dict[str, list[Run]] = {}
    for run in result.runs:
        by_method.setdefault(run.method, []).append(run)
    medians = {m: statistics.median([r.seconds for r in runs if r.error is None])
               for m, runs in by_method.items() if any(r.error is None for r in runs)}
    floor = medians.get("floor")
    cpu = {m: statistics.median([r.cpu_seconds for r in runs if r.error is None])
           for m, runs in by_method.items()
           if runs and all(r.cpu_seconds is not None for r in runs if r.error is None)
           and any(r.error is None for r in runs)}
    rows = []
    for method in [m for m in METHODS if m in by_method]:
        runs = by_method[method]
        ok = [r for r in runs if r.error is None]
        median = medians.get(method)

        def peak(attr: str) -> int | None:
            values = [getattr(r, attr) for r in ok if getattr(r, attr) is not None]
            return max(values) if values else None

        rows.append({
            "method": method,
            "median_s": median,
            "x_floor": median / floor if median is not None and floor else None,
            "runs_s": [r.seconds for r in ok],
            "cpu_s": cpu.get(method),
            "cpu_x_floor": cpu[method] / cpu["floor"] if method in cpu and cpu.get("floor") else None,
            "rows_out": ok[0].rows_out if ok else None,
            "counts_ok": all(r.counts_ok for r in ok) if ok else None,
            "spark_jobs": peak("spark_jobs"),
            "py_rss": peak("py_rss"),
            "jvm_rss": peak("jvm_rss"),
            "jvm_heap": peak("jvm_heap"),
            "errors": sorted({r.error for r in runs if r.error}),
        })
    return rows


def markdown_table(result: CaseResult) -> str:
    """The case's table in Markdown."""
    case = result.case
    lines = [
        f"**{case.name}** -> {case.out_rows:,} rows out",
        "",
        "| method | median s | x floor | runs s | CPU s | CPU x floor | rows out | counts "
        "| Spark jobs | Python RSS MiB | JVM RSS MiB | JVM heap peak MiB |",
        "|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for row in summary_rows(result):
        if row["median_s"] is None:
            lines.append(f"| {row['method']} | failed: {'; '.join(row['errors'])} |||||||||||")
            continue
        counts = {True: "exact", False: "WRONG", None: "-"}[row["counts_ok"]]
        if row["method"] == "floor" and row["counts_ok"]:
            counts = "~ (Poisson)"
        tree = " (tree)" if row["method"] in PEER_METHODS else ""
        lines.append(
            f"| {row['method']} | {row['median_s']:.1f} | {ratio(row['x_floor'])} "
            f"| {', '.join(f'{s:.1f}' for s in row['runs_s'])} "
            f"| {'-' if row['cpu_s'] is None else format(row['cpu_s'], '.1f')} "
            f"| {ratio(row['cpu_x_floor'])} "
            f"| {row['rows_out']:,} | {counts} "
            f"| {fmt(row['spark_jobs'], 1)} | {fmt(row['py_rss'], MIB)}{tree} "
            f"| {fmt(row['jvm_rss'], MIB)} | {fmt(row['jvm_heap'], MIB)} |"
        )
        if row["errors"]:
            lines[-1] += f" failed runs: {'; '.join(row['errors'])}"
    lines += [""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines).rstrip() + "\n"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def fmt(value: int | None, unit: int) -> str:
    return "-" if value is None else f"{value / unit:,.0f}"


def write_results(config: BenchConfig, results: list[CaseResult], argv: list[str],
                  spark: SparkSession, stamp: str) -> Path:
    """Write ``<out>/benchmark-<stamp>.md`` (also as ``latest.md``) and the raw runs as JSON."""
    command = "python jobs/benchmark.py " + " ".join(argv)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    header = (
        f"`{command}` ({stamp}; Spark {spark.version}, {spark.sparkContext.master}, "
        f"{os.cpu_count()} cores, load average at the end {load[0]:.1f})\n\n"
        if load else f"`{command}` ({stamp}; Spark {spark.version})\n\n"
    )
    text = header + "\n".join(markdown_table(r) for r in results)
    md = config.out / f"benchmark-{stamp}.md"
    md.write_text(text)
    (config.out / "latest.md").write_text(text)
    raw = [{"case": {k: v for k, v in asdict(r.case).items() if k not in ("counts", "targets")}
            | {"out_rows": r.case.out_rows}, "runs": [asdict(x) for x in r.runs], "notes": r.notes}
           for r in results]
    (config.out / f"benchmark-{stamp}.json").write_text(
        json.dumps({"command": command, "config": asdict(config), "results": raw}, default=str, indent=1))
    print("\n" + text)
    return md


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["peer"]:
        return peer_main(argv[1:])
    config = parse_args(argv)
    (config.out / "out").mkdir(parents=True, exist_ok=True)
    spark = get_session(config)
    memory = DriverProbe(spark)
    missing = missing_peer_packages()
    peer_note = (f"single-machine peers skipped: {', '.join(missing)} not installed "
                 "(pip install -e '.[bench]')") if missing else None
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = []
    for classes in config.classes:
        for rows in config.rows:
            case = ensure_input(spark, config, rows, classes)
            print(f"{case.name}: {len(case.counts)} classes present, {case.out_rows:,} rows out",
                  flush=True)
            results.append(bench_case(spark, config, memory, case, peer_note))
            write_results(config, results, argv, spark, stamp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
