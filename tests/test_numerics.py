"""Number formats, checked against hand-worked values and independent references.

The fp32 reference here rounds exact rationals (fractions.Fraction) by hand, so it shares no
code with qappac.numerics; integer and light references use Python integers.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction
from itertools import product

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qappac.ir import PEType
from qappac.numerics import NumberFormat, format_of

FP32 = PEType(family="fp", act_bits=32, weight_bits=32)
INT16 = PEType(family="int", act_bits=16, weight_bits=16)
INT8 = PEType(family="int", act_bits=8, weight_bits=8)
INT86 = PEType(family="int", act_bits=8, weight_bits=6)
LIGHT1 = PEType(family="light", act_bits=8, weight_bits=4, terms=1)
LIGHT2 = PEType(family="light", act_bits=8, weight_bits=8, terms=2)
LIGHT63 = PEType(family="light", act_bits=6, weight_bits=12, terms=3)
INTEGER_PES = [INT16, INT8, INT86, LIGHT1, LIGHT2, LIGHT63]


# --------------------------------------------------------------------------- widths


@pytest.mark.parametrize(
    ("pe", "widths"),
    [
        (FP32, (32, 32, 32, 32)),
        (INT16, (16, 16, 32, 40)),  # product 16+16, 8 guard bits
        (INT8, (8, 8, 16, 24)),
        (INT86, (8, 6, 14, 22)),
        # largest |product| = (-128) * (-1) * 2^6 = 2^13: 14 magnitude bits + sign = 15
        (LIGHT1, (8, 4, 15, 23)),
        # two terms: 2 * 2^13 = 2^14 -> 16 bits
        (LIGHT2, (8, 8, 16, 24)),
        # three terms, 6-bit acts: 3 * 2^5 * 2^6 = 6144 < 2^13 -> 13 + sign = 14
        (LIGHT63, (6, 12, 14, 22)),
    ],
)
def test_widths(pe: PEType, widths: tuple[int, int, int, int]) -> None:
    f = format_of(pe)
    assert (f.act_bits, f.weight_bits, f.product_bits, f.acc_bits) == widths
    assert (f.ifmap_bits, f.filter_bits, f.psum_bits) == (widths[0], widths[1], widths[3])


def test_acc_override() -> None:
    assert format_of(PEType(family="int", act_bits=8, weight_bits=8, acc_bits=32)).acc_bits == 32
    with pytest.raises(ValueError, match="at least"):
        format_of(PEType(family="int", act_bits=8, weight_bits=8, acc_bits=12))
    with pytest.raises(ValueError, match="binary32"):
        format_of(PEType(family="fp", act_bits=32, weight_bits=32, acc_bits=64))


# --------------------------------------------------------------------------- integers


def test_int8_mac_hand_worked() -> None:
    f = format_of(INT8)
    # 127*127 + (-128)*(-128) + (-128)*127 = 16129 + 16384 - 16256 = 16257
    acts = f.encode_act([127, -128, -128])
    weights = f.encode_weight([127, -128, 127])
    assert f.decode_psum(f.reference_mac(0, acts, weights)) == 16257
    # 24-bit accumulator wraps: (2^23 - 1) + 1*1 = 2^23 -> -2^23
    top = f.encode_act([1])
    assert f.decode_psum(f.reference_mac((1 << 23) - 1, top, f.encode_weight([1]))) == -(1 << 23)


def test_codes_are_twos_complement() -> None:
    f = format_of(INT86)
    assert f.encode_act([-1, -128, 127]).tolist() == [0xFF, 0x80, 0x7F]
    assert f.encode_weight([-1, -32, 31]).tolist() == [0x3F, 0x20, 0x1F]
    assert f.decode_weight([0x3F, 0x20]).tolist() == [-1, -32]


def _wrap(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_integer_mac_is_exact_sum_wrapped(data: st.DataObject) -> None:
    pe = data.draw(st.sampled_from(INTEGER_PES))
    f = format_of(pe)
    n = data.draw(st.integers(1, 40))
    acts = data.draw(st.lists(st.integers(f.act_min, f.act_max), min_size=n, max_size=n))
    if pe.family == "int":
        half = 1 << (pe.weight_bits - 1)
        weights = data.draw(st.lists(st.integers(-half, half - 1), min_size=n, max_size=n))
        scaled = [Fraction(w) for w in weights]
    else:
        values = _light_values_by_hand(pe.terms or 1)
        weights = data.draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))
        scaled = [Fraction(w) * 64 for w in weights]
    init = data.draw(st.integers(-(1 << (f.acc_bits - 1)), (1 << (f.acc_bits - 1)) - 1))
    exact = init + sum(a * w for a, w in zip(acts, scaled, strict=True))
    assert exact.denominator == 1  # products are integers in the scaled accumulator
    got = f.reference_mac(init % (1 << f.acc_bits), f.encode_act(acts), f.encode_weight(weights))
    assert _wrap(int(got), f.acc_bits) == _wrap(int(exact), f.acc_bits)


def test_wide_int_accumulator() -> None:
    f = format_of(PEType(family="int", act_bits=32, weight_bits=32))
    # (-2^31)^2 * 3 = 3 * 2^62 fits the 72-bit accumulator
    acts = f.encode_act([-(1 << 31)] * 3)
    assert int(f.decode_psum(f.reference_mac(0, acts, acts))) == 3 << 62


# --------------------------------------------------------------------------- requantize


@pytest.mark.parametrize(
    ("acc", "shift", "relu", "out"),
    [
        (300, 2, False, 75),  # (300 + 2) >> 2 = 75.5 floored: 75 (300/4 = 75 exactly)
        (302, 2, False, 76),  # 302/4 = 75.5 -> half up -> 76
        (-6, 2, False, -1),  # -6/4 = -1.5 -> half up -> -1
        (-7, 1, False, -3),  # -3.5 -> -3
        (-9, 1, False, -4),  # -4.5 -> -4
        (1000, 0, False, 127),  # saturates
        (-1000, 0, False, -128),
        (-5, 0, True, 0),  # ReLU
        (1 << 23 - 1, 23, False, 1),  # 2^22 / 2^23 = 0.5 -> 1
    ],
)
def test_requantize_hand_worked(acc: int, shift: int, relu: bool, out: int) -> None:
    f = format_of(INT8)
    code = f.requantize(acc % (1 << 24), shift, relu)
    assert int(f.decode_act(code)) == out


@settings(max_examples=300, deadline=None)
@given(st.integers(-(1 << 23), (1 << 23) - 1), st.integers(0, 23), st.booleans())
def test_requantize_rounds_half_up(acc: int, shift: int, relu: bool) -> None:
    f = format_of(INT8)
    expected = math.floor(Fraction(acc, 1 << shift) + Fraction(1, 2))
    expected = min(127, max(-128, expected))
    if relu:
        expected = max(0, expected)
    assert int(f.decode_act(f.requantize(acc % (1 << 24), shift, relu))) == expected


def test_requantize_fp_relu() -> None:
    f = format_of(FP32)
    codes = [0xBF800000, 0x3F800000, 0x80000000, 0x7FC00000, 0xFF800000]
    assert f.requantize(codes, 0, True).tolist() == [0, 0x3F800000, 0, 0x7FC00000, 0]
    assert f.requantize(codes, 0, False).tolist() == codes


# --------------------------------------------------------------------------- light


def _light_values_by_hand(terms: int) -> list[float]:
    """Every sum of `terms` terms from {0, ±1, ±1/2, ..., ±1/64}."""
    term = [0.0] + [s * 2.0**-k for k in range(7) for s in (1, -1)]
    return sorted({sum(c) for c in product(term, repeat=terms)})


@pytest.mark.parametrize("pe", [LIGHT1, LIGHT2, LIGHT63])
def test_light_value_set(pe: PEType) -> None:
    f = format_of(pe)
    assert f.weight_values().tolist() == _light_values_by_hand(pe.terms or 1)


def test_light_codes() -> None:
    f = format_of(LIGHT1)
    # sign bit 3, exponent code bits 2..0: value (-1)^s 2^-k, code 7 is zero
    assert f.decode_weight([0b0000, 0b0001, 0b1010, 0b0110, 0b0111, 0b1111]).tolist() == [
        1.0,
        0.5,
        -0.25,
        1 / 64,
        0.0,
        0.0,
    ]
    assert f.encode_weight([0.0, -1.0, 0.125]).tolist() == [0b0111, 0b1000, 0b0011]
    g = format_of(LIGHT2)
    # term 0 in bits 3..0 (+1), term 1 in bits 7..4 (code 0001: +1/2)
    assert g.decode_weight([0x10]).tolist() == [1.5]
    # term 0 = 0011 (+1/8), term 1 = 1001 (-1/2): -3/8
    assert g.decode_weight([0x93]).tolist() == [-0.375]


def test_light_product_is_a_shift() -> None:
    f = format_of(LIGHT1)
    # -128 * (-1) in the 2^6-scaled accumulator: 128 << 6 = 8192
    assert int(f.reference_mac(0, f.encode_act([-128]), [0b1000])) == 8192
    # 100 * 2^-6 = 100 (scaled) ; 100 * 2^-3 = 800
    assert int(f.decode_psum(f.reference_mac(0, f.encode_act([100]), [0b0110])) * 64) == 100
    assert int(f.decode_psum(f.reference_mac(0, f.encode_act([100]), [0b0011])) * 64) == 800


def test_light_quantize() -> None:
    g = format_of(LIGHT2)
    # 0.3 lies between 1/4 + 1/32 = 0.28125 and 1/4 + 1/16 = 0.3125; the latter is nearer
    assert g.quantize_weight([0.3, 5.0, -7.0]).tolist() == [0.3125, 2.0, -2.0]
    f = format_of(LIGHT1)
    # 0.75 is halfway between 0.5 and 1: ties go to the smaller magnitude
    assert f.quantize_weight([0.75, -0.75, 0.004, 0.01]).tolist() == [0.5, -0.5, 0.0, 1 / 64]


@settings(max_examples=200, deadline=None)
@given(st.floats(-3.5, 3.5))
def test_light_quantize_is_nearest(x: float) -> None:
    values = _light_values_by_hand(3)
    q = float(format_of(LIGHT63).quantize_weight(x))
    assert q in values
    assert abs(q - x) == min(abs(v - x) for v in values)


# --------------------------------------------------------------------------- fp32


def _bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _exact(bits: int) -> Fraction | None:
    """The value of a pattern with subnormals read as zero; None for inf/NaN."""
    e, m = (bits >> 23) & 0xFF, bits & 0x7FFFFF
    if e == 0xFF:
        return None
    sign = -1 if bits >> 31 else 1
    if e == 0:
        return Fraction(0)
    return sign * Fraction((1 << 23) | m) * Fraction(2) ** (e - 150)


def _round_ftz(x: Fraction, negative: bool) -> int:
    """Round to 24 bits, ties to even, unbounded exponent; then overflow and flush."""
    sign = 0x80000000 if negative else 0
    if x == 0:
        return sign
    mag = abs(x)
    e = math.floor(math.log2(mag))  # may be off by one for huge fractions: fix below
    while Fraction(2) ** e > mag:
        e -= 1
    while Fraction(2) ** (e + 1) <= mag:
        e += 1
    scaled = mag / Fraction(2) ** (e - 23)  # in [2^23, 2^24)
    whole = math.floor(scaled)
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2 == 1):
        whole += 1
    if whole == 1 << 24:
        whole, e = 1 << 23, e + 1
    if e < -126:
        return sign
    if e > 127:
        return sign | 0x7F800000
    return sign | ((e + 127) << 23) | (whole - (1 << 23))


def _ref_mul(a: int, b: int) -> int:
    x, y = _exact(a), _exact(b)
    negative = bool((a ^ b) >> 31)
    if x is None or y is None:
        nan = [(v >> 23) & 0xFF == 0xFF and v & 0x7FFFFF for v in (a, b)]
        if any(nan) or (x is not None and x == 0) or (y is not None and y == 0):
            return 0x7FC00000
        return (0x80000000 if negative else 0) | 0x7F800000
    return _round_ftz(x * y, negative)


def _ref_add(a: int, b: int) -> int:
    x, y = _exact(a), _exact(b)
    if x is None or y is None:
        specials = [v for v in (a, b) if (v >> 23) & 0xFF == 0xFF]
        if any(v & 0x7FFFFF for v in specials) or len({v >> 31 for v in specials}) > 1:
            return 0x7FC00000
        return specials[0]
    total = x + y
    if total == 0:
        both_negative = a >> 31 and b >> 31
        return 0x80000000 if both_negative and x == 0 and y == 0 else 0
    return _round_ftz(total, total < 0)


@pytest.mark.parametrize(
    ("a", "b", "product"),
    [
        (1.5, 1.5, 0x40100000),  # 2.25
        # (1 + 2^-12)^2 = 1 + 2^-11 + 2^-24: a tie; 1 + 2^-11 has an even mantissa
        (1 + 2**-12, 1 + 2**-12, 0x3F801000),
        # (1 + 2^-23) * 1.5 = 1.5 + 1.5 ulp: tie between odd 1.5+ulp and even 1.5+2ulp
        (1 + 2**-23, 1.5, 0x3FC00002),
        (2.0**-100, 2.0**-30, 0x00000000),  # 2^-130 is tiny: flushed
        (-(2.0**-100), 2.0**-30, 0x80000000),  # to the zero of its sign
        # (4095 * 2^-75) * (4097 * 2^-75) = (2^24 - 1) * 2^-150 = 2^-126 - 2^-150: 24 bits
        # exactly, below 2^-126 -> tiny after rounding -> 0 (gradual underflow would give
        # 2^-126: this is where the policy shows)
        (4095 * 2.0**-75, 4097 * 2.0**-75, 0x00000000),
        # (18631 * 2^-80) * (1801 * 2^-71) = (2^25 - 1) * 2^-151 = 2^-126 - 2^-151: a tie
        # between 2^-126 - 2^-150 (odd) and 2^-126 (even) -> 2^-126, normal
        (18631 * 2.0**-80, 1801 * 2.0**-71, 0x00800000),
        (2.0**127, 2.0, 0x7F800000),  # overflow to inf
        (-(2.0**127), 2.0, 0xFF800000),
        (2.0**64, 2.0**63, 0x7F000000),  # 2^127: largest power, no overflow
    ],
)
def test_fp_mul_hand_worked(a: float, b: float, product: int) -> None:
    f = format_of(FP32)
    assert int(f.mul(f.encode_act(a), f.encode_weight(b))) == product
    assert _ref_mul(_bits(a), _bits(b)) == product  # the test's own reference agrees


INF, NINF, NAN = 0x7F800000, 0xFF800000, 0x7FC00000


@pytest.mark.parametrize(
    ("a", "b", "mul", "add"),
    [
        (INF, 0x00000000, NAN, INF),
        (INF, 0x80000000, NAN, INF),
        (INF, NINF, NINF, NAN),
        (INF, 0x3F800000, INF, INF),
        (NINF, 0xBF800000, INF, NINF),
        (0x7F800001, 0x3F800000, NAN, NAN),  # signalling NaN in, canonical quiet NaN out
        (0xFFFFFFFF, 0x3F800000, NAN, NAN),
        (0x00000001, 0x4F800000, 0x00000000, 0x4F800000),  # subnormal reads as +0
        (0x80400000, 0x3F800000, 0x80000000, 0x3F800000),  # -subnormal reads as -0
        (0x80000000, 0x80000000, 0x00000000, 0x80000000),  # -0 + -0 = -0
        (0x80000000, 0x00000000, 0x80000000, 0x00000000),  # -0 + +0 = +0
        (0x3F800000, 0xBF800000, 0xBF800000, 0x00000000),  # x - x = +0
        (0x00C00000, 0x80800000, 0x80000000, 0x00000000),  # 1.5*2^-126 - 2^-126 = 2^-127: 0
        (0x7F7FFFFF, 0x7F7FFFFF, INF, INF),  # max + max overflows
    ],
)
def test_fp_specials(a: int, b: int, mul: int, add: int) -> None:
    f = format_of(FP32)
    assert int(f.mul(a, b)) == mul
    assert int(f.add(a, b)) == add
    assert (_ref_mul(a, b), _ref_add(a, b)) == (mul, add)


def test_fp_add_ties() -> None:
    f = format_of(FP32)
    one = _bits(1.0)
    # 1 + 2^-24: halfway between 1 and 1 + 2^-23 -> even -> 1
    assert int(f.add(one, _bits(2.0**-24))) == one
    # (1 + 2^-23) + 2^-24: halfway between odd 1+2^-23 and even 1+2^-22 -> up
    assert int(f.add(_bits(1 + 2**-23), _bits(2.0**-24))) == _bits(1 + 2**-22)
    # 1 - 2^-25: 1 - 2^-25 lies halfway between 1 - 2^-24 and 1; even is 1
    assert int(f.add(one, _bits(-(2.0**-25)))) == one


fp_patterns = st.one_of(
    st.integers(0, 0xFFFFFFFF),
    # exponents near the edges where rounding, flushing and overflow happen
    st.builds(
        lambda s, e, m: (s << 31) | (e << 23) | m,
        st.integers(0, 1),
        st.sampled_from(
            [0, 1, 2, 3, 60, 61, 62, 63, 64, 65, 66, 126, 127, 128, 190, 253, 254, 255]
        ),
        st.one_of(st.integers(0, 0x7FFFFF), st.sampled_from([0, 1, 0x7FFFFF, 0x400000])),
    ),
)


@settings(max_examples=2000, deadline=None)
@given(fp_patterns, fp_patterns)
def test_fp_matches_exact_rounding(a: int, b: int) -> None:
    f = format_of(FP32)
    assert int(f.mul(a, b)) == _ref_mul(a, b)
    assert int(f.add(a, b)) == _ref_add(a, b)


def test_fp_matches_numpy_float32_in_normal_range() -> None:
    """Away from the subnormal range numpy float32 arithmetic is the same arithmetic."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(20000).astype(np.float32)
    y = rng.standard_normal(20000).astype(np.float32)
    f = format_of(FP32)
    a, b = x.view(np.uint32).astype(np.int64), y.view(np.uint32).astype(np.int64)
    assert np.array_equal(f.mul(a, b), (x * y).view(np.uint32))
    assert np.array_equal(f.add(a, b), (x + y).view(np.uint32))
    # a MAC is two roundings, not one: compare against float32 ops done in sequence
    acc = np.float32(0)
    for i in range(200):
        acc = np.float32(acc + np.float32(x[i] * y[i]))
    assert int(f.reference_mac(0, a[:200], b[:200])) == int(np.float32(acc).view(np.uint32))


