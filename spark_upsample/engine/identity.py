"""Row identity: what every random number of a run is a hash of, besides the seed.

The same rows come out for the same seed only if every row gets the same identity on every run.
A row's position in its partition (``monotonically_increasing_id()``) changes with the number of
cores, the split size and the number of files, so it is the last resort. In order of preference:

1. **key columns** (``key_cols``): columns whose values identify a row within its class, for
   any input (CSV, JSON, tables, in-memory frames). Their uniqueness is checked by the counting
   job (:func:`duplicate_key_error`).
2. **file row index**: for a frame read from Parquet files, the file's path relative to the
   input's common folder and the row's index in its file (``_metadata.row_index``). It holds
   through filters and projections of the frame that was read; a union or aggregate hides
   ``_metadata``, and then the next kind is used. A folder copied elsewhere gives the same ids.
   ``_metadata`` also survives operators that repeat a row (an inner, outer or cross join,
   ``explode``, ``sample(withReplacement=True)``), whose copies would then share one identity:
   the file row index is used only when every operator of the analyzed plan is one known to
   output each row at most once (:data:`_SINGLE_ROW_OPERATORS`), else the next kind is used and
   :attr:`RowIdentity.note` says why. A list of the safe operators fails safe when Spark adds one.
3. **partition position**: ``monotonically_increasing_id()``, the same rows only for the same
   input partitioning (the same files, split the same way on the same number of cores).

The identity is one 64-bit column (a hash of the file path and row index, or of the key values;
the position itself), computed by executors from the row alone, so a retried task recomputes it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_upsample.engine.frames import col
from spark_upsample.errors import DuplicateKeyError

KEY_COLUMNS = "key columns"
FILE_ROW_INDEX = "file row index"
PARTITION_POSITION = "partition position (same partitioning only)"
KINDS = (KEY_COLUMNS, FILE_ROW_INDEX, PARTITION_POSITION)

_METADATA = "_metadata"
_MAX_STRING_LENGTH = 2**31 - 1
# A URI's scheme and authority, if any, before the path (the same in Java's and Python's syntax).
_SCHEME_AND_AUTHORITY = r"(?:[A-Za-z][A-Za-z0-9+.-]*:(?://[^/]*)?)?"
# Operators of an analyzed logical plan (as ``explain`` prints them, PySpark 3.5 and 4.x) that
# output each row of their input at most once. Leaves, hints, views and aliases included.
_SINGLE_ROW_OPERATORS = frozenset(
    {
        "Relation",
        "LogicalRDD",
        "LocalRelation",
        "Range",
        "Project",
        "Filter",
        "SubqueryAlias",
        "View",
        "ResolvedHint",
        "Sort",
        "Repartition",
        "RepartitionByExpression",
        "RebalancePartitions",
        "GlobalLimit",
        "LocalLimit",
        "Offset",
        "Tail",
        "Window",
        "Deduplicate",
        "Distinct",
        "CollectMetrics",
    }
)
_SINGLE_ROW_JOINS = frozenset({"LeftSemi", "LeftAnti"})  # they output left rows, each once
_ANALYZED = "== Analyzed Logical Plan =="
_OPTIMIZED = "== Optimized Logical Plan =="
_QUERY_CONTEXT_LOGGERS = ("DataFrameQueryContextLogger", "SQLQueryContextLogger")


@dataclass(frozen=True)
class RowIdentity:
    """How the rows of one input are told apart.

    Attributes
    ----------
    kind : one of :data:`KINDS`
    column : a 64-bit integer column of the input that is the row's identity
    key_cols : the key columns (``kind == KEY_COLUMNS``), else empty
    note : why a better kind was not used (the file row index of a query that can repeat
        rows), else empty
    """

    kind: str
    column: Column
    key_cols: tuple[str, ...] = ()
    note: str = ""

    @property
    def described(self) -> str:
        """The kind, and the note after it if any: ``"<kind>; <note>"``."""
        return f"{self.kind}; {self.note}" if self.note else self.kind


def row_identity(df: DataFrame, key_cols: Sequence[str] = ()) -> RowIdentity:
    """The best identity ``df`` offers: ``key_cols`` if given, else the file row index of a
    Parquet scan whose rows the query does not repeat, else the partition position (see the
    module docstring).

    Resolving ``_metadata`` and reading the analyzed plan are analyses of the query plan, no
    Spark job (a few tens of milliseconds).
    """
    if key_cols:
        # xxhash64 skips nulls: hash a null flag with each value, so (1, null) != (null, 1).
        parts = [p for c in key_cols for p in (col(c), col(c).isNull())]
        return RowIdentity(KEY_COLUMNS, F.xxhash64(*parts), tuple(key_cols))
    indexed = _file_row_index(df)
    position = F.monotonically_increasing_id()
    if indexed is None:
        return RowIdentity(PARTITION_POSITION, position)
    repeating = _repeating_operators(df)
    if repeating:
        note = f"file row index not used: the query can repeat rows ({', '.join(repeating)})"
        return RowIdentity(PARTITION_POSITION, position, note=note)
    return RowIdentity(FILE_ROW_INDEX, indexed)


def _file_row_index(df: DataFrame) -> Column | None:
    """``xxhash64(relative file path, row index)``, or None when ``df`` does not expose both."""
    if any(c.lower() == _METADATA for c in df.columns):
        return None  # a user column of that name hides Spark's metadata column
    try:
        with _quiet_analysis_errors():
            metadata = df.select(F.col(_METADATA)).schema[0].dataType
    except Exception:  # noqa: BLE001 - not a file scan, or a plan that hides _metadata
        return None
    fields = metadata.fieldNames() if isinstance(metadata, T.StructType) else []
    if "row_index" not in fields or "file_path" not in fields:
        return None  # CSV, JSON, ORC: no row index
    files = df.inputFiles()
    if not files:
        return None
    path, index = F.col(f"{_METADATA}.file_path"), F.col(f"{_METADATA}.row_index")
    # The path after the scheme, the authority (if any) and the folder; the whole path if the
    # folder is not there (written in another form), which still does not depend on the layout.
    relative = F.regexp_extract(path, _relative_pattern(_folder_path(files)), 1)
    relative = F.when(relative != "", relative).otherwise(path).cast("binary")
    # The same value without a regular expression per row (it costs more than the rest of the
    # identity): a path that starts with the input files' common folder, in one of the forms
    # Spark writes it, has the value after that folder. It is cut from the path's UTF-8 bytes:
    # a string's substring walks its characters (as long again as hashing the whole path),
    # a binary's is a copy, and xxhash64 hashes a string as its UTF-8 bytes, so the value is the
    # same.
    for prefix in _uri_prefixes(files):
        start = len(prefix.encode("utf-8")) + 1
        below = F.substring(path.cast("binary"), start, _MAX_STRING_LENGTH)
        relative = F.when(path.startswith(prefix), below).otherwise(relative)
    return F.xxhash64(relative, index)


def _repeating_operators(df: DataFrame) -> list[str]:
    """The operators of ``df``'s analyzed logical plan not known to output each row at most
    once (see :data:`_SINGLE_ROW_OPERATORS`), in plan order without repeats; ``["an unreadable
    plan"]`` when the plan cannot be read.

    The plan is read from ``explain``'s text, the one public way on classic Spark and Spark
    Connect, by capturing what it prints (so not meant for threads that print meanwhile).
    """
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        df.explain(mode="extended")
    text = printed.getvalue()
    start, end = text.find(_ANALYZED), text.find(_OPTIMIZED)
    if start < 0 or end < start:
        return ["an unreadable plan"]  # e.g. cut short by spark.sql.maxPlanStringLength
    # The section's first line is the output schema; then one operator a line, after the tree's
    # ":- ", "+- " and ":  " prefixes. A line of anything else (a string literal with a line
    # break) is an unknown operator too, which fails safe.
    lines = text[start + len(_ANALYZED) : end].strip("\n").splitlines()[1:]
    found: list[str] = []
    for line in lines:
        node = line.lstrip(" :+-")
        name = _repeating_operator(node) if node else None
        if name and name not in found:
            found.append(name)
    return found


def _repeating_operator(node: str) -> str | None:
    """The name of the operator printed as ``node`` when it may output a row more than once,
    else None: a join but a semi or anti join, a sample with replacement, an unknown operator."""
    word = re.match(r"[A-Za-z]+", node)
    name = word.group(0) if word else ""
    args = node[len(name) :].strip().split(", ")
    if name == "Join":
        return None if args[0] in _SINGLE_ROW_JOINS else f"Join {args[0]}"
    if name == "Sample":  # Sample lowerBound, upperBound, withReplacement, seed[, ...]
        return None if len(args) > 2 and args[2] == "false" else "Sample with replacement"
    return None if name in _SINGLE_ROW_OPERATORS else name or node.split()[0]


def _folder_path(files: Sequence[str]) -> str:
    """The path part (no scheme or host) of the folder that holds every one of ``files``,
    with a trailing slash: the root that file paths are made relative to."""
    common = os.path.commonprefix(list(files))
    folder = common[: common.rfind("/") + 1]
    scheme_end = folder.find("://")
    if scheme_end >= 0:
        slash = folder.find("/", scheme_end + 3)
        folder = folder[slash:] if slash >= 0 else "/"
    elif folder.startswith("file:"):
        folder = folder[len("file:") :]
    return folder


def _uri_prefixes(files: Sequence[str]) -> list[str]:
    """The common folder of ``files``, scheme and authority included, with its trailing slash,
    in each form a path can take -- as listed (``file:///data/``) and as ``_metadata`` writes a
    URI without authority (``file:/data/``) -- for which it is shown on ``files`` that the rest
    of a path after it is the group 1 of :func:`_relative_pattern` (not so for a rest with a
    line terminator, which the pattern's ``.`` does not match)."""
    common = os.path.commonprefix(list(files))
    listed = common[: common.rfind("/") + 1]
    forms = dict.fromkeys([listed, re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*:)///", r"\1/", listed)])
    pattern = re.compile(_python_pattern(_folder_path(files)))

    def shown(form: str) -> bool:
        for file in files:
            rest = file[len(listed) :]
            found = pattern.fullmatch(form + rest)
            if found is None or found.group(1) != rest:
                return False
        return True

    return [form for form in forms if shown(form)]


def _python_pattern(folder: str) -> str:
    """:func:`_relative_pattern` in Python's syntax, where ``.`` also stops at the other line
    terminators of Java's (``\\r``, U+0085, U+2028, U+2029)."""
    return _SCHEME_AND_AUTHORITY + re.escape(folder) + "([^\n\r\u0085\u2028\u2029]+)"


def _relative_pattern(folder: str) -> str:
    """A Java regular expression whose group 1 is a file URI's path below ``folder``."""
    quoted = "\\Q" + folder.replace("\\E", "\\E\\\\E\\Q") + "\\E"
    return f"^{_SCHEME_AND_AUTHORITY}{quoted}(.+)$"


@contextlib.contextmanager
def _quiet_analysis_errors() -> Iterator[None]:
    """Keep PySpark from logging the expected analysis error of a probe at ERROR level."""
    loggers = [logging.getLogger(name) for name in _QUERY_CONTEXT_LOGGERS]
    previous = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, was in zip(loggers, previous, strict=True):
            logger.disabled = was


def duplicate_key_error(
    label: Any, key: Sequence[Any], key_cols: Sequence[str], times: int
) -> DuplicateKeyError:
    """The error for a key that repeats within a class (found by the counting job)."""
    shown = ", ".join(f"{c}={v!r}" for c, v in zip(key_cols, key, strict=True))
    return DuplicateKeyError(
        f"key_cols {list(key_cols)} do not identify the rows of class {label!r}: the key "
        f"({shown}) occurs {times:,} times. Give columns that are unique within each class "
        "(add more key columns), or leave key_cols out."
    )
