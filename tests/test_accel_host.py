"""The accelerator's host side (`qappac.accel_host`), against independent derivations.

The reference psums are compared with a plain numpy convolution (exact integer sums wrapped
to the accumulator; float64 for fp32), the DRAM layouts with element-by-element loops written
straight from docs/accelerator.md section 3, and the fp32 summation order with hand-worked
roundings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from qappac.accel_host import (
    choose_shift,
    cols_hull,
    dram_image,
    ofmap_from_dram,
    random_layer_data,
    reference_ofmap,
    reference_psums,
    rows_hull,
    tiling,
)
from qappac.dataflow.geometry import ceil_div, folds_of
from qappac.dataflow.model import Mapping
from qappac.ir import FC, Conv, Network, PEType, Shape
from qappac.numerics import NumberFormat, format_of
from qappac.shapes import LayerShape, layer_shapes

FORMATS = {
    "int8": format_of(PEType(family="int", act_bits=8, weight_bits=8)),
    "int16": format_of(PEType(family="int", act_bits=16, weight_bits=16)),
    "int(8,6)": format_of(PEType(family="int", act_bits=8, weight_bits=6)),
    "lightpe1": format_of(PEType(family="light", act_bits=8, weight_bits=4, terms=1)),
    "lightpe2": format_of(PEType(family="light", act_bits=8, weight_bits=8, terms=2)),
}
FP32 = format_of(PEType(family="fp", act_bits=32, weight_bits=32))


def conv(
    c: int,
    h: int,
    w: int,
    m: int,
    k: int | tuple[int, int],
    stride: int = 1,
    pad: int = 0,
    groups: int | str = 1,
) -> LayerShape:
    kh, kw = (k, k) if isinstance(k, int) else k
    net = Network(
        name="n",
        input=Shape(c=c, h=h, w=w),
        layers=(
            Conv(
                name="layer",
                inputs=("input",),
                out_channels=m,
                kernel_h=kh,
                kernel_w=kw,
                stride=stride,
                pad=pad,
                groups=groups,  # type: ignore[arg-type]
            ),
        ),
    )
    return layer_shapes(net)[0]


def fc(c: int, h: int, out: int) -> LayerShape:
    net = Network(
        name="n",
        input=Shape(c=c, h=h, w=h),
        layers=(FC(name="layer", inputs=("input",), out_features=out),),
    )
    return layer_shapes(net)[0]


def mapping(
    layer: LayerShape, rows: int, e: int, n: int, p: int, q: int, r: int, t: int, k: int
) -> Mapping:
    """A mapping on an array of `rows` rows (folds as the model folds); k filter tiles per
    GLB block."""
    folds, height = folds_of(layer.R, rows)
    return Mapping(
        set_rows=height,
        set_cols=e,
        folds=folds,
        strips=ceil_div(layer.E, e),
        n=n,
        p=p,
        q=q,
        r=r,
        t=t,
        m=k * p * t,
        array_passes=0,
        glb_passes=0,
    )


@dataclass(frozen=True)
class Case:
    name: str
    layer: LayerShape
    batch: int
    rows: int
    e: int
    n: int
    p: int
    q: int
    r: int
    t: int
    k: int

    @property
    def mapping(self) -> Mapping:
        return mapping(
            self.layer, self.rows, self.e, self.n, self.p, self.q, self.r, self.t, self.k
        )


L3 = conv(4, 6, 7, 5, 3, pad=1)  # Cg=4, Mg=5, E=6, F=7
CASES = [
    # E=6 over e=4, Mg=5 over p*t=4, Cg=4 over q*r=3: a remainder in every dimension; 2 blocks
    Case("3x3_p1_remainders", L3, 3, 3, 4, 2, 2, 3, 1, 2, 1),
    # q=1, r=3: the last channel tile has one real channel set of three
    Case("3x3_p1_sets", L3, 3, 3, 3, 3, 3, 1, 3, 1, 2),
    # q=3, r=2: the second set holds channel 3 and two padding channels
    Case("3x3_p1_padding_channels", L3, 2, 3, 6, 1, 1, 3, 2, 2, 2),
    Case("3x3_s2", conv(3, 9, 8, 4, 3, stride=2, pad=1), 1, 3, 2, 1, 1, 2, 1, 2, 1),
    Case("1x1", conv(6, 5, 5, 7, 1), 2, 1, 3, 2, 3, 4, 2, 1, 2),
    Case("1x1_s2", conv(4, 7, 7, 3, 1, stride=2), 1, 1, 3, 1, 2, 3, 1, 1, 1),
    Case("grouped", conv(4, 5, 6, 6, 3, pad=1, groups=2), 1, 3, 2, 1, 2, 1, 2, 1, 1),
    Case("depthwise", conv(3, 5, 5, 3, 3, pad=1, groups="depthwise"), 2, 3, 2, 1, 1, 1, 1, 1, 1),
    # C=24 over q*r=10, M=10 over p=4: 3 filter tiles in blocks of 2; batch 3 over n=2
    Case("fc", fc(6, 2, 10), 3, 1, 1, 2, 4, 5, 2, 1, 2),
    # R=3 on 2 rows: 2 folds of height 2 (the second has 1 real row)
    Case("folds", conv(3, 5, 6, 2, 3), 2, 2, 3, 2, 2, 2, 1, 1, 1),
    # R=5 on 3 rows: folds of 3 and 2 rows, with padding 2 (strips read padding rows)
    Case("folds_pad2", conv(2, 7, 6, 3, (5, 3), pad=2), 3, 3, 4, 2, 2, 1, 2, 1, 1),
]
CASE_IDS = [c.name for c in CASES]


# --------------------------------------------------------------------------- references


def exact_conv(layer: LayerShape, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """`out[n][m][e][f] = sum over c, i, j of x[n][g*Cg + c][e*U + i][f*U + j] * w[m][c][i][j]`
    over the zero-padded input, in whatever dtype the inputs have."""
    N = x.shape[0]
    G, U, pad, E, F = layer.G, layer.U, layer.pad, layer.E, layer.F
    Cg, Mg = layer.C // G, layer.M // G
    xp = np.zeros((N, layer.C, layer.H + 2 * pad, layer.W + 2 * pad), dtype=x.dtype)
    xp[:, :, pad : pad + layer.H, pad : pad + layer.W] = x.reshape(N, layer.C, layer.H, layer.W)
    out = np.zeros((N, layer.M, E, F), dtype=np.result_type(x, w))
    for g in range(G):
        xs = xp[:, g * Cg : (g + 1) * Cg]
        ws = w[g * Mg : (g + 1) * Mg]
        for i in range(layer.R):
            for j in range(layer.S):
                window = xs[:, :, i : i + (E - 1) * U + 1 : U, j : j + (F - 1) * U + 1 : U]
                out[:, g * Mg : (g + 1) * Mg] += np.einsum("ncef,mc->nmef", window, ws[:, :, i, j])
    return out


def integer_weights(fmt: NumberFormat, filt: np.ndarray) -> np.ndarray:
    """Weights as the integers the accumulator adds (light: scaled by 2^frac_bits)."""
    values = fmt.decode_weight(filt)
    if fmt.family == "light":
        return np.rint(values * (1 << fmt.frac_bits)).astype(np.int64)
    return values.astype(np.int64)


def wrapped(fmt: NumberFormat, sums: np.ndarray) -> np.ndarray:
    """Two's complement `acc_bits` patterns of exact integer sums."""
    return sums & ((1 << fmt.acc_bits) - 1)


