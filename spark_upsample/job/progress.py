"""The job's stages as an operator follows them: a log line as each starts and ends, a line at
least every ``progress_seconds`` while one runs, with the Spark tasks done out of the total and
an estimate of the time left, and the seconds each took (for the report).

The lines go through the ``spark_upsample`` logger at INFO, so ``--quiet`` (WARNING) turns them
off and each is one whole write of one line, whoever else writes to stderr meanwhile. The tasks
come from Spark's status tracker in a classic session and from the progress Spark Connect
reports with each result (PySpark 4.x); a session with neither has the elapsed seconds only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

log = logging.getLogger("spark_upsample")

JOIN_SECONDS = 5.0  # how long a stage's end waits for its progress thread (stuck on a dying JVM)

# The stages, in order: the key (in the report's timings_seconds and stage) -> the log's words.
STAGES = {
    "check": "checking the configuration and the output",
    "start": "starting Spark",
    "prepare": "preparing the output",
    "read": "reading",
    "count_and_plan": "counting and planning",
    "write": "writing",
    "verify": "verifying",
    "publish": "publishing",
}

# What runs now: a key naming the Spark stages (or operation) running, their tasks done and total.
Tasks = Callable[[], "tuple[Any, int, int] | None"]


class Stages:
    """Runs the job's stages one at a time (:meth:`stage`) and keeps what they took.

    Attributes
    ----------
    timings : seconds per stage that ended (keys of :data:`STAGES`)
    current : the stage running, else the last one that ran (for a failure, the one that
        failed, or the last before it); None before the first
    every : seconds between two lines of a running stage (``progress_seconds``)
    """

    def __init__(self, every: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.timings: dict[str, float] = {}
        self.current: str | None = None
        self.every = every
        self._clock = clock
        self._started = clock()
        self.tasks: Tasks | None = None
        self._seen: tuple[Any, float, int] | None = None  # the running work: key, since, done

    def elapsed(self) -> float:
        """Seconds since the job started."""
        return self._clock() - self._started

    @contextmanager
    def stage(self, key: str, what: str = "", quiet: bool = False) -> Iterator[None]:
        """Run the block as stage ``key``: a line as it starts (with ``what``, e.g. the rows and
        the path), progress lines while it runs, one with its seconds when it ends; with
        ``quiet`` none of them (the stage before the log's level is known)."""
        self.current = key
        words = STAGES[key]
        if not quiet:
            log.info("%s%s", words, f" {what}" if what else "")
        clock = self._clock()
        done = threading.Event()
        beat = None
        if not quiet and log.isEnabledFor(logging.INFO) and self.every > 0:
            beat = threading.Thread(
                target=self._beat, args=(words, clock, done), name="spark-upsample-progress"
            )
            beat.daemon = True
            beat.start()
        try:
            yield
        finally:
            done.set()
            if beat is not None:
                beat.join(timeout=JOIN_SECONDS)
            self.timings[key] = self._clock() - clock
        if not quiet:
            log.info("%s: done in %s", words, _seconds(self.timings[key]))

    def _beat(self, words: str, clock: float, done: threading.Event) -> None:
        while not done.wait(self.every):
            seconds = self._clock() - clock
            log.info("%s: %s so far%s", words, _seconds(seconds), self._tasks_text())

    def _tasks_text(self) -> str:
        """The running work's tasks done of the total, and the time left at the rate they were
        done since this work was first seen (another job or operation starts the count again)."""
        try:
            running = self.tasks() if self.tasks is not None else None
        except Exception:  # noqa: BLE001 - progress must never fail the run (a stopping session)
            log.debug("reading the task progress failed", exc_info=True)
            running = None
        if not running or not running[2]:
            return ""
        key, done, total = running
        now = self._clock()
        if self._seen is None or self._seen[0] != key:
            self._seen = (key, now, done)
        _, since, done_then = self._seen
        text = f", {done:,} of {total:,} tasks done"
        if done > done_then and done < total:
            rate = (done - done_then) / (now - since) if now > since else 0.0
            if rate > 0:
                text += f", about {_seconds((total - done) / rate)} left"
        return text


def _seconds(seconds: float) -> str:
    """``4.2 s``, ``95 s``, ``12 min 5 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 600:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


@contextmanager
def task_progress(spark: SparkSession, connect: bool) -> Iterator[Tasks]:
    """Within the block, a function giving the Spark work running now (a key naming it, its
    tasks done and in all), or None when nothing runs or the session cannot tell."""
    if not connect:
        yield lambda: _classic_tasks(spark)
        return
    handler = _ConnectProgress()
    # PySpark 4.x clients; looked up, not called as methods, for the 3.5 client that has none.
    register = getattr(spark, "registerProgressHandler", None)
    remove = getattr(spark, "removeProgressHandler", None)
    if register is None or remove is None:
        yield lambda: None
        return
    register(handler)
    try:
        yield handler.tasks
    finally:
        remove(handler)


def _classic_tasks(spark: SparkSession) -> tuple[Any, int, int] | None:
    """The active stages (as Spark's console progress bar counts them: not a job's skipped
    ones), with their tasks done and in all, from the status tracker."""
    tracker = spark.sparkContext.statusTracker()  # classic only: the job's one use of it
    infos = (tracker.getStageInfo(i) for i in sorted(tracker.getActiveStageIds()))
    stages = [info for info in infos if info is not None]
    total = sum(s.numTasks for s in stages)
    key = tuple((s.stageId, s.currentAttemptId) for s in stages)
    return (key, sum(s.numCompletedTasks for s in stages), total) if total else None


class _ConnectProgress:
    """A Spark Connect progress handler keeping the stages of the operation running now."""

    def __init__(self) -> None:
        self._stages: dict[int, tuple[int, int]] = {}
        self._operation: str | None = None
        self._lock = threading.Lock()

    def __call__(
        self, stages: Any, inflight_tasks: int, operation_id: str | None, done: bool
    ) -> None:
        # Called in the query's own response loop: an error here would fail the query.
        try:
            with self._lock:
                if operation_id != self._operation:
                    self._operation, self._stages = operation_id, {}
                for stage in stages or ():
                    self._stages[stage.stage_id] = (stage.num_completed_tasks, stage.num_tasks)
                if done:
                    self._stages = {}
        except Exception:  # noqa: BLE001 - progress must never fail the run
            log.debug("reading Spark Connect's progress failed", exc_info=True)

    def tasks(self) -> tuple[Any, int, int] | None:
        with self._lock:
            total = sum(t for _, t in self._stages.values())
            done = sum(d for d, _ in self._stages.values())
            return (self._operation, done, total) if total else None
