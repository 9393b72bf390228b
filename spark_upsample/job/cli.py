"""The job: command line and config in, resampled Parquet (or any format) out, with a report.

Entry points: ``spark-submit jobs/upsample.py`` calls :func:`main`; the ``spark-upsample``
console script (also a Databricks ``python_wheel_task``) and ``python -m spark_upsample`` call it
through :mod:`spark_upsample.job.command`, which answers ``--help``, ``--version`` and ``report``
without PySpark. The options are :mod:`spark_upsample.job.options`'s.

Exit codes: 0 done; 2 bad configuration or arguments; 3 bad input (unreadable, missing label,
null labels, a single class...); 4 output problem (exists, write failed, verification failed);
1 anything unexpected; 143 / 130 stopped by SIGTERM / SIGINT. On any failure the existing
output is left as it was.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any
from urllib.parse import urlparse

import pyspark
from pyspark.sql import SparkSession

from spark_upsample.engine.pipeline import Resampled
from spark_upsample.engine.plan import ResamplePlan
from spark_upsample.errors import (
    ConfigError,
    InputError,
    InvalidParameterError,
    InvalidStrategyError,
    MissingColumnError,
    OutputError,
    SparkUpsampleError,
)
from spark_upsample.job.config import DEFAULTS, JobConfig
from spark_upsample.job.io import (
    SPARK_ERRORS,
    check_partition_columns,
    error_line,
    full_text,
    read_input,
    write_cells_table,
    write_output,
    written_counts,
)
from spark_upsample.job.landing import (
    IN_PLACE,
    Landing,
    check_not_overlapping,
    check_report_path,
    local_path,
)
from spark_upsample.job.methods import resample_for_config
from spark_upsample.job.options import (
    EXIT_CONFIG,
    EXIT_INPUT,
    EXIT_OK,
    EXIT_OUTPUT,
    EXIT_UNEXPECTED,
    config_from_parsed,
    spark_settings,
)
from spark_upsample.job.options import build_parser as build_parser  # callers import it here
from spark_upsample.job.options import config_from_args as config_from_args  # as build_parser
from spark_upsample.job.outcome import Outcome
from spark_upsample.job.progress import Stages, task_progress
from spark_upsample.job.report import (
    MAX_TABLE_ROWS,
    REPORT_NAME,
    cells_table_path,
    list_cells,
    page_path_for,
    summary_table,
    write_page,
    write_report,
)
from spark_upsample.job.report_command import report_main
from spark_upsample.job.signals import StopRequest, stop_on_signals
from spark_upsample.job.split_job import (
    Output,
    check_landing,
    outputs,
    report_section,
    split_and_resample,
    summary_lines,
)
from spark_upsample.job.tables import TableOutput

log = logging.getLogger("spark_upsample")

CONFIG_ERRORS = (ConfigError, InvalidStrategyError, InvalidParameterError)


def _check_spark_settings(settings: dict[str, str], remote: str | None) -> None:
    """Raise :class:`ConfigError` when ``--master`` or ``--conf`` would not apply: the job runs in
    a session it does not start (spark-submit's, or one already active in this process), or
    ``--master`` with Spark Connect (the server has its own)."""
    if not settings:
        return
    if remote:
        if "spark.master" in settings:
            raise ConfigError(
                f"--master {settings['spark.master']!r} does not apply with Spark Connect "
                f"({remote}): the server has its own master. Leave --master out."
            )
        return
    if _launched_by_spark_submit() or SparkSession.getActiveSession() is not None:
        whose = "spark-submit's" if _launched_by_spark_submit() else "an active"
        raise ConfigError(
            f"--master and --conf apply to a session spark-upsample starts; this run uses "
            f"{whose} session. Give them to spark-submit, or set them on that session."
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; returns the exit code (see the module docstring). ``report PATH.json``
    instead renders the page of a saved report (:mod:`spark_upsample.job.report_command`).

    Every outcome has a report (:mod:`spark_upsample.job.outcome`): a run that fails or is
    cancelled writes it when the report path is outside the output."""
    if list(sys.argv[1:] if argv is None else argv)[:1] == ["report"]:
        return report_main(list(sys.argv[2:] if argv is None else argv[1:]))
    try:
        args = vars(build_parser().parse_args(argv))
    except SystemExit as exit_:  # argparse: --help, --version, or a usage error
        return int(exit_.code or 0)
    _setup_logging(args.get("verbose", False), args.get("quiet", False))
    outcome = Outcome(Stages(every=DEFAULTS.progress_seconds))
    if args.get("output") or "config" not in args:  # else the file's output is not known yet
        outcome.place(args.get("report"), args.get("output"))
    settings = spark_settings(args)
    warehouse_was_there = os.path.exists(DEFAULT_WAREHOUSE)
    session = None
    try:
        with outcome.stages.stage("check", quiet=True):
            _check_spark_settings(settings, args.get("remote") or os.environ.get("SPARK_REMOTE"))
            if "config" in args and _shipped_by_spark_submit(args):
                # The file is in the session's SparkFiles directory: start the session first,
                # with the command line's settings (the file's own verbose applies to the job's
                # log only).
                session = get_session(JobConfig(verbose=args.get("verbose", False)), settings)
                args["config"] = _spark_files_copy(args["config"])
            config = config_from_parsed(args)
            _setup_logging(config.verbose, config.quiet)
            outcome.stages.every = config.progress_seconds
            outcome.place(config.report, config.output)
            if config.output:
                check_not_overlapping(config.input, config.output)
                check_report_path(config.report, config.output)
                _check_page_path(config)
                if session is None and not config.dry_run:
                    _check_output_before_spark(config, settings)
    except ConfigError as error:
        if session is not None and session[1]:
            session[0].stop()
        return _fail(EXIT_CONFIG, error, outcome)
    except OutputError as error:
        return _fail(EXIT_OUTPUT, error, outcome)
    except Exception as error:  # noqa: BLE001 - e.g. a config file that cannot be read
        log.debug("unexpected failure", exc_info=True)
        return _fail(EXIT_UNEXPECTED, error, outcome, "unexpected error")

    spark, owned, stop = None, False, StopRequest()
    landing: Landing | TableOutput | None = None
    try:
        with outcome.stages.stage("start"):
            spark, owned = session or get_session(config, settings)
        connect = _is_connect(spark)
        with stop_on_signals(spark, stop), task_progress(spark, connect) as tasks:
            outcome.stages.tasks = tasks
            if config.destination:
                preparing = (
                    outcome.stages.stage("prepare", config.destination)
                    if not config.dry_run
                    else nullcontext()
                )
                with preparing:
                    dynamic = _dynamic_overwrite(spark, config)
                    landing = (
                        TableOutput(spark, config, dynamic=dynamic)
                        if config.commits
                        else Landing(
                            str(config.output),
                            config.write_mode,
                            local_disk=_same_disk(spark),
                            connect=connect,
                            dynamic_partitions=len(config.partition_by) if dynamic else 0,
                        )
                    )
                    if not config.dry_run:
                        landing.prepare()
                    elif isinstance(landing, TableOutput):
                        landing.look_up()  # the format the plan's report names
            run(spark, config, landing, stop, outcome)
        return _stopped(stop, config, outcome, finished=True) if stop.signum else EXIT_OK
    except CONFIG_ERRORS as error:
        return _fail(EXIT_CONFIG, error, outcome, stop=stop, config=config)
    except OutputError as error:
        return _fail(EXIT_OUTPUT, error, outcome, stop=stop, config=config)
    except SparkUpsampleError as error:
        return _fail(EXIT_INPUT, error, outcome, stop=stop, config=config)
    except Exception as error:  # noqa: BLE001 - the job's last line of defence
        log.debug("unexpected failure", exc_info=True)
        return _fail(EXIT_UNEXPECTED, error, outcome, "unexpected error", stop=stop, config=config)
    finally:
        outcome.stages.tasks = None
        if spark is not None and owned:
            classic = not _is_connect(spark)
            spark.stop()  # first: a task cancelled late may still have written to the staging
            if classic and not warehouse_was_there:
                _remove_empty_folder(DEFAULT_WAREHOUSE)
        if landing is not None:
            landing.release(settle_seconds=STOP_SETTLE_SECONDS if stop.signum else 0.0)


def run(
    spark: SparkSession,
    config: JobConfig,
    landing: Landing | TableOutput | None,
    stop: StopRequest | None = None,
    outcome: Outcome | None = None,
) -> dict[str, Any]:
    """Read, resample, write, verify and publish, in ``outcome``'s stages (a new one by
    default); returns the report, which a dry run also writes to ``config.report``. A stop
    signal recorded in ``stop`` before the output is published cancels the run.

    Raises
    ------
    SparkUpsampleError
        Bad input (:class:`InputError` and the library's errors) or output (:class:`OutputError`).
    """
    outcome = outcome or Outcome(Stages(every=config.progress_seconds))
    stages = outcome.stages
    source = config.source if config.input_table else f"{config.input} ({config.input_format})"
    with stages.stage("read", source):
        df = read_input(spark, config)
        check_partition_columns(df, config)
        check_landing(config, landing.dynamic_partitions if landing else 0)
    divided = None
    with stages.stage("count_and_plan"):
        try:
            if config.split:
                divided, result = split_and_resample(df, config)
            else:
                result = resample_for_config(df, config)
        except MissingColumnError as error:
            if config.input_table:
                raise
            raise MissingColumnError(
                f"{error} The input was read as {config.input_format}: if these columns look "
                "wrong, check --input-format (and --input-schema or --input-option for text "
                "formats)."
            ) from None
        except SparkUpsampleError:
            raise
        except SPARK_ERRORS as error:
            raise InputError(
                f"Spark could not read the input {config.source}: {error_line(error)}"
            ) from None
    if log.isEnabledFor(logging.DEBUG):
        log.debug("plan: %s", json.dumps(_plan_head(result.plan), default=str))
    report = outcome.report
    report.update(_report(spark, config, result))
    if landing is not None:
        report["output"]["landing"] = landing.landing
    if isinstance(landing, TableOutput):
        report["output"]["format"] = landing.data_format or DEFAULT_FORMAT
    summary = summary_table(result.plan)
    if divided is not None:
        report["split"] = report_section(config, result, divided)
        report["rows_read"] = divided.plan.rows
        report["rows_written"] = sum(p["rows_written"] for p in report["split"]["parts"].values())
        summary += "\n" + summary_lines(config, result, divided)

    if config.dry_run or landing is None:
        list_cells(report, result.plan, None)
        outcome.end("dry-run")
        if config.report:
            _write_report_elsewhere(report, config.report, what="The dry run's report")
        page = config.report_html if isinstance(config.report_html, str) else None
        if page:
            _write_report_elsewhere(report, page, write_page, "The plan's page")
        _print(
            f"spark-upsample dry run: {config.source}, seed {result.plan.seed}\n"
            f"{summary}\nnothing written (dry run)"
            + (f"\nreport of the plan: {config.report}" if config.report else "")
            + (f"\npage of the plan: {page}" if page else "")
        )
        return report

    report_path = config.report or _default_report_path(config, landing)
    staged_report = landing.staged_location(report_path) if report_path else None
    page_path = _page_path(config, report_path)
    staged_page = landing.staged_location(page_path) if page_path else None
    table = cells_table_path(report_path) if report_path else None
    with_table = list_cells(report, result.plan, table)
    try:
        _write_and_verify(spark, config, landing, outputs(config, result, divided), stages)
        if isinstance(landing, TableOutput):
            committed = {"version": landing.version, "snapshot_id": landing.snapshot_id}
            committed = {k: v for k, v in committed.items() if v is not None}
            if committed:
                report["output"].update(committed, already_committed=landing.already_committed)
        outcome.end("succeeded")
        log.debug("timings (seconds): %s", json.dumps(report["timings_seconds"]))
        with stages.stage("publish", str(config.destination)):
            if staged_report is not None:  # inside the output: it lands with it
                if with_table:
                    write_cells_table(
                        spark, result.plan, df.schema, cells_table_path(staged_report)
                    )
                write_report(report, staged_report)
            if staged_page is not None:
                write_page(report, staged_page)
            if stop is not None:
                stop.check(before="the output was published")
            landing.publish()
        outcome.published = True
    except BaseException:
        landing.abort()
        raise
    if report_path is not None and staged_report is None:
        if with_table:
            write_cells_table(spark, result.plan, df.schema, cells_table_path(report_path))
        _write_report_elsewhere(report, report_path)
    if page_path is not None and staged_page is None:
        what = "The output is in place, but the page"
        _write_report_elsewhere(report, page_path, write_page, what)
    _print(
        f"spark-upsample: {config.source} -> {config.destination}, seed {result.plan.seed}\n"
        f"{summary}\n"
        f"output: {_output_line(config, landing)}\n"
        f"report: {report_path or 'not written (pass --report PATH for this output)'}"
        + (f"\npage: {page_path}" if page_path else "")
    )
    return report


def _plan_head(plan: ResamplePlan) -> dict[str, Any]:
    """The plan for the debug log: every field, and the first cells (the report has more)."""
    head = plan.to_dict()
    head["classes"] = head["classes"][:MAX_TABLE_ROWS]
    return head


def _write_and_verify(
    spark: SparkSession,
    config: JobConfig,
    landing: Landing | TableOutput,
    frames: list[Output],
    stages: Stages,
) -> None:
    """Write each of ``frames`` (to its folder of the output), then check every one's counts."""
    rows = sum(sum(frame.counts.values()) for frame in frames)
    with stages.stage("write", f"{rows:,} rows to {config.destination}"):
        for frame in frames:
            if isinstance(landing, TableOutput):
                landing.write(frame.df)
            else:
                _write(config, landing, frame)
    with stages.stage("verify", f"the counts of {config.destination}"):
        for frame in frames:
            if isinstance(landing, TableOutput):
                written = landing.written_counts(frame.df)
                _compare(written, frame, landing.where_written())
            else:
                _verify(spark, config, landing, frame)


def _output_line(config: JobConfig, landing: Landing | TableOutput) -> str:
    """The output, its format and, for a Delta commit or an Iceberg snapshot, its version; for an
    output written in place, that it was."""
    in_place = (
        ', written in place by Spark: no atomic landing and no lock (output_format = "delta" '
        "commits it whole, once)"
        if landing.landing == IN_PLACE
        else ""
    )
    if not isinstance(landing, TableOutput):
        return f"{config.output} ({config.path_format}){in_place}"
    what = landing.data_format or DEFAULT_FORMAT
    version = f", version {landing.version}" if landing.version is not None else ""
    if landing.snapshot_id is not None:
        version = f", snapshot {landing.snapshot_id}"
    if landing.already_committed:
        version += (
            f", committed by an earlier run with idempotency key {config.idempotency_key!r}: "
            "nothing committed again"
        )
    return f"{landing.output} ({what}{version}){in_place}"


def _folder(path: str, frame: Output) -> str:
    return path if frame.folder is None else f"{path.rstrip('/')}/{frame.folder}"


def _write(config: JobConfig, landing: Landing, frame: Output) -> None:
    output = _folder(str(config.output), frame)
    if frame.folder is not None:
        log.info("writing %s rows to %s", f"{sum(frame.counts.values()):,}", output)
    try:
        write_output(frame.df, config, _folder(landing.write_path, frame), landing.spark_mode)
    except Exception as error:
        if DISK_FULL not in full_text(error):
            raise OutputError(f"Writing {output!r} failed: {error_line(error)}") from None
        landing.abort()  # frees the space the staged part took, before measuring what is left
        space = landing.space()
        free = f" ({_megabytes(space[0])} of {_megabytes(space[1])} free now)" if space else ""
        raise OutputError(
            f"The file system of {output!r} is full ({DISK_FULL}) while writing "
            f"{sum(frame.counts.values()):,} rows; the partial output was removed{free}. Free "
            "space or choose another output path."
        ) from None


def _verify(spark: SparkSession, config: JobConfig, landing: Landing, frame: Output) -> None:
    if not landing.staged and (config.write_mode == "append" or landing.dynamic_partitions):
        written = None  # written in place among earlier rows: not this run's counts alone
    else:
        written = written_counts(spark, config, _folder(landing.write_path, frame), frame.df)
    where = (
        "The output was not published."
        if landing.staged
        else f"Spark wrote it in place at {config.output!r}: check or remove it."
    )
    _compare(written, frame, where)


def _compare(written: dict[Any, int] | None, frame: Output, where: str) -> None:
    """Raise :class:`OutputError` when the ``written`` counts are not the plan's (``where``
    says what a reader sees of them); warn that they are not verified when None."""
    if written is None:
        log.warning("written in place among earlier rows: the written counts are not verified")
        return
    expected = frame.counts
    log.debug("written rows of %d cell(s); planned %d", len(written), len(expected))
    if written != expected:
        wrong = [k for k in {**expected, **written} if written.get(k) != expected.get(k)]
        shown = ", ".join(
            f"{k!r}: expected {expected.get(k, 0):,}, found {written.get(k, 0):,}"
            for k in wrong[:5]
        )
        more = f" (and {len(wrong) - 5:,} more cells)" if len(wrong) > 5 else ""
        what = "output" if frame.folder is None else f"part {frame.folder!r}"
        raise OutputError(f"The written {what} does not match the plan: {shown}{more}. {where}")


DEFAULT_FORMAT = "the catalog's default"  # a new table's format where the session hides it
STOP_SETTLE_SECONDS = 3.0  # after a stop signal, how long the staging folder must stay removed
DISK_FULL = "No space left on device"  # ENOSPC, as the OS and Java word it


def _megabytes(size: int) -> str:
    return f"{size / 2**20:,.1f} MB"


def _default_report_path(config: JobConfig, landing: Landing | TableOutput) -> str | None:
    """The report in the output, when the output is staged (written by this process)."""
    return os.path.join(str(config.output), REPORT_NAME) if landing.staged else None


def _write_report_elsewhere(
    report: dict[str, Any],
    path: str,
    write: Callable[[dict[str, Any], str], None] = write_report,
    what: str = "The output is in place, but the report",
) -> None:
    """Write a report (or with ``write_page``, its page) that is not inside the output, once
    the output is in place; ``what`` starts the error message."""
    try:
        write(report, path)
    except OSError as error:
        raise OutputError(f"{what} could not be written to {path!r}: {error}.") from None


def _page_path(config: JobConfig, report_path: str | None) -> str | None:
    """Where the report's page goes: ``report_html``, else beside the report; None for none."""
    if config.report_html is False:
        return None
    if isinstance(config.report_html, str):
        return config.report_html
    return page_path_for(report_path) if report_path else None


def _check_page_path(config: JobConfig) -> None:
    """Raise :class:`ConfigError` for a page inside the output where readers would read it, or
    a report or page inside the output of a dry run (which writes nothing there)."""
    if isinstance(config.report_html, str):
        check_report_path(config.report_html, str(config.output))
    if not config.dry_run:
        return
    output = local_path(str(config.output))
    for what, path, option in (
        ("report", config.report, "--report"),
        ("page", config.report_html, "--report-html"),
    ):
        where = local_path(path) if isinstance(path, str) else None
        if where is not None and output is not None and output in where.parents:
            raise ConfigError(
                f"The {what} {path!r} is inside the output {config.output!r}, which a dry run "
                f"leaves untouched. Give {option} a path outside it."
            )


def _dynamic_overwrite(spark: SparkSession, config: JobConfig) -> bool:
    """True when an ``overwrite`` replaces only the partitions it writes (Spark's dynamic
    partition overwrite: the writer option ``partitionOverwriteMode``, else the session's
    ``spark.sql.sources.partitionOverwriteMode``); False when it replaces all.

    Raises
    ------
    ConfigError
        The writer option is neither static nor dynamic.
    """
    options = {key.lower(): value for key, value in config.output_options.items()}
    mode = options.get("partitionoverwritemode")
    if mode is not None and mode.strip().lower() not in ("static", "dynamic"):
        raise ConfigError(
            f"output option partitionOverwriteMode must be static or dynamic. Got {mode!r} instead."
        )
    if mode is None:
        mode = _conf(spark, "spark.sql.sources.partitionOverwriteMode") or "static"
    return config.write_mode == "overwrite" and mode.strip().lower() == "dynamic"


def _report(spark: SparkSession, config: JobConfig, result: Resampled) -> dict[str, Any]:
    """The report's fields that the plan and the configuration give (see report.schema.json)."""
    plan = result.plan
    strategy = config.strategy
    return {
        "input": {"source": config.source, "format": config.input_format},
        "output": {
            "path": config.output,
            "table": config.output_table,
            "idempotency_key": config.idempotency_key,
            "replace_where": config.replace_where,
            "format": config.path_format,
            "write_mode": config.write_mode,
            "partition_by": list(config.partition_by),
            "compression": config.compression,
            "output_files": config.output_files,
        },
        "label_col": plan.label_col,
        "method": plan.method,
        "strategy": strategy if plan.method != "resample" else None,
        "target": config.target,
        "seed": plan.seed,
        "keep_originals": plan.keep_originals,
        "replacement": plan.replacement,
        "group_by": list(plan.group_by),
        "row_identity": plan.row_identity,
        "row_identity_note": plan.row_identity_note,
        "key_cols": list(plan.key_cols),
        "weight_col": plan.weight_col,
        "lineage_col": config.lineage_col,
        "shrinkage": config.shrinkage,
        "shuffle": config.shuffle,
        **(
            {"feature_cols": list(config.feature_cols), "k_neighbors": config.k_neighbors}
            if config.method == "smote"
            else {}
        ),
        "rows_read": plan.rows_before + plan.null_labels_dropped,
        "null_labels_dropped": plan.null_labels_dropped,
        "rows_written": plan.rows_after,
        "single_class_groups": plan.to_dict()["single_class_groups"],
        "spark": {"version": spark.version, "master": _master(spark)},
    }


def get_session(
    config: JobConfig, settings: Mapping[str, str] | None = None
) -> tuple[SparkSession, bool]:
    """The active SparkSession (spark-submit, Databricks) or a new one; and whether we own it.

    ``config.remote`` (or ``SPARK_REMOTE``) connects to a Spark Connect server. Otherwise a new
    session runs in local mode on all cores only when nothing else sets a master (``--master``
    in ``settings``, spark-submit, ``MASTER``, ``PYSPARK_SUBMIT_ARGS``), its Python workers then
    this interpreter unless ``PYSPARK_PYTHON`` says otherwise. ``settings`` (``--master`` and
    ``--conf``) apply to a session started here, over ``PYSPARK_SUBMIT_ARGS`` and
    ``spark-defaults.conf``; the job itself sets no master, memory or shuffle setting.
    A new classic session logs INFO with ``verbose`` (else WARN) and has no console progress bar
    when stderr is not a terminal; a JVM started here gets the job's log4j profile
    (:func:`_spark_log_config`).
    """
    settings = settings or {}
    if config.remote:
        return SparkSession.builder.remote(config.remote).config(
            map=dict(settings)
        ).getOrCreate(), True
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    builder = SparkSession.builder.appName("spark-upsample")
    if os.environ.get("SPARK_REMOTE"):
        return builder.config(map=dict(settings)).getOrCreate(), True
    builder = builder.config("spark.log.level", "INFO" if config.verbose else "WARN")
    if not sys.stderr.isatty():  # a progress bar would share its lines with the job's in a log
        builder = builder.config("spark.ui.showConsoleProgress", "false")
    if _launched_by_spark_submit():
        return builder.getOrCreate(), True
    master = _master_to_be(settings)
    if master is None:
        master = "local[*]"
        builder = builder.master(master)
    if (master or "").startswith("local"):
        # Local executors run this machine's Python: this interpreter, whose packages the job
        # has (SMOTE runs numpy and pyarrow there), not whatever "python3" is first on PATH.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with _spark_log_config(config.verbose):
        return builder.config(map=dict(settings)).getOrCreate(), True


def _check_output_before_spark(config: JobConfig, settings: Mapping[str, str]) -> None:
    """Refuse an output on this machine's disk that the run could not write (see
    :meth:`Landing.check`) before Spark starts. Which disk a path without a scheme is on comes
    from the session the run will have: the active one's, or for a session started here its
    master (``--master``, ``MASTER``, ``PYSPARK_SUBMIT_ARGS``, else local). With Spark Connect
    or under spark-submit (whose master only its JVM knows), only ``file:`` paths are checked.

    Raises
    ------
    OutputError
        The output cannot be written in its write mode.
    """
    assert config.output
    if config.remote or os.environ.get("SPARK_REMOTE"):
        return  # the server resolves paths, on its own disk
    active = SparkSession.getActiveSession()
    if active is not None:
        local_disk, connect = _same_disk(active), _is_connect(active)
    else:
        master = _master_to_be(settings)
        local_disk = not _launched_by_spark_submit() and _on_this_machine(master or "local")
        connect = False
    Landing(config.output, config.write_mode, local_disk=local_disk, connect=connect).check()


def _master_to_be(settings: Mapping[str, str]) -> str | None:
    """The master a session started here gets from ``--master``, ``MASTER`` or
    ``PYSPARK_SUBMIT_ARGS``; None when none of them sets one."""
    words = shlex.split(os.environ.get("PYSPARK_SUBMIT_ARGS", ""))
    given = words[words.index("--master") + 1] if "--master" in words[:-1] else None
    return settings.get("spark.master") or os.environ.get("MASTER") or given


# Where a classic session's catalog keeps its tables unless spark.sql.warehouse.dir says
# otherwise: Spark creates the folder in the working directory when the catalog starts, even
# for a run that reads files or finds no table.
DEFAULT_WAREHOUSE = "spark-warehouse"


def _remove_empty_folder(path: str) -> None:
    """Remove the folder ``path`` if it is there and empty (the job's session made it)."""
    try:
        os.rmdir(path)
    except OSError:
        pass  # absent, or holds tables: not the job's to remove


def _launched_by_spark_submit() -> bool:
    """True when spark-submit started this Python driver (its JVM is already running)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


SPARK_LOG_CONFIG = os.path.join(os.path.dirname(__file__), "spark-log4j2.properties")


@contextmanager
def _spark_log_config(verbose: bool) -> Iterator[None]:
    """Give a Spark JVM that starts in this block the job's console log (``SPARK_LOG_CONFIG``),
    unless the user configured log4j: ``--verbose`` shows Spark's INFO log from the start, and
    otherwise Spark logs WARN without the Java stack traces of the failures the job reports in
    one line. Without it, PySpark's JVM filters its console to WARN whatever ``spark.log.level``
    says, and logs those traces at WARN and ERROR.
    """
    conf_dir = os.environ.get("SPARK_CONF_DIR") or os.path.join(
        os.environ.get("SPARK_HOME") or os.path.dirname(pyspark.__file__), "conf"
    )
    options = os.environ.get("SPARK_SUBMIT_OPTS")
    if "log4j" in (options or "") or os.path.exists(os.path.join(conf_dir, "log4j2.properties")):
        yield
        return
    level, failures = ("info", "info") if verbose else ("warn", "off")
    os.environ["SPARK_SUBMIT_OPTS"] = " ".join(
        filter(
            None,
            [
                options,
                f"-Dlog4j2.configurationFile={SPARK_LOG_CONFIG}",
                f"-Dspark-upsample.level={level}",
                f"-Dspark-upsample.failures={failures}",
            ],
        )
    )
    try:
        yield
    finally:
        if options is None:
            del os.environ["SPARK_SUBMIT_OPTS"]
        else:
            os.environ["SPARK_SUBMIT_OPTS"] = options


def _shipped_by_spark_submit(args: dict[str, Any]) -> bool:
    """True when ``args["config"]`` names no file here but may be one that ``spark-submit
    --files`` shipped: in client and local mode those land in the session's SparkFiles
    directory, not in the working directory as in YARN cluster mode. Only a classic session has
    one: never with Spark Connect.
    """
    if os.path.exists(args["config"]) or args.get("remote") or os.environ.get("SPARK_REMOTE"):
        return False
    active = SparkSession.getActiveSession()
    if active is not None:
        return not _is_connect(active)
    return _launched_by_spark_submit()


def _spark_files_copy(path: str) -> str:
    """The copy of file ``path`` in the active session's SparkFiles directory, if there is one,
    else ``path``."""
    from pyspark import SparkFiles  # classic Spark only

    copy = os.path.join(SparkFiles.getRootDirectory(), os.path.basename(path))
    return copy if os.path.isfile(copy) else path


LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _same_disk(spark: SparkSession) -> bool:
    """True when Spark resolves a path without a scheme on this machine's disk: local mode, or a
    master or Spark Connect server on this machine (a cluster's paths are its default file
    system's, a remote server's are its own)."""
    if _is_connect(spark):
        return spark.client.host in LOOPBACK
    return _on_this_machine(_master(spark) or "")


def _on_this_machine(master: str) -> bool:
    """True for a local master, or one on this machine."""
    return master.startswith("local") or urlparse(master).hostname in LOOPBACK


def _is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (the server resolves paths, on its own disk)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def _master(spark: SparkSession) -> str | None:
    return _conf(spark, "spark.master")


def _conf(spark: SparkSession, key: str) -> str | None:
    """A Spark setting of the session, or None when unset or not exposed."""
    try:
        return spark.conf.get(key, None)
    except Exception:  # noqa: BLE001 - not every runtime exposes every setting
        return None


class _StderrHandler(logging.StreamHandler):
    """Logs to whatever ``sys.stderr`` is when a record is written (main() may run many times)."""

    @property  # type: ignore[override]  # in place of the attribute: stderr at each write
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


_HANDLER = _StderrHandler()
_HANDLER.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))


def _setup_logging(verbose: bool, quiet: bool = False) -> None:
    """The job's log on stderr: DEBUG with ``verbose``, WARNING with ``quiet`` (no progress
    lines), else INFO."""
    if _HANDLER not in log.handlers:
        log.addHandler(_HANDLER)
    log.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def _fail(
    code: int,
    error: BaseException,
    outcome: Outcome,
    prefix: str = "error",
    stop: StopRequest | None = None,
    config: JobConfig | None = None,
) -> int:
    """Print the error line and end the report as failed (or, after a stop signal, as
    cancelled); returns the exit code. The job's own errors are one line; another error is
    shown as :func:`error_line` gives it (its first line and its root cause)."""
    if stop is not None and stop.signum and config is not None:
        log.debug("after %s: %s", stop.name, error)
        return _stopped(stop, config, outcome, finished=outcome.published)
    line = str(error) if isinstance(error, SparkUpsampleError) else error_line(error)
    _print(f"spark-upsample: {prefix}: {line}")
    outcome.failed(line, code)
    return code


def _stopped(stop: StopRequest, config: JobConfig, outcome: Outcome, finished: bool) -> int:
    """Say how a run stopped by a signal ended, and end the report of a run it cancelled;
    returns 128 + the signal's number."""
    if not finished:
        outcome.cancelled(stop.name, stop.exit_code)
    if not config.destination or config.dry_run:
        _print(f"spark-upsample: cancelled by {stop.name}; nothing was written.")
    elif finished:
        _print(
            f"spark-upsample: stopped by {stop.name} as the run finished: the output "
            f"{config.destination!r} is in place and complete."
        )
    elif config.commits:
        _print(
            f"spark-upsample: cancelled by {stop.name}: the Spark jobs were cancelled before "
            f"the commit; {config.destination!r} is as it was if it is a Delta table (a "
            "table of another format is written in place: check it)."
        )
    else:
        _print(
            f"spark-upsample: cancelled by {stop.name}: the Spark jobs were cancelled and the "
            f"staged output removed; the output {config.output!r} is as it was."
        )
    return stop.exit_code


def _print(text: str) -> None:
    """Print the job's own lines to stderr, in one write (a progress line from another thread
    never lands inside them). On a terminal they start at column 0 even while Spark's progress
    bar is drawn there: a carriage return and erase-line clear it first."""
    sys.stderr.write(("\r\033[K" if sys.stderr.isatty() else "") + text + "\n")
    sys.stderr.flush()
