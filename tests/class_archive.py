"""A class data sharing (AppCDS) archive of Spark's classes, so that the test JVMs start faster.

Every JVM a test starts (spark-submit, the console script, layout runs, the suite's own session,
the Spark Connect server) spends most of its first seconds loading and verifying Spark's classes:
about 11 s to start a local session and run one query on this 2-core machine. Mapped from an
archive, the same classes load in half of that (about 6 s). The archive is the JVM's own
mechanism (``-XX:ArchiveClassesAtExit`` once, ``-XX:SharedArchiveFile`` after): it changes how
classes are loaded, not what they do, so the tests run the code users run.

:func:`archive_options` builds the archive once per PySpark installation and Java (about 20 s),
caches it under ``$XDG_CACHE_HOME/spark-upsample-tests`` (``~/.cache`` by default), and returns
the JVM options that use it. A JVM whose class path or Java differs (a standalone cluster's
executors) ignores the archive; its CDS log lines are off, so nothing is printed then.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
# What the recording JVM runs: a local session, Parquet and CSV in and out, an aggregation,
# a join and a window, the classes nearly every test JVM loads.
WORKLOAD = """
import sys
from pyspark.sql import SparkSession, Window, functions as F
spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "1").getOrCreate())
out = sys.argv[1]
df = spark.range(100).select("id", (F.col("id") % 3).alias("g"), F.rand(1).alias("x"))
df.write.parquet(out + "/p")
df.write.csv(out + "/c", header=True)
back = spark.read.parquet(out + "/p")
spark.read.csv(out + "/c", header=True).count()
counts = back.groupBy("g").count()
back.join(F.broadcast(counts), "g").select(
    "*", F.row_number().over(Window.partitionBy("g").orderBy("id")).alias("r"),
    F.xxhash64("id").alias("h")).collect()
spark.stop()
"""


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spark-upsample-tests"


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    return str(Path(home, "bin", "java")) if home else "java"


def _key(spark_home: str) -> str:
    """What the archive depends on: the Java and the jars on Spark's class path."""
    version = subprocess.run([_java(), "-version"], capture_output=True, text=True).stderr
    jars = sorted(Path(spark_home, "jars").glob("*.jar"))
    parts = [version, *(f"{j.name}:{j.stat().st_size}:{j.stat().st_mtime_ns}" for j in jars)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def archive_options(spark_home: str, env: dict[str, str]) -> str:
    """The JVM options that load Spark's classes from this installation's archive, built now
    (with ``env``, the tests' Spark environment) if it is not cached; ``""`` if it cannot be."""
    try:
        archive = _cache_dir() / f"spark-{_key(spark_home)}.jsa"
    except OSError:
        return ""
    if not archive.exists():
        archive.parent.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(f".{os.getpid()}.partial")
        with tempfile.TemporaryDirectory(prefix="spark-upsample-cds-") as work:
            env = {**env, "SPARK_SUBMIT_OPTS": f"-XX:ArchiveClassesAtExit={partial} {QUIET}"}
            recorded = subprocess.run(
                [sys.executable, "-c", WORKLOAD, str(Path(work, "out"))],
                env=env,
                cwd=work,
                capture_output=True,
                timeout=600,
            )
        if recorded.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            return ""
        os.replace(partial, archive)  # atomic: a concurrent pass sees the whole file or none
    return f"-XX:SharedArchiveFile={archive} {QUIET}"
