"""SMOTE on the executors, in a process of its own (test code for tests/test_smote.py).

``python tests/smote_executors.py WORKDIR PYTHON_WITHOUT_NUMPY PYTHON_WITHOUT_SPARK_UPSAMPLE``:

1. on ``local[2,4]`` (a task may fail and be retried), SMOTE of the same input twice, the
   second time read through a ``mapInArrow`` that fails the first attempt of partition 0 (after
   touching ``WORKDIR/retry-marker``); prints ``retried: same rows`` when both give the same rows;
2. a new session whose Python workers cannot import numpy (``PYTHON_WITHOUT_NUMPY``): writing
   SMOTE's output to ``WORKDIR/no-numpy`` fails; prints ``missing numpy: <first line>`` with the
   first line of the error that names the missing dependency;
3. the same with workers that cannot import spark_upsample itself: prints
   ``missing spark_upsample: <first line>``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_upsample import smote  # noqa: E402
from spark_upsample.transforms.smote import MISSING_DEPENDENCY  # noqa: E402

SCHEMA = "id long, label string, a double, b double"


def session(master: str) -> SparkSession:
    spark = (
        SparkSession.builder.master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("OFF")
    return spark


def data(spark: SparkSession):
    rows = [
        (i, "minor" if i % 5 == 0 else "major", float(i % 7), float(i % 11)) for i in range(200)
    ]
    return spark.createDataFrame(rows, SCHEMA).repartition(3, "id")


def failing_once(df, marker: Path):
    def fail_first_attempt(batches):
        from pyspark import TaskContext

        context = TaskContext.get()
        if context.partitionId() == 0 and context.attemptNumber() == 0:
            marker.touch()
            raise RuntimeError("injected failure in the first attempt of partition 0")
        yield from batches

    return df.mapInArrow(fail_first_attempt, df.schema)


def main(workdir: str, python_without_numpy: str, python_without_package: str) -> None:
    work = Path(workdir)
    spark = session("local[2,4]")
    df = data(spark)
    options = dict(seed=8, key_cols=["id"], lineage_col="lineage", detail=True)
    clean = sorted(map(tuple, smote(df, "label", ["a", "b"], **options).collect()))
    retried = sorted(
        map(
            tuple,
            smote(
                failing_once(df, work / "retry-marker"), "label", ["a", "b"], **options
            ).collect(),
        )
    )
    print("retried: same rows" if clean == retried and len(clean) == 320 else "retried: DIFFERENT")
    spark.stop()

    for what, python in (
        ("numpy", python_without_numpy),
        ("spark_upsample", python_without_package),
    ):
        os.environ["PYSPARK_PYTHON"] = python
        spark = session("local[2]")
        try:
            smote(data(spark), "label", ["a", "b"], seed=8).write.parquet(str(work / f"no-{what}"))
            print(f"missing {what}: no error")
        except Exception as error:  # noqa: BLE001 - the test checks the message
            text = str(error)
            at = text.find(MISSING_DEPENDENCY)
            print(f"missing {what}: " + (text[at:].splitlines()[0] if at >= 0 else text[:2000]))
        spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
