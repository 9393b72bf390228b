"""Reading the job's input and writing its output with Spark's DataFrame reader and writer."""

from __future__ import annotations

import difflib
import re
from typing import Any

from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.cells import CellKeys
from spark_upsample.engine.frames import local_frame
from spark_upsample.engine.plan import ResamplePlan
from spark_upsample.errors import ConfigError, InputError, OutputError
from spark_upsample.job.config import JobConfig

try:  # classic Spark raises unconverted Java errors as Py4JJavaError; Spark Connect never does
    from py4j.protocol import Py4JJavaError

    SPARK_ERRORS: tuple[type[BaseException], ...] = (PySparkException, Py4JJavaError)
except ImportError:  # pragma: no cover - a Spark Connect client without py4j
    SPARK_ERRORS = (PySparkException,)


# Spark's file formats: their readers expand glob patterns in paths (see literal_path).
GLOBBING_FORMATS = frozenset({"parquet", "orc", "csv", "json", "text", "avro", "xml", "binaryfile"})
_GLOB_CHARACTER = re.compile(r"[\\*?\[\]{}]")
_URL_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/]*")


def read_input(spark: SparkSession, config: JobConfig) -> DataFrame:
    """The input DataFrame: a catalog table, or files of any format Spark knows by name.

    CSV gets ``header`` and, without an explicit schema, ``inferSchema`` by default; options in
    ``input_options`` override those.

    Raises
    ------
    InputError
        The table or path does not exist, or Spark cannot read it in that format.
    """
    try:
        if config.input_table:
            df = spark.read.table(config.input_table)
        else:
            reader = spark.read.format(config.input_format)
            if config.input_format == "csv":
                reader = reader.option("header", "true")
                if not config.input_schema:
                    reader = reader.option("inferSchema", "true")
            if config.input_schema:
                reader = reader.schema(config.input_schema)
            df = reader.options(**config.input_options).load(config.input)
        df.schema  # noqa: B018 - resolve it here: Spark Connect defers this to the first action
        return df
    except SPARK_ERRORS as error:  # Spark failing to open the input: a bad input
        if not config.input_table:
            raise InputError(
                f"Cannot read input {config.source} as {config.input_format}: {error_line(error)}"
            ) from None
        missing = TABLE_NOT_FOUND in str(error)
        raise InputError(
            f"The input table {config.input_table!r} "
            + ("does not exist in this session's catalog" if missing else "cannot be read")
            + f": {error_line(error)}"
        ) from None


TABLE_NOT_FOUND = "TABLE_OR_VIEW_NOT_FOUND"  # Spark's error class, in its message from 3.4 on


def check_partition_columns(df: DataFrame, config: JobConfig) -> None:
    """Raise :class:`ConfigError` before any work when ``partition_by`` cannot be written: a
    column the output will not have, or every column of the output (Spark needs one in the files).
    """
    if not config.partition_by:
        return
    columns = [*df.columns, *(c for c in (config.weight_col, config.lineage_col) if c)]
    for name in config.partition_by:
        if name not in columns:
            near = difflib.get_close_matches(name, columns, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in near)}?" if near else ""
            raise ConfigError(
                f"partition_by names {name!r}, which is not a column of the output; its columns "
                f"are {columns}.{hint}"
            )
    if set(columns) <= set(config.partition_by):
        raise ConfigError(
            f"partition_by {list(config.partition_by)} covers every column of the output; leave at "
            "least one column out, for the files to hold."
        )


def write_output(df: DataFrame, config: JobConfig, path: str, mode: str) -> None:
    """Write ``df`` to ``path`` with the configured format, partitioning, compression and files
    (a shuffled output already has ``output_files`` partitions)."""
    if config.output_files and not config.shuffle:
        df = df.repartition(config.output_files)
    writer = df.write.format(config.path_format).mode(mode)
    if config.partition_by:
        writer = writer.partitionBy(*config.partition_by)
    if config.compression:
        writer = writer.option("compression", config.compression)
    writer.options(**config.output_options).save(path)


def written_counts(
    spark: SparkSession, config: JobConfig, path: str, written: DataFrame
) -> dict[Any, int]:
    """Rows per class (per group and class with ``group_by``, as tuples), keyed as the plan keys
    them, in the files at ``path`` (that path itself, see :func:`literal_path`), reading only
    those columns.

    The files are read with the writer's own options (a CSV has a header line only with
    ``header=true``, as Spark writes it) and with the schema they were written with, so that text
    formats and the values of ``partition_by`` directories ("01") keep their types instead of
    being inferred (1).
    """
    reader = spark.read.format(config.path_format).options(**config.output_options)
    df = reader.schema(written.schema).load(literal_path(path, config.path_format))
    return cell_counts(df, config)


def cell_counts(df: DataFrame, config: JobConfig) -> dict[Any, int]:
    """Rows per class (per group and class with ``group_by``, as tuples) of ``df``, keyed as the
    plan keys them; one aggregation, reading only those columns."""
    keys = CellKeys.of(df, config.label_col, config.group_by)
    parts = [part.alias(f"_k{i}") for i, part in enumerate(keys.parts())]
    rows = df.groupBy(*parts).count().collect()  # flat rows: cheaper to collect than structs
    return {keys.from_parts(tuple(r[:-1])): int(r[-1]) for r in rows}


