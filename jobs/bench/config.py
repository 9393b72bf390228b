"""The benchmark's command line (documented in ``jobs/benchmark.py``) and shared constants."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

LABEL = "label"
GROUP = "g"  # the group column of the group cases
SPARK_METHODS = ("floor", "library", "job", "tutorial")
PEER_METHODS = ("numpy", "imblearn")
METHODS = SPARK_METHODS + PEER_METHODS
CLASS_COUNTS = (3, 1000)
MIN_GROUP_ROWS = 10  # a group of 10 rows holds 9 + 1: both classes, 90/10
SMALL_CLASSES = 997  # the high-ratio case: this many classes of SMALL_ROWS rows each
SMALL_ROWS = 15
MIN_HIGH_RATIO_ROWS = 20_000  # the small classes' 14,955 rows and a few thousand large ones
SUSY_MAJORITY = 2_712_173  # SUSY at imbalance ratio 16: 2,881,796 rows, 169,623 minority
SUSY_MINORITY = 169_623
SMOTE_FEATURES = 18
K_NEIGHBORS = 5
SMOTE_FACTORS = (1, 10)  # minority sizes of the SMOTE cases, in SUSY_MINORITY


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and where.

    Attributes
    ----------
    rows : input sizes (rows) of the class cases
    classes : class cases: 3 (98/1.5/0.5 %, strategy "auto") and/or 1000 (three large classes
        with 97 %, the rest Zipf-like, raised to one common count so that the output has as many
        rows as the 3-class case's); empty for none
    groups : group cases: ``group_by`` on a column ``g`` with this many groups of ``group_rows``
        rows, each 90/10 over 2 classes, strategy "auto"
    group_rows : rows per group in the group cases
    high_ratio : input sizes of the high-ratio case (997 classes of 15 rows each raised to 1.5 %
        of the input rows each, 45,000 at 3M; 3 large classes), each followed by a 3-class case
        with as many output rows
    repeats : runs of every method per case (the median is reported)
    methods : which of :data:`METHODS` to run
    out : folder for data, outputs and results (gitignored)
    seed : seed of the data generator and of every sampler
    driver_memory : ``spark.driver.memory`` of a session this script creates; None: Spark's
        default (1g)
    peer_memory_limit : bytes; a peer whose process tree's RSS passes it is killed
    peer_time_limit : seconds; a peer still running then is killed (None: no limit)
    smote : SMOTE cases: the SUSY-shaped input with its minority class times each factor
        (1: SUSY at ratio 16; 10: ten times as many minority rows)
    smote_scale : both classes of the SMOTE cases times this (1: full size; less for a dry run)
    profile : per Spark method run, list every Spark job it ran (its seconds, tasks and the call
        that ran it) and the driver's seconds between them (:mod:`bench.profile`)
    """

    rows: tuple[int, ...] = (1_000_000, 10_000_000)
    classes: tuple[int, ...] = (3,)
    groups: tuple[int, ...] = ()
    group_rows: int = 20
    high_ratio: tuple[int, ...] = ()
    repeats: int = 3
    methods: tuple[str, ...] = METHODS
    out: Path = Path("bench-results")
    seed: int = 1
    driver_memory: str | None = None
    peer_memory_limit: int = 10 << 30
    peer_time_limit: float | None = None
    smote: tuple[int, ...] = ()
    smote_scale: float = 1.0
    profile: bool = False


