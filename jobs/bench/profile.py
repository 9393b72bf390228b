"""Where a run's wall time goes: every Spark job it ran, and the driver's time between them.

``--profile`` wraps each run of a Spark method in :class:`Profiler`: before the run it notes the
next Spark job id and the time; after it, it reads from the driver's status stores (the same
records the Spark UI shows, kept with the UI off) every job since, with its submission and
completion times, and the SQL execution each job belongs to. A run's profile is then a timeline
of :class:`Span` s that covers its whole wall time:

- one span per Spark job: its seconds, tasks and what it is: the action and, when the action was
  called from Python, the function and line that called it (``collect in draw_exact
  (spark_upsample/engine/sampler.py:161)``), from the execution's call site; a broadcast
  exchange's job (the per-cell table sent to the executors) says so;
- one ``driver`` span for each gap in which no job ran: the driver's own work (Python, the
  query's analysis and planning, the listener's lag of a few milliseconds).

Jobs of one execution can overlap (a broadcast runs beside its query's first stage); the
driver spans are the gaps of their union. The profile needs a classic session (it reads the JVM
through py4j) and that nothing else runs jobs meanwhile, as in the benchmark.
"""

from __future__ import annotations

import ast
import re
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from py4j.protocol import Py4JError
from pyspark.sql import SparkSession

ROOT = Path(__file__).resolve().parents[2]
LISTENER_WAIT_SECONDS = 10.0  # the status store hears of a job's end asynchronously
# A job: submitted, completed (epoch seconds, None while unknown), tasks, broadcast, label.
_Job = tuple[float | None, float | None, int, bool, str]
_CALL_SITE = re.compile(r"^(?P<action>\S+) at (?P<file>.+\.py):(?P<line>\d+)$")
_OTHER_CALL_SITE = re.compile(r"^(?P<action>\S+) at \S+:\d+$")  # JVM code, "<unknown>"
BROADCAST = "broadcast exchange"


@dataclass(frozen=True)
class Span:
    """One line of a profile.

    Attributes
    ----------
    start : seconds from the start of the run
    seconds : its length
    what : ``job <id>`` or ``driver``
    label : what the job ran (see the module docstring); for the driver, the job it preceded
    tasks : the job's tasks (0 for the driver)
    """

    start: float
    seconds: float
    what: str
    label: str
    tasks: int = 0


class Profiler:
    """Reads the jobs of a run from a classic session's status stores (see the module
    docstring)."""

    def __init__(self, spark: SparkSession) -> None:
        jsc = spark.sparkContext._jsc
        assert jsc is not None, "a classic Spark session (the profile reads the JVM's stores)"
        self._jobs = jsc.sc().statusStore()
        self._sql = spark._jsparkSession.sharedState().statusStore()

    def start(self) -> tuple[int, float]:
        """A mark to give :meth:`spans` after the run: the next job id and the time."""
        newest = -1
        jobs = self._jobs.jobsList(None).iterator()
        while jobs.hasNext():
            newest = max(newest, int(jobs.next().jobId()))
        return newest + 1, time.time()

    def spans(self, mark: tuple[int, float], end: float) -> list[Span]:
        """The timeline from ``mark`` (:meth:`start`) to ``end`` (``time.time()`` at the end
        of the run): every job since the mark, in order, and the driver's gaps between them."""
        first, begin = mark
        jobs = self._finished_jobs(first)
        labels = self._execution_labels(set(jobs))
        spans: list[Span] = []
        covered = begin
        for job_id, (submitted, completed, tasks, broadcast, own) in sorted(
            jobs.items(), key=lambda item: (item[1][0] or 0.0, item[0])
        ):
            assert submitted is not None and completed is not None  # _finished_jobs
            label = labels.get(job_id, own)
            if submitted > covered:
                gap = submitted - covered
                spans.append(Span(covered - begin, gap, "driver", f"before {label}"))
            if broadcast:
                label = f"broadcast for {label}"
            took = completed - submitted
            spans.append(Span(submitted - begin, took, f"job {job_id}", label, tasks))
            covered = max(covered, completed)
        if end > covered:
            spans.append(Span(covered - begin, end - covered, "driver", "after the last job"))
        return spans

    def _job_records(self, first: int) -> dict[int, _Job]:
        """Per job id >= ``first``: submission and completion (epoch seconds, None while
        unknown), tasks, whether it is a broadcast exchange's, and its own call site's label."""
        records = {}
        jobs = self._jobs.jobsList(None).iterator()
        while jobs.hasNext():
            job = jobs.next()
            if job.jobId() < first:
                continue
            records[job.jobId()] = (
                _epoch(job.submissionTime()),
                _epoch(job.completionTime()),
                int(job.numTasks()),
                _is_broadcast(job),
                call_site_label(str(job.name())),
            )
        return records

    def _finished_jobs(self, first: int) -> dict[int, _Job]:
        """:meth:`_job_records` once every job since ``first`` has ended (or after
        :data:`LISTENER_WAIT_SECONDS`, without those that have not)."""
        deadline = time.monotonic() + LISTENER_WAIT_SECONDS
        while True:
            records = self._job_records(first)
            done = {i: job for i, job in records.items() if None not in job[:2]}
            if len(done) == len(records) or time.monotonic() > deadline:
                return done
            time.sleep(0.05)

    def _execution_labels(self, job_ids: set[int]) -> dict[int, str]:
        """Per job id: the label of the SQL execution that ran it (from its call site)."""
        labels = {}
        executions = self._sql.executionsList().iterator()
        while executions.hasNext():
            execution = executions.next()
            keys = execution.jobs().keySet().iterator()
            ids = []
            while keys.hasNext():
                ids.append(int(keys.next()))
            if job_ids.intersection(ids):
                label = call_site_label(str(execution.description()))
                labels.update({job_id: label for job_id in ids})
        return labels


