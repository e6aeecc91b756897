"""Which input rows and columns a row-stationary strip touches: the geometry of one layer.

The RS primitive gives PE (filter row i, output row o) the padded input row `o*U + i`. A strip
of consecutive output rows and a fold of consecutive filter rows therefore need the union of
those rows; rows inside the zero padding are generated at the GLB read port and never stored,
so only *real* rows (inside `[pad, pad + H)`) cost buffer space and GLB/DRAM reads.
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


@dataclass(frozen=True)
class StripRows:
    """Real input rows per strip width, aligned with the widths `es` it was computed for.

    `total_all`: sum over strips of the rows of all R filter rows (what the GLB loads);
    `total_folds`: sum over strips and folds (what the array reads from the GLB);
    `widest`: the most rows any one strip needs (the GLB ifmap buffer size).
    """

    total_all: np.ndarray
    total_folds: np.ndarray
    widest: np.ndarray


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
    E, R = layer.E, layer.R
    height = ceil_div(R, folds)
    total_all = np.zeros(len(es), dtype=np.int64)
    total_folds = np.zeros(len(es), dtype=np.int64)
    widest = np.zeros(len(es), dtype=np.int64)
    for index, e in enumerate(es):
        lo = np.arange(0, E, e, dtype=np.int64)
        hi = np.minimum(E, lo + e)
        rows = _real_rows_of_strips(layer, lo, hi, 0, R)
        total_all[index] = rows.sum()
        widest[index] = rows.max()
        total_folds[index] = sum(
            int(_real_rows_of_strips(layer, lo, hi, f * height, min(R, (f + 1) * height)).sum())
            for f in range(folds)
        )
    return StripRows(total_all, total_folds, widest)
