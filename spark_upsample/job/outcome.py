"""The report of one run as it goes, and how it ends: succeeded, dry-run, cancelled or failed.

Every report holds ``report_version`` and follows ``report.schema.json`` (shipped beside this
module; ``spark-upsample report --schema`` prints it). A run that fails or is cancelled writes
its report only to a report path outside the output: the output is left as it was, and a report
inside it would describe a run that is not there.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from spark_upsample import __version__
from spark_upsample.job.landing import local_path
from spark_upsample.job.progress import Stages
from spark_upsample.job.report import REPORT_VERSION, write_report

log = logging.getLogger("spark_upsample")


class Outcome:
    """The run's report (:attr:`report`, filled in as the run learns its plan) and its stages.

    Attributes
    ----------
    report : the report so far: ``report_version``, ``tool``, ``status`` (None until the run
        ends) and ``started_at`` from the start, the plan's fields once it is known
    stages : the run's :class:`Stages`, whose timings and current stage end the report
    path : where a failed or cancelled run's report goes: a report path outside the output,
        or None (set with :meth:`place`)
    published : True once the output is in place: a later failure (the report or the page
        outside the output could not be written) does not turn its report into a failed one
    """

    def __init__(self, stages: Stages) -> None:
        self.stages = stages
        self.path: str | None = None
        self.published = False
        self.report: dict[str, Any] = {
            "report_version": REPORT_VERSION,
            "tool": f"spark-upsample {__version__}",
            "status": None,
            "started_at": datetime.now(timezone.utc).isoformat(),
        }

    def place(self, report: str | None, output: str | None) -> None:
        """Send a failed or cancelled run's report to ``report``, a path on this machine, unless
        it is inside ``output`` (or is the output): there it would replace, or sit in, the output
        the run left as it was."""
        a = local_path(report) if report else None
        b = local_path(output) if output else None
        inside = a is not None and b is not None and (a == b or b in a.parents)
        self.path = None if a is None or inside else report

    def end(self, status: str, **fields: Any) -> dict[str, Any]:
        """Set ``status`` and ``fields``, the stages' timings so far with their ``total``, and
        ``finished_at``; returns the report."""
        self.report.update(status=status, **fields)
        self.report["timings_seconds"] = {**self.stages.timings, "total": self.stages.elapsed()}
        self.report["finished_at"] = datetime.now(timezone.utc).isoformat()
        return self.report

    def failed(self, error: str, exit_code: int) -> None:
        """End the report as failed with the one-line ``error`` and ``exit_code``, and write it
        to :attr:`path` if there is one and the output was not published (a report that cannot
        be written is logged, not raised: the run has failed already)."""
        self._write(self.end("failed", error=error, exit_code=exit_code, stage=self._stage()))

    def cancelled(self, signal_name: str, exit_code: int) -> None:
        """End the report as cancelled by ``signal_name`` and write it as :meth:`failed` does."""
        self._write(
            self.end(
                "cancelled", cancelled_by=signal_name, exit_code=exit_code, stage=self._stage()
            )
        )

    def _stage(self) -> str:
        return self.stages.current or "check"

    def _write(self, report: dict[str, Any]) -> None:
        if self.path is None or self.published:
            return
        try:
            write_report(report, self.path)
        except OSError as error:
            log.warning("the report could not be written to %s: %s", self.path, error)
