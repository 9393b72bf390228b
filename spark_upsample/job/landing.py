"""Landing the output whole or not at all.

When the output is on this machine's disk the job writes into a staging folder under a hidden
``.spark-upsample`` folder beside the output, checks it, and only then swaps it into place. An
``append``, and an ``overwrite`` with dynamic partition overwrite, first complete the staging
folder with hard links to the files of the previous output that the new one keeps (copies where
the file system has no hard links), so every write mode publishes one folder. The swap renames
the previous output aside, renames the staging folder into place (renames within one file system
are atomic) and deletes the previous output; should the process die between the two renames,
the next run puts the previous output back. The next run also removes the leftovers of killed
runs, with a warning naming them, and names those it cannot remove, which it leaves.

One run at a time writes an output: :meth:`Landing.prepare` takes its lock
(:mod:`spark_upsample.job.exclusion`) before anything else, and :meth:`Landing.release` gives it
back.

Spark writes in place, with its output committer, wherever this process cannot rename what
Spark wrote: other file systems (HDFS, object stores, DBFS; use a table format such as Delta
there for atomic replacement), and with Spark Connect a relative path (the server resolves it
against its own working directory) or any path of a server on another machine.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from spark_upsample.errors import ConfigError, OutputError
from spark_upsample.job.exclusion import LOCK_SUFFIX, OutputLock
from spark_upsample.job.report import REPORT_NAME, REPORT_PREFIX

log = logging.getLogger(__name__)

WORK_DIR = ".spark-upsample"  # beside the output; hidden from readers of the parent folder
STAGING_TAG = ".staging-"
BACKUP_TAG = ".previous-"
RUN_ID = r"[0-9a-z]{12}"  # a run's id in the names of its entries in the work folder
MAX_SETTLE_SECONDS = 30.0
STAGED, IN_PLACE = "staged", "in place"  # how an output lands (the report's output.landing)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


def local_path(path: str) -> Path | None:
    """The local file-system path of ``path``, or None for another scheme (hdfs:, s3a:, ...)."""
    given = _file_path(path)
    return None if given is None else Path(given).expanduser().resolve()


def _file_path(path: str) -> str | None:
    """``path`` without its ``file:`` scheme and authority, or None for another scheme.

    Nothing else is parsed: to Hadoop's ``Path``, which Spark writes with, "?", "#" and "%"
    are characters of the name, not the start of a query or a fragment or an escape as they
    are to ``urllib``."""
    scheme = _SCHEME.match(path)
    if scheme is None:
        return path
    name = scheme.group(1).lower()
    if len(name) == 1 and os.name == "nt":
        return path  # a drive letter
    if name != "file":
        return None
    rest = path[scheme.end() :]
    if rest.startswith("//"):
        slash = rest.find("/", 2)
        rest = rest[slash:] if slash >= 0 else "/"
    return rest


def check_not_overlapping(input_path: str | None, output: str) -> None:
    """Raise :class:`ConfigError` when the output equals, is inside, or contains the input."""
    if not input_path:
        return
    a, b = local_path(input_path), local_path(output)
    if a is None or b is None:
        a_text, b_text = input_path.rstrip("/") + "/", output.rstrip("/") + "/"
        overlap = a_text.startswith(b_text) or b_text.startswith(a_text)
    else:
        overlap = a == b or a in b.parents or b in a.parents
    if overlap:
        raise ConfigError(
            f"The output {output!r} overlaps the input {input_path!r} (equal, inside or "
            "containing it); writing there could destroy the input. Choose another output path."
        )


def check_report_path(report: str | None, output: str) -> None:
    """Raise :class:`ConfigError` when Spark's readers would read the report as data: the output
    itself, or a file inside it with no part of its path (below the output) starting with "_" or
    "." (Spark skips those)."""
    a, b = local_path(report) if report else None, local_path(output)
    if a is None or b is None or (a != b and b not in a.parents):
        return
    if any(part.startswith(("_", ".")) for part in a.relative_to(b).parts):
        return
    raise ConfigError(
        f"The report {report!r} is inside the output {output!r}, where Spark's readers would "
        f"read it as data. Give it a name that starts with an underscore (as the default "
        f"{REPORT_NAME}), or write it elsewhere."
    )


@dataclass
class Landing:
    """Where the job writes, and how the written output is put in place.

    Attributes
    ----------
    output : the final output path, as given
    mode : "error", "overwrite" or "append"
    local_disk : whether a path without a scheme is on this machine's disk for Spark too (local
        mode, or a master or Connect server on this machine). Otherwise such a path is Spark's
        (HDFS, a remote server's disk), so only ``file:`` paths are staged.
    connect : whether Spark is a Spark Connect server, which resolves paths itself: then a
        relative path is never staged, nor any path when the server is on another machine.
    dynamic_partitions : with mode "overwrite", the number of partition columns when only the
        partition folders written replace those of the previous output (Spark's dynamic
        partition overwrite); 0 replaces the whole output.
    """

    output: str
    mode: str
    local_disk: bool = True
    connect: bool = False
    dynamic_partitions: int = 0

    def __post_init__(self) -> None:
        self.final = _stageable_path(self.output, self.local_disk, self.connect)
        self.run_id = uuid.uuid4().hex[:12]
        self.lock = (
            OutputLock(self._work_dir, self.final.name, self.run_id)
            if self.final is not None
            else None
        )

    @property
    def staged(self) -> bool:
        """True when the output is staged and swapped (local file systems)."""
        return self.final is not None

    @property
    def landing(self) -> str:
        """How the output lands, as the report says it: ``staged`` (staged, then swapped into
        place) or ``in place`` (Spark's committer writes it where it goes)."""
        return STAGED if self.staged else IN_PLACE

    @property
    def write_path(self) -> str:
        """The path Spark writes to: the staging folder, or the output itself."""
        if self.final is None:
            return self.output
        return str(self._work_dir / f"{self.final.name}{STAGING_TAG}{self.run_id}")

    @property
    def spark_mode(self) -> str:
        """The Spark save mode for :attr:`write_path`."""
        return "error" if self.staged else self.mode

    def staged_location(self, path: str) -> str | None:
        """Where to write the local file ``path`` so that it lands with the output: its place in
        the staging folder when it is inside the output; None otherwise (or when not staged)."""
        target = local_path(path)
        if self.final is None or target is None or self.final not in target.parents:
            return None
        return str(Path(self.write_path) / target.relative_to(self.final))

    def prepare(self) -> None:
        """Take the output's lock, recover from earlier killed runs, then refuse an output the
        mode cannot write to. Call :meth:`release` when done, whatever happened.

        Raises
        ------
        OutputError
            Another run is writing the output, or its lock cannot be created; :meth:`check`
            refuses it; or a previous output an earlier run moved aside cannot be put back.
        """
        if self.final is None or self.lock is None:
            return
        self.check()  # before the lock: a file above the output has no room for its lock either
        try:
            self.lock.acquire()
        except OSError as error:
            raise OutputError(
                f"Writing {self.output!r} failed: could not create its lock: {error}"
            ) from None
        try:
            self._recover()
        except OSError as error:
            raise OutputError(
                f"Could not put back the previous output that an earlier run moved aside in "
                f"{str(self._work_dir)!r}: {error}."
            ) from None
        self.check()

    def check(self) -> None:
        """Refuse an output the mode cannot write to, without the lock (the job calls this
        before Spark starts too; :meth:`prepare` again holding the lock).

        Raises
        ------
        OutputError
            A folder above the output is a file; or the output exists and the mode is "error";
            or it is a file and the mode "append".
        """
        if self.final is None:
            return
        above = next((p for p in self.final.parents if p.exists()), None)
        if above is not None and not above.is_dir():
            raise OutputError(
                f"The output {self.output!r} cannot be written: {str(above)!r} is a file, not a "
                "folder. Choose another output path."
            )
        if self.mode == "error" and self.final.exists():
            raise OutputError(
                f"The output {self.output!r} already exists. Pass --write-mode overwrite to "
                "replace it or --write-mode append to add to it, or choose another path."
            )
        if self.mode == "append" and self.final.exists() and not self.final.is_dir():
            raise OutputError(
                f"The output {self.output!r} is a file, not a folder, so there is nothing to "
                "append to. Pass --write-mode overwrite to replace it, or choose another path."
            )

    def publish(self) -> None:
        """Put the staged output in place (no-op when written in place).

        Raises
        ------
        OutputError
            The output appeared meanwhile (mode "error"), or the file system refused a link,
            copy or move; the previous output is then as it was.
        """
        if self.final is None:
            return
        staging = Path(self.write_path)
        backup = None
        try:
            if not self.final.exists():
                os.rename(staging, self.final)
            elif self.mode == "error":
                raise OutputError(f"The output {self.output!r} appeared while the job ran.")
            else:
                if self.mode == "append" or self.dynamic_partitions:
                    replaced = _partition_folders(staging, self.dynamic_partitions)
                    _keep_previous_files(self.final, staging, replaced)
                backup = self._swap(staging)
        except OSError as error:
            raise OutputError(
                f"Could not move the new output into {self.output!r}: {error}. The previous "
                "output, if any, is unchanged."
            ) from None
        if backup is not None:
            self._delete_previous(backup)
        self._remove_empty_work_dir()

    def _swap(self, staging: Path) -> Path:
        """Replace the output by ``staging``: old aside, new in (undone on failure); returns
        where the old output is now."""
        assert self.final is not None
        backup = self._work_dir / f"{self.final.name}{BACKUP_TAG}{self.run_id}"
        os.rename(self.final, backup)
        try:
            os.rename(staging, self.final)
        except OSError:
            os.rename(backup, self.final)
            raise
        return backup

    def _delete_previous(self, backup: Path) -> None:
        """Delete the replaced output; the new one is in place whatever happens here."""
        try:
            _remove(backup)
        except OSError as error:
            log.warning(
                "the new output is in place, but its previous version could not be "
                "deleted from %s (%s); the next run deletes it",
                backup,
                error,
            )

    def abort(self) -> None:
        """Remove the staging folder after a failure; the output is left as it was."""
        if self.final is not None:
            shutil.rmtree(self.write_path, ignore_errors=True)
            self._remove_empty_work_dir()

    def release(self, settle_seconds: float = 0.0) -> None:
        """Give back the output's lock (taken by :meth:`prepare`) and remove the work folder
        when nothing else is in it.

        Before that, this run's staging folder is removed again if a Spark task that ended
        after :meth:`abort` wrote to it; with ``settle_seconds``, until it has stayed gone that
        long (at most :data:`MAX_SETTLE_SECONDS`): after cancelled jobs, whose tasks stop a
        little later (on a Spark Connect server, whatever this process does).
        """
        if self.lock is None or not self.lock.held:
            return
        staging = Path(self.write_path)
        started = gone_since = time.monotonic()
        while True:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
                gone_since = time.monotonic()
            now = time.monotonic()
            if now - gone_since >= settle_seconds or now - started >= MAX_SETTLE_SECONDS:
                break
            time.sleep(0.1)
        self.lock.release()
        self._remove_empty_work_dir()

    def space(self) -> tuple[int, int] | None:
        """Free and total bytes of the file system the output is staged on; None when not
        staged."""
        if self.final is None:
            return None
        usage = shutil.disk_usage(self._work_dir if self._work_dir.exists() else self.final.parent)
        return usage.free, usage.total

    @property
    def _work_dir(self) -> Path:
        assert self.final is not None
        return self.final.parent / WORK_DIR

    def _recover(self) -> None:
        """Remove what killed runs left for this output, or put back a displaced previous output,
        with a warning for each; what cannot be removed is left, with a warning naming it.

        Holding the lock, this run knows that no other run of this output is alive, so every
        staging folder, displaced output and lock draft of this output's name in the work
        folder is a dead run's (of any version: all name them so); entries of other outputs
        that share the folder are never touched, whatever characters the names hold.
        """
        assert self.final is not None
        name = self.final.name
        staged = self._entries(name, rf"{re.escape(STAGING_TAG)}{RUN_ID}")
        drafts = self._entries(name, rf"{re.escape(LOCK_SUFFIX)}\.(?:stale-)?{RUN_ID}")
        for leftover in [*staged, *drafts]:
            self._remove_leftover(
                leftover,
                "the staged output of an earlier run that did not finish"
                if leftover in staged
                else "a lock draft of an earlier run that did not finish",
            )
        for backup in self._entries(name, rf"{re.escape(BACKUP_TAG)}{RUN_ID}"):
            if self.final.exists():
                self._remove_leftover(
                    backup, "an output replaced by an earlier run that did not finish deleting it"
                )
            else:
                os.rename(backup, self.final)
                log.warning(
                    "restored %s from %s: an earlier run stopped while replacing it",
                    self.final,
                    backup,
                )

    def _entries(self, name: str, suffix: str) -> list[Path]:
        """The entries of the work folder named ``name`` (literally: never a pattern, whatever
        characters it holds) followed by a match of the regular expression ``suffix``, sorted."""
        pattern = re.compile(re.escape(name) + suffix)
        try:
            names = os.listdir(self._work_dir)
        except FileNotFoundError:
            return []
        return sorted(self._work_dir / entry for entry in names if pattern.fullmatch(entry))

    def _remove_leftover(self, leftover: Path, what: str) -> None:
        try:
            _remove(leftover)
        except OSError as error:
            log.warning(
                "left %s (%s): could not remove it (%s); remove it by hand", leftover, what, error
            )
        else:
            log.warning("removed %s: %s", leftover, what)

    def _remove_empty_work_dir(self) -> None:
        try:
            self._work_dir.rmdir()
        except OSError:
            pass  # not empty (another output's run) or already gone


def _stageable_path(output: str, local_disk: bool, connect: bool) -> Path | None:
    """The local path of ``output`` when this process can stage and swap it, else None."""
    given = _file_path(output)
    if given is None:
        return None
    if connect and not (local_disk and Path(given).is_absolute()):
        return None  # the server's path: relative to its working directory, or on its disk
    return local_path(output) if local_disk or output.startswith("file:") else None


def _partition_folders(staging: Path, depth: int) -> set[Path]:
    """The partition folders (``col=value/...``, ``depth`` levels, relative) in ``staging``."""
    if depth == 0:
        return set()
    pattern = "/".join(["*=*"] * depth)
    return {p.relative_to(staging) for p in staging.glob(pattern) if p.is_dir()}


def _keep_previous_files(previous: Path, staging: Path, replaced: set[Path]) -> None:
    """Hard-link (or copy) into ``staging`` every file of ``previous`` that the new output keeps:
    all but those in the partition folders ``replaced``, those the staged output has at the
    same place (Spark's markers), the previous run's report and cell table (a report describes
    its run only), and hidden top-level folders the staged output has too (replaced whole)."""
    if not previous.is_dir():
        return
    for source in previous.rglob("*"):
        relative = source.relative_to(previous)
        target = staging / relative
        if source.is_dir() or target.exists() or not replaced.isdisjoint(relative.parents):
            continue
        top = relative.parts[0]
        if top.startswith(REPORT_PREFIX) or (top.startswith("_") and (staging / top).exists()):
            continue  # the run's own report and tables replace the previous ones whole
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:  # a file system without hard links
            shutil.copy2(source, target)


def _remove(path: Path) -> None:
    """Delete a file or a folder tree."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