def strip_rows_read(layer: LayerShape, e: int, s: int) -> list[int]:
    """The real input rows strip s reads (every output row of the strip, every filter row)."""
    rows = {
        o * layer.U + i - layer.pad
        for o in range(s * e, min(layer.E, (s + 1) * e))
        for i in range(layer.R)
    }
    return sorted(row for row in rows if 0 <= row < layer.H)


def columns_read(layer: LayerShape) -> list[int]:
    cols = {f * layer.U + j - layer.pad for f in range(layer.F) for j in range(layer.S)}
    return sorted(col for col in cols if 0 <= col < layer.W)


def ifmap_layout(case: Case, ifmap: np.ndarray) -> list[int]:
    """The ifmap DRAM words, one by one, as docs/accelerator.md section 3 lists them."""
    layer, m, N = case.layer, case.mapping, case.batch
    Cg, qr = layer.C // layer.G, m.q * m.r
    wu = columns_read(layer)[-1] + 1
    words: list[int] = []
    for g in range(layer.G):
        for b in range(ceil_div(N, m.n)):
            for s in range(m.strips):
                rows = strip_rows_read(layer, m.set_cols, s)
                hull = range(rows[0], rows[-1] + 1) if rows else range(0)
                for ct in range(ceil_div(Cg, qr)):
                    for nn in range(min(m.n, N - b * m.n)):
                        for c in range(min(qr, Cg - ct * qr)):
                            for row in hull:
                                for col in range(wu):
                                    words.append(
                                        int(ifmap[b * m.n + nn, g * Cg + ct * qr + c, row, col])
                                    )
    return words


