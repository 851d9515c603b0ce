"""Loss and gradient sums over row blocks, added in a tree fixed by the indices.

The sums of blocks ``0 .. n-1`` are added in one binary tree: node
``(level, j)`` covers blocks ``[j * 2**level, (j + 1) * 2**level)`` (cut at
``n``) and is the sum of its two children, left plus right, or its only
child.  Any contiguous range of blocks is tiled by a few of the tree's
nodes (at most two per level), so whoever holds a range of blocks can add
them into those nodes, and the nodes of neighbouring ranges combine into the
nodes of the joint range, up to the root.  Every node has one value
whatever the ranges were, so neither the placement of the blocks nor the
number of workers nor a recomputation changes a bit of the total.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._base import _LBFGS_CHUNK_ROWS
from .._network import EngineSpec
from .._threads import products_threads

# (sum of sample-weighted losses, sum of weights, raw gradient in float64)
Sums = tuple[float, float, np.ndarray]
Node = tuple[int, int]  # (level, index)


@dataclass
class Block:
    """One row block in the engine's form, kept where it is used."""

    X: object  # C- or F-ordered ndarray, or CSR matrix, in the model's dtype
    Y: np.ndarray
    sample_weight: np.ndarray


def _top_level(n: int) -> int:
    return max(n - 1, 0).bit_length()


def _span(node: Node, n: int) -> tuple[int, int]:
    level, j = node
    return j << level, min((j + 1) << level, n)


def cover(start: int, stop: int, n: int) -> list[Node]:
    """The fewest tree nodes that tile blocks ``[start, stop)``, left to right."""
    nodes = []
    top = _top_level(n)
    while start < stop:
        level = 0
        while level < top:
            size = 1 << (level + 1)
            if start % size or min(start + size, n) > stop:
                break
            level += 1
        nodes.append((level, start >> level))
        start = min(start + (1 << level), n)
    return nodes


def _add(a: Sums, b: Sums) -> Sums:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2]


def _value(node: Node, n: int, known: dict, leaf) -> Sums:
    """The node's sums: known, or added from its children."""
    if node in known:
        return known[node]
    level, j = node
    if level == 0:
        return leaf(j)
    left = (level - 1, 2 * j)
    right = (level - 1, 2 * j + 1)
    if (right[1] << right[0]) >= n:
        return _value(left, n, known, leaf)
    return _add(_value(left, n, known, leaf), _value(right, n, known, leaf))


def range_sums(
    start: int, n: int, spec: EngineSpec, params: np.ndarray, *blocks: Block
) -> list[tuple[Node, Sums]]:
    """The nodes tiling blocks ``[start, start + len(blocks))`` of ``n``.

    Runs where the blocks are: one engine trainer evaluates every block in
    turn (its chunks of rows are those a trainer of the block alone would
    use), with the engine's threads.
    """
    from .. import _engine

    batch = min(max(b.X.shape[0] for b in blocks), _LBFGS_CHUNK_ROWS)
    with products_threads() as n_threads:
        trainer = spec.trainer(params.copy(), batch, n_threads)

        def leaf(i: int) -> Sums:
            block = blocks[i - start]
            sums = np.zeros(params.shape[0], dtype=params.dtype)
            weighted_loss, sw_sum = trainer.gradient_sums(
                _engine.InputMatrix(block.X), block.Y, block.sample_weight, sums
            )
            return weighted_loss, sw_sum, sums.astype(np.float64)

        stop = start + len(blocks)
        return [(node, _value(node, n, {}, leaf)) for node in cover(start, stop, n)]


def group_sums(
    start: int, n: int, spec: EngineSpec, params: np.ndarray, *groups: list[Block]
) -> list[tuple[Node, Sums]]:
    """``range_sums`` over the blocks of consecutive groups of blocks."""
    return range_sums(start, n, spec, params, *(b for group in groups for b in group))


def merge(n: int, *parts: list[tuple[Node, Sums]]) -> list[tuple[Node, Sums]]:
    """The nodes tiling the joint range of neighbouring ranges' nodes."""
    known = dict(node for part in parts for node in part)
    spans = [_span(node, n) for node in known]
    start, stop = min(s for s, _ in spans), max(s for _, s in spans)

    def missing(i: int) -> Sums:  # pragma: no cover - the ranges tile
        raise AssertionError(f"block {i} is in no range")

    return [(node, _value(node, n, known, missing)) for node in cover(start, stop, n)]


def total(n: int, nodes: list[tuple[Node, Sums]]) -> Sums:
    """The root's sums from nodes tiling all ``n`` blocks."""
    ((node, sums),) = merge(n, nodes)
    return sums
