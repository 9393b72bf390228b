"""Faults injected into a Spark job from outside it, for the reliability tests.

:func:`with_fault` puts a ``mapInArrow`` that passes its rows on unchanged in front of a frame
(upstream of the library, which gets the wrapped frame as its input). While the local property
:data:`PROPERTY` is set on the driver's thread (:func:`armed`: just before the action under test,
so that the jobs before it run undisturbed), the first attempt of the task that computes partition
0 of that ``mapInArrow``'s stage misbehaves before its first row, after touching a marker file (so
that a test knows the fault fired):

- ``fail``: raise, as a lost executor or a flaky disk would; Spark retries the task when the
  master allows retries (``local[N,maxFailures]``, any cluster), and the retry must give the
  same rows;
- ``hang``: sleep for an hour, so that a test can kill the job in the middle of its action.

The wrapper hides a file source's ``_metadata``: the library then tells rows apart by partition
position (or by key columns, when given), so compare with a run through the same, unarmed, wrapper.

Run as a script (``spark-submit tests/fault_injection.py MODE MARKER JOB-ARGS...``), it runs the
batch job inside :func:`faulty_job`: its input wrapped by :func:`with_fault`, the fault armed
while the output is written.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession

PROPERTY = "spark_upsample.test.fault"
MODES = ("fail", "hang")
MESSAGE = "injected failure in the first attempt of partition 0"


def with_fault(df: DataFrame) -> DataFrame:
    """``df``'s rows, through a ``mapInArrow`` that misbehaves as :data:`PROPERTY` says."""

    def rows(batches):
        import time
        from pathlib import Path

        from pyspark import TaskContext

        context = TaskContext.get()
        fault = context.getLocalProperty(PROPERTY) if context is not None else None
        if fault and context.partitionId() == 0 and context.attemptNumber() == 0:
            mode, _, marker = fault.partition(":")
            Path(marker).touch()
            if mode == "fail":
                raise RuntimeError(f"{PROPERTY}: {MESSAGE}")
            time.sleep(3600)
        yield from batches

    return df.mapInArrow(rows, df.schema)


@contextmanager
def armed(spark: SparkSession, mode: str, marker: str) -> Iterator[None]:
    """Arm the fault ``mode`` (one of :data:`MODES`) for the jobs this thread starts inside."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Got {mode!r}.")
    spark.sparkContext.setLocalProperty(PROPERTY, f"{mode}:{marker}")
    try:
        yield
    finally:
        spark.sparkContext.setLocalProperty(PROPERTY, None)  # type: ignore[arg-type]  # unsets it


@contextmanager
def faulty_job(mode: str, marker: str) -> Iterator[None]:
    """Inside, the batch job (:func:`spark_upsample.job.cli.main`) reads its input through
    :func:`with_fault` and, unless ``mode`` is ``off``, arms the fault while it writes the output.
    """
    from spark_upsample.job import cli
    from spark_upsample.job.tables import TableOutput

    read, write, commit = cli.read_input, cli.write_output, TableOutput.write

    def read_input(spark, config):
        return with_fault(read(spark, config))

    def write_output(df, *rest):
        if mode == "off":
            return write(df, *rest)
        with armed(df.sparkSession, mode, marker):
            return write(df, *rest)

    def write_table(self, df):  # a catalog table's, or a Delta path's, one commit
        if mode == "off":
            return commit(self, df)
        with armed(df.sparkSession, mode, marker):
            return commit(self, df)

    cli.read_input, cli.write_output, TableOutput.write = read_input, write_output, write_table
    try:
        yield
    finally:
        cli.read_input, cli.write_output, TableOutput.write = read, write, commit


def main(mode: str, marker: str, args: list[str]) -> int:
    """The batch job's exit code for ``args``, inside :func:`faulty_job`."""
    from spark_upsample.job import cli

    with faulty_job(mode, marker):
        return cli.main(args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