def call_site_label(call_site: str) -> str:
    """``collect at /x/spark_upsample/engine/sampler.py:161`` -> ``collect in draw_exact
    (spark_upsample/engine/sampler.py:161)``; a call site outside Python
    (``parquet at NativeMethodAccessorImpl.java:0``, ``parquet at <unknown>:0``) -> ``parquet``;
    anything else unchanged."""
    python = _CALL_SITE.match(call_site)
    if python:
        path, line = Path(python["file"]), int(python["line"])
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        function = enclosing_function(str(path), line)
        where = f" in {function}" if function else ""
        return f"{python['action']}{where} ({shown}:{line})"
    other = _OTHER_CALL_SITE.match(call_site)
    return other["action"] if other else call_site


@cache
def enclosing_function(path: str, line: int) -> str | None:
    """The name of the innermost function of the Python file ``path`` around ``line`` (None
    when there is none or the file cannot be read)."""
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError):
        return None
    found: tuple[int, str] | None = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            end = node.end_lineno or node.lineno
            if node.lineno <= line <= end and (found is None or node.lineno > found[0]):
                found = (node.lineno, node.name)
    return found[1] if found else None


def render(spans: list[Span]) -> list[str]:
    """The profile as Markdown table lines, with a total line per kind."""
    lines = ["| start s | seconds | what | label | tasks |", "|---:|---:|---|---|---:|"]
    for span in spans:
        tasks = str(span.tasks) if span.what != "driver" else ""
        lines.append(
            f"| {span.start:.2f} | {span.seconds:.2f} | {span.what} | {span.label} | {tasks} |"
        )
    jobs = [s for s in spans if s.what != "driver"]
    driver = sum(s.seconds for s in spans if s.what == "driver")
    busy = sum(s.seconds for s in jobs)
    lines.append(f"| | {busy:.2f} | {len(jobs)} jobs (overlaps counted twice) | | |")
    lines.append(f"| | {driver:.2f} | driver, no job running | | |")
    return lines


def _epoch(date: Any) -> float | None:
    """A Scala ``Option[java.util.Date]`` as epoch seconds (None when empty)."""
    return date.get().getTime() / 1000 if date.isDefined() else None


def _is_broadcast(job: Any) -> bool:
    """Whether a status store ``JobData`` is a broadcast exchange's job: Spark 4 tags it, Spark
    3.5 gives it a job group of that description."""
    description = job.description()
    if description.isDefined() and str(description.get()).startswith(BROADCAST):
        return True
    try:
        tags = str(job.jobTags().toString())
    except Py4JError:  # Spark 3.5's JobData has no tags
        return False
    return BROADCAST in tags
