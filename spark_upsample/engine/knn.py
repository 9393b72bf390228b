"""Exact k nearest neighbours in numpy: the arithmetic behind SMOTE.

No Spark here: the Spark side (:mod:`spark_upsample.transforms.smote`) calls
:func:`exact_neighbours` on the executors, once per block of query rows, with every row of the
block's cell as references.

The result is defined exactly, so that it is the same whatever the tiling, the order of the
rows or the machine: the neighbours of a query row are the ``k`` reference rows of smallest
squared Euclidean distance ``sum((r_f - q_f) ** 2)`` (float64, summed over the features in
order), ties broken by the smaller row identity, the query row itself left out **by identity**
(a duplicate of it, at distance 0, is a neighbour, as in imbalanced-learn).

How, fast: distances are screened tile by tile with a float32 matrix product
(``|r|^2 - 2 q.r``, one BLAS call per tile), against a per-query bound on the k-th distance that
tightens as tiles are read, widened by a margin that covers float32 rounding; only the pairs
under the bound are re-ranked with the exact float64 distance. The first bound is the
(k + 1)-th smallest float32 distance to a first slice of references (k + 1 so that the query row,
if it is in the slice, still leaves k others). The screen never drops a pair the exact ranking
would keep, so the result is that of a brute-force float64 search.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

QUERY_TILE = 512
REF_TILE = 4096
FIRST_SLICE = 1024
# float32 rounding of a (d + 1)-term dot product of centred values, of the inputs and of the
# norms stays below (d + 4) * eps32 * 2 * (|q|^2 + |r|^2); the margin is twice that.
_EPS32 = float(np.finfo(np.float32).eps)
_MARGIN_FACTOR = 4.0 * _EPS32


class Neighbours(NamedTuple):
    """The result of :func:`exact_neighbours`, one row per query, nearest first.

    Attributes
    ----------
    indices : int64 array (queries x k), positions in the reference arrays
    distance : float64 array (queries x k), the exact squared Euclidean distances
    """

    indices: npt.NDArray[np.int64]
    distance: npt.NDArray[np.float64]


def exact_neighbours(
    query_x: npt.ArrayLike,
    query_ids: npt.ArrayLike,
    ref_x: npt.ArrayLike,
    ref_ids: npt.ArrayLike,
    k: int,
) -> Neighbours:
    """The ``k`` nearest reference rows of every query row (see the module docstring).

    Parameters
    ----------
    query_x : (queries x features) finite numbers
    query_ids : (queries,) int64 row identities; a reference with the same identity is the query
        row itself and is never its neighbour
    ref_x : (references x features) finite numbers
    ref_ids : (references,) distinct int64 row identities
    k : positive; every query must have at least ``k`` references other than itself

    Returns
    -------
    Neighbours, ordered by (distance, reference identity).

    Raises
    ------
    ValueError
        Shapes that do not match, or fewer than ``k`` references besides a query row.
    """
    qx = np.asarray(query_x, dtype=np.float64)
    rx = np.asarray(ref_x, dtype=np.float64)
    qid = np.asarray(query_ids, dtype=np.int64)
    rid = np.asarray(ref_ids, dtype=np.int64)
    if qx.ndim != 2 or rx.ndim != 2 or qx.shape[1] != rx.shape[1]:
        raise ValueError(
            f"query_x and ref_x must be 2-D with the same number of columns; got "
            f"shapes {qx.shape} and {rx.shape}."
        )
    if qid.shape != (len(qx),) or rid.shape != (len(rx),):
        raise ValueError("query_ids and ref_ids must have one identity per row.")
    if k < 1 or len(rx) - 1 < k:
        raise ValueError(f"k must be between 1 and references - 1 = {len(rx) - 1}; got {k}.")
    index = np.empty((len(qx), k), dtype=np.int64)
    distance = np.empty((len(qx), k), dtype=np.float64)
    if len(qx) == 0:
        return Neighbours(index, distance)
    screen = _Screen(rx)
    for start in range(0, len(qx), QUERY_TILE):
        stop = min(start + QUERY_TILE, len(qx))
        index[start:stop], distance[start:stop] = _tile(
            screen, qx[start:stop], qid[start:stop], rx, rid, k
        )
    return Neighbours(index, distance)


class _Screen:
    """The references prepared for the float32 screen: centred, with their squared norms."""

    def __init__(self, rx: npt.NDArray[np.float64]) -> None:
        self.center = rx.mean(axis=0)
        centred = rx - self.center
        norms = np.einsum("ij,ij->i", centred, centred)
        # [r, |r|^2] . [-2q, 1] = |r|^2 - 2 q.r: the squared distance less |q|^2, in one product
        self.augmented = np.hstack([centred, norms[:, None]]).astype(np.float32)
        self.tile_norm = np.array(
            [norms[i : i + REF_TILE].max() for i in range(0, len(rx), REF_TILE)]
        )
        self.features = rx.shape[1]

    def queries(
        self, qx: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
        centred = qx - self.center
        augmented = np.hstack([-2.0 * centred, np.ones((len(qx), 1))]).astype(np.float32)
        return augmented, np.einsum("ij,ij->i", centred, centred)

    def margin(self, query_norms: npt.NDArray[np.float64], tile: int) -> npt.NDArray[np.float64]:
        factor = _MARGIN_FACTOR * (self.features + 4)
        bound: npt.NDArray[np.float64] = factor * (query_norms + self.tile_norm[tile])
        return bound


def _tile(
    screen: _Screen,
    qx: npt.NDArray[np.float64],
    qid: npt.NDArray[np.int64],
    rx: npt.NDArray[np.float64],
    rid: npt.NDArray[np.int64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The exact neighbours of one tile of queries."""
    q32, qnorm = screen.queries(qx)
    first = screen.augmented[: max(FIRST_SLICE, k + 1)]
    # A bound on the k-th distance (less |q|^2), in the float32 screen's own terms.
    bound = np.partition(q32 @ first.T, k, axis=1)[:, k].astype(np.float64)
    bound += screen.margin(qnorm, 0)
    best_j = np.full((len(qx), k), -1, dtype=np.int64)
    best_d = np.full((len(qx), k), np.inf)
    screened_buffer = np.empty(len(qx) * REF_TILE, dtype=np.float32)
    passed_buffer = np.empty(len(qx) * REF_TILE, dtype=bool)
    for t, start in enumerate(range(0, len(rx), REF_TILE)):
        refs = screen.augmented[start : start + REF_TILE]
        shape = (len(qx), len(refs))
        screened = screened_buffer[: shape[0] * shape[1]].reshape(shape)
        passed = passed_buffer[: shape[0] * shape[1]].reshape(shape)
        limit = (bound + screen.margin(qnorm, t)).astype(np.float32)
        np.matmul(q32, refs.T, out=screened)
        np.less_equal(screened, limit[:, None], out=passed)
        flat = np.flatnonzero(passed)  # much faster than a 2-D nonzero
        qi, rj = np.divmod(flat, len(refs))
        rj += start
        other = rid[rj] != qid[qi]
        qi, rj = qi[other], rj[other]
        if len(qi) == 0:
            continue
        best_j, best_d = _merge(best_j, best_d, qi, rj, _distances(qx, rx, qi, rj), rid, k)
        # The exact k-th distance found so far bounds the final one; less |q|^2 for the screen.
        bound = np.minimum(bound, best_d[:, k - 1] - qnorm)
    return best_j, best_d


