"""The host software of the generated accelerator, for one conv or FC layer.

The accelerator (docs/accelerator.md) reads a layer's quantized ifmap and filters from DRAM in
the order its loop nest loads them and writes the ofmap back in the order it finishes it. This
module is the host side of that contract: it lays the tensors out in DRAM (section 3), reads
the ofmap back, and computes the bit-exact reference, summing in exactly the order of the RTL
(section 2), which matters for fp32 where addition is not associative.

Tensors are integer *codes* (the bit patterns of `qappac.numerics.NumberFormat`) in numpy
int64 arrays: activations `ifmap[N][C][H][W]`, weights `filt[M][C/G][R][S]`, outputs
`ofmap[N][M][E][F]`. An FC layer is C channels of 1 x 1 (R = S = E = F = H = W = 1); any
array with the right number of elements is accepted and reshaped. Group g reads input
channels `g*Cg ..` and owns filters `g*Mg ..`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qappac.dataflow.geometry import ceil_div
from qappac.dataflow.model import Mapping
from qappac.numerics import Array, NumberFormat
from qappac.shapes import LayerShape

__all__ = [
    "Tiling",
    "choose_shift",
    "cols_hull",
    "dram_image",
    "ofmap_from_dram",
    "random_layer_data",
    "reference_ofmap",
    "reference_psums",
    "rows_hull",
    "tiling",
]

PERCENTILE = 99.0
"""`choose_shift` keeps this percentile of the |psums| inside the activation range."""


# --------------------------------------------------------------------------- tiles


@dataclass(frozen=True)
class Tiling:
    """Tile counts and remainder sizes of one layer under one mapping for a batch.

    The names follow docs/accelerator.md section 1: `ch(ct)`, `f(ft)`, `h(fold)`, `er(s)`,
    `nb(b)`, `mb(blk)`. Filter tiles hold `p*t` filters, channel tiles `q*r` channels, GLB
    blocks `k = m / (p*t)` filter tiles; the last tile of each kind may be smaller.
    """

    layer: LayerShape
    mapping: Mapping
    batch: int

    @property
    def Cg(self) -> int:
        return self.layer.C // self.layer.G

    @property
    def Mg(self) -> int:
        return self.layer.M // self.layer.G

    @property
    def height(self) -> int:
        return self.mapping.set_rows

    @property
    def e(self) -> int:
        return self.mapping.set_cols

    @property
    def k(self) -> int:
        """Filter tiles per GLB block."""
        return self.mapping.m // (self.mapping.p * self.mapping.t)

    @property
    def filter_tiles(self) -> int:
        """T = ceil(Mg / (p*t))."""
        return ceil_div(self.Mg, self.mapping.p * self.mapping.t)

    @property
    def channel_tiles(self) -> int:
        """CT = ceil(Cg / (q*r))."""
        return ceil_div(self.Cg, self.mapping.q * self.mapping.r)

    @property
    def blocks(self) -> int:
        """GLB blocks: ceil(T / k)."""
        return ceil_div(self.filter_tiles, self.k)

    @property
    def image_blocks(self) -> int:
        """B = ceil(N / n)."""
        return ceil_div(self.batch, self.mapping.n)

    def ch(self, ct: int) -> int:
        """Real channels of channel tile `ct`."""
        qr = self.mapping.q * self.mapping.r
        return min(qr, self.Cg - ct * qr)

    def f(self, ft: int) -> int:
        """Real filters of filter tile `ft`."""
        pt = self.mapping.p * self.mapping.t
        return min(pt, self.Mg - ft * pt)

    def h(self, fold: int) -> int:
        """Real filter rows of fold `fold`."""
        return min(self.height, self.layer.R - fold * self.height)

    def er(self, s: int) -> int:
        """Real output rows of strip `s`."""
        return min(self.e, self.layer.E - s * self.e)

    def nb(self, b: int) -> int:
        """Images of image block `b`."""
        return min(self.mapping.n, self.batch - b * self.mapping.n)

    def mb(self, blk: int) -> int:
        """Real filters of GLB block `blk`."""
        return min(self.mapping.m, self.Mg - blk * self.mapping.m)

    def tiles_of(self, blk: int) -> range:
        """The filter tiles of GLB block `blk`."""
        return range(blk * self.k, min(self.filter_tiles, (blk + 1) * self.k))


def tiling(layer: LayerShape, mapping: Mapping, batch: int) -> Tiling:
    """The tiling of a layer, after checking that the mapping is consistent with it.

    >>> from qappac.shapes import layer_shapes
    >>> from qappac.ir import Conv, Network, Shape
    >>> net = Network(name="n", input=Shape(c=5, h=6, w=6), layers=(Conv(name="c",
    ...     inputs=("input",), out_channels=7, kernel_h=3, kernel_w=3, pad=1),))
    >>> m = Mapping(set_rows=3, set_cols=4, folds=1, strips=2, n=1, p=2, q=2, r=1, t=1,
    ...             m=4, array_passes=0, glb_passes=0)
    >>> t = tiling(layer_shapes(net)[0], m, 1)
    >>> (t.filter_tiles, t.blocks, t.channel_tiles, [t.mb(b) for b in range(t.blocks)])
    (4, 2, 3, [4, 3])
    """
    if layer.kind not in ("conv", "fc"):
        raise ValueError(f"layer {layer.name} ({layer.kind}) does not run on the PE array")
    m = mapping
    if min(m.set_rows, m.set_cols, m.n, m.p, m.q, m.r, m.t, m.m, batch) < 1:
        raise ValueError(f"mapping sizes and batch must be positive: {m}, batch {batch}")
    if m.m % (m.p * m.t):
        raise ValueError(f"m = {m.m} is not a whole number of filter tiles of p*t = {m.p * m.t}")
    if m.folds != ceil_div(layer.R, m.set_rows) or m.strips != ceil_div(layer.E, m.set_cols):
        raise ValueError(
            f"mapping folds={m.folds} strips={m.strips} do not match R={layer.R} over "
            f"height {m.set_rows} and E={layer.E} over e={m.set_cols}"
        )
    return Tiling(layer, mapping, batch)


def rows_hull(layer: LayerShape, e: int, s: int) -> tuple[int, int]:
    """(first, count): the real input rows strip `s` of `e` output rows loads.

    `first = max(0, s*e*U - pad)`, `last = min(H-1, (s*e + er(s) - 1)*U + R-1 - pad)`;
    `count` is 0 when the strip reads padding only (docs/accelerator.md section 3).

    >>> from qappac.shapes import layer_shapes
    >>> from qappac.ir import Conv, Network, Shape
    >>> net = Network(name="n", input=Shape(c=1, h=9, w=9), layers=(Conv(name="c",
    ...     inputs=("input",), out_channels=1, kernel_h=3, kernel_w=3, stride=2, pad=1),))
    >>> [rows_hull(layer_shapes(net)[0], 2, s) for s in range(3)]
    [(0, 4), (3, 5), (7, 2)]
    """
    er = min(e, layer.E - s * e)
    first = max(0, s * e * layer.U - layer.pad)
    last = min(layer.H - 1, (s * e + er - 1) * layer.U + layer.R - 1 - layer.pad)
    return first, max(0, last - first + 1)


def cols_hull(layer: LayerShape) -> int:
    """Wu: the real input columns `[0, Wu)` the layer reads, `min(W, (F-1)*U + S - pad)`.

    A local column (in a DRAM or GLB tile) is the padded column minus `pad`.
    """
    return max(0, min(layer.W, (layer.F - 1) * layer.U + layer.S - layer.pad))


# --------------------------------------------------------------------------- DRAM layout


def _ifmap_codes(layer: LayerShape, batch: int, ifmap: npt.ArrayLike) -> Array:
    return _reshaped(ifmap, (batch, layer.C, layer.H, layer.W), "ifmap")


def _filter_codes(layer: LayerShape, filt: npt.ArrayLike) -> Array:
    return _reshaped(filt, (layer.M, layer.C // layer.G, layer.R, layer.S), "filt")


def _reshaped(x: npt.ArrayLike, shape: tuple[int, ...], what: str) -> Array:
    arr = np.asarray(x)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{what} has {arr.size} elements, expected {'x'.join(map(str, shape))}")
    return arr.reshape(shape)


def _ifmap_tiles(t: Tiling, ifmap: Array) -> Iterator[Array]:
    """The ifmap DRAM tiles in DRAM order: for g, b, s, ct: [nn][c][row][col]."""
    layer, m = t.layer, t.mapping
    wu, qr = cols_hull(layer), m.q * m.r
    for g in range(layer.G):
        for b in range(t.image_blocks):
            for s in range(m.strips):
                first, count = rows_hull(layer, t.e, s)
                for ct in range(t.channel_tiles):
                    c0 = g * t.Cg + ct * qr
                    yield ifmap[
                        b * m.n : b * m.n + t.nb(b),
                        c0 : c0 + t.ch(ct),
                        first : first + count,
                        :wu,
                    ]


def _filter_tiles(t: Tiling, filt: Array) -> Iterator[Array]:
    """The filter DRAM tiles in DRAM order: for g, blk, ct, ft of blk, fold: [f][c][row][x]."""
    m = t.mapping
    pt, qr = m.p * m.t, m.q * m.r
    for g in range(t.layer.G):
        for blk in range(t.blocks):
            for ct in range(t.channel_tiles):
                for ft in t.tiles_of(blk):
                    f0 = g * t.Mg + ft * pt
                    for fold in range(m.folds):
                        row = fold * t.height
                        yield filt[
                            f0 : f0 + t.f(ft),
                            ct * qr : ct * qr + t.ch(ct),
                            row : row + t.h(fold),
                            :,
                        ]


def _flat(tiles: Iterator[Array]) -> Array:
    parts = [tile.reshape(-1).astype(np.int64) for tile in tiles]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def dram_image(
    layer: LayerShape, mapping: Mapping, batch: int, ifmap: npt.ArrayLike, filt: npt.ArrayLike
) -> tuple[Array, Array]:
    """(ifmap words, filter words): the DRAM regions of docs/accelerator.md section 3.

    ifmap: for g, b, s, ct the tile `[nn < nb][c < ch(ct)][row < rows(s)][col < Wu]`, each
    stored once (every GLB block reads it again); filter: for g, then for (blk, ct, ft of
    blk, fold) the tile `[f < f(ft)][c < ch(ct)][row < h(fold)][x < S]`. Real words only.
    """
    t = tiling(layer, mapping, batch)
    ifmap_words = _flat(_ifmap_tiles(t, _ifmap_codes(layer, batch, ifmap)))
    filter_words = _flat(_filter_tiles(t, _filter_codes(layer, filt)))
    return ifmap_words, filter_words


def ofmap_from_dram(
    layer: LayerShape, mapping: Mapping, batch: int, words: npt.ArrayLike
) -> Array:
    """`ofmap[N][M][E][F]` from the ofmap DRAM region, which holds, for g, b, s, blk, the
    tile `[filter < mb(blk)][nn < nb(b)][row < er(s)][col < F]`."""
    t = tiling(layer, mapping, batch)
    m, E, F = t.mapping, layer.E, layer.F
    flat = np.asarray(words).reshape(-1)
    expected = batch * layer.M * E * F
    if flat.size != expected:
        raise ValueError(f"the ofmap region holds {flat.size} words, expected {expected}")
    out = np.zeros((batch, layer.M, E, F), dtype=flat.dtype)
    at = 0
    for g in range(layer.G):
        for b in range(t.image_blocks):
            for s in range(m.strips):
                for blk in range(t.blocks):
                    nb, er, mb = t.nb(b), t.er(s), t.mb(blk)
                    size = mb * nb * er * F
                    tile = flat[at : at + size].reshape(mb, nb, er, F)
                    at += size
                    f0 = g * t.Mg + blk * m.m
                    out[b * m.n : b * m.n + nb, f0 : f0 + mb, s * t.e : s * t.e + er, :] = (
                        tile.transpose(1, 0, 2, 3)
                    )
    return out


# --------------------------------------------------------------------------- reference


def reference_psums(
    fmt: NumberFormat,
    layer: LayerShape,
    mapping: Mapping,
    batch: int,
    ifmap: npt.ArrayLike,
    filt: npt.ArrayLike,
) -> Array:
    """Accumulator codes `psums[N][M][E][F]`, added in exactly the RTL's order.

    For every output, the passes `for ct: for fold:` each contribute: per real channel set
    `ri` (ascending), per real filter row `i` of the fold, a PE psum `mac`-ed from
    `zero_psum` over channels `cc < q` and taps `x < S` (padding channels beyond Cg are zero
    codes, and their MACs still run); the vertical chain `v = add(acc_i, v)` from the bottom
    real row up; across sets `x = add(x, v)`; and the GLB accumulation `add(old, x)` after
    the first pass (docs/accelerator.md section 2). For integer formats every order gives
    the same codes (wrapping arithmetic); for fp32 only this one does.
    """
    t = tiling(layer, mapping, batch)
    x = _ifmap_codes(layer, batch, ifmap).astype(np.int64)
    w = _filter_codes(layer, filt).astype(np.int64)
    m = t.mapping
    N, E, F, U, S, pad = batch, layer.E, layer.F, layer.U, layer.S, layer.pad
    Cg, Mg, q, r = t.Cg, t.Mg, m.q, m.r
    # Zero codes are +0.0 for fp32 and 0 for the integer formats: padding reads as code 0.
    padded = np.zeros((N, layer.C, layer.H + 2 * pad, layer.W + 2 * pad), dtype=np.int64)
    padded[:, :, pad : pad + layer.H, pad : pad + layer.W] = x
    zero_act = np.zeros((N, 1, E, F), dtype=np.int64)
    zero_w = np.zeros((1, Mg, 1, 1), dtype=np.int64)
    shape = (N, Mg, E, F)

    def pe_psum(g: int, row: int, chunk: int) -> Array:
        """The psum of the PEs at filter row `row` of the channel chunk starting at `chunk`."""
        acc: Array = np.full(shape, fmt.zero_psum(), dtype=np.int64)
        for cc in range(q):
            c = chunk + cc
            for tap in range(S):
                if c < Cg:
                    act = padded[
                        :,
                        g * Cg + c,
                        row : row + (E - 1) * U + 1 : U,
                        tap : tap + (F - 1) * U + 1 : U,
                    ][:, None]
                    weight = w[g * Mg : (g + 1) * Mg, c, row, tap][None, :, None, None]
                else:
                    act, weight = zero_act, zero_w
                acc = fmt.mac(acc, act, weight)
        return acc

    groups: list[Array] = []
    for g in range(layer.G):
        glb: Array | None = None
        for ct in range(t.channel_tiles):
            for fold in range(m.folds):
                across: Array | None = None
                for ri in range(r):
                    chunk = ct * q * r + ri * q
                    if chunk >= Cg:
                        break
                    column: Array | None = None
                    for i in reversed(range(t.h(fold))):
                        own = pe_psum(g, fold * t.height + i, chunk)
                        column = own if column is None else fmt.add(own, column)
                    assert column is not None
                    across = column if across is None else fmt.add(across, column)
                assert across is not None
                glb = across if glb is None else fmt.add(glb, across)
        assert glb is not None
        groups.append(glb)
    return np.concatenate(groups, axis=1)


def reference_ofmap(
    fmt: NumberFormat,
    layer: LayerShape,
    mapping: Mapping,
    batch: int,
    ifmap: npt.ArrayLike,
    filt: npt.ArrayLike,
    shift: int,
    relu: bool,
) -> Array:
    """Activation codes `ofmap[N][M][E][F]`: the reference psums requantized as WRITE_OFMAP
    does (`NumberFormat.requantize`)."""
    psums = reference_psums(fmt, layer, mapping, batch, ifmap, filt)
    return fmt.requantize(psums, shift, relu)


def _signed_acc(fmt: NumberFormat, codes: npt.ArrayLike) -> Array:
    """Two's complement accumulator values (raw: light formats stay scaled by 2^frac)."""
    half = 1 << (fmt.acc_bits - 1)
    arr = np.asarray(codes).astype(object if fmt.acc_bits > 62 else np.int64)
    return ((arr & ((1 << fmt.acc_bits) - 1)) ^ half) - half


