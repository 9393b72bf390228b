"""Small helpers shared by the Spark tests."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyspark
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

FIXTURES = Path(__file__).parent / "fixtures"

# Spark 4 words some errors differently from Spark 3.5 (the suite runs on both, see .ci/run).
SPARK_4 = int(pyspark.__version__.split(".")[0]) >= 4


def sqlstate(code: str) -> str:
    """The end of a Spark error message: Spark 4 appends its SQLSTATE, Spark 3.5 does not."""
    return f" SQLSTATE: {code}" if SPARK_4 else ""


# Chi-square critical value at p = 0.001 for 9 degrees of freedom (10 cells).
CHI2_CRITICAL_9DF_P001 = 27.877


def iris_imbalanced(spark: SparkSession) -> DataFrame:
    """The seed example: iris without its first 40 rows, label 0 for setosa (10) else 1 (100)."""
    iris = spark.read.csv(str(FIXTURES / "iris.csv"), header=True, inferSchema=True)
    return (
        iris.withColumn("row_id", F.monotonically_increasing_id())
        .where(F.col("row_id") >= 40)
        .withColumn("label", F.when(F.col("species") == 0, 0).otherwise(1))
    )


def label_counts(df: DataFrame, label_col: str = "label") -> dict:
    return {r[0]: r[1] for r in df.groupBy(label_col).count().collect()}


def chi_square(observed: Counter, cells: list) -> float:
    total = sum(observed[c] for c in cells)
    expected = total / len(cells)
    return sum((observed[c] - expected) ** 2 / expected for c in cells)


def assert_valid_report(report: dict) -> None:
    """``report`` follows the JSON Schema the package ships (every error listed), and its times
    are ISO 8601 with a time zone (the schema's date-time format, which jsonschema checks only
    with an optional package)."""
    import json
    from datetime import datetime

    from jsonschema import Draft202012Validator

    from spark_upsample.job.report import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '(report)'}: {e.message}"
        for e in Draft202012Validator(schema).iter_errors(report)
    ]
    assert not errors, "\n".join(errors)
    for key in ("started_at", "finished_at"):
        assert datetime.fromisoformat(report[key]).tzinfo is not None, report[key]


def write_events(spark: SparkSession, path: Path, sizes: dict[str, int]) -> str:
    """A Parquet input of the job's tests at ``path``, in two files: ``id``, a string ``label``
    with ``sizes[label]`` rows of each, in that order, and a double feature ``x`` (id / 10)."""
    labels = [c for c, n in sizes.items() for _ in range(n)]
    df = spark.createDataFrame(
        [(i, c, i / 10) for i, c in enumerate(labels)], "id long, label string, x double"
    )
    df.coalesce(2).write.parquet(str(path))
    return str(path)
