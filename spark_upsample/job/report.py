"""The run report (JSON) and the human summary of a run."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from spark_upsample.engine.plan import ResamplePlan, class_name
from spark_upsample.job.report_html import render_page

log = logging.getLogger(__name__)

REPORT_PREFIX = "_upsample_report"  # a leading underscore: Spark's readers skip such files
REPORT_NAME = REPORT_PREFIX + ".json"
MAX_REPORT_CELLS = 10_000  # cells listed in the JSON; above, all of them go to a Parquet table
REPORT_VERSION = (
    1  # the layout of report.schema.json; a new one for a renamed, removed or retyped key
)
SCHEMA_PATH = Path(__file__).with_name("report.schema.json")  # the JSON Schema of every report


MAX_TABLE_ROWS = 40


def summary_table(plan: ResamplePlan) -> str:
    """A small text table of the class counts before and after (per group with ``group_by``,
    the first :data:`MAX_TABLE_ROWS` rows; the report has them all). A class of several label
    columns reads ``label=1, sex=F``."""
    header = ("group/class" if plan.group_by else "class", "before", "target", "after")
    rows = [
        (
            _name(c.group, class_name(plan.label_col, c.label)),
            f"{c.count_before:,}",
            f"{c.target:,}",
            f"{c.count_after:,}" if not plan.weight_col else f"{c.count_before:,}",
        )
        for c in plan.classes[:MAX_TABLE_ROWS]
    ]
    if len(plan.classes) > MAX_TABLE_ROWS:
        rows.append((f"... {len(plan.classes) - MAX_TABLE_ROWS:,} more", "", "", ""))
    rows.append(("total", f"{plan.rows_before:,}", "", f"{plan.rows_after:,}"))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    lines = []
    for row in [header, *rows]:
        values = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in values]
        lines.append("  ".join(cells).rstrip())
    lines.append(
        f"row identity: {plan.row_identity}"
        + (f" ({', '.join(plan.key_cols)})" if plan.key_cols else "")
        + (f"; {plan.row_identity_note}" if plan.row_identity_note else "")
    )
    return "\n".join(lines)


def _name(group: tuple | None, label: str) -> str:
    return "/".join(str(v) for v in (*(group or ()), label))


def cells_table_path(report_path: str) -> str:
    """Where the full per-cell table of a report at ``report_path`` goes: beside it."""
    stem, _ = os.path.splitext(report_path)
    return stem + "_cells.parquet"


def list_cells(report: dict[str, Any], plan: ResamplePlan, table_path: str | None) -> bool:
    """Put the plan's cells into ``report``: all of them up to :data:`MAX_REPORT_CELLS`, else
    the first ones and the path of the full table (``table_path``). True when the table is
    needed. With ``group_by``, ``report["groups"]`` is the number of groups (None without)."""
    cells = plan.classes
    report["cells"] = {
        "total": len(cells),
        "listed": min(len(cells), MAX_REPORT_CELLS),
        "table": table_path if len(cells) > MAX_REPORT_CELLS else None,
    }
    report["classes"] = [c.to_dict() for c in cells[:MAX_REPORT_CELLS]]
    report["groups"] = len({c.group for c in cells}) if plan.group_by else None
    return len(cells) > MAX_REPORT_CELLS


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write the report as indented JSON, creating the folder if needed.

    The report is written beside ``path`` and renamed over it, so a reader (or a run killed
    meanwhile) never leaves half a report there. A file at ``path`` that is not a whole JSON
    report, as an earlier version could leave when killed while writing it, is replaced with a
    warning.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file() and not _is_json(target):
        log.warning("replacing %s: a report an earlier run left half-written", target)
    _write_whole(target, json.dumps(report, indent=2, sort_keys=False) + "\n")


def page_path_for(report_path: str) -> str:
    """Where the page of a report at ``report_path`` goes by default: beside it, ``.html``
    instead of its extension (``run.json`` -> ``run.html``; ``run.html`` -> ``run.html.html``)."""
    stem, extension = os.path.splitext(report_path)
    return stem + ".html" if extension != ".html" else report_path + ".html"


def write_page(report: dict[str, Any], path: str | Path) -> None:
    """Write the report's HTML page (:func:`render_page`), creating the folder if needed; as
    :func:`write_report`, whole or not at all."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_whole(target, render_page(report))


def _write_whole(target: Path, text: str) -> None:
    """Write ``text`` beside ``target`` and rename it over ``target``."""
    draft = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        draft.write_text(text, encoding="utf-8")
        os.replace(draft, target)
    finally:
        draft.unlink(missing_ok=True)


def _is_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True