def _distances(
    qx: npt.NDArray[np.float64],
    rx: npt.NDArray[np.float64],
    qi: npt.NDArray[np.intp],
    rj: npt.NDArray[np.int64],
) -> npt.NDArray[np.float64]:
    """Exact squared distances of the pairs, summed feature by feature in a fixed order (the
    same value for a pair whatever else is computed with it)."""
    total = np.zeros(len(qi))
    for f in range(qx.shape[1]):
        diff = rx[rj, f] - qx[qi, f]
        total += diff * diff
    return total


def _merge(
    best_j: npt.NDArray[np.int64],
    best_d: npt.NDArray[np.float64],
    qi: npt.NDArray[np.intp],
    rj: npt.NDArray[np.int64],
    d: npt.NDArray[np.float64],
    rid: npt.NDArray[np.int64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The k best of the current lists and the new pairs, by (distance, identity) per query;
    only the queries with new pairs are touched."""
    touched, qi = np.unique(qi, return_inverse=True)
    held_j, held_d = best_j[touched], best_d[touched]
    held = held_j >= 0
    all_q = np.concatenate([np.repeat(np.arange(len(touched)), k)[held.ravel()], qi])
    all_j = np.concatenate([held_j[held], rj])
    all_d = np.concatenate([held_d[held], d])
    order = np.lexsort((rid[all_j], all_d, all_q))
    all_q, all_j, all_d = all_q[order], all_j[order], all_d[order]
    starts = np.searchsorted(all_q, np.arange(len(touched)))
    rank = np.arange(len(all_q)) - starts[all_q]
    keep = rank < k
    held_j[:] = -1
    held_d[:] = np.inf
    held_j[all_q[keep], rank[keep]] = all_j[keep]
    held_d[all_q[keep], rank[keep]] = all_d[keep]
    best_j[touched], best_d[touched] = held_j, held_d
    return best_j, best_d
