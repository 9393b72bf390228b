"""The benchmark's loop: the session, then per case every method ``repeats`` times, in a
rotating order, with the tables rewritten after each case."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import SparkSession

from bench.config import PEER_METHODS, BenchConfig, parse_args
from bench.data import OUTPUT_FACTOR, Case, class_case, group_case, high_ratio_case, smote_case
from bench.measure import CaseResult, DriverProbe, measure_peer, measure_spark
from bench.peers import missing_peer_packages
from bench.profile import Profiler, render
from bench.report import write_results


def main(argv: list[str]) -> int:
    """Run the benchmark of the command line ``argv``; returns the exit code."""
    config = parse_args(argv)
    (config.out / "out").mkdir(parents=True, exist_ok=True)
    spark = get_session(config)
    probe = DriverProbe(spark)
    profiler = Profiler(spark) if config.profile else None
    missing = missing_peer_packages()
    peer_note = None
    if missing:
        peer_note = f"single-machine peers skipped: {', '.join(missing)} not installed "
        peer_note += "(pip install -e '.[bench]')"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    results = []
    for case, notes in cases(spark, config):
        print(f"{case.name}: {case.cells:,} cells, {case.out_rows:,} rows out", flush=True)
        result = bench_case(spark, config, probe, case, peer_note, profiler)
        result.notes[:0] = notes
        results.append(result)
        write_results(config, results, argv, spark, stamp)
    return 0


def get_session(config: BenchConfig) -> SparkSession:
    """The active session (spark-submit), else a new ``local[2]`` one with the UI off,
    ``config.driver_memory`` (when given) and this interpreter as its Python workers' (unless
    ``PYSPARK_PYTHON`` names one)."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.appName("spark-upsample-benchmark")
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit: we pick the settings
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # SMOTE's workers need our numpy
        builder = (
            builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
        )
        if config.driver_memory is not None:
            builder = builder.config("spark.driver.memory", config.driver_memory)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def cases(spark: SparkSession, config: BenchConfig) -> Iterator[tuple[Case, list[str]]]:
    """The cases in order, each with its notes, generating each input when first needed: the
    class cases, the group cases, each high-ratio case followed by the 3-class case with as many
    rows out, then the SMOTE cases."""
    for classes in config.classes:
        for rows in config.rows:
            yield class_case(spark, config, rows, classes), []
    for groups in config.groups:
        yield group_case(spark, config, groups), []
    for rows in config.high_ratio:
        case = high_ratio_case(spark, config, rows)
        twin = round(case.out_rows / OUTPUT_FACTOR)
        yield case, [f"compare with the next case, 3 classes at {twin:,} rows: as many rows out"]
        yield class_case(spark, config, twin, 3), ["as many rows out as the high-ratio case above"]
    for factor in config.smote:
        yield smote_case(config, factor), smote_notes(config, factor)


def smote_notes(config: BenchConfig, factor: int) -> list[str]:
    """What a SMOTE case is, and the published figures to read its times beside."""
    scale = f" (scaled by {config.smote_scale:g})" if config.smote_scale != 1 else ""
    notes = [
        f"SUSY-shaped synthetic data{scale}, minority class x{factor}, balanced to 1:1 by "
        "SMOTE k=5; imblearn: imbalanced-learn's SMOTE(k_neighbors=5) in one process"
    ]
    if factor == 1:
        notes.append(
            "published (Neurocomputing 2021, SUSY at ratio 16, k=5, 2 workers of 2 "
            "vCPUs): Approx-SMOTE 175.7 s (77.2 s on 10 workers); SMOTE-BD 1,321 s"
        )
    return notes


def bench_case(
    spark: SparkSession,
    config: BenchConfig,
    probe: DriverProbe,
    case: Case,
    peer_note: str | None,
    profiler: Profiler | None = None,
) -> CaseResult:
    """Every method of ``config`` that applies to ``case``, ``config.repeats`` times (each Spark
    method's run profiled when a ``profiler`` is given)."""
    result = CaseResult(case)
    methods = list(config.methods)
    if case.feature_cols:
        dropped = [m for m in methods if m in ("tutorial", "numpy")]
        methods = [m for m in methods if m not in dropped]
        if dropped:
            result.notes.append(f"{', '.join(dropped)}: random over-sampling only, not run")
    if "tutorial" in methods and (case.groups or len(case.counts) != 3):
        methods.remove("tutorial")
        shape = f"{case.groups:,} groups" if case.groups else f"{len(case.counts):,} classes"
        per = "cell" if case.groups else "class"
        result.notes.append(f"tutorial: not run with {shape} (a count and a sort per {per})")
    peers = [m for m in methods if m in PEER_METHODS]
    if peers and (case.groups or peer_note):
        methods = [m for m in methods if m not in PEER_METHODS]
        by_group = f"{', '.join(peers)}: not run with group_by (they resample per class only)"
        result.notes.append(by_group if case.groups else str(peer_note))
    for repeat in range(config.repeats if methods else 0):
        for method in method_order(tuple(methods), repeat):
            out = config.out / "out" / f"{case.path.name}-{method}"
            clean(out)
            if method in PEER_METHODS:
                run = measure_peer(spark, config, method, case, out, repeat)
            else:
                run = measure_spark(spark, probe, method, case, out, config.seed, repeat, profiler)
            clean(out)
            result.runs.append(run)
            if run.error and run.error.startswith("killed"):
                methods.remove(method)  # the same input gives the same peak: no need to retry
                result.notes.append(f"{method}: {run.error}; not repeated")
            status = f"FAILED: {run.error}"
            if run.error is None:
                status = f"{run.seconds:7.1f} s, CPU {run.cpu_seconds or 0:6.1f} s"
            line = f"  {case.name} | run {repeat + 1}/{config.repeats} | {method:9} {status}"
            print(line, flush=True)
            if run.profile:
                print("\n".join("    " + line for line in render(run.profile)), flush=True)
    return result


def method_order(methods: tuple[str, ...], repeat: int) -> tuple[str, ...]:
    """The methods rotated by ``repeat``, so that none always runs first (or after another)."""
    k = repeat % len(methods)
    return methods[k:] + methods[:k]


def clean(out: Path) -> None:
    """Remove an output and the job's staging leftovers beside it."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(out.parent / ".spark-upsample", ignore_errors=True)
