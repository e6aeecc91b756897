"""Which input rows and columns a row-stationary strip touches: the geometry of one layer.

The RS primitive gives PE (filter row i, output row o) the padded input row `o*U + i`. A strip
of consecutive output rows and a fold of consecutive filter rows therefore read the union of
those rows; rows inside the zero padding are generated at the GLB read port and never stored,
so only *real* rows (inside `[pad, pad + H)`) cost GLB reads and NoC transfers.

What DRAM loads and the GLB stores is the *hull* of a strip's real rows (and of the layer's
real columns): one contiguous run per row, as the RTL's DRAM phases move it
(docs/accelerator.md section 3). Hull and union are equal unless the stride exceeds the kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qappac.shapes import LayerShape


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def folds_of(R: int, rows: int) -> tuple[int, int]:
    """(folds, set height): filter rows split into `folds` chunks of at most `rows` rows."""
    folds = ceil_div(R, rows)
    return folds, ceil_div(R, folds)


def real_rows(layer: LayerShape, out_lo: int, out_hi: int, frow_lo: int, frow_hi: int) -> int:
    """Distinct real input rows read by output rows [out_lo, out_hi) x filter rows [lo, hi)."""
    used = {o * layer.U + i for o in range(out_lo, out_hi) for i in range(frow_lo, frow_hi)}
    return sum(1 for row in used if layer.pad <= row < layer.pad + layer.H)


def used_columns(layer: LayerShape) -> tuple[int, int]:
    """(real, padded) distinct input columns the F output columns read (per input row).

    A stride larger than the kernel skips columns: they are neither sent nor counted.
    """
    padded = {f * layer.U + s for f in range(layer.F) for s in range(layer.S)}
    real = sum(1 for col in padded if layer.pad <= col < layer.pad + layer.W)
    return real, len(padded)


def strip_row_hull(layer: LayerShape, lo: int, hi: int) -> int:
    """Real input rows in the hull `[first, last]` of what output rows [lo, hi) read (all R
    filter rows): `first = max(0, lo*U - pad)`, `last = min(H-1, (hi-1)*U + R-1 - pad)`."""
    first = max(0, lo * layer.U - layer.pad)
    last = min(layer.H - 1, (hi - 1) * layer.U + layer.R - 1 - layer.pad)
    return max(0, last - first + 1)


def column_hull(layer: LayerShape) -> int:
    """Real input columns in the hull of what the F output columns read: real columns
    `[0, min(W, (F-1)*U + S - pad))`."""
    return max(0, min(layer.W, (layer.F - 1) * layer.U + layer.S - layer.pad))


@dataclass(frozen=True)
class StripRows:
    """Real input rows per strip width, aligned with the widths `es` it was computed for.

    `total_folds`: sum over strips and folds of the union of the rows each fold reads (what
    the array reads from the GLB);
    `hull_total`: sum over strips of the row hulls (what DRAM loads into the GLB);
    `hull_widest`: the largest row hull of any strip (the GLB ifmap tile);
    `hull_values`, `hull_counts`: shape (len(es), V): the distinct row hulls of the strips of
    each width and how many strips have each (rows padded with count 0), for class counting
    of the DRAM phases.
    """

    total_folds: np.ndarray
    hull_total: np.ndarray
    hull_widest: np.ndarray
    hull_values: np.ndarray
    hull_counts: np.ndarray


def _real_rows_of_strips(
    layer: LayerShape, lo: np.ndarray, hi: np.ndarray, frow_lo: int, frow_hi: int
) -> np.ndarray:
    """`real_rows` for many strips [lo, hi) at once (closed form, same count)."""
    U, pad, H = layer.U, layer.pad, layer.H
    span = frow_hi - frow_lo
    if U <= span:  # consecutive output rows' windows overlap or touch: one interval
        first = lo * U + frow_lo
        last = (hi - 1) * U + frow_hi  # exclusive
        return np.maximum(0, np.minimum(last, pad + H) - np.maximum(first, pad))
    # disjoint windows of `span` rows, one per output row
    total = np.zeros(lo.shape, dtype=np.int64)
    for o in range(int(hi.max()) if hi.size else 0):
        inside = (lo <= o) & (o < hi)
        top, end = o * U + frow_lo, o * U + frow_hi
        total += inside * max(0, min(end, pad + H) - max(top, pad))
    return total


@lru_cache(maxsize=4096)
def strip_rows(layer: LayerShape, folds: int, es: tuple[int, ...]) -> StripRows:
    """Row counts for the strip widths `es`, memoized per (layer, folds, widths)."""
    E, R, U, pad, H = layer.E, layer.R, layer.U, layer.pad, layer.H
    height = ceil_div(R, folds)
    total_folds = np.zeros(len(es), dtype=np.int64)
    hull_total = np.zeros(len(es), dtype=np.int64)
    hull_widest = np.zeros(len(es), dtype=np.int64)
    values: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for index, e in enumerate(es):
        lo = np.arange(0, E, e, dtype=np.int64)
        hi = np.minimum(E, lo + e)
        hull = np.maximum(
            0, np.minimum(H - 1, (hi - 1) * U + R - 1 - pad) - np.maximum(0, lo * U - pad) + 1
        )
        hull_total[index] = hull.sum()
        hull_widest[index] = hull.max()
        value, count = np.unique(hull, return_counts=True)
        values.append(value)
        counts.append(count)
        total_folds[index] = sum(
            int(_real_rows_of_strips(layer, lo, hi, f * height, min(R, (f + 1) * height)).sum())
            for f in range(folds)
        )
    width = max((v.size for v in values), default=1)
    hull_values = np.zeros((len(es), width), dtype=np.int64)
    hull_counts = np.zeros((len(es), width), dtype=np.int64)
    for index, (value, count) in enumerate(zip(values, counts, strict=True)):
        hull_values[index, : value.size] = value
        hull_counts[index, : count.size] = count
    return StripRows(total_folds, hull_total, hull_widest, hull_values, hull_counts)