def filter_layout(case: Case, filt: np.ndarray) -> list[int]:
    """The filter DRAM words, one by one, as docs/accelerator.md section 3 lists them."""
    layer, m = case.layer, case.mapping
    Cg, Mg = layer.C // layer.G, layer.M // layer.G
    pt, qr, height = m.p * m.t, m.q * m.r, m.set_rows
    tiles = ceil_div(Mg, pt)
    k = m.m // pt
    words: list[int] = []
    for g in range(layer.G):
        for blk in range(ceil_div(tiles, k)):
            for ct in range(ceil_div(Cg, qr)):
                for ft in range(blk * k, min(tiles, (blk + 1) * k)):
                    for fold in range(m.folds):
                        for f in range(min(pt, Mg - ft * pt)):
                            for c in range(min(qr, Cg - ct * qr)):
                                for i in range(min(height, layer.R - fold * height)):
                                    for x in range(layer.S):
                                        words.append(
                                            int(
                                                filt[
                                                    g * Mg + ft * pt + f,
                                                    ct * qr + c,
                                                    fold * height + i,
                                                    x,
                                                ]
                                            )
                                        )
    return words


def ofmap_layout(case: Case, ofmap: np.ndarray) -> list[int]:
    """The ofmap DRAM words, one by one: for g, b, s, blk: [filter][nn][row][col]."""
    layer, m, N = case.layer, case.mapping, case.batch
    Mg, e = layer.M // layer.G, m.set_cols
    words: list[int] = []
    for g in range(layer.G):
        for b in range(ceil_div(N, m.n)):
            for s in range(m.strips):
                for blk in range(ceil_div(Mg, m.m)):
                    for f in range(blk * m.m, min(Mg, (blk + 1) * m.m)):
                        for nn in range(min(m.n, N - b * m.n)):
                            for row in range(s * e, min(layer.E, (s + 1) * e)):
                                for col in range(layer.F):
                                    words.append(int(ofmap[b * m.n + nn, g * Mg + f, row, col]))
    return words


# --------------------------------------------------------------------------- psums


@pytest.mark.parametrize("pe", list(FORMATS))
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_reference_psums_equal_a_plain_convolution(pe: str, case: Case) -> None:
    fmt = FORMATS[pe]
    ifmap, filt = random_layer_data(fmt, case.layer, case.batch, seed=3)
    psums = reference_psums(fmt, case.layer, case.mapping, case.batch, ifmap, filt)
    acts = fmt.decode_act(ifmap).astype(np.int64)
    expected = wrapped(fmt, exact_conv(case.layer, acts, integer_weights(fmt, filt)))
    assert psums.shape == expected.shape
    np.testing.assert_array_equal(psums, expected)