def parse_args(argv: list[str]) -> BenchConfig:
    """The :class:`BenchConfig` of the command line; a usage error exits with code 2."""
    d = BenchConfig()
    p = argparse.ArgumentParser(
        prog="benchmark.py",
        description="Benchmark spark-upsample against a plain copy, the tutorial recipe and "
        "single-machine peers (see the module docstring of jobs/benchmark.py).",
    )
    add = p.add_argument
    add("--rows", default=ints_text(d.rows), help="input sizes of the class cases")
    add("--classes", default=ints_text(d.classes), help="3 and/or 1000, or none")
    add("--groups", default="", help="group cases: numbers of groups (x 2 classes)")
    add("--group-rows", type=int, default=d.group_rows, help="rows per group (90/10)")
    add("--high-ratio", default="", help="input sizes of the high-ratio case (e.g. 3000000)")
    add("--repeats", type=int, default=d.repeats)
    add("--methods", default=",".join(d.methods), help=f"subset of {','.join(METHODS)}")
    add(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the single-machine peers (numpy, imblearn)",
    )
    add("--smote", default="", help="SMOTE cases: minority factors, 1 (SUSY at ratio 16) and/or 10")
    add(
        "--smote-scale",
        type=float,
        default=d.smote_scale,
        help="shrink the SMOTE cases' rows by this factor (e.g. 0.01 for a dry run)",
    )
    add(
        "--peer-time-limit",
        type=float,
        default=None,
        help="seconds; a peer still running then is killed (default: none)",
    )
    add("--out", default=str(d.out))
    add("--seed", type=int, default=d.seed)
    add("--driver-memory", default=None, help="spark.driver.memory (default: Spark's, 1g)")
    add(
        "--peer-memory-limit",
        type=float,
        default=d.peer_memory_limit / (1 << 30),
        help="GiB; a peer whose process tree passes it is killed",
    )
    add(
        "--profile",
        action="store_true",
        help="per Spark method run: the seconds of every Spark job and of the driver between them",
    )
    a = p.parse_args(argv)
    try:
        rows, groups, high_ratio = int_list(a.rows), int_list(a.groups), int_list(a.high_ratio)
        smote = int_list(a.smote)
        classes = () if a.classes == "none" else int_list(a.classes)
    except ValueError:
        p.error("--rows, --classes, --groups and --high-ratio take comma-separated integers")
    methods = tuple(m for m in a.methods.split(",") if m)
    unknown = set(methods) - set(METHODS)
    if unknown or not methods:
        p.error(f"--methods: unknown {sorted(unknown)}; choose from {METHODS}")
    if set(classes) - set(CLASS_COUNTS):
        p.error("--classes takes 3 and/or 1000, or none")
    if min(rows + groups, default=1) < 1:
        p.error("--rows and --groups must be positive")
    if a.group_rows < MIN_GROUP_ROWS:
        p.error(f"--group-rows must be >= {MIN_GROUP_ROWS}")
    if min(high_ratio, default=MIN_HIGH_RATIO_ROWS) < MIN_HIGH_RATIO_ROWS:
        p.error(f"--high-ratio takes input sizes >= {MIN_HIGH_RATIO_ROWS:,}")
    if set(smote) - set(SMOTE_FACTORS):
        p.error(f"--smote takes {' and/or '.join(map(str, SMOTE_FACTORS))}")
    if not 0 < a.smote_scale <= 1:
        p.error("--smote-scale must be in (0, 1]")
    if not (classes and rows) and not groups and not high_ratio and not smote:
        p.error("no case to run: give --classes with --rows, --groups, --high-ratio or --smote")
    if a.repeats < 1:
        p.error("--repeats must be >= 1")
    if not a.peers:
        methods = tuple(m for m in methods if m not in PEER_METHODS)
    return BenchConfig(
        rows=rows,
        classes=classes,
        groups=groups,
        group_rows=a.group_rows,
        high_ratio=high_ratio,
        repeats=a.repeats,
        methods=methods,
        out=Path(a.out),
        seed=a.seed,
        driver_memory=a.driver_memory,
        peer_memory_limit=int(a.peer_memory_limit * (1 << 30)),
        peer_time_limit=a.peer_time_limit,
        smote=smote,
        smote_scale=a.smote_scale,
        profile=a.profile,
    )


def int_list(text: str) -> tuple[int, ...]:
    """``"1000000,10000000"`` -> ``(1000000, 10000000)``; ``""`` -> ``()``."""
    return tuple(int(v) for v in text.split(",") if v.strip())


def ints_text(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values))
