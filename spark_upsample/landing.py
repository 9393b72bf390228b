"""Landing the output whole or not at all.

When the output is on this machine's disk (Spark on this machine, or a ``file:`` path) the job
writes into a staging folder under a hidden ``.spark-upsample`` folder beside the output, checks
it, and only then renames it into place (a rename within one file system is atomic). The
previous output of an ``overwrite`` run is moved aside first and deleted after the swap; should
the process die between the two renames, the next run puts it back. Leftovers of killed runs are
removed by the next run. Other file systems (HDFS, object stores, DBFS) are written in place by
Spark's output committer; use a table format such as Delta there for atomic replacement.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from spark_upsample.errors import ConfigError, OutputError

WORK_DIR = ".spark-upsample"  # beside the output; hidden from readers of the parent folder
STAGING_TAG = ".staging-"
BACKUP_TAG = ".previous-"
SPARK_MARKERS = ("_SUCCESS",)


def local_path(path: str) -> Path | None:
    """The local file-system path of ``path``, or None for another scheme (hdfs:, s3a:, ...)."""
    parsed = urlparse(path)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(parsed.path if parsed.scheme == "file" else path).expanduser().resolve()
    return None


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
    """

    output: str
    mode: str
    local_disk: bool = True

    def __post_init__(self) -> None:
        on_this_disk = self.local_disk or self.output.startswith("file:")
        self.final = local_path(self.output) if on_this_disk else None
        self.run_id = uuid.uuid4().hex[:12]

    @property
    def staged(self) -> bool:
        """True when the output is staged and swapped (local file systems)."""
        return self.final is not None

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

    def prepare(self) -> None:
        """Recover from earlier killed runs, then refuse an existing output in mode "error".

        Raises
        ------
        OutputError
            The output exists and the mode is "error".
        """
        if self.final is None:
            return
        self._recover()
        if self.mode == "error" and self.final.exists():
            raise OutputError(
                f"The output {self.output!r} already exists. Pass --write-mode overwrite to "
                "replace it or --write-mode append to add to it, or choose another path."
            )

    def publish(self) -> None:
        """Put the staged output in place (no-op when written in place).

        Raises
        ------
        OutputError
            The output appeared meanwhile (mode "error"), or the file system refused a move; the
            previous output is then back where it was.
        """
        if self.final is None:
            return
        staging = Path(self.write_path)
        try:
            if self.mode == "append" and self.final.exists():
                _merge_into(staging, self.final)
                shutil.rmtree(staging)
            elif self.final.exists():
                if self.mode == "error":
                    raise OutputError(f"The output {self.output!r} appeared while the job ran.")
                self._swap(staging)
            else:
                os.rename(staging, self.final)
        except OSError as error:
            raise OutputError(
                f"Could not move the new output into {self.output!r}: {error}. The previous "
                "output, if any, is unchanged."
            ) from None
        self._remove_empty_work_dir()

    def _swap(self, staging: Path) -> None:
        """Replace the output by ``staging``: old aside, new in, old deleted; undone on failure."""
        assert self.final is not None
        backup = self._work_dir / f"{self.final.name}{BACKUP_TAG}{self.run_id}"
        os.rename(self.final, backup)
        try:
            os.rename(staging, self.final)
        except OSError:
            os.rename(backup, self.final)
            raise
        shutil.rmtree(backup)

    def abort(self) -> None:
        """Remove the staging folder after a failure; the output is left as it was."""
        if self.final is not None:
            shutil.rmtree(self.write_path, ignore_errors=True)
            self._remove_empty_work_dir()

    @property
    def _work_dir(self) -> Path:
        assert self.final is not None
        return self.final.parent / WORK_DIR

    def _recover(self) -> None:
        assert self.final is not None
        if not self._work_dir.is_dir():
            return
        for leftover in self._work_dir.glob(f"{self.final.name}{STAGING_TAG}*"):
            shutil.rmtree(leftover, ignore_errors=True)
        for backup in self._work_dir.glob(f"{self.final.name}{BACKUP_TAG}*"):
            if self.final.exists():
                shutil.rmtree(backup, ignore_errors=True)
            else:
                os.rename(backup, self.final)
        self._remove_empty_work_dir()

    def _remove_empty_work_dir(self) -> None:
        try:
            self._work_dir.rmdir()
        except OSError:
            pass  # not empty (another output's run) or already gone


def _merge_into(staging: Path, final: Path) -> None:
    """Move the files of ``staging`` into ``final``, keeping partition sub-folders."""
    for source in staging.rglob("*"):
        if source.is_dir() or source.name in SPARK_MARKERS or source.name.startswith("."):
            continue
        target = final / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)  # data files have unique names; the report is replaced