def test_integer_accumulators_wrap() -> None:
    # int8 acc is 24 bits: 9 products of (-128)*(-128) = 16384 in a 1x1 conv over 2^10
    # channels sum to 2^24, which wraps to 0.
    fmt = FORMATS["int8"]
    layer = conv(1024, 1, 1, 1, 1)
    ifmap = fmt.encode_act(np.full((1, 1024, 1, 1), -128))
    filt = fmt.encode_weight(np.full((1, 1024, 1, 1), -128))
    m = mapping(layer, 1, 1, 1, 1, 16, 4, 1, 1)
    assert reference_psums(fmt, layer, m, 1, ifmap, filt).tolist() == [[[[0]]]]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_fp32_psums_are_close_to_float64(case: Case) -> None:
    ifmap, filt = random_layer_data(FP32, case.layer, case.batch, seed=5)
    psums = reference_psums(FP32, case.layer, case.mapping, case.batch, ifmap, filt)
    x = FP32.decode_act(ifmap).astype(np.float64)
    w = FP32.decode_weight(filt).astype(np.float64)
    exact = exact_conv(case.layer, x, w)
    scale = exact_conv(case.layer, np.abs(x), np.abs(w))
    got = FP32.decode_psum(psums).astype(np.float64)
    terms = (case.layer.C // case.layer.G) * case.layer.R * case.layer.S
    assert np.all(np.abs(got - exact) <= 2 * terms * 2.0**-24 * scale)


def test_fp32_order_is_the_rtl_order() -> None:
    # One output, three filter rows of one tap, every activation 1.0; the products of the
    # rows are 2^24, 1 and 1. One fold of 3 rows: the column adds from the bottom,
    # 2^24 + (1 + 1) = 2^24 + 2 exactly. Three folds of 1 row: the GLB adds pass by pass,
    # (2^24 + 1) + 1, and 2^24 + 1 is a tie that rounds to the even 2^24, twice.
    layer = conv(1, 3, 1, 1, (3, 1))
    ifmap = FP32.encode_act(np.ones((1, 1, 3, 1)))
    filt = FP32.encode_weight(np.array([2.0**24, 1.0, 1.0]).reshape(1, 1, 3, 1))
    one_fold = mapping(layer, 3, 1, 1, 1, 1, 1, 1, 1)
    three_folds = mapping(layer, 1, 1, 1, 1, 1, 1, 1, 1)
    assert (one_fold.folds, three_folds.folds) == (1, 3)
    column = reference_psums(FP32, layer, one_fold, 1, ifmap, filt)
    passes = reference_psums(FP32, layer, three_folds, 1, ifmap, filt)
    assert FP32.decode_psum(column).item() == 2.0**24 + 2
    assert FP32.decode_psum(passes).item() == 2.0**24


def test_fp32_channels_add_in_ascending_order() -> None:
    # Channels 0, 1, 2 of a 1x1 conv give products 2^24, 1, 1. Whether the channels meet in
    # one PE (q), across sets (r) or in the GLB (channel tiles), they are added in ascending
    # order: (2^24 + 1) + 1 = 2^24 (each + 1 is a tie rounding to the even 2^24); the
    # descending order would give 2^24 + 2.
    layer = conv(3, 1, 1, 1, 1)
    ifmap = FP32.encode_act(np.ones((1, 3, 1, 1)))
    filt = FP32.encode_weight(np.array([2.0**24, 1.0, 1.0]).reshape(1, 3, 1, 1))
    for q, r in ((1, 3), (3, 1), (1, 1), (2, 1), (1, 2), (2, 2)):
        m = mapping(layer, 1, 1, 1, 1, q, r, 1, 1)
        psum = reference_psums(FP32, layer, m, 1, ifmap, filt)
        assert FP32.decode_psum(psum).item() == 2.0**24, (q, r)


def test_reference_ofmap_requantizes() -> None:
    case = CASES[0]
    fmt = FORMATS["int8"]
    ifmap, filt = random_layer_data(fmt, case.layer, case.batch, seed=1)
    psums = reference_psums(fmt, case.layer, case.mapping, case.batch, ifmap, filt)
    shift = choose_shift(fmt, psums)
    out = reference_ofmap(fmt, case.layer, case.mapping, case.batch, ifmap, filt, shift, True)
    np.testing.assert_array_equal(out, fmt.requantize(psums, shift, True))


# --------------------------------------------------------------------------- data and shift


@pytest.mark.parametrize("pe", list(FORMATS))
def test_choose_shift_keeps_typical_outputs_in_range(pe: str) -> None:
    fmt = FORMATS[pe]
    case = CASES[0]
    ifmap, filt = random_layer_data(fmt, case.layer, case.batch, seed=2)
    psums = reference_psums(fmt, case.layer, case.mapping, case.batch, ifmap, filt)
    shift = choose_shift(fmt, psums)
    values = fmt.decode_act(fmt.requantize(psums, shift, False))
    saturated = np.mean((values == fmt.act_max) | (values == fmt.act_min))
    assert saturated <= 0.02
    if shift > 0:  # one bit less would saturate more than the typical output
        smaller = fmt.decode_act(fmt.requantize(psums, shift - 1, False))
        assert np.mean((smaller == fmt.act_max) | (smaller == fmt.act_min)) > 0.005
        assert np.abs(values).max() > fmt.act_max // 4  # the range is used


def test_choose_shift_is_zero_for_fp32() -> None:
    assert choose_shift(FP32, FP32.encode_act([1e6, -3.0])) == 0


@pytest.mark.parametrize("pe", [*FORMATS, "fp32"])
def test_random_layer_data_is_quantized_and_reproducible(pe: str) -> None:
    fmt = FP32 if pe == "fp32" else FORMATS[pe]
    layer = conv(4, 5, 6, 6, 3, pad=1, groups=2)
    ifmap, filt = random_layer_data(fmt, layer, 2, seed=9)
    assert ifmap.shape == (2, 4, 5, 6) and filt.shape == (6, 2, 3, 3)
    assert ifmap.dtype == np.int64 and filt.dtype == np.int64
    assert ifmap.min() >= 0 and ifmap.max() < 1 << fmt.ifmap_bits
    assert filt.min() >= 0 and filt.max() < 1 << fmt.filter_bits
    # codes round-trip through the format's values
    np.testing.assert_array_equal(fmt.encode_act(fmt.decode_act(ifmap)), ifmap)
    np.testing.assert_array_equal(fmt.encode_weight(fmt.decode_weight(filt)), filt)
    assert len(np.unique(ifmap)) > 10 and len(np.unique(filt)) > 3
    again = random_layer_data(fmt, layer, 2, seed=9)
    np.testing.assert_array_equal(again[0], ifmap)
    np.testing.assert_array_equal(again[1], filt)


# --------------------------------------------------------------------------- DRAM layouts


def unique_codes(case: Case) -> tuple[np.ndarray, np.ndarray]:
    layer, N = case.layer, case.batch
    ifmap = np.arange(N * layer.C * layer.H * layer.W, dtype=np.int64)
    filt = np.arange(layer.weights, dtype=np.int64) + 1_000_000
    return (
        ifmap.reshape(N, layer.C, layer.H, layer.W),
        filt.reshape(layer.M, layer.C // layer.G, layer.R, layer.S),
    )


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_dram_image_matches_the_documented_layout(case: Case) -> None:
    ifmap, filt = unique_codes(case)
    ifmap_words, filter_words = dram_image(case.layer, case.mapping, case.batch, ifmap, filt)
    assert ifmap_words.dtype == np.int64 and filter_words.dtype == np.int64
    assert ifmap_words.tolist() == ifmap_layout(case, ifmap)
    assert filter_words.tolist() == filter_layout(case, filt)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_ifmap_words_appear_once_per_strip_that_loads_them(case: Case) -> None:
    layer, m = case.layer, case.mapping
    ifmap, filt = unique_codes(case)
    words, _ = dram_image(layer, m, case.batch, ifmap, filt)
    counts = np.bincount(words, minlength=ifmap.size).reshape(ifmap.shape)
    wu = columns_read(layer)[-1] + 1
    for row in range(layer.H):
        strips = 0
        for s in range(m.strips):
            rows = strip_rows_read(layer, m.set_cols, s)
            strips += bool(rows) and rows[0] <= row <= rows[-1]
        assert np.all(counts[:, :, row, :wu] == strips)
        assert np.all(counts[:, :, row, wu:] == 0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_filter_words_hold_every_weight_once(case: Case) -> None:
    ifmap, filt = unique_codes(case)
    _, words = dram_image(case.layer, case.mapping, case.batch, ifmap, filt)
    assert sorted(words.tolist()) == sorted(filt.reshape(-1).tolist())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_ofmap_from_dram_inverts_the_layout(case: Case) -> None:
    layer, N = case.layer, case.batch
    codes = np.arange(N * layer.M * layer.E * layer.F, dtype=np.int64) * 7 + 3
    ofmap = codes.reshape(N, layer.M, layer.E, layer.F)
    words = np.array(ofmap_layout(case, ofmap), dtype=np.int64)
    got = ofmap_from_dram(layer, case.mapping, N, words)
    np.testing.assert_array_equal(got, ofmap)
    with pytest.raises(ValueError, match="ofmap region"):
        ofmap_from_dram(layer, case.mapping, N, words[:-1])


def test_hulls_by_hand() -> None:
    # 3x3 stride 2 pad 1 on 9 rows: E = 5. Strips of e = 2 read padded rows 0..4, 4..8,
    # 8..10, i.e. real rows 0..3 (padded row 0 is padding), 3..7, 7..8 (rows 9, 10 pad).
    layer = conv(1, 9, 8, 1, 3, stride=2, pad=1)
    assert [rows_hull(layer, 2, s) for s in range(3)] == [(0, 4), (3, 5), (7, 2)]
    # F = 4: padded columns 0..8 of 10, real columns 0..7: all 8
    assert cols_hull(layer) == 8
    # 1x1 stride 2 on 7 columns: F = 4 reads columns 0, 2, 4, 6; the hull is 0..6
    layer = conv(1, 7, 7, 1, 1, stride=2)
    assert cols_hull(layer) == 7 and rows_hull(layer, 3, 1) == (6, 1)


def test_fc_accepts_the_flat_input() -> None:
    case = next(c for c in CASES if c.name == "fc")
    fmt = FORMATS["int8"]
    ifmap, filt = random_layer_data(fmt, case.layer, case.batch, seed=4)
    flat = ifmap.reshape(case.batch, 6, 2, 2)  # the network's c x h x w input
    a = reference_psums(fmt, case.layer, case.mapping, case.batch, flat, filt)
    b = reference_psums(fmt, case.layer, case.mapping, case.batch, ifmap, filt)
    np.testing.assert_array_equal(a, b)


def test_inconsistent_mappings_are_rejected() -> None:
    good = CASES[0].mapping
    layer = CASES[0].layer
    t = tiling(layer, good, 3)
    assert (t.filter_tiles, t.blocks, t.channel_tiles, t.image_blocks) == (2, 2, 2, 2)
    assert [t.er(s) for s in range(good.strips)] == [4, 2]
    assert [t.f(ft) for ft in range(2)] == [4, 1] and [t.ch(ct) for ct in range(2)] == [3, 1]
    with pytest.raises(ValueError, match="filter tiles"):
        tiling(layer, replace(good, m=6), 3)
    with pytest.raises(ValueError, match="strips"):
        tiling(layer, replace(good, strips=1), 3)
    with pytest.raises(ValueError, match="elements"):
        dram_image(layer, good, 3, np.zeros(5, dtype=np.int64), np.zeros(5, dtype=np.int64))
