"""The results: a Markdown table per case (printed and written) and the raw runs as JSON."""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from bench.config import METHODS, PEER_METHODS, BenchConfig
from bench.measure import CaseResult, Run
from bench.profile import render

MIB = 1 << 20
COLUMNS = (
    "method",
    "median s",
    "x floor",
    "runs s",
    "CPU s",
    "CPU x floor",
    "rows out",
    "counts",
    "cells",
    "plan s",
    "Spark jobs",
    "Python RSS MiB",
    "JVM (+ workers) RSS MiB",
    "JVM heap peak MiB",
    "load before/after",
)
ALIGN = ("---", "---:", "---:", "---", "---:", "---:", "---:", "---") + ("---:",) * 6 + ("---",)


def summary_rows(result: CaseResult) -> list[dict[str, Any]]:
    """Per method: median seconds, ratio to the floor, runs, rows, counts, cells, planning
    seconds and memory peaks."""
    by_method: dict[str, list[Run]] = {}
    for run in result.runs:
        by_method.setdefault(run.method, []).append(run)
    ok = {m: [r for r in runs if r.error is None] for m, runs in by_method.items()}
    medians = {m: median(runs, "seconds") for m, runs in ok.items()}
    cpu = {m: median(runs, "cpu_seconds") for m, runs in ok.items()}
    rows = []
    for method in [m for m in METHODS if m in by_method]:
        good = ok[method]
        rows.append(
            {
                "method": method,
                "median_s": medians[method],
                "x_floor": quotient(medians[method], medians.get("floor")),
                "runs_s": [r.seconds for r in good],
                "cpu_s": cpu[method],
                "cpu_x_floor": quotient(cpu[method], cpu.get("floor")),
                "rows_out": good[0].rows_out if good else None,
                "counts_ok": all(r.counts_ok for r in good) if good else None,
                "cells": good[0].cells if good else None,
                "plan_s": median(good, "plan_seconds"),
                "spark_jobs": peak(good, "spark_jobs"),
                "py_rss": peak(good, "py_rss"),
                "jvm_rss": peak(good, "jvm_rss"),
                "jvm_heap": peak(good, "jvm_heap"),
                "errors": sorted({r.error for r in by_method[method] if r.error}),
                "loads": [r.load for r in good if r.load is not None],
            }
        )
    return rows


def median(runs: list[Run], attr: str) -> float | None:
    """The median of ``attr`` over ``runs``; None when there are none or one lacks it."""
    values = [getattr(r, attr) for r in runs]
    return statistics.median(values) if values and None not in values else None


def peak(runs: list[Run], attr: str) -> int | None:
    values = [getattr(r, attr) for r in runs if getattr(r, attr) is not None]
    return max(values) if values else None


def quotient(value: float | None, floor: float | None) -> float | None:
    return value / floor if value is not None and floor else None


def markdown_table(result: CaseResult) -> str:
    """The case's table in Markdown."""
    case = result.case
    lines = [
        f"**{case.name}** -> {case.out_rows:,} rows out",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(ALIGN) + "|",
    ]
    for row in summary_rows(result):
        if row["median_s"] is None:
            failed = "; ".join(row["errors"])
            lines.append(f"| {row['method']} | failed: {failed} |" + "|" * (len(COLUMNS) - 2))
            continue
        counts = {True: "exact", False: "WRONG", None: "-"}[row["counts_ok"]]
        if row["method"] == "floor" and row["counts_ok"]:
            counts = "~ (Poisson)"
        tree = " (tree)" if row["method"] in PEER_METHODS else ""
        lines.append(
            f"| {row['method']} | {row['median_s']:.1f} | {ratio(row['x_floor'])} "
            f"| {', '.join(f'{s:.1f}' for s in row['runs_s'])} "
            f"| {fmt(row['cpu_s'], 1, '.1f')} | {ratio(row['cpu_x_floor'])} "
            f"| {row['rows_out']:,} | {counts} "
            f"| {fmt(row['cells'], 1)} | {fmt(row['plan_s'], 1, '.1f')} "
            f"| {fmt(row['spark_jobs'], 1)} | {fmt(row['py_rss'], MIB)}{tree} "
            f"| {fmt(row['jvm_rss'], MIB)} | {fmt(row['jvm_heap'], MIB)} "
            f"| {', '.join(f'{a:.1f}/{b:.1f}' for a, b in row['loads']) or '-'} |"
        )
        if row["errors"]:
            lines[-1] += f" failed runs: {'; '.join(row['errors'])}"
    lines += [""] + [f"- {n}" for n in result.notes]
    lines += profile_tables(result)
    return "\n".join(lines).rstrip() + "\n"


def profile_tables(result: CaseResult) -> list[str]:
    """With ``--profile``: per Spark method, the profile of its median run (the one whose
    seconds are the lower median), as a Markdown table."""
    lines = []
    for method in METHODS:
        runs = sorted(
            (r for r in result.runs if r.method == method and r.profile and r.seconds is not None),
            key=lambda r: r.seconds or 0.0,
        )
        if runs:
            run = runs[(len(runs) - 1) // 2]
            head = f"Profile of **{method}**, run {run.repeat + 1} ({run.seconds:.1f} s):"
            lines += ["", head, "", *render(run.profile or [])]
    return lines


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def fmt(value: float | None, unit: int, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value / unit, spec)


def write_results(
    config: BenchConfig, results: list[CaseResult], argv: list[str], spark: SparkSession, stamp: str
) -> Path:
    """Write ``<out>/benchmark-<stamp>.md`` (also as ``latest.md``) and the raw runs as JSON."""
    command = "python jobs/benchmark.py " + " ".join(argv)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    header = f"`{command}` ({stamp}; Spark {spark.version}"
    if load:
        header += f", {spark.sparkContext.master}, {os.cpu_count()} cores, "
        header += f"load average at the end {load[0]:.1f}"
    text = header + ")\n\n" + "\n".join(markdown_table(r) for r in results)
    md = config.out / f"benchmark-{stamp}.md"
    md.write_text(text)
    (config.out / "latest.md").write_text(text)
    details = ("counts", "targets", "strategy")
    raw = [
        {
            "case": {k: v for k, v in asdict(r.case).items() if k not in details}
            | {"name": r.case.name, "cells": r.case.cells, "out_rows": r.case.out_rows},
            "runs": [asdict(x) for x in r.runs],
            "notes": r.notes,
        }
        for r in results
    ]
    document = {"command": command, "config": asdict(config), "results": raw}
    (config.out / f"benchmark-{stamp}.json").write_text(json.dumps(document, default=str, indent=1))
    print("\n" + text)
    return md
