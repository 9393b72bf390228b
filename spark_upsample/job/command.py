"""The ``spark-upsample`` command (the console script, ``python -m spark_upsample`` and
Databricks' ``python_wheel_task``, all through :func:`entry_point`).

``--help``, ``--version`` and ``spark-upsample report PATH.json`` (a saved report's page) need no
Spark, so they run where no PySpark is installed; anything else is a run of the job,
:func:`spark_upsample.job.cli.main`, which needs PySpark 3.5 or newer: without it, the one line
of :func:`spark_upsample.pyspark_check.require_pyspark` and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from spark_upsample.job.options import EXIT_CONFIG, build_parser
from spark_upsample.job.report_command import report_main
from spark_upsample.pyspark_check import PySparkMissingError, require_pyspark


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["report"]:
        return report_main(args[1:])
    try:
        require_pyspark()
    except PySparkMissingError as missing:
        try:
            build_parser().parse_args(args)  # --help and --version end here, as do bad options
        except SystemExit as exit_:
            return int(exit_.code or 0)
        print(f"spark-upsample: error: {missing}", file=sys.stderr)
        return EXIT_CONFIG
    from spark_upsample.job.cli import main as run_job  # imports PySpark

    return run_job(args)


def entry_point() -> None:
    """The entry point of the console script, ``python -m`` and a Databricks
    ``python_wheel_task``: :func:`main` on ``sys.argv[1:]``.

    Returns normally when the exit code is 0 and raises ``SystemExit(code)`` otherwise, so that a
    caller that calls it as a function and ignores what it returns (a wheel task, which fails on
    an exception or a non-zero ``SystemExit``) still sees the failure.
    """
    code = main()
    if code:
        raise SystemExit(code)