def choose_shift(fmt: NumberFormat, psums: npt.ArrayLike) -> int:
    """A requantization shift for these psums: 0 for fp32; for integer formats the smallest
    shift that brings the 99th percentile of |psum| into the activation range.

    >>> from qappac.numerics import format_of
    >>> from qappac.ir import PEType
    >>> f = format_of(PEType(family="int", act_bits=8, weight_bits=8))
    >>> choose_shift(f, [0, 100, -127]), choose_shift(f, [0, 1000, -127])
    (0, 3)
    """
    if fmt.family == "fp":
        return 0
    magnitudes = np.abs(_signed_acc(fmt, psums)).astype(np.float64).reshape(-1)
    if magnitudes.size == 0:
        return 0
    typical = int(np.ceil(np.percentile(magnitudes, PERCENTILE)))
    for shift in range(fmt.acc_bits):
        rounded = (typical + ((1 << shift) >> 1)) >> shift
        if rounded <= fmt.act_max:
            return shift
    return fmt.acc_bits - 1


def random_layer_data(
    fmt: NumberFormat, layer: LayerShape, batch: int, seed: int
) -> tuple[Array, Array]:
    """(ifmap codes `[N][C][H][W]`, filter codes `[M][C/G][R][S]`) of Gaussian data
    quantized to the format, drawn from `numpy.random.default_rng(seed)`.

    Integer activations spread over about a quarter of their range (standard deviation
    `act_max / 4`), so some saturate rarely; integer weights likewise; light weights are
    drawn with standard deviation 1/2 and rounded to the nearest sum of powers of two; fp32
    data is N(0, 1) activations and weights scaled by `1/sqrt(fan-in)`.
    """
    rng = np.random.default_rng(seed)
    Cg = layer.C // layer.G
    acts = rng.standard_normal((batch, layer.C, layer.H, layer.W))
    weights = rng.standard_normal((layer.M, Cg, layer.R, layer.S))
    if fmt.family == "fp":
        weights = weights / np.sqrt(Cg * layer.R * layer.S)
    else:
        acts = acts * (fmt.act_max / 4)
        if fmt.family == "int":
            weights = weights * (((1 << (fmt.weight_bits - 1)) - 1) / 4)
        else:
            weights = weights / 2
    ifmap = fmt.encode_act(fmt.quantize_act(acts)).astype(np.int64)
    filt = fmt.encode_weight(fmt.quantize_weight(weights)).astype(np.int64)
    return ifmap, filt
