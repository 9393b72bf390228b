"""Inline SVG charts for the run report's page: plain strings, no script, nothing fetched.

Every mark carries an SVG ``<title>`` with its exact numbers, which browsers show on hover, and
every text from the report goes through :func:`esc`, so a label holding HTML is shown as text.
Colours come from the page's style sheet, by class (``before``, ``target``, ``after``, ...).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 760  # the viewBox width of every chart; the page scales it to the column
SERIES = (("before", "rows before"), ("target", "target"), ("after", "rows after"))
NAME_WIDTH = 190  # the column of class names left of the bars
MAX_BIN_WIDTH = 90  # a histogram of few bins keeps narrow bars, from the left
MAX_NAME = 24  # characters of a name drawn on a chart; the <title> has all of it

# The units of axis labels, largest first; from 10**18 on, labels are scientific.
_UNITS = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))


def esc(value: object) -> str:
    """``value`` as HTML text, safe inside elements and quoted attributes."""
    return html.escape(str(value), quote=True)


def compact(value: float) -> str:
    """A short axis label of three significant digits: 950, 1.5k, 20k, 3M, 1T, 2.5P, 0.25;
    from 10**18 on, scientific: 1e18, 4.2e21. A value that rounds up to the next unit takes it
    (999,999 is 1M, not 1e+03k)."""
    for size, suffix in _UNITS:
        shown = float(f"{value / size:.3g}")
        if abs(shown) >= 1000:
            mantissa, exponent = f"{value:.2e}".split("e")
            return f"{float(mantissa):g}e{int(exponent)}"
        if abs(shown) >= 1:
            return f"{shown:g}{suffix}"
    return f"{value:.3g}"


@dataclass(frozen=True)
class Bar:
    """One grouped bar: a name and its rows before, target and rows after."""

    name: str
    before: int
    target: int
    after: int


@dataclass(frozen=True)
class Scale:
    """Maps values in ``[0, top]`` to ``[0, 1]``, linearly or on a log scale (of ``1 + v``, so
    that 0 stays at 0 and a class of 1 row is still a sliver)."""

    top: float
    log: bool
    ticks: tuple[float, ...]

    @classmethod
    def of(cls, largest: float, log: bool) -> Scale:
        """A scale whose top is a round number at or above ``largest``, with ticks on it."""
        if largest <= 0:
            return cls(1.0, log, (0.0,))
        if log:
            top = 10.0 ** max(1, math.ceil(math.log10(largest)))
            return cls(top, True, (0.0, *(10.0**k for k in range(round(math.log10(top)) + 1))))
        raw = largest / 5
        magnitude = 10.0 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
        count = math.ceil(largest / step - 1e-9)
        return cls(step * count, False, tuple(step * i for i in range(count + 1)))

    def at(self, value: float) -> float:
        """Where ``value`` falls, from 0 to 1."""
        if self.log:
            return math.log10(1 + max(value, 0)) / math.log10(1 + self.top)
        return max(value, 0) / self.top


def grouped_bars(bars: Sequence[Bar], log: bool, caption: str) -> str:
    """Horizontal bars, three per name (before, target, after), on a linear or log axis.

    Each name is one ``<g class="cell">`` holding its three ``<rect>`` elements.
    """
    row, thick, top = 30, 7, 26
    plot = WIDTH - NAME_WIDTH - 24
    scale = Scale.of(max((max(b.before, b.target, b.after) for b in bars), default=0), log)
    height = top + row * len(bars) + 4
    parts = [_open(height, caption), _axis(scale, NAME_WIDTH, plot, top, height)]
    for i, bar in enumerate(bars):
        y = top + i * row
        parts.append(
            f'<g class="cell"><text class="name" x="{NAME_WIDTH - 8}" '
            f'y="{y + row / 2 + 4:.0f}" text-anchor="end">{esc(_short(bar.name))}'
            f"<title>{esc(bar.name)}</title></text>"
        )
        for j, (key, title) in enumerate(SERIES):
            value = getattr(bar, key)
            parts.append(
                f'<rect class="{key}" x="{NAME_WIDTH}" y="{y + 4 + j * (thick + 1)}" '
                f'width="{scale.at(value) * plot:.1f}" height="{thick}">'
                f"<title>{esc(bar.name)}: {title} {value:,}</title></rect>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def histogram(bins: Sequence[tuple[str, str, int]], unit: str, caption: str) -> str:
    """Vertical bars of ``(label, description, count)`` bins, the count above each bar.

    Each bin is one ``<g class="bin">`` with a ``data-count`` attribute.
    """
    top, plot_height, bottom = 18, 130, 22
    height = top + plot_height + bottom
    largest = max((count for _, _, count in bins), default=0) or 1
    slot = min(WIDTH / max(len(bins), 1), MAX_BIN_WIDTH)
    parts = [
        _open(height, caption),
        f'<line class="base" x1="0" x2="{WIDTH}" y1="{top + plot_height}" '
        f'y2="{top + plot_height}"/>',
    ]
    for i, (label, description, count) in enumerate(bins):
        bar = plot_height * count / largest
        x, middle = i * slot + 2, i * slot + slot / 2
        parts.append(
            f'<g class="bin" data-count="{count}"><rect class="hist" x="{x:.1f}" '
            f'y="{top + plot_height - bar:.1f}" width="{slot - 4:.1f}" height="{bar:.1f}">'
            f"<title>{esc(description)}: {count:,} {esc(unit)}</title></rect>"
            f'<text class="count" x="{middle:.1f}" y="{top + plot_height - bar - 4:.1f}" '
            f'text-anchor="middle">{count:,}</text><text class="tick" x="{middle:.1f}" '
            f'y="{height - 6}" text-anchor="middle">{esc(label)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar(segments: Sequence[tuple[str, float]], unit: str, caption: str) -> str:
    """One horizontal bar split into ``(name, value)`` segments, classes ``seg-0``, ``seg-1``...

    A segment wide enough shows its name and value; all show them on hover.
    """
    height, total = 34, sum(value for _, value in segments) or 1.0
    parts, x = [_open(height, caption)], 0.0
    for i, (name, value) in enumerate(segments):
        width = WIDTH * value / total
        text = f"{name} {value:.1f} {unit}"
        inside = (
            (f'<text class="inside" x="{x + 6:.1f}" y="{height / 2 + 4:.0f}">{esc(text)}</text>')
            if width > 7.5 * len(text)
            else ""
        )
        parts.append(
            f'<g class="segment"><rect class="seg-{i % 6}" x="{x:.1f}" y="2" '
            f'width="{width:.1f}" height="{height - 4}"><title>{esc(name)}: '
            f"{value:.3f} {unit}</title></rect>{inside}</g>"
        )
        x += width
    parts.append("</svg>")
    return "".join(parts)


def _open(height: float, caption: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height:.0f}" width="100%" role="img" '
        f'aria-label="{esc(caption)}">'
    )


def _axis(scale: Scale, left: float, width: float, top: float, bottom: float) -> str:
    parts = ['<g class="axis">']
    for tick in scale.ticks:
        x = left + scale.at(tick) * width
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{bottom}"/>'
            f'<text x="{x:.1f}" y="{top - 8}" text-anchor="middle">{compact(tick)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"
