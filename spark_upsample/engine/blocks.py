"""The query blocks of SMOTE's neighbour search, and the partition each one runs on.

No Spark here. A growing cell of ``n`` rows is split into ``ceil(n / BLOCK_ROWS)`` query blocks
(at most :data:`MAX_BLOCKS`); each block reads every row of its cell, so a block costs about
``n**2 / blocks`` distances. The blocks are spread over the partitions of one
``repartition(partitions, slot)`` largest first, each to the least loaded partition, by giving
each block a ``slot`` value that Spark's hash partitioning sends there:
``pmod(hash(slot), partitions)``, with ``hash`` Spark's Murmur3 (seed 42), which
:func:`spark_hash_long` computes in Python. Were it ever to differ from Spark's, blocks would
share partitions (slower), never change the result.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Mapping
from typing import Any

BLOCK_ROWS = 20_000
MAX_BLOCKS = 64
_M32 = 0xFFFFFFFF


def block_slots(counts: Mapping[Hashable, int], partitions: int) -> dict[Any, list[int]]:
    """Per cell of ``counts`` (its rows), the slot of each of its query blocks.

    ``partitions`` is the number of partitions of the search (at least 1); while there are no
    more blocks than partitions, no two blocks share one.
    """
    blocks = {c: min(MAX_BLOCKS, math.ceil(n / BLOCK_ROWS)) for c, n in counts.items()}
    work = sorted(
        (
            (counts[c] ** 2 / blocks[c], i, b)
            for i, c in enumerate(counts)
            for b in range(blocks[c])
        ),
        key=lambda w: (-w[0], w[1], w[2]),
    )
    cells = list(counts)
    free = [(0.0, p, slot) for p, slot in enumerate(partition_slots(partitions))]
    slots: dict[Any, list[int]] = {c: [0] * blocks[c] for c in cells}
    for cost, i, block in work:
        load, partition, slot = heapq.heappop(free)
        slots[cells[i]][block] = slot
        heapq.heappush(free, (load + cost, partition, slot))
    return slots


def search_partitions(counts: Mapping[Hashable, int], shuffle_partitions: int) -> int:
    """The number of partitions of the search: one per block, at most ``shuffle_partitions``."""
    blocks = sum(min(MAX_BLOCKS, math.ceil(n / BLOCK_ROWS)) for n in counts.values())
    return max(1, min(blocks, shuffle_partitions))


def partition_slots(partitions: int) -> list[int]:
    """For each partition ``p``, the smallest non-negative bigint whose Spark hash partition
    (``pmod(hash(v), partitions)``) is ``p``."""
    found: dict[int, int] = {}
    value = 0
    while len(found) < partitions:
        found.setdefault(spark_hash_long(value) % partitions, value)
        value += 1
    return [found[p] for p in range(partitions)]


def spark_hash_long(value: int, seed: int = 42) -> int:
    """Spark's ``hash(value)`` of a bigint (Murmur3 x86 32-bit, seed 42), a signed int."""
    value &= 0xFFFFFFFFFFFFFFFF
    h1 = _mix_h1(seed, _mix_k1(value & _M32))
    h1 = _mix_h1(h1, _mix_k1(value >> 32))
    h1 ^= 8
    h1 ^= h1 >> 16
    h1 = (h1 * 0x85EBCA6B) & _M32
    h1 ^= h1 >> 13
    h1 = (h1 * 0xC2B2AE35) & _M32
    h1 ^= h1 >> 16
    return h1 - (1 << 32) if h1 >= 1 << 31 else h1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def _mix_k1(k1: int) -> int:
    return (_rotl((k1 * 0xCC9E2D51) & _M32, 15) * 0x1B873593) & _M32


def _mix_h1(h1: int, k1: int) -> int:
    return (_rotl(h1 ^ k1, 13) * 5 + 0xE6546B64) & _M32