def literal_path(path: str, data_format: str) -> str:
    """``path`` as the reader of ``data_format`` must be given it to read that path itself.

    Spark's file formats expand the Hadoop glob characters ``*?[]{}\\`` in the paths they
    read (on every file system, and on a Spark Connect server too), so an output named
    ``out?`` would also read ``out2``, and one named ``o[1]`` would read nothing: these
    formats get those characters escaped with a backslash (outside a URL's authority). Other
    sources (Delta, Iceberg, ...) take a path as it is, and get it unchanged.
    """
    if data_format.lower() not in GLOBBING_FORMATS:
        return path
    authority = _URL_AUTHORITY.match(path)
    start = authority.end() if authority else 0
    return path[:start] + _GLOB_CHARACTER.sub(r"\\\g<0>", path[start:])


def write_cells_table(
    spark: SparkSession, plan: ResamplePlan, input_schema: T.StructType, path: str
) -> None:
    """Write every cell of ``plan`` as one Parquet row: a struct ``cell`` of the group and label
    columns (named and typed as in the input; every label column of a label of several), then
    the counts of :meth:`ClassPlan.to_dict`.

    Raises
    ------
    OutputError
        Spark could not write the table.
    """
    several = not isinstance(plan.label_col, str)
    label_cols = plan.label_col if several else (plan.label_col,)
    names = (*plan.group_by, *label_cols)
    # Flat rows, the struct made on the JVM: a struct value per row is several times slower.
    flat = [T.StructField(f"_c{i}", input_schema[c].dataType, True) for i, c in enumerate(names)]
    numbers = ("count_before", "target", "count_after", "kept", "draws", "sample_size")
    fields = [*flat, *(T.StructField(n, T.LongType(), True) for n in numbers)]
    fields.append(T.StructField("correction", T.StringType(), True))
    rows = [
        (
            *(c.group or ()),
            *(c.label if several else (c.label,)),
            c.count_before,
            c.target,
            c.count_after,
            c.kept,
            c.draws,
            c.sample_size,
            c.correction,
        )
        for c in plan.classes
    ]
    cell = F.struct(*[F.col(f.name).alias(c) for f, c in zip(flat, names, strict=True)])
    table = local_frame(spark, rows, T.StructType(fields)).select(
        cell.alias("cell"), *numbers, "correction"
    )
    try:
        table.write.mode("overwrite").parquet(path)
    except SPARK_ERRORS as error:
        raise OutputError(f"Writing the cell table {path!r} failed: {error_line(error)}") from None


def full_text(error: BaseException) -> str:
    """The message of ``error`` with Spark's stack trace of it and its causes, where Spark keeps
    one (the cause of a failed write, such as a full disk, is only there)."""
    parts = [str(error)]
    for trace in (
        getattr(error, "_stackTrace", None),  # classic Spark's converted errors
        getattr(error, "getStackTrace", lambda: None)(),
    ):  # Spark Connect's
        if isinstance(trace, str):
            parts.append(trace)
    return "\n".join(parts)


# Spark 3.5 reports a failed task as "Job aborted due to stage failure: Task 1 in stage 1.0 failed
# 1 times, most recent failure: Lost task ... (localhost executor driver): java.x.FooException: "
# before the cause (Spark 4 names the cause with an error class instead).
_STAGE_FAILURE = re.compile(r"Job aborted due to stage failure: .*?most recent failure: .*?\): ")
_JAVA_CLASSES = re.compile(r"^(?:(?:[\w$]+\.)+[\w$]+: )+")  # "org.x.FooException: ..."
# A Java stack trace's cause: "Caused by: org.x.FooException: message".
_CAUSED_BY = re.compile(r"(?m)^\s*Caused by: (?:(?:[\w$]+\.)+[\w$]+(?:: |$))*(.*?)\s*$")


def error_line(error: BaseException) -> str:
    """:func:`first_line` of ``error``, followed by its root cause where Spark's message does not
    already name it: ``[FAILED_READ_FILE.NO_HINT] Encountered error while reading file ...
    (cause: file:/.../part-1.parquet is not a Parquet file. Expected magic number ...)``."""
    line, cause = first_line(error), root_cause(error)
    return f"{line} (cause: {cause})" if cause and cause not in line else line


def root_cause(error: BaseException) -> str | None:
    """The message of the deepest cause of ``error``: the last ``Caused by:`` of the Java stack
    traces Spark keeps of it and of its Python chain of causes (``__cause__``), else the first
    line of the last error of that chain; None when there is no cause."""
    chain, seen = [error], {id(error)}
    while True:
        cause = chain[-1].__cause__
        if cause is None or id(cause) in seen:
            break
        chain.append(cause)
        seen.add(id(cause))
    found = [m for e in chain for m in _CAUSED_BY.findall(full_text(e)) if m]
    if found:
        return found[-1]
    return first_line(chain[-1]) if len(chain) > 1 else None


def first_line(error: BaseException) -> str:
    """The first line of an exception's message without Java's wrapping: for a raw Java error the
    Java exception's, for a failed stage its task's cause, without a leading Java class name."""
    java = getattr(error, "java_exception", None)  # py4j errors Spark did not convert
    text = str(java) if java is not None else str(error)
    text = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return _JAVA_CLASSES.sub("", _STAGE_FAILURE.sub("", text, count=1)) or text
