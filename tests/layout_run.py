"""Run every transform on one input under one Spark layout; the identity tests compare layouts.

``python tests/layout_run.py MASTER MAX_PARTITION_BYTES PARQUET_IN CSV_IN OUT`` starts its own
session (a new process, so the core count can differ), reads the inputs with that split size,
and writes each transform's output as Parquet under ``OUT/<name>``, plus ``OUT/layout.json``
with the number of input partitions (test code: it may use the RDD API). A test runs one layout
in its own session with :func:`write_outputs` (the split size is a runtime conf).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_upsample import downsample, resample, split, upsample, with_folds  # noqa: E402 - after the sys.path insert

SEED = 11


@contextmanager
def split_size(spark: SparkSession, max_bytes: str) -> Iterator[None]:
    """Read files in splits of ``max_bytes`` (and a file open cost of 1 KB) within the block."""
    confs = {
        "spark.sql.files.maxPartitionBytes": max_bytes,
        "spark.sql.files.openCostInBytes": "1024",
    }
    before = {key: spark.conf.get(key) for key in confs}
    for key, value in confs.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)


def write_outputs(spark: SparkSession, parquet_in: str, csv_in: str, out: str) -> None:
    """Every transform on the inputs, each written under ``out/<name>``, and ``layout.json``."""
    df = spark.read.parquet(parquet_in)
    csv = spark.read.csv(csv_in, header=True, schema="id long, g int, x double, label string")
    outputs = {
        "upsample": upsample(df, "label", seed=SEED),
        "downsample": downsample(df, "label", seed=SEED),
        "resample": resample(df, "label", target="median", seed=SEED),
        "group_by": upsample(df, "label", group_by=["g"], seed=SEED),
        "keep_originals": upsample(df, "label", keep_originals=True, seed=SEED),
        "shrinkage": upsample(
            df, "label", shrinkage=1.0, shrinkage_cols=["x"], keep_originals=True, seed=SEED
        ),
        "csv_key_cols": upsample(csv, "label", key_cols=["id"], seed=SEED),
        "split": split(df, "label", {"train": 0.6, "valid": 0.3, "test": 0.1}, seed=SEED)["valid"],
        "folds": with_folds(df, "label", 4, seed=SEED, group_by=["g"]),
        "csv_split": split(csv, "label", {"a": 0.5, "b": 0.5}, key_cols=["id"], seed=SEED)["a"],
        # Control: a union hides the file row index, so this one is keyed by partition position
        # and must differ between layouts (the comparison can fail).
        "positional": upsample(df.unionByName(df.limit(0)), "label", seed=SEED),
    }
    for name, frame in outputs.items():
        frame.write.parquet(f"{out}/{name}")
    layout = {
        "parquet_partitions": df.rdd.getNumPartitions(),
        "csv_partitions": csv.rdd.getNumPartitions(),
    }
    Path(out, "layout.json").write_text(json.dumps(layout))


def main(master: str, max_bytes: str, parquet_in: str, csv_in: str, out: str) -> None:
    spark = (
        SparkSession.builder.master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "3")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    with split_size(spark, max_bytes):
        write_outputs(spark, parquet_in, csv_in, out)
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
