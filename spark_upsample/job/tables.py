"""Outputs written by one commit of Spark's writer: a catalog table (``output_table``: Delta,
Iceberg or another format) or a Delta table at a path (``output_format = "delta"``).

Such an output is never staged and swapped (:mod:`spark_upsample.job.landing`): Spark's writer
writes it in place, and the table format or the catalog makes the new rows visible.

- **Delta** (a path, or a table whose provider is Delta): the write is one commit to the table's
  log, so a reader sees the version before it or the version after it, never a part of it; an
  overwrite replaces the rows in that same commit. Two runs writing at once are Delta's to
  resolve: its conflict detection fails the later commit, which fails its run. The commit carries
  the run's id in Delta's ``userMetadata``: that is how the job finds the version it wrote even
  when others commit after it, and it verifies the counts of the files that commit added, read
  at that version.
- **Iceberg** (a table of an Iceberg catalog): the write is one snapshot (``overwritePartitions``
  for a dynamic partition overwrite), whose summary carries the run's id
  (:data:`RUN_PROPERTY`) and its ``idempotency_key`` (:data:`KEY_PROPERTY`): the job finds its
  snapshot by the first and verifies the files that snapshot added; a rerun finds the second
  before writing, and writes nothing.
- **Other tables** (Parquet, ORC, ... in the session's catalog): Spark writes the files in place
  and then updates the catalog; an overwrite is not atomic (a reader can see the table empty or
  in part), and an append, or an overwrite of the partitions written only, is not verified (the
  table's counts are not this run's alone).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_upsample.errors import ConfigError, OutputError
from spark_upsample.job.config import JobConfig
from spark_upsample.job.io import SPARK_ERRORS, cell_counts, error_line, full_text, literal_path
from spark_upsample.job.landing import IN_PLACE

log = logging.getLogger(__name__)

DELTA = "delta"
COMMIT = "commit"  # how a Delta or Iceberg output lands (the report's output.landing)
ICEBERG = "iceberg"
# The properties of an Iceberg snapshot's summary that name the run that committed it and its
# idempotency_key (written with the writer's snapshot-property.<name> options).
RUN_PROPERTY = "spark-upsample.run"
KEY_PROPERTY = "spark-upsample.idempotency-key"
# How to put Delta Lake on a session that lacks it (Databricks runtimes have it).
DELTA_HINT = (
    "start Spark with --packages io.delta:delta-spark_2.12:3.3.3 (Spark 3.5; "
    "io.delta:delta-spark_2.13:4.0.0 for Spark 4.0) --conf "
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension --conf "
    "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog"
)
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"  # Delta's session setting
KEY_TAG = ", idempotency key "  # in a commit's userMetadata, before the run's idempotency_key
NO_DATA_SOURCE = "DATA_SOURCE_NOT_FOUND"  # Spark's error class for a format it cannot find
# Delta's exceptions for a commit that conflicts with another: ConcurrentAppendException,
# ConcurrentDeleteReadException, ..., MetadataChangedException, ProtocolChangedException.
_CONFLICT = re.compile(r"\b(?:Concurrent\w*|MetadataChanged|ProtocolChanged)Exception\b")
_FILE = "__spark_upsample_file"


@dataclass
class TableOutput:
    """A catalog table or a Delta path, written by one commit (see the module's docstring).

    It offers what the job asks of :class:`spark_upsample.job.landing.Landing` (``prepare``,
    ``publish``, ...), with nothing to stage: those steps check the table or do nothing.

    Attributes
    ----------
    spark : the session that writes
    config : the run's configuration (``output_table`` or a Delta ``output``, ``write_mode``,
        ``output_format``, ``partition_by``, ``compression``, ``output_options``)
    dynamic : with mode "overwrite", True when only the partitions written are replaced
        (Spark's dynamic partition overwrite), False when the whole table is
    provider : the existing table's format (``DESCRIBE TABLE EXTENDED``'s provider), or for a
        new table the session's default, found by :meth:`prepare`; None before
    version : the Delta version this run committed, once written (or, with
        ``already_committed``, that an earlier run with its ``idempotency_key`` committed); else
        None
    snapshot_id : the Iceberg snapshot this run committed (or, with ``already_committed``,
        that an earlier run with its ``idempotency_key`` committed), once written; else None
    already_committed : True when nothing was committed because an earlier run with the same
        ``idempotency_key`` had
    created : whether the table did not exist when :meth:`prepare` looked
    """

    spark: SparkSession
    config: JobConfig
    dynamic: bool = False
    provider: str | None = None
    version: int | None = None
    snapshot_id: int | None = None
    already_committed: bool = False
    created: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    staged = False  # Spark writes the output itself: there is no staging folder

    @property
    def dynamic_partitions(self) -> int:
        """With :attr:`dynamic`, the number of ``partition_by`` columns, else 0 (as
        :class:`spark_upsample.job.landing.Landing` has it)."""
        return len(self.config.partition_by) if self.dynamic else 0

    @property
    def output(self) -> str:
        """The output as the job names it: ``table:NAME`` or the Delta path."""
        return str(self.config.destination)

    @property
    def data_format(self) -> str | None:
        """The format written: ``output_format``, else the existing table's, else the session's
        default (``spark.sql.sources.default``: Delta on Databricks), once :meth:`prepare` has
        found those; None when unknown (the writer's default)."""
        return self.config.output_format or self.provider

    @property
    def delta(self) -> bool:
        """True when the write is a Delta commit."""
        return (self.data_format or "").lower() == DELTA

    @property
    def landing(self) -> str:
        """How the output lands, as the report says it: ``commit`` (one Delta commit or Iceberg
        snapshot) or ``in place`` (Spark writes a table of another format where it goes)."""
        return COMMIT if self.delta or self.iceberg else IN_PLACE

    @property
    def iceberg(self) -> bool:
        """True when the write is an Iceberg snapshot (a table of an Iceberg catalog)."""
        return (self.data_format or "").lower() == ICEBERG

    @property
    def tag(self) -> str:
        """The ``userMetadata`` of this run's Delta commit: how :meth:`write` finds its version
        (and a later run with the same ``idempotency_key`` finds it)."""
        key = self.config.idempotency_key
        return f"spark-upsample run {self.run_id}" + (f"{KEY_TAG}{key}" if key else "")

    @property
    def app_id(self) -> str:
        """Delta's ``txnAppId`` of a run with an ``idempotency_key``: Delta commits nothing for
        a second write with the same one (and ``txnVersion`` 0)."""
        return f"spark-upsample:{self.config.idempotency_key}"

    def check(self) -> None:
        """Nothing to check before Spark starts: the catalog is Spark's."""

    def staged_location(self, path: str) -> str | None:
        """None: nothing lands with the output (a report goes where it is asked to)."""
        return None

    def space(self) -> None:
        """None: the table's storage is not this process's to measure."""
        return None

    def look_up(self) -> bool:
        """Whether the output exists; note the format it will be written in (:attr:`provider`)
        and whether this run creates it (:attr:`created`). Reads the catalog, writes nothing.

        Raises
        ------
        OutputError
            The catalog cannot be read.
        ConfigError
            A Delta path, and the session has no Delta Lake.
        """
        exists = self._find_table()
        self.created = not exists
        if self.provider is None and self.config.output_table:
            self.provider = _default_source(self.spark)
        return exists

    def prepare(self) -> None:
        """Find the existing table's format and refuse what the mode cannot write, before any
        work.

        Raises
        ------
        OutputError
            Mode "error" and the table exists.
        ConfigError
            Delta was asked for and the session has no Delta Lake.
        """
        exists = self.look_up()
        if exists and self.config.write_mode == "error":
            what = (
                f"The table {self.config.output_table!r}"
                if self.config.output_table
                else (f"The Delta table at {self.config.output!r}")
            )
            raise OutputError(
                f"{what} already exists. Pass --write-mode overwrite to replace its rows or "
                "--write-mode append to add to them, or choose another table."
            )
        if self.delta and not exists:
            self._check_delta()
        for key, what, formats in (
            (
                "idempotency_key",
                "makes a rerun of a committed run commit nothing",
                (DELTA, ICEBERG),
            ),
            ("replace_where", "replaces the rows of a Delta table that match it", (DELTA,)),
        ):
            if getattr(self.config, key) and (self.data_format or "").lower() not in formats:
                names = " or ".join(f.capitalize() for f in formats)
                raise ConfigError(
                    f"{key} {what}; {self.output!r} is written as "
                    f"{self.data_format or 'another format'}, not {names}. Leave {key} out, or "
                    'pass output_format = "delta".'
                )

    def write(self, df: DataFrame) -> None:
        """Write ``df`` in one commit of Spark's writer; for Delta, note the version committed.

        Raises
        ------
        OutputError
            Spark could not write (for Delta, a concurrent commit that conflicts included).
        """
        config = self.config
        key = config.idempotency_key
        if self.iceberg and key and not self.created:
            earlier = self._iceberg_snapshot(KEY_PROPERTY, key)
            if earlier is not None:  # Iceberg has no transaction ids: looked up before writing
                self._note_already_committed(earlier)
                self.snapshot_id, self.already_committed = earlier, True
                return
        if config.output_files and not config.shuffle:
            df = df.repartition(config.output_files)
        options = dict(config.output_options)
        if config.compression:
            options["compression"] = config.compression
        if self.delta:
            options["userMetadata"] = self.tag
            if key:
                options.update(txnAppId=self.app_id, txnVersion="0")
            if config.replace_where:
                options["replaceWhere"] = config.replace_where
        if self.iceberg:
            options[f"snapshot-property.{RUN_PROPERTY}"] = self.run_id
            if key:
                options[f"snapshot-property.{KEY_PROPERTY}"] = key
        writer = df.write.mode(config.write_mode).options(**options)
        if self.data_format:
            writer = writer.format(self.data_format)
        if config.partition_by:
            writer = writer.partitionBy(*config.partition_by)
        # Delta writes the commit that creates a catalog table without the writer's
        # userMetadata; the session's setting of it, for that write only, reaches it.
        creating = self.delta and self.created and bool(config.output_table)
        tagging = _setting(self.spark, USER_METADATA, self.tag) if creating else nullcontext(True)
        try:
            with tagging as tagged:
                if self.iceberg and self.dynamic and not self.created:
                    # The writer of V2 tables: saveAsTable's overwrite replaces the whole table.
                    df.writeTo(str(config.output_table)).options(**options).overwritePartitions()
                elif config.output_table:
                    writer.saveAsTable(config.output_table)
                else:
                    writer.save(config.output)
        except SPARK_ERRORS as error:
            if self.delta and _CONFLICT.search(full_text(error)):
                raise OutputError(
                    f"Another writer committed to {self.output!r} while this run wrote, and "
                    f"Delta's conflict detection refused this run's commit: "
                    f"{error_line(error)} The table holds the other commit and none of this "
                    "run's rows: run it again."
                ) from None
            raise OutputError(f"Writing {self.output!r} failed: {error_line(error)}") from None
        if self.delta:
            self.version, self.already_committed = self._committed_version(creating and not tagged)
        if self.iceberg:
            self.snapshot_id = self._iceberg_snapshot(RUN_PROPERTY, self.run_id)
            if self.snapshot_id is None:
                raise OutputError(
                    f"The write to {self.output!r} ended, but its snapshot (summary "
                    f"{RUN_PROPERTY} = {self.run_id}) is not in the table's snapshots: check "
                    "the table."
                )

    def written_counts(self, written: DataFrame) -> dict[Any, int] | None:
        """Rows per cell of what this run wrote, keyed as the plan keys them; None when they
        cannot be told apart from the table's other rows (a non-Delta append, or overwrite of
        the partitions written)."""
        if self.delta:
            return cell_counts(self._committed_rows(), self.config)
        if self.iceberg:
            return cell_counts(self._snapshot_rows(), self.config)
        if self.config.write_mode == "append" or self.dynamic:
            return None
        return cell_counts(self.spark.read.table(str(self.config.output_table)), self.config)

    def where_written(self) -> str:
        """What a reader sees of a write that failed its verification."""
        if self.iceberg and self.snapshot_id is not None:
            return (
                f"It was committed as snapshot {self.snapshot_id} of {self.output!r}: check it, "
                "or roll the table back to the snapshot before (Iceberg's rollback_to_snapshot)."
            )
        if not self.delta or self.version is None:
            return f"Spark wrote it in place in {self.output!r}: check or remove it."
        if self.version == 0:
            return (
                f"It was committed as version 0, the first, of {self.output!r}: check it, or "
                "remove the table."
            )
        return (
            f"It was committed as version {self.version} of {self.output!r}: check it, or "
            f"restore the version before (RESTORE TABLE ... TO VERSION AS OF "
            f"{self.version - 1})."
        )

    def publish(self) -> None:
        """Nothing to publish: the commit made the rows visible."""

    def abort(self) -> None:
        """Nothing to remove: a failed commit leaves the table as it was."""

    def release(self, settle_seconds: float = 0.0) -> None:
        """Nothing to release: no lock is taken (Delta resolves concurrent commits)."""

    def _find_table(self) -> bool:
        """Whether the output exists; for a catalog table, note its provider."""
        config = self.config
        if config.output_table:
            try:
                if not self.spark.catalog.tableExists(config.output_table):
                    return False
                rows = self.spark.sql(f"DESCRIBE TABLE EXTENDED {config.output_table}")
                found = rows.where(F.col("col_name") == "Provider").collect()
            except SPARK_ERRORS as error:
                raise OutputError(
                    f"Cannot look up the output table {config.output_table!r}: {error_line(error)}"
                ) from None
            self.provider = found[0]["data_type"].strip().lower() if found else None
            return True
        try:
            self.spark.read.format(DELTA).load(str(config.output)).schema  # noqa: B018 - resolves
        except SPARK_ERRORS as error:
            _refuse_without_delta(error)
            return False
        return True

    def _check_delta(self) -> None:
        """Refuse a session without Delta Lake before any work (a table yet to be created)."""
        probe = str(self.config.output or f"/nonexistent-spark-upsample-probe-{self.run_id}")
        try:
            self.spark.read.format(DELTA).load(probe).schema  # noqa: B018 - resolves the source
        except SPARK_ERRORS as error:
            _refuse_without_delta(error)

    def _reference(self) -> str:
        """The Delta table in SQL: its name, or ``delta.`path```."""
        if self.config.output_table:
            return self.config.output_table
        return "delta.`" + str(self.config.output).replace("`", "``") + "`"

    def _committed_version(self, untagged_creation: bool) -> tuple[int, bool]:
        """The version of this run's commit, found by its ``userMetadata`` in the history, and
        False; or, when Delta committed nothing because an earlier run with the same
        ``idempotency_key`` did, that run's version, and True.

        ``untagged_creation``: this run created the table and could not tag that commit (the
        session refused the setting), so its commit is the first version, untagged.
        """
        history = self.spark.sql(f"DESCRIBE HISTORY {self._reference()}")
        mine = F.col("userMetadata") == self.tag
        if untagged_creation:
            mine = mine | ((F.col("version") == 0) & F.col("userMetadata").isNull())
        found = history.where(mine).select("version").collect()
        if len(found) == 1:
            return int(found[0][0]), False
        key = self.config.idempotency_key
        if key:
            earlier = history.where(F.col("userMetadata").endswith(f"{KEY_TAG}{key}"))
            first = earlier.agg(F.min("version")).collect()[0][0]
            if first is not None:
                self._note_already_committed(first)
                return int(first), True
        raise OutputError(
            f"The write to {self.output!r} ended, but its commit ({self.tag!r}) is not in "
            "the table's history: check the table."
        )

    def _note_already_committed(self, committed: int) -> None:
        log.warning(
            "%s: %s %d already holds the commit of idempotency key %r; nothing committed again",
            self.output,
            "snapshot" if self.iceberg else "version",
            committed,
            self.config.idempotency_key,
        )

    def _iceberg_snapshot(self, prop: str, value: str) -> int | None:
        """The first snapshot of the Iceberg table whose summary has ``prop`` = ``value``."""
        snapshots = self.spark.sql(f"SELECT * FROM {self.config.output_table}.snapshots")
        mine = snapshots.where(F.col("summary")[prop] == value).orderBy("committed_at")
        first = mine.select("snapshot_id").limit(1).collect()
        return int(first[0][0]) if first else None

    def _snapshot_rows(self) -> DataFrame:
        """The rows of the files that this run's Iceberg snapshot added, read at it."""
        table = str(self.config.output_table)
        entries = self.spark.sql(f"SELECT * FROM {table}.all_entries")
        added = entries.where(
            (F.col("snapshot_id") == self.snapshot_id) & (F.col("status") == 1)
        ).select(F.col("data_file.file_path").alias(_FILE))
        rows = self.spark.read.option("snapshot-id", self.snapshot_id).table(table)
        files = rows.select("*", F.col("_file").alias(_FILE))
        return files.join(F.broadcast(added), on=_FILE, how="left_semi").drop(_FILE)

    def _committed_rows(self) -> DataFrame:
        """The rows of the files that this run's commit added, read at its version."""
        reader = self.spark.read.format(DELTA).option("versionAsOf", self.version)
        if self.config.output_table:
            detail = self.spark.sql(f"DESCRIBE DETAIL {self.config.output_table}")
            root = str(detail.select("location").collect()[0][0])
            rows = reader.table(self.config.output_table)
        else:
            rows, root = reader.load(str(self.config.output)), str(self.config.output)
        log_file = f"{root.rstrip('/')}/_delta_log/{self.version:020d}.json"
        actions = self.spark.read.json(literal_path(log_file, "json"))
        if "add" not in actions.columns:  # a commit of no files
            return rows.limit(0)
        added = actions.where(F.col("add").isNotNull()).select(
            F.element_at(F.split(F.col("add.path"), "/"), -1).alias(_FILE)
        )
        files = rows.select("*", F.col("_metadata.file_name").alias(_FILE))
        return files.join(F.broadcast(added), on=_FILE, how="left_semi")


@contextmanager
def _setting(spark: SparkSession, key: str, value: str) -> Iterator[bool]:
    """Set a session setting for the ``with`` block, then put back what was there; yields False
    (and changes nothing) where the session refuses it."""
    try:
        previous = spark.conf.get(key, None)
        spark.conf.set(key, value)
    except Exception:  # noqa: BLE001 - a runtime may refuse any setting (serverless)
        yield False
        return
    try:
        yield True
    finally:
        if previous is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, previous)


def _default_source(spark: SparkSession) -> str | None:
    """The session's default data source for a new table, or None when not exposed."""
    try:
        value = spark.conf.get("spark.sql.sources.default")  # its default when unset
    except Exception:  # noqa: BLE001 - not every runtime exposes every setting
        return None
    return value.strip().lower() if value else None


def _refuse_without_delta(error: BaseException) -> None:
    """Raise :class:`ConfigError` when ``error`` says that Spark has no Delta data source."""
    if NO_DATA_SOURCE in full_text(error):
        raise ConfigError(
            f'output_format = "delta" needs Delta Lake, which this Spark session does not '
            f"have: {DELTA_HINT}."
        ) from None
