"""``spark-upsample report PATH.json``: the page of a saved run report, rendered again;
``spark-upsample report --schema``: the JSON Schema of the job's reports.

For a run of long ago (or a CI log's link): the page is a pure function of the JSON report
(:func:`spark_upsample.job.report_html.render_page`), so it comes out as the job wrote it then, with
this version's layout. No Spark session is started.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from spark_upsample.errors import InputError, OutputError
from spark_upsample.job.options import EXIT_INPUT, EXIT_OUTPUT
from spark_upsample.job.report import SCHEMA_PATH, page_path_for, write_page


def report_main(argv: Sequence[str]) -> int:
    """``spark-upsample report ...``: :func:`render_saved_report`, its errors printed in one line;
    returns the exit code (0; 3 for a bad report, 4 for a page that cannot be written; argparse's
    for ``--help`` or a usage error)."""
    try:
        return render_saved_report(argv)
    except (InputError, OutputError) as error:
        print(f"spark-upsample: error: {error}", file=sys.stderr)
        return EXIT_INPUT if isinstance(error, InputError) else EXIT_OUTPUT


def render_saved_report(argv: Sequence[str]) -> int:
    """Parse ``argv`` (what follows ``report`` on the command line), write the page and print
    where it is; returns 0, or argparse's exit code for ``--help`` or a usage error.

    Raises
    ------
    InputError
        The report is missing, unreadable, not JSON, or not a spark-upsample report.
    OutputError
        The page cannot be written.
    """
    parser = argparse.ArgumentParser(
        prog="spark-upsample report",
        description="Render the HTML page of a run report (the job's _upsample_report.json).",
    )
    parser.add_argument("report", nargs="?", help="a report JSON the job wrote")
    parser.add_argument("--output", "-o", help="the page (default: beside the report, .html)")
    parser.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of the job's reports instead"
    )
    try:
        args = parser.parse_args(argv)
        if args.schema:
            sys.stdout.write(SCHEMA_PATH.read_text(encoding="utf-8"))
            return 0
        if args.report is None:
            parser.error("give the report JSON to render (or --schema)")
    except SystemExit as exit_:
        return int(exit_.code or 0)
    report = read_report(args.report)
    page = args.output or page_path_for(args.report)
    try:
        write_page(report, page)
    except OSError as error:
        raise OutputError(f"The page could not be written to {page!r}: {error}.") from None
    print(f"page: {page}", file=sys.stderr)
    return 0


def read_report(path: str) -> dict[str, Any]:
    """The report dict in the JSON file ``path``.

    Raises
    ------
    InputError
        The file is missing or unreadable, is not JSON, or holds no report (an object with the
        ``classes`` the job lists, each key the page reads of the type the job writes: see
        :func:`report_problem`).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except OSError as error:
        raise InputError(f"Cannot read the report {path!r}: {error.strerror or error}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"The report {path!r} is not valid JSON: {error}.") from None
    if isinstance(report, dict) and report.get("status") in ("failed", "cancelled"):
        raise InputError(
            f"{path!r} is the report of a run that {report['status']} in its stage "
            f"{report.get('stage')!r} (exit {report.get('exit_code')}): it holds no plan's page "
            "to draw."
        )
    problem = (
        report_problem(report)
        if isinstance(report, dict) and isinstance(report.get("classes"), list)
        else "it has no list of classes"
    )
    if problem:
        raise InputError(
            f"{path!r} is not a spark-upsample run report: {problem}. Pass the "
            "_upsample_report.json a run wrote."
        )
    return report


def report_problem(report: dict[str, Any]) -> str | None:
    """What keeps the page from being drawn from ``report`` (a dict with a list of
    ``classes``), in a few words, or None. A key the page reads must have the type the job
    writes or be missing or null (an older version's report), except in each cell: its label
    (any JSON value), its counts before, target and after (numbers) and, when the report groups
    by columns, its group (a list)."""
    for path, kind in _KEYS:
        value = _at(report, path)
        if value is not None and not _KINDS[kind](value):
            return f"{'.'.join(path)} is {_shown(value)}, not {kind}"
    grouped = bool(report.get("group_by"))
    for i, cell in enumerate(report["classes"]):
        where = f"classes[{i}]"
        if not isinstance(cell, dict):
            return f"{where} is {_shown(cell)}, not an object"
        required = ("label", *_CELL_COUNTS[:3], *(("group",) if grouped else ()))
        missing = [key for key in required if key not in cell]
        if missing:
            return f"{where} has no {', '.join(missing)}"
        for key, kind in (*((c, "a number") for c in _CELL_COUNTS), ("group", "a list")):
            value = cell.get(key)
            if (value is not None or key in required) and not _KINDS[kind](value):
                return f"{where}.{key} is {_shown(value)}, not {kind}"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _texts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_KINDS: dict[str, Callable[[Any], bool]] = {
    "a number": _number,
    "an integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "a list": lambda v: isinstance(v, list),
    "a list of texts": _texts,
    "a text or a list of texts": lambda v: isinstance(v, str) or _texts(v),
    "an object": lambda v: isinstance(v, dict),
    "an object of numbers": lambda v: isinstance(v, dict) and all(map(_number, v.values())),
    "a list of lists": lambda v: isinstance(v, list) and all(isinstance(g, list) for g in v),
}
# The keys of a report the page reads whose type matters, parents before their children.
_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("label_col",), "a text or a list of texts"),
    (("group_by",), "a list of texts"),
    (("key_cols",), "a list of texts"),
    (("single_class_groups",), "a list of lists"),
    (("timings_seconds",), "an object of numbers"),
    (("input",), "an object"),
    (("spark",), "an object"),
    (("output",), "an object"),
    (("output", "partition_by"), "a list of texts"),
    (("cells",), "an object"),
    (("cells", "total"), "an integer"),
    (("cells", "listed"), "an integer"),
)
_CELL_COUNTS = ("count_before", "target", "count_after", "kept", "draws")


def _at(report: dict[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` (None when a key on the way is missing or null)."""
    value: Any = report
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _shown(value: Any) -> str:
    """``value`` as JSON, cut to one short line."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
