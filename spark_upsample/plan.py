"""The plan of a resampling run, as a plain value: what happened to every class, and the seed."""

from __future__ import annotations

import datetime as _dt
import decimal
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ClassPlan:
    """One class before and after.

    Attributes
    ----------
    label : the class value, as Spark returns it (int, str, bool, float, ...)
    count_before : rows of the class in the input
    target : rows of the class in the output
    draws : rows drawn with replacement (0 when the class is left as it is)
    poisson_draws : size of the Poisson sample at fraction ``draws / count_before`` before the
        exact correction, or None when the class was not sampled
    """

    label: Any
    count_before: int
    target: int
    draws: int = 0
    poisson_draws: int | None = None

    @property
    def count_after(self) -> int:
        """Rows of the class in the output; always equal to ``target``."""
        return self.target

    @property
    def correction(self) -> str:
        """How the Poisson sample was made exact: ``"trim"``, ``"top-up"``, ``"none"`` (it hit
        the target), or ``"unsampled"`` for a class left as it is."""
        if self.poisson_draws is None:
            return "unsampled"
        if self.poisson_draws > self.draws:
            return "trim"
        if self.poisson_draws < self.draws:
            return "top-up"
        return "none"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: label as JSON scalar (str for dates and decimals), counts, path."""
        return {
            "label": json_label(self.label),
            "count_before": self.count_before,
            "target": self.target,
            "count_after": self.count_after,
            "draws": self.draws,
            "poisson_draws": self.poisson_draws,
            "correction": self.correction,
        }


@dataclass(frozen=True)
class UpsamplePlan:
    """What a resampling run does, per class, and everything needed to reproduce it.

    ``classes`` are in label order. Running the same input with the same parameters and ``seed``
    gives the same output, row for row.
    """

    label_col: str
    seed: int
    sampling_strategy: str
    keep_originals: bool
    null_labels_dropped: int
    classes: tuple[ClassPlan, ...]

    @property
    def rows_before(self) -> int:
        """Rows in the input (after dropping null labels, if asked)."""
        return sum(c.count_before for c in self.classes)

    @property
    def rows_after(self) -> int:
        """Rows in the output."""
        return sum(c.count_after for c in self.classes)

    @property
    def counts_before(self) -> dict[Any, int]:
        return {c.label: c.count_before for c in self.classes}

    @property
    def counts_after(self) -> dict[Any, int]:
        return {c.label: c.count_after for c in self.classes}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the whole plan."""
        return {
            "label_col": self.label_col,
            "seed": self.seed,
            "sampling_strategy": self.sampling_strategy,
            "keep_originals": self.keep_originals,
            "null_labels_dropped": self.null_labels_dropped,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "classes": [c.to_dict() for c in self.classes],
        }


def json_label(label: Any) -> Any:
    """A label as a JSON scalar: bool, int, float and str as they are, anything else as str."""
    if label is None or isinstance(label, (bool, int, float, str)):
        return label
    if isinstance(label, (decimal.Decimal, _dt.date, _dt.datetime)):
        return str(label)
    return repr(label)
