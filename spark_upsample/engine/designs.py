"""The per-cell designs of :mod:`spark_upsample.engine.draws` as Spark expressions.

For runs with many cells (:mod:`spark_upsample.engine.cell_table`), a cell's design is computed
by Spark on the row of the per-cell table, not by Python on the driver. The expressions repeat
:func:`~spark_upsample.engine.draws.design_class`,
:func:`~spark_upsample.engine.draws.design_subset` and
:func:`~spark_upsample.engine.draws.slots` operation for operation in IEEE doubles (square
roots, products and quotients are correctly rounded on both sides; integers below 2**53 convert
exactly), so a cell gets the same design, and the same rows, whichever side planned it; a test
compares the two over many cells.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from spark_upsample.engine.draws import KEY_SPACE, MAX_KEY, SLOT_RATE

_SPACE = float(KEY_SPACE)  # 2**63, exact as a double


def class_design(count: Column, draws: Column, sigmas: float) -> dict[str, Column]:
    """:func:`~spark_upsample.engine.draws.design_class` of ``draws`` draws from ``count``
    rows (long columns, both >= 1): ``slots``, ``mu`` (the slot rate), ``primary``, ``lo`` and
    ``hi`` (the window), as long and double columns."""
    d = draws.cast("double")
    margin = F.ceil(F.lit(sigmas) * (F.sqrt(d) + 1.0))
    total = (draws + margin).cast("double")
    share = d / total
    half_width = F.lit(sigmas) * (F.sqrt(total) + 1.0) / total
    rate_plus = total / count.cast("double")
    n = F.greatest(F.lit(1).cast("long"), F.ceil(rate_plus / SLOT_RATE))
    return {
        "slots": n,
        "mu": rate_plus / n.cast("double"),
        "primary": F.floor(share * _SPACE),
        **_window(share, half_width),
    }


def subset_design(count: Column, keep: Column, sigmas: float) -> dict[str, Column]:
    """:func:`~spark_upsample.engine.draws.design_subset` of ``keep`` of ``count`` rows
    (0 < keep < count): ``primary``, ``lo`` and ``hi``."""
    share = keep.cast("double") / count.cast("double")
    spread = F.sqrt(keep.cast("double") * (1.0 - share))
    half_width = F.lit(sigmas) * (spread + 1.0) / count.cast("double")
    return {"primary": F.floor(share * _SPACE), **_window(share, half_width)}


def _window(share: Column, half_width: Column) -> dict[str, Column]:
    """``lo = max(0, floor((share - hw) * 2**63))``, ``hi = min(MAX_KEY, ceil((share + hw) *
    2**63))``, each bound applied before a value past a long's range is converted (Spark's
    ANSI mode refuses the conversion)."""
    low, high = (share - half_width) * _SPACE, (share + half_width) * _SPACE
    return {
        "lo": F.when(low <= 0.0, F.lit(0).cast("long")).otherwise(F.floor(low)),
        "hi": F.when(high >= F.lit(_SPACE), F.lit(MAX_KEY)).otherwise(F.ceil(high)),
    }
