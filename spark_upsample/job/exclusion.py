"""One run at a time per output: an exclusive lock file beside the output.

A run that stages its output (see :mod:`spark_upsample.job.landing`) first creates
``<parent>/.spark-upsample/<name>.lock``, holding a record of itself: run id, process id, host,
process start time, start time and version. The file is created whole in one atomic step (a
hard link of a fully written temporary file, which fails when the lock exists; an exclusive
create where the file system has no hard links), so two runs that start together cannot both
hold it.

A lock is stale, and is taken over with a warning, when its run is provably gone: its host is
this machine and no process has its id (or a zombie has it, or a process that started at
another time: a reused id); or it has held no readable record for :data:`STARTING_SECONDS`
(without hard links the record is written just after the exclusive create).
A lock of a live run, or of a run on another machine, is never taken: the run that finds it
stops with :class:`OutputError` naming the other run, and the lock's path for when that run
is known to be gone.

What this needs from the file system: an atomic create-if-absent (``link``, or ``open`` with
``O_CREAT | O_EXCL``), as local file systems and NFS v3+ have, and as HDFS has too (the job
takes no lock there: Spark writes such outputs in place, see :mod:`spark_upsample.job.landing`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from spark_upsample import __version__
from spark_upsample.errors import OutputError

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
STARTING_SECONDS = 10.0  # how long a lock without a readable record counts as a run starting


@dataclass(frozen=True)
class RunRecord:
    """Who holds a lock: enough to name the run and to tell whether it is still alive."""

    run_id: str
    pid: int
    host: str
    started_at: str
    process_start: str | None  # the process's start time (Linux), to detect a reused pid
    tool: str

    @classmethod
    def of_this_process(cls, run_id: str) -> RunRecord:
        pid = os.getpid()
        return cls(
            run_id,
            pid,
            socket.gethostname(),
            datetime.now(timezone.utc).isoformat(),
            _process_stat(pid)[1],
            f"spark-upsample {__version__}",
        )

    def describe(self) -> str:
        return (
            f"run {self.run_id} (process {self.pid} on {self.host}, {self.tool}, started "
            f"{self.started_at})"
        )

    def is_gone(self) -> bool:
        """True when this machine ran the run and its process has exited (a zombie too: killed,
        not yet reaped)."""
        if self.host != socket.gethostname():
            return False  # another machine's process: it cannot be checked from here
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # a process of another user has this id
        state, started = _process_stat(self.pid)
        return state == "Z" or (self.process_start is not None and started != self.process_start)


class OutputLock:
    """The exclusive lock of one output path, held by this run from :meth:`acquire` until
    :meth:`release`.

    Parameters
    ----------
    work_dir : the folder of the lock (created when missing)
    name : the output's name; the lock is ``<work_dir>/<name>.lock``
    run_id : this run's id, as in its staging folder's name
    """

    def __init__(self, work_dir: Path, name: str, run_id: str) -> None:
        self.path = work_dir / f"{name}{LOCK_SUFFIX}"
        self.record = RunRecord.of_this_process(run_id)
        self.held = False

    def acquire(self) -> None:
        """Take the lock, taking over a stale one with a warning.

        Raises
        ------
        OutputError
            Another run holds the lock (the message names it).
        OSError
            The file system refused to create the lock (its folder cannot exist, say).
        """
        for _ in range(5):  # a stale lock taken over, or the folder removed meanwhile: retry
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._create()
                self.held = True
                return
            except FileExistsError:
                holder = _read_record(self.path)
                if holder is None and _seconds_since_written(self.path) < STARTING_SECONDS:
                    raise OutputError(
                        f"Another run is starting to write this output (its lock "
                        f"{str(self.path)!r} is being written); only one run at a time may."
                    ) from None
                if holder is not None and not holder.is_gone():
                    raise OutputError(
                        f"Another {holder.describe()} is writing this output; only one run at a "
                        f"time may. Wait for it to finish (or, if it is known to be gone, remove "
                        f"{str(self.path)!r})."
                    ) from None
                self._take_over(holder)
            except FileNotFoundError:
                continue  # another output's run removed the empty folder: create it again
        raise OutputError(f"Could not take the lock {str(self.path)!r}: it kept changing.")

    def release(self) -> None:
        """Delete the lock if this run still holds it (never another run's)."""
        if self.held and _read_record(self.path) == self.record:
            self.path.unlink(missing_ok=True)
        self.held = False

    def _create(self) -> None:
        """Create the lock holding this run's record, whole, or raise FileExistsError."""
        text = json.dumps(asdict(self.record), indent=2) + "\n"
        draft = self.path.with_name(f"{self.path.name}.{self.record.run_id}")
        draft.write_text(text)
        try:
            os.link(draft, self.path)
        except FileExistsError:
            raise
        except OSError:  # no hard links here: an exclusive create, then the record
            descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            with os.fdopen(descriptor, "w") as lock:
                lock.write(text)
        finally:
            draft.unlink(missing_ok=True)

    def _take_over(self, stale: RunRecord | None) -> None:
        """Remove the stale lock ``stale`` (None: unreadable), unless it changed meanwhile.

        The lock is renamed aside first and its record compared, so that of two runs taking
        over the same stale lock only one removes it, and a fresh lock renamed by mistake is
        put back.
        """
        aside = self.path.with_name(f"{self.path.name}.stale-{self.record.run_id}")
        os.rename(self.path, aside)
        try:
            if _read_record(aside) != stale:
                os.link(aside, self.path)  # a run created it meanwhile: give it back
                return
        finally:
            aside.unlink()
        what = stale.describe() if stale else "a run this version cannot identify"
        log.warning("took over the lock %s of %s, which is gone", self.path, what)


def _read_record(path: Path) -> RunRecord | None:
    """The record in the lock file ``path``; None when missing or not one this version reads."""
    try:
        return RunRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _seconds_since_written(path: Path) -> float:
    """Seconds since ``path`` was last written; infinity when it is gone."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _process_stat(pid: int) -> tuple[str | None, str | None]:
    """The state (R, S, Z...) and start time (clock ticks since boot) of process ``pid`` on
    Linux; None and None elsewhere or when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    fields = stat.rsplit(")", 1)[1].split()  # from field 3; the name in parentheses may hold spaces
    return fields[0], fields[19]
