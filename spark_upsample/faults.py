"""Fault injection for the reliability tests. Off unless ``SPARK_UPSAMPLE_TEST_FAULT`` is set.

``SPARK_UPSAMPLE_TEST_FAULT="<mode>:<marker path>"``, read on the driver when the sampled frame is
built, makes the first attempt of the task that computes partition 0 of that frame misbehave once
it reaches its first row, after touching the marker file (so a test knows the fault fired):

- ``fail``: raise, as a lost executor or a flaky disk would; Spark retries the task when the
  master allows retries (``local[N,maxFailures]``, any cluster), and the retry must give the
  same rows;
- ``hang``: sleep for an hour, so that a test can kill the job in the middle of writing.

With the variable unset the frame is returned unchanged: no UDF, no cost.
"""

from __future__ import annotations

import os

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

ENV = "SPARK_UPSAMPLE_TEST_FAULT"
MODES = ("fail", "hang")


def inject(df: DataFrame) -> DataFrame:
    """``df``, with the fault of :data:`ENV` in its first task when the variable is set."""
    setting = os.environ.get(ENV)
    if not setting:
        return df
    mode, _, marker = setting.partition(":")
    if mode not in MODES or not marker:
        raise ValueError(
            f"{ENV} must be 'fail:<marker path>' or 'hang:<marker path>'. Got {setting!r}."
        )

    def passes(partition: int) -> bool:
        import time
        from pathlib import Path

        from pyspark import TaskContext

        context = TaskContext.get()
        if partition == 0 and context is not None and context.attemptNumber() == 0:
            Path(marker).touch()
            if mode == "fail":
                raise RuntimeError(f"{ENV}: injected failure in the first attempt of partition 0")
            time.sleep(3600)
        return True

    check = F.udf(passes, "boolean").asNondeterministic()
    return df.where(check(F.spark_partition_id()))