def test_fp_quantize_flushes() -> None:
    f = format_of(FP32)
    assert f.encode_act([1e-40, -1e-40, 1.0]).tolist() == [0, 0x80000000, 0x3F800000]
    assert f.quantize_act([0.1]).tolist() == [np.float32(0.1)]


# --------------------------------------------------------------------------- 1-D primitive


def test_primitive_hand_worked() -> None:
    f = format_of(INT8)
    filt = f.encode_weight([[[1, 2, 3]]])  # P=1, Q=1, S=3
    ifmap = f.encode_act([[1, 1, 1, 1, 1]])  # W=5; stride 2 -> E = (5-3)//2 + 1 = 2
    assert f.decode_psum(f.reference_primitive(filt, ifmap, 2)).tolist() == [[6, 6]]
    psum_in = np.array([[10, (-1) % (1 << 24)]])
    assert f.decode_psum(f.reference_primitive(filt, ifmap, 2, psum_in)).tolist() == [[16, 5]]


def _direct_primitive(
    f: NumberFormat, w: np.ndarray, x: np.ndarray, stride: int, psum_in: np.ndarray | None
) -> np.ndarray:
    """Output-by-output loops with the test's own fp32 reference."""
    n_p, n_q, n_s = w.shape
    cols = (x.shape[1] - n_s) // stride + 1
    out = np.zeros((n_p, cols), dtype=np.int64)
    for p in range(n_p):
        for e in range(cols):
            acc = 0
            for q in range(n_q):
                for s in range(n_s):
                    acc = _ref_add(acc, _ref_mul(int(x[q, e * stride + s]), int(w[p, q, s])))
            if psum_in is not None:
                acc = _ref_add(int(psum_in[p, e]), acc)
            out[p, e] = acc
    return out


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_fp_primitive_order(data: st.DataObject) -> None:
    f = format_of(FP32)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n_p, n_q, n_s = (data.draw(st.integers(1, 3)) for _ in range(3))
    stride = data.draw(st.integers(1, 3))
    width = n_s + data.draw(st.integers(0, 6))
    w = f.encode_weight(rng.standard_normal((n_p, n_q, n_s)) * 1e3)
    x = f.encode_act(rng.standard_normal((n_q, width)) * 1e-3)
    cols = (width - n_s) // stride + 1
    psum_in = f.encode_act(rng.standard_normal((n_p, cols))) if data.draw(st.booleans()) else None
    got = f.reference_primitive(w, x, stride, psum_in)
    assert np.array_equal(got, _direct_primitive(f, w, x, stride, psum_in))


