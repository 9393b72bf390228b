"""The run report as a page: one self-contained HTML file, rendered from the JSON report alone.

:func:`render_page` is a pure function of the report dict the job writes to
``_upsample_report.json``, so ``spark-upsample report PATH.json`` draws the same page again from a
saved report. The page holds inline CSS and SVG only: no script, no font or image fetched (its
Content-Security-Policy forbids both), so it reads offline and in a locked-down notebook. Every
text from the report is escaped: a label holding HTML shows as text.

What it shows: the run's facts (seed, row identity, method and strategy, input and output, Spark
version and master, rows read and written), the seconds per stage as one bar, and per class the
rows before, target and after as grouped bars on a linear and a log axis (a switch made of two
radio buttons and CSS), with the exact numbers on hover and in a table. Above
:data:`MAX_BARS` classes, the largest and smallest :data:`EXTREMES` and a histogram of ratios
stand for the rest. With ``group_by``: the number of groups, histograms of group sizes and of
per-group ratios, the single-class groups and the largest and smallest cells. A dry run's report
gives the same page, marked as a plan. The page uses the cells the JSON lists (at most
``MAX_REPORT_CELLS``) and says so when the report has more.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from spark_upsample.job.report_charts import (
    Bar,
    compact,
    esc,
    grouped_bars,
    histogram,
    stacked_bar,
)

MAX_BARS = 50  # classes drawn one grouped bar each; above, a summary stands for them
EXTREMES = 10  # the largest and smallest classes (or cells) a summary shows
MAX_ROWS = 1_000  # rows of the class table on the page
MAX_LISTED_GROUPS = 20  # single-class groups named on the page
LOG_DEFAULT_SPREAD = 100  # largest / smallest class at or above which the log axis shows first

Cell = dict[str, Any]


def render_page(report: dict[str, Any]) -> str:
    """The HTML page of ``report`` (a run report as the job writes it, or as read back from its
    JSON). Keys a report lacks (an older version's) are left out of the page."""
    cells: list[Cell] = report.get("classes", [])
    plan = report.get("status") == "dry-run"
    title = "spark-upsample plan" if plan else "spark-upsample run report"
    body = [
        f'<header><h1>{title}</h1><p class="route">{esc(_input_text(report))} &rarr; '
        f"{esc(_output_text(report))}</p></header>",
        (
            '<p class="plan-banner">A plan: this dry run counted the input and wrote nothing. '
            "The counts after are what a run with these settings writes.</p>"
        )
        if plan
        else "",
        _overview(report, cells),
        _listing_note(report),
        _classes_section(report, cells),
        _groups_section(report, cells) if report.get("group_by") else "",
        _run_section(report),
        _timings_section(report),
        f"<footer>{esc(report.get('tool', 'spark-upsample'))}. "
        "<code>spark-upsample report REPORT.json</code> renders this page again from the JSON "
        "report.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}: {esc(_input_text(report))}</title><style>{STYLE}</style></head>\n"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def label_text(value: Any) -> str:
    """A label or group value as the report's JSON spells it (true, null, 1.5, text); a class of
    several label columns (a JSON list) as its values joined by ", "."""
    if isinstance(value, list):
        return ", ".join(label_text(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value)


def label_header(report: dict[str, Any]) -> str:
    """The label column's name, or the names of several joined by ", "."""
    label_col = report.get("label_col", "label")
    return ", ".join(label_col) if isinstance(label_col, (list, tuple)) else str(label_col)


def cell_name(cell: Cell) -> str:
    """A cell's name: its group values and label, joined by " / "."""
    return " / ".join(label_text(v) for v in (*cell.get("group", ()), cell["label"]))


def _overview(report: dict[str, Any], cells: list[Cell]) -> str:
    total = (report.get("timings_seconds") or {}).get("total")
    figures = [
        ("rows read", _count(report.get("rows_read"))),
        (
            "rows written" if report.get("status") != "dry-run" else "rows planned",
            _count(report.get("rows_written")),
        ),
        ("classes", f"{len({label_text(c['label']) for c in cells}):,}"),
    ]
    if report.get("group_by"):
        figures.append(("groups", f"{_group_count(report, cells):,}"))
    figures.append(("seed", esc(report.get("seed"))))
    if total is not None:
        figures.append(("seconds", f"{total:.1f}"))
    items = "".join(
        f'<div><span class="big">{value}</span><span class="small">{name}</span></div>'
        for name, value in figures
    )
    return f'<section class="overview">{items}</section>'


def _listing_note(report: dict[str, Any]) -> str:
    listing = report.get("cells") or {}
    total, listed = listing.get("total"), listing.get("listed")
    if total is None or listed is None or listed >= total:
        return ""
    table = listing.get("table")
    where = f" (all of them are in the table {esc(table)})" if table else ""
    return (
        f'<p class="note listing">The JSON report lists {listed:,} of {total:,} cells{where}; '
        "this page shows the cells it lists, and its totals and histograms cover those.</p>"
    )


def _classes_section(report: dict[str, Any], cells: list[Cell]) -> str:
    grouped = bool(report.get("group_by"))
    bars = (
        _class_totals(cells)
        if grouped
        else [
            Bar(label_text(c["label"]), c["count_before"], c["target"], c["count_after"])
            for c in cells
        ]
    )
    heading = "Classes, summed over the groups" if grouped else "Classes"
    parts = [f'<section id="classes"><h2>{heading}</h2>', _legend(report)]
    if len(bars) <= MAX_BARS:
        parts.append(_switch("classes", [("", bars)]))
    else:
        by_size = sorted(bars, key=lambda b: -b.before)
        parts.append(
            f'<p class="summary">{len(bars):,} classes: too many to draw one by one. '
            f"The {EXTREMES} largest and {EXTREMES} smallest by rows before, then the "
            "ratios of all of them.</p>"
        )
        parts.append(
            _switch(
                "classes",
                [("largest", by_size[:EXTREMES]), ("smallest", by_size[-EXTREMES:][::-1])],
            )
        )
        parts.append(
            "<h3>Ratio of rows after to rows before, per class</h3>"
            + histogram(
                _ratio_bins([(b.before, b.after) for b in bars]),
                "classes",
                "histogram of ratios per class",
            )
        )
    if grouped:
        rows = [[(b.name, False), *_counts_cells(b.before, b.target, b.after)] for b in bars]
        parts.append(
            _table(
                "totals",
                [label_header(report), "before", "target", "after", "ratio"],
                rows[:MAX_ROWS],
                len(rows),
            )
        )
    else:
        parts.append(_cell_table("cells", report, cells[:MAX_ROWS], len(cells)))
    parts.append("</section>")
    return "".join(parts)


def _groups_section(report: dict[str, Any], cells: list[Cell]) -> str:
    groups: dict[tuple, list[int]] = {}
    for cell in cells:
        sums = groups.setdefault(tuple(cell["group"]), [0, 0])
        sums[0] += cell["count_before"]
        sums[1] += cell["count_after"]
    single = report.get("single_class_groups") or []
    names = ", ".join(esc(" / ".join(label_text(v) for v in g)) for g in single[:MAX_LISTED_GROUPS])
    more = (
        f" and {len(single) - MAX_LISTED_GROUPS:,} more" if len(single) > MAX_LISTED_GROUPS else ""
    )
    by_size = sorted(cells, key=lambda c: -c["count_before"])
    parts = [
        '<section id="groups"><h2>Groups</h2>',
        f'<p class="summary">{_group_count(report, cells):,} groups of '
        f"{esc(', '.join(report['group_by']))}, {len(cells):,} cells (group and class).</p>",
        "<h3>Group sizes (rows before)</h3>",
        histogram(
            _size_bins([before for before, _ in groups.values()]),
            "groups",
            "histogram of group sizes",
        ),
        "<h3>Ratio of rows after to rows before, per group</h3>",
        histogram(
            _ratio_bins([(b, a) for b, a in groups.values()]),
            "groups",
            "histogram of ratios per group",
        ),
        f"<h3>Single-class groups: {len(single):,}</h3>",
        (
            f'<p class="single">{names}{more} (left as they are: nothing to balance)</p>'
            if single
            else ""
        ),
        f"<h3>The {EXTREMES} largest cells</h3>",
        _cell_table("largest", report, by_size[:EXTREMES], EXTREMES),
        f"<h3>The {EXTREMES} smallest cells</h3>",
        _cell_table("smallest", report, by_size[-EXTREMES:][::-1], EXTREMES),
        "</section>",
    ]
    return "".join(parts)


def _run_section(report: dict[str, Any]) -> str:
    output = report.get("output") or {}
    strategy = report.get("strategy")
    facts = [
        ("input", _input_text(report)),
        ("output", _output_text(report)),
        ("write mode", output.get("write_mode")),
        ("partition by", ", ".join(output.get("partition_by") or []) or None),
        ("label column", label_header(report)),
        ("method", report.get("method")),
        ("strategy", None if strategy is None else label_text(strategy)),
        ("target", report.get("target")),
        ("seed", report.get("seed")),
        ("row identity", _identity_text(report)),
        ("group by", ", ".join(report.get("group_by") or []) or None),
        ("keep originals", report.get("keep_originals") or None),
        ("replacement", report.get("replacement") or None),
        ("weight column", report.get("weight_col")),
        ("lineage column", report.get("lineage_col")),
        ("shrinkage", None if report.get("shrinkage") is None else label_text(report["shrinkage"])),
        # A report of a version before the key was named shuffle says shuffle_output.
        ("shuffled output", report.get("shuffle", report.get("shuffle_output")) or None),
        ("rows read", _count(report.get("rows_read"))),
        ("null labels dropped", _count(report.get("null_labels_dropped") or None)),
        ("rows written", _count(report.get("rows_written"))),
        ("Spark", (report.get("spark") or {}).get("version")),
        ("master", (report.get("spark") or {}).get("master")),
        ("started", report.get("started_at")),
        ("finished", report.get("finished_at")),
        ("status", report.get("status")),
    ]
    items = "".join(
        f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>"
        for name, value in facts
        if value not in (None, "")
    )
    return f'<section id="run"><h2>Run</h2><dl class="facts">{items}</dl></section>'


def _timings_section(report: dict[str, Any]) -> str:
    timings = report.get("timings_seconds") or {}
    stages = [
        (name.replace("_", " "), float(seconds))
        for name, seconds in timings.items()
        if name != "total"
    ]
    if not stages:
        return ""
    total = float(timings.get("total", sum(s for _, s in stages)))
    legend = "".join(
        f'<li><span class="swatch seg-{i % 6}"></span>{esc(name)} '
        f'<span class="num">{seconds:.2f} s</span></li>'
        for i, (name, seconds) in enumerate(stages)
    )
    return (
        f'<section id="timings"><h2>Seconds per stage</h2>'
        f"{stacked_bar(stages, 's', 'seconds per stage')}"
        f'<ul class="legend stages">{legend}<li>total <span class="num">{total:.2f} s</span>'
        "</li></ul></section>"
    )


def _switch(name: str, charts: Sequence[tuple[str, Sequence[Bar]]]) -> str:
    """Linear and log versions of each chart, and two radio buttons that show one or the other
    (CSS only). The log axis shows first when the classes span two orders of magnitude."""
    values = [b.before for _, bars in charts for b in bars if b.before > 0]
    log_first = bool(values) and max(values) >= LOG_DEFAULT_SPREAD * min(values)
    figures = []
    for scale in ("lin", "log"):
        for title, bars in charts:
            heading = f"<figcaption>{esc(title)}</figcaption>" if title else ""
            caption = f"{title or 'classes'}: rows before, target and after ({scale})"
            figures.append(
                f'<figure class="{scale} {esc(title)}">{heading}'
                f"{grouped_bars(bars, scale == 'log', caption)}</figure>"
            )
    checked = ("", " checked") if log_first else (" checked", "")
    return (
        f'<div class="scaled"><input type="radio" class="scale-lin" name="{name}-scale" '
        f'id="{name}-lin"{checked[0]}><label for="{name}-lin">linear</label>'
        f'<input type="radio" class="scale-log" name="{name}-scale" id="{name}-log"'
        f'{checked[1]}><label for="{name}-log">log</label>'
        f'<div class="charts">{"".join(figures)}</div></div>'
    )


def _legend(report: dict[str, Any]) -> str:
    after = "after (total weight)" if report.get("weight_col") else "after"
    return (
        '<ul class="legend"><li><span class="swatch before"></span>before</li>'
        '<li><span class="swatch target"></span>target</li>'
        f'<li><span class="swatch after"></span>{after}</li>'
        '<li class="hint">exact numbers on hover and in the table</li></ul>'
    )


def _cell_table(kind: str, report: dict[str, Any], cells: Sequence[Cell], total: int) -> str:
    group_by = report.get("group_by") or []
    headers = [
        *group_by,
        label_header(report),
        "before",
        "target",
        "after",
        "ratio",
        "kept",
        "draws",
        "correction",
    ]
    rows = [
        [
            *((label_text(v), False) for v in (*cell.get("group", ()), cell["label"])),
            *_counts_cells(cell["count_before"], cell["target"], cell["count_after"]),
            (_count(cell.get("kept")) or "", True),
            (_count(cell.get("draws")) or "", True),
            (cell.get("correction") or "", False),
        ]
        for cell in cells
    ]
    return _table(kind, headers, rows, total)


def _counts_cells(before: int, target: int, after: int) -> list[tuple[str, bool]]:
    ratio = f"{after / before:.3g}×" if before else "–"
    return [(f"{before:,}", True), (f"{target:,}", True), (f"{after:,}", True), (ratio, True)]


def _table(
    kind: str, headers: Sequence[str], rows: Sequence[Sequence[tuple[str, bool]]], total: int
) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{esc(t)}</td>' if num else f"<td>{esc(t)}</td>" for t, num in row
        )
        + "</tr>"
        for row in rows
    )
    more = (
        f'<p class="note">The first {len(rows):,} of {total:,} rows.</p>'
        if total > len(rows) and kind in ("cells", "totals")
        else ""
    )
    return (
        f'<div class="table"><table class="{kind}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{more}"
    )


def _class_totals(cells: Sequence[Cell]) -> list[Bar]:
    """Rows before, target and after per label, summed over the groups (labels in the order
    they first appear)."""
    sums: dict[str, list[int]] = {}
    for cell in cells:
        total = sums.setdefault(label_text(cell["label"]), [0, 0, 0])
        total[0] += cell["count_before"]
        total[1] += cell["target"]
        total[2] += cell["count_after"]
    return [Bar(name, *values) for name, values in sums.items()]


def _size_bins(sizes: Sequence[int]) -> list[tuple[str, str, int]]:
    """Histogram bins of row counts with edges 1, 2, 5, 10, 20, 50, ... (every bin from the
    smallest to the largest occupied one)."""

    def index(size: int) -> int:
        digits = len(str(size)) - 1
        lead = size // 10**digits
        return 3 * digits + (0 if lead < 2 else 1 if lead < 5 else 2)

    def edge(i: int) -> int:
        return (1, 2, 5)[i % 3] * 10 ** (i // 3)

    counts: dict[int, int] = {}
    for size in sizes:
        key = index(size) if size > 0 else -1
        counts[key] = counts.get(key, 0) + 1
    if not counts:
        return []
    bins = [("0", "0 rows", counts[-1])] if -1 in counts else []
    occupied = [k for k in counts if k >= 0]
    for i in range(min(occupied, default=0), max(occupied, default=-1) + 1):
        low, high = edge(i), edge(i + 1) - 1
        text = "1 row" if low == high else f"{low:,} to {high:,} rows"
        bins.append((compact(low), text, counts.get(i, 0)))
    return bins


def _ratio_bins(pairs: Sequence[tuple[int, int]]) -> list[tuple[str, str, int]]:
    """Histogram bins of ``after / before`` over ``(before, after)`` pairs: dropped (0×),
    halvings below 1×, unchanged (exactly 1×), then doublings (every bin between the smallest
    and the largest occupied one)."""
    dropped = unchanged = 0
    counts: dict[int, int] = {}
    for before, after in pairs:
        if before <= 0:
            continue
        if after == 0:
            dropped += 1
        elif after == before:
            unchanged += 1
        else:
            k = math.floor(math.log2(after / before))
            counts[k] = counts.get(k, 0) + 1
    bins = [("0×", "dropped (0×)", dropped)] if dropped else []
    below = [k for k in counts if k < 0]
    for k in range(min(below, default=0), 0):
        bins.append((f"{2.0**k:g}×", f"{2.0**k:g}× to {2.0 ** (k + 1):g}×", counts.get(k, 0)))
    if unchanged:
        bins.append(("1×", "unchanged (1×)", unchanged))
    above = [k for k in counts if k >= 0]
    for k in range(0, max(above, default=-1) + 1):
        if k == 0:
            bins.append((">1×", "above 1× and below 2×", counts.get(k, 0)))
        else:
            bins.append((f"{compact(2**k)}×", f"{2**k:,}× to {2 ** (k + 1):,}×", counts.get(k, 0)))
    return bins


def _group_count(report: dict[str, Any], cells: Sequence[Cell]) -> int:
    groups = report.get("groups")
    return groups if isinstance(groups, int) else len({tuple(c["group"]) for c in cells})


def _input_text(report: dict[str, Any]) -> str:
    source = report.get("input") or {}
    return f"{source.get('source', '?')} ({source.get('format', '?')})"


def _output_text(report: dict[str, Any]) -> str:
    output = report.get("output") or {}
    if not output.get("path"):
        return "no output (dry run)"
    return f"{output['path']} ({output.get('format', '?')})"


def _identity_text(report: dict[str, Any]) -> str | None:
    identity, keys = report.get("row_identity"), report.get("key_cols") or []
    if identity is None:
        return None
    note = report.get("row_identity_note")
    text = f"{identity} ({', '.join(keys)})" if keys else str(identity)
    return f"{text}; {note}" if note else text


def _count(value: Any) -> str | None:
    return f"{value:,}" if isinstance(value, int) else None


STYLE = """
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1f2933;
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1000px;margin:0 auto;padding:18px 24px 32px}
header h1{margin:0;font-size:22px}
.route{margin:2px 0 12px;color:#52606d;word-break:break-all}
h2{font-size:17px;margin:0 0 8px}
h3{font-size:14px;margin:16px 0 4px;color:#323f4b}
section{background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:14px 16px;
  margin:0 0 14px}
.overview{display:flex;flex-wrap:wrap;gap:8px 28px}
.overview div{display:flex;flex-direction:column}
.big{font-size:22px;font-weight:600}
.small,.note,.hint{color:#616e7c;font-size:12px}
.plan-banner{background:#fff4e5;border:2px dashed #dd8a2c;border-radius:6px;padding:10px 14px;
  font-weight:600;color:#8a4b08}
.legend{list-style:none;padding:0;margin:0 0 6px;display:flex;flex-wrap:wrap;gap:4px 16px}
.swatch{display:inline-block;width:11px;height:11px;margin-right:5px;border-radius:2px;
  vertical-align:-1px}
.before{fill:#a0aec0;background:#a0aec0}.target{fill:#dd8a2c;background:#dd8a2c}
.after{fill:#2b6cb0;background:#2b6cb0}
.scaled>input{margin:0 3px 0 10px}.scaled>label{margin-right:6px}
.scale-lin:checked~.charts .log,.scale-log:checked~.charts .lin{display:none}
figure{margin:6px 0 10px}figcaption{font-weight:600;font-size:13px}
svg text{font-size:12px;fill:#323f4b}
.axis line{stroke:#e4e7eb}.axis text{fill:#7b8794;font-size:11px}
.cell:hover .name{font-weight:700}.cell rect:hover,.bin rect:hover,.segment rect:hover{opacity:.75}
.hist{fill:#2b6cb0}.base{stroke:#9aa5b1}.bin .tick{font-size:11px;fill:#52606d}
.seg-0{fill:#2b6cb0;background:#2b6cb0}.seg-1{fill:#38a169;background:#38a169}
.seg-2{fill:#dd8a2c;background:#dd8a2c}.seg-3{fill:#805ad5;background:#805ad5}
.seg-4{fill:#e53e3e;background:#e53e3e}.seg-5{fill:#319795;background:#319795}
.inside{fill:#fff;font-weight:600}
.table{overflow-x:auto;max-height:480px;overflow-y:auto;margin-top:6px}
table{border-collapse:collapse;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #e4e7eb;text-align:left;white-space:nowrap}
th{position:sticky;top:0;background:#f5f6f8}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
.facts dt{color:#616e7c}.facts dd{margin:0;word-break:break-all}
.single{word-break:break-all}
footer{color:#7b8794;font-size:12px}
"""
