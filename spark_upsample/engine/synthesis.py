"""SMOTE's new rows in numpy: counter-based draws and the interpolation, for one block of rows.

No Spark here: :mod:`spark_upsample.transforms.smote` calls :func:`synthesise` on the executors,
once per block of a cell's rows. Copy ``j`` (1, 2, ...) of base row ``b`` picks one of the base's
``k`` nearest neighbours and a gap ``g`` in [0, 1) from a hash of ``(seed, identity of b, j)``
alone, so a new row does not depend on which other rows a task holds, on the partitioning, or on a
retry. The new row is imbalanced-learn's ``x + g * (neighbour - x)`` on every feature.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from spark_upsample.engine.knn import exact_neighbours

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_NEIGHBOUR_STREAM, _GAP_STREAM = 1, 2
_UNIT = 2.0**-53


class SyntheticRows(NamedTuple):
    """The new rows of one block, in order of (base row as given, copy number).

    Attributes
    ----------
    base : int64 positions of the base rows in the query arrays
    neighbour : int64 positions of the chosen neighbours in the reference arrays
    gap : float64 gaps in [0, 1)
    x : float64 (rows x features) new feature values
    """

    base: npt.NDArray[np.int64]
    neighbour: npt.NDArray[np.int64]
    gap: npt.NDArray[np.float64]
    x: npt.NDArray[np.float64]


def synthesise(
    query_x: npt.NDArray[np.float64],
    query_ids: npt.NDArray[np.int64],
    copies: npt.NDArray[np.int64],
    ref_x: npt.NDArray[np.float64],
    ref_ids: npt.NDArray[np.int64],
    k: int,
    seed: int,
) -> SyntheticRows:
    """``copies[i]`` new rows from query row ``i`` and its ``k`` exact nearest references.

    Parameters
    ----------
    query_x, query_ids : the base rows (features, identities)
    copies : non-negative number of new rows per base row
    ref_x, ref_ids : every row of the base rows' cell (the base rows among them)
    k : neighbours per base row, at most ``len(ref_ids) - 1``
    seed : non-negative integer below 2**63
    """
    wanted = copies > 0
    positions = np.flatnonzero(wanted)
    neighbours = exact_neighbours(query_x[wanted], query_ids[wanted], ref_x, ref_ids, k)
    counts = copies[wanted]
    rows = np.repeat(np.arange(len(positions)), counts)
    firsts = np.cumsum(counts) - counts
    copy_number = np.arange(len(rows)) - firsts[rows] + 1
    base_ids = query_ids[positions][rows]
    choice, gap = copy_draws(seed, base_ids, copy_number, k)
    neighbour = neighbours.indices[rows, choice]
    base = positions[rows]
    return SyntheticRows(base, neighbour, gap, interpolate(query_x[base], ref_x[neighbour], gap))


def interpolate(
    base_x: npt.NDArray[np.float64],
    neighbour_x: npt.NDArray[np.float64],
    gap: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """imbalanced-learn's new rows: ``base + gap * (neighbour - base)``, row by row."""
    return base_x + gap[:, None] * (neighbour_x - base_x)


def copy_draws(
    seed: int, base_ids: npt.NDArray[np.int64], copy_number: npt.NDArray[np.int64], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Per new row, the neighbour (uniform in 0..k-1) and the gap (uniform in [0, 1) on the
    2**-53 grid), each a hash of the seed, a stream, the base row's identity and the copy
    number."""
    choice_hash = _hash(seed, _NEIGHBOUR_STREAM, base_ids, copy_number)
    # Lemire's multiply-shift: the top 32 bits times k, shifted, is uniform in 0..k-1 up to
    # 2**-32 relative bias (k < 2**31, so the product fits in 64 bits).
    choice = ((choice_hash >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)
    gap = (_hash(seed, _GAP_STREAM, base_ids, copy_number) >> np.uint64(11)).astype(np.float64)
    return choice.astype(np.int64), gap * _UNIT


def _hash(
    seed: int, stream: int, ids: npt.NDArray[np.int64], numbers: npt.NDArray[np.int64]
) -> npt.NDArray[np.uint64]:
    """SplitMix64 finalisers chained over (seed, stream), the identity and the number."""
    with np.errstate(over="ignore"):
        start = _mix(np.array([seed], dtype=np.uint64) * _GOLDEN + np.uint64(stream))
        state = _mix(start ^ ids.astype(np.uint64))
        return _mix(state ^ (numbers.astype(np.uint64) * _GOLDEN))


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _MIX1
        x = x ^ (x >> np.uint64(27))
        x = x * _MIX2
        mixed: npt.NDArray[np.uint64] = x ^ (x >> np.uint64(31))
        return mixed