@pytest.mark.parametrize("pe", INTEGER_PES)
def test_integer_primitive_is_a_correlation(pe: PEType) -> None:
    f = format_of(pe)
    rng = np.random.default_rng(7)
    n_p, n_q, n_s, stride, width = 3, 2, 4, 2, 11
    acts = rng.integers(f.act_min, f.act_max + 1, size=(n_q, width))
    weights = rng.choice(f.weight_values(), size=(n_p, n_q, n_s))
    scale = 1 << f.frac_bits
    got = f.decode_psum(f.reference_primitive(f.encode_weight(weights), f.encode_act(acts), 2))
    for p in range(n_p):
        for e in range((width - n_s) // stride + 1):
            window = acts[:, e * stride : e * stride + n_s]
            expected = int(round(float(np.sum(window * weights[p])) * scale))
            assert round(float(got[p, e]) * scale) == expected


def test_integer_quantize() -> None:
    f = format_of(INT86)
    # ties to even (2.5 -> 2, 3.5 -> 4), saturation at the 8-bit and 6-bit limits
    assert f.quantize([2.5, 3.5, -2.5, 127.6, -300.0]).tolist() == [2, 4, -2, 127, -128]
    assert f.quantize([31.4, -32.6, 40.0, -0.4], "weight").tolist() == [31, -32, 31, 0]


def test_encode_rejects_unrepresentable() -> None:
    f = format_of(INT86)
    with pytest.raises(ValueError, match="-128..127"):
        f.encode_act([128])
    with pytest.raises(ValueError, match="-32..31"):
        f.encode_weight([-33])
    with pytest.raises(ValueError, match="not a lightpe1 weight"):
        format_of(LIGHT1).encode_weight([0.3])
