"""Benchmark: spark-upsample beside a plain copy, the tutorial recipe and single-machine peers.

Run from the project root (see docs/performance.md)::

    .venv/bin/python jobs/benchmark.py --rows 1000000,10000000 --classes 3,1000 --repeats 3
    .venv/bin/python jobs/benchmark.py --classes none --groups 100000,500000 --high-ratio 3000000
    spark-submit jobs/benchmark.py --rows 1000000 --repeats 1

Cases (each input is generated once as Parquet under ``<out>/data`` and reused; ``bench.data``
describes the shapes):

- ``--rows R1,R2 --classes 3,1000`` (default ``--rows 1000000,10000000 --classes 3``): every
  input size with 3 classes (98/1.5/0.5 %, strategy "auto") and/or 1000 classes (3 large, 997
  small raised to one common count: as many rows out as the 3-class case). ``--classes none``:
  no class case.
- ``--groups G1,G2``: ``group_by=["g"]`` with G groups x 2 classes (2G cells), each group
  ``--group-rows`` rows (default 20: 18 + 2, 90/10), strategy "auto". ``--groups 100000`` is
  the 100,000-group case (2M rows), ``--groups 500000`` the 1,000,000-cell case (10M rows).
- ``--high-ratio R``: 997 classes of 15 rows each raised to 1.5 % of R rows each (45,000 at
  ``--high-ratio 3000000``, a dict strategy with ``max_ratio=None``, the job's
  ``--max-ratio 0``) and 3 large classes, R rows in all; followed by the 3-class case with as
  many rows out (about 16.3M rows in at R = 3M) to compare with.

Per case it measures, alternating and in a rotating order, ``--repeats`` times (default 3):

- ``floor``: read the input and write as many rows as the resampled output has, with
  ``sample(True, out_rows / in_rows)`` and no resampling logic;
- ``library``: :func:`spark_upsample.upsample_with_plan` and ``df.write.parquet``;
- ``job``: :func:`spark_upsample.job.cli.main` in-process on the same session (staging folder,
  write, re-read of the output to verify the counts, publish);
- ``tutorial``: per class ``sample(True, fraction)``, trimmed by ``orderBy(rand()).limit(n)`` or
  topped up by another ``sample().limit()``, unioned and written (3-class cases only: with 1,000
  classes or 2G cells it is a count and a sort per class or cell);
- ``numpy`` and ``imblearn``: pyarrow + ``numpy.random.Generator.choice``, and imbalanced-learn's
  ``RandomOverSampler``, each in a subprocess killed when its process tree passes
  ``--peer-memory-limit`` GiB (default 10); not for group cases (they resample per class); they
  need the ``bench`` extra and are skipped with a note when it is absent, or with ``--no-peers``;
  ``--peer-time-limit S`` also kills a peer still running after S seconds.

- ``--smote 1,10``: SMOTE (k = 5, strategy "auto", exactly 1:1) on synthetic data shaped like
  SUSY at imbalance ratio 16 (2,712,173 + 169,623 rows x 18 double features, each class from its
  own correlated distribution, generated with numpy from the seed), and with a minority class
  10 times as large (1,696,230 rows); ``--smote-scale 0.01`` shrinks both for a dry run. There
  ``library`` is :func:`spark_upsample.smote_with_plan`, ``job`` the job with ``--method
  smote``, ``imblearn`` imbalanced-learn's ``SMOTE(k_neighbors=5)`` (``tutorial`` and ``numpy``
  do not apply). The published figures of Approx-SMOTE and SMOTE-BD are noted beside it.

``--profile`` prints, after each run of a Spark method, every Spark job it ran (seconds, tasks,
and the action with the function and line that called it) and the driver's seconds between them,
and puts the profile of each method's median run in the Markdown (``bench.profile``).

``--methods floor,library,...`` picks a subset. Without spark-submit the session is ``local[2]``
with the UI off and Spark's default driver memory (1g), or ``--driver-memory``.

Each run is timed on the wall clock and in CPU seconds (user + system of the driver's Python
process and JVM, which in local mode runs the executors too; of the peer's subprocess), the
measure that stays comparable when other work shares the machine. For the library and the job
the table also gives the plan's (group, class) cells and the planning seconds: the wall time of
the ``upsample_with_plan`` call (the counting and cut jobs, before the write), and the job's
``timings_seconds.count_and_plan`` from its report. Every output is then read back (untimed) and
its counts per class, or per (group, class) cell, compared with the targets, and the library's
plan cell by cell (the floor's total with its Poisson expectation). Memory is sampled every 50 ms
(psutil): the driver's Python process RSS, the RSS of the JVM and its Python workers, and the
JVM heap peak (heap pools' peak usage, reset before each run); for the peers, the RSS of the
whole process tree. The 1-minute load average before and after each run goes beside it (the
machine may be shared). Medians, ratios to the floor and peaks go to a table, printed and
written as Markdown (with the raw runs as JSON) under ``--out`` (default ``bench-results``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # the ``bench`` package beside this file
    sys.path.insert(0, str(HERE))
if str(ROOT) not in sys.path:  # a fresh clone; an installed spark_upsample or PYTHONPATH wins
    sys.path.append(str(ROOT))


def main(argv: list[str]) -> int:
    """``peer ...`` runs one single-machine peer (in the subprocess the benchmark starts, without
    loading PySpark); anything else is the benchmark's command line."""
    if argv[:1] == ["peer"]:
        from bench.peers import peer_main

        return peer_main(argv[1:])
    from bench.runner import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
