"""``spark-upsample report PATH.json``: the page of a saved run report, rendered again.

For a run of long ago (or a CI log's link): the page is a pure function of the JSON report
(:func:`spark_upsample.job.report_html.render_page`), so it comes out as the job wrote it then, with
this version's layout. No Spark session is started.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from spark_upsample.errors import InputError, OutputError
from spark_upsample.job.options import EXIT_INPUT, EXIT_OUTPUT
from spark_upsample.job.report import page_path_for, write_page


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
    parser.add_argument("report", help="a report JSON the job wrote")
    parser.add_argument("--output", "-o", help="the page (default: beside the report, .html)")
    try:
        args = parser.parse_args(argv)
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
        ``classes`` the job lists).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except OSError as error:
        raise InputError(f"Cannot read the report {path!r}: {error.strerror or error}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(f"The report {path!r} is not valid JSON: {error}.") from None
    if not isinstance(report, dict) or not isinstance(report.get("classes"), list):
        raise InputError(
            f"{path!r} is not a spark-upsample run report: it has no list of "
            "classes. Pass the _upsample_report.json a run wrote."
        )
    return report
