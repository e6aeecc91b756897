"""Number formats: the single source of truth for quantization and bit widths.

Every PE type of the IR maps to one `NumberFormat`. The format fixes the widths the RTL,
the storage sizes and the energy model read (activation, weight, product, accumulator), how
real values are quantized and encoded into the bit patterns that travel on the PE's wires,
and a numpy reference that reproduces the PE's arithmetic bit for bit, in the order the RTL
performs it. The policies are described in docs/numerics.md; in short:

* ``fp``: IEEE-754 binary32. Multiply and add are separate operations, each rounded to
  nearest, ties to even (not a fused multiply-add). Subnormal inputs read as signed zero
  (DAZ); a result that is tiny *after rounding* (IEEE 754-2008 7.5: rounded to 24 bits with
  an unbounded exponent, its magnitude is below 2^-126) is flushed to signed zero (FTZ).
  Every NaN result is the canonical quiet NaN 0x7FC00000; infinities follow IEEE 754.
* ``int``: two's complement activations and weights; products are exact in
  ``act_bits + weight_bits``; the accumulator has ``product_bits + 8`` bits unless
  overridden, and wraps (modular arithmetic, so the order of accumulation never matters).
* ``light``: two's complement activations times weights that are sums of ``terms``
  signed powers of two, ``±2^-k`` with ``k`` in 0..6 (LightNN, Ding et al., 2018). Each term
  is 4 bits: sign, then a 3-bit exponent code ``k``; code 7 is a zero term. The accumulator
  holds values scaled by 2^6, so the product of one term is the exact integer
  ``±act << (6 - k)``: shifts and adds, no multiplier.

Bit patterns ("codes") are non-negative Python/numpy integers: the unsigned value of the
wire. Integer reference arithmetic runs on int64 arrays when every width fits in 62 bits and
on object arrays of Python integers otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from qappac.ir import PEType

Family = Literal["fp", "int", "light"]
Array = npt.NDArray[Any]

INT_GUARD_BITS = 8
"""Accumulator bits above the product: 2^8 worst-case products sum without wrapping."""

LIGHT_TERM_BITS = 4
"""Bits of one power-of-two weight term: 1 sign bit and 3 exponent-code bits."""

LIGHT_EXP_BITS = 3
LIGHT_ZERO_CODE = 7
"""The exponent code that encodes a zero term (whatever its sign bit)."""

LIGHT_FRAC_BITS = 6
"""The accumulator of a light PE holds values scaled by 2^6: the largest k is 6."""

FP_EXP_BITS = 8
FP_MAN_BITS = 23
FP_QNAN = 0x7FC00000
"""The canonical quiet NaN every NaN-producing fp32 operation returns."""

_WIDE = 62
"""Integer widths up to this many bits are computed in int64 without overflow."""


@dataclass(frozen=True)
class NumberFormat:
    """Widths and arithmetic of one PE type; build it with `format_of`.

    Invariants: ``product_bits`` holds every exact product; ``acc_bits >= product_bits``.
    For ``light`` formats, products and accumulators are scaled by ``2**frac_bits``.
    """

    name: str
    act_bits: int
    weight_bits: int
    product_bits: int
    acc_bits: int
    family: Family = "int"
    terms: int = 0
    frac_bits: int = 0
    exp_bits: int = 0
    man_bits: int = 0

    # ------------------------------------------------------------------ widths

    @property
    def ifmap_bits(self) -> int:
        return self.act_bits

    @property
    def filter_bits(self) -> int:
        return self.weight_bits

    @property
    def psum_bits(self) -> int:
        return self.acc_bits

    @property
    def act_min(self) -> int:
        """The smallest activation value (integer formats)."""
        return -(1 << (self.act_bits - 1))

    @property
    def act_max(self) -> int:
        """The largest activation value (integer formats)."""
        return (1 << (self.act_bits - 1)) - 1

    @property
    def _dtype(self) -> type | np.dtype[Any]:
        wide = max(self.acc_bits, self.product_bits) + 1
        return np.int64 if wide <= _WIDE else object

    # ------------------------------------------------------------------ encode / decode

    def encode_act(self, values: npt.ArrayLike) -> Array:
        """Bit patterns of activations (values must be representable)."""
        if self.family == "fp":
            return _f32_bits(values)
        return _pattern(_checked(self._ints(values), self.act_bits, "activation"), self.act_bits)

    def decode_act(self, codes: npt.ArrayLike) -> Array:
        """Activation values (float32 for fp, integers otherwise) of bit patterns."""
        if self.family == "fp":
            return _bits_f32(codes)
        return _signed(self._ints(codes), self.act_bits)

    def encode_weight(self, values: npt.ArrayLike) -> Array:
        """Bit patterns of weights (values must be representable)."""
        if self.family == "fp":
            return _f32_bits(values)
        if self.family == "int":
            ints = _checked(self._ints(values), self.weight_bits, "weight")
            return _pattern(ints, self.weight_bits)
        table = self._light_encoding
        flat = np.asarray(values, dtype=np.float64).ravel()
        out = np.empty(flat.shape, dtype=np.int64)
        for i, v in enumerate(flat):
            if float(v) not in table:
                raise ValueError(f"{v} is not a {self.name} weight")
            out[i] = table[float(v)]
        return out.reshape(np.shape(values))

    def decode_weight(self, codes: npt.ArrayLike) -> Array:
        """Weight values of bit patterns (float32 for fp, int for int, float for light)."""
        if self.family == "fp":
            return _bits_f32(codes)
        if self.family == "int":
            return _signed(self._ints(codes), self.weight_bits)
        return self._light_scaled(codes).astype(np.float64) / (1 << self.frac_bits)

    def decode_psum(self, codes: npt.ArrayLike) -> Array:
        """Psum values: float32 for fp, else the real value (accumulator / 2^frac_bits)."""
        if self.family == "fp":
            return _bits_f32(codes)
        raw = _signed(self._ints(codes), self.acc_bits)
        if self.family == "int":
            return raw
        return raw.astype(np.float64) / (1 << self.frac_bits)

    # ------------------------------------------------------------------ quantize

    def quantize(self, x: npt.ArrayLike, tensor: Literal["act", "weight"] = "act") -> Array:
        """The nearest representable activation (or weight) to each value.

        >>> f = format_of(PEType(family="light", act_bits=8, weight_bits=4, terms=1))
        >>> f.quantize([200.7, -3.5]).tolist(), f.quantize([0.3, -0.7], "weight").tolist()
        ([127, -4], [0.25, -0.5])
        """
        return self.quantize_weight(x) if tensor == "weight" else self.quantize_act(x)

    def quantize_act(self, x: npt.ArrayLike) -> Array:
        """The nearest representable activation to each value (ties to even, saturating)."""
        if self.family == "fp":
            return _bits_f32(_f32_bits(x))
        clipped = np.clip(np.rint(np.asarray(x, dtype=np.float64)), self.act_min, self.act_max)
        return clipped.astype(np.int64)

    def quantize_weight(self, x: npt.ArrayLike) -> Array:
        """The nearest representable weight; light ties go to the smaller magnitude."""
        if self.family == "fp":
            return _bits_f32(_f32_bits(x))
        arr = np.asarray(x, dtype=np.float64)
        if self.family == "int":
            lo, hi = -(1 << (self.weight_bits - 1)), (1 << (self.weight_bits - 1)) - 1
            return np.clip(np.rint(arr), lo, hi).astype(np.int64)
        return _nearest(self._light_values, arr)

    def weight_values(self) -> Array:
        """Every representable weight value, ascending (integer and light formats)."""
        if self.family == "fp":
            raise ValueError("fp32 weights are not enumerable")
        if self.family == "int":
            return np.arange(-(1 << (self.weight_bits - 1)), 1 << (self.weight_bits - 1))
        return self._light_values

    @cached_property
    def _light_encoding(self) -> dict[float, int]:
        """Value -> canonical code: the smallest code with that value."""
        codes = np.arange(1 << self.weight_bits, dtype=np.int64)
        values = self.decode_weight(codes)
        table: dict[float, int] = {}
        for code, value in zip(codes.tolist(), values.tolist(), strict=True):
            table.setdefault(float(value), int(code))
        return table

    @cached_property
    def _light_values(self) -> Array:
        return np.array(sorted(self._light_encoding), dtype=np.float64)

    def _light_scaled(self, codes: npt.ArrayLike) -> Array:
        """Weights times 2^frac_bits, as exact integers: the sum of the terms' shifts."""
        c = np.asarray(codes, dtype=np.int64)
        total = np.zeros(c.shape, dtype=np.int64)
        for t in range(self.terms):
            term = (c >> (LIGHT_TERM_BITS * t)) & ((1 << LIGHT_TERM_BITS) - 1)
            exp = term & ((1 << LIGHT_EXP_BITS) - 1)
            negative = (term >> LIGHT_EXP_BITS) & 1
            shift = np.where(exp == LIGHT_ZERO_CODE, 0, self.frac_bits - exp)
            mag = np.where(exp == LIGHT_ZERO_CODE, 0, np.left_shift(1, shift))
            total += np.where(negative == 1, -mag, mag)
        return total

    def _ints(self, x: npt.ArrayLike) -> Array:
        return np.asarray(x).astype(self._dtype)

    # ------------------------------------------------------------------ arithmetic

    def zero_psum(self) -> int:
        """The code a psum starts from: +0.0 for fp, 0 otherwise."""
        return 0

    def mul(self, act: npt.ArrayLike, weight: npt.ArrayLike) -> Array:
        """Product codes (fp32 pattern; else the product sign-extended to acc_bits)."""
        if self.family == "fp":
            return fp32_mul(act, weight)
        a = self.decode_act(act)
        if self.family == "int":
            w = self.decode_weight(weight)
        else:
            w = self._light_scaled(weight).astype(self._dtype)
        return _pattern(a * w, self.acc_bits)

    def add(self, x: npt.ArrayLike, y: npt.ArrayLike) -> Array:
        """Sum of two psum codes: fp32 addition, or wrapping addition in acc_bits."""
        if self.family == "fp":
            return fp32_add(x, y)
        s = _signed(self._ints(x), self.acc_bits) + _signed(self._ints(y), self.acc_bits)
        return _pattern(s, self.acc_bits)

    def mac(self, acc: npt.ArrayLike, act: npt.ArrayLike, weight: npt.ArrayLike) -> Array:
        """One MAC as the PE does it: ``add(acc, mul(act, weight))``."""
        return self.add(acc, self.mul(act, weight))

    def reference_mac(
        self, acc_init: npt.ArrayLike, acts: npt.ArrayLike, weights: npt.ArrayLike
    ) -> Array:
        """Accumulate ``acts[..., i] * weights[..., i]`` onto ``acc_init`` for i = 0, 1, ...

        >>> f = format_of(PEType(family="int", act_bits=8, weight_bits=8))
        >>> int(f.decode_psum(f.reference_mac(0, f.encode_act([3, -2]), f.encode_weight([5, 7]))))
        1
        """
        a = np.asarray(acts)
        w = np.asarray(weights)
        acc = np.asarray(acc_init)
        for i in range(np.broadcast_shapes(a.shape, w.shape)[-1]):
            acc = self.mac(acc, a[..., i], w[..., i])
        return acc

    def requantize(self, acc: npt.ArrayLike, shift: int, relu: bool) -> Array:
        """Activation codes of finished psums.

        Integer formats: arithmetic shift right by ``shift`` rounding half up (add
        ``2^(shift-1)`` first, in a width one bit wider than the accumulator), saturate to
        the activation range, then ReLU. fp32: the psum itself, ReLU turning any value with
        the sign bit set into +0 (``shift`` must be 0).
        """
        if self.family == "fp":
            if shift != 0:
                raise ValueError("fp32 outputs are not shifted")
            codes = np.asarray(acc).astype(np.int64)
            return np.where((codes >> 31) & 1 == 1, 0, codes) if relu else codes
        if not 0 <= shift < self.acc_bits:
            raise ValueError(f"shift must be in 0..{self.acc_bits - 1}")
        value = _signed(self._ints(acc), self.acc_bits)
        if shift > 0:
            value = (value + (1 << (shift - 1))) >> shift
        value = np.clip(value, self.act_min, self.act_max)
        if relu:
            value = np.maximum(value, 0)
        return _pattern(value, self.act_bits)

    def reference_primitive(
        self,
        filt: npt.ArrayLike,
        ifmap: npt.ArrayLike,
        stride: int,
        psum_in: npt.ArrayLike | None = None,
    ) -> Array:
        """The row-stationary 1-D primitive, in the PE's order.

        ``filt[p, q, s]`` are weight codes (P filters x Q channels x S taps), ``ifmap[q, w]``
        activation codes (W columns); returns psum codes ``out[p, e]`` for the
        ``E = (W - S) // stride + 1`` output columns. For each output column the psum starts
        at `zero_psum` and accumulates channel by channel, tap by tap (``q`` outer, ``s``
        inner); the psum from the PE below, if given, is added last: ``add(psum_in, psum)``.
        """
        f = np.asarray(filt)
        x = np.asarray(ifmap)
        n_filters, n_channels, taps = f.shape
        width = x.shape[1]
        if x.shape[0] != n_channels or width < taps or stride < 1:
            raise ValueError("ifmap rows must match the filter's channels and be >= S long")
        cols = (width - taps) // stride + 1
        base = stride * np.arange(cols)
        psum = np.full((n_filters, cols), self.zero_psum(), dtype=np.int64).astype(self._dtype)
        for q in range(n_channels):
            for s in range(taps):
                psum = self.mac(psum, x[q, base + s][None, :], f[:, q, s][:, None])
        if psum_in is not None:
            psum = self.add(np.asarray(psum_in), psum)
        return psum


# --------------------------------------------------------------------------- formats


def format_of(pe: PEType) -> NumberFormat:
    """The number format of a PE type.

    >>> f = format_of(PEType(family="light", act_bits=8, weight_bits=4, terms=1))
    >>> (f.act_bits, f.weight_bits, f.product_bits, f.acc_bits)
    (8, 4, 15, 23)

    Raises ValueError for an accumulator override the format cannot honour (fp32 other
    than 32 bits; an integer accumulator narrower than the product).
    """
    if pe.family == "fp":
        if pe.acc_bits not in (None, 32):
            raise ValueError("the fp32 PE accumulates in binary32: acc_bits must be 32")
        return NumberFormat(
            pe.label, 32, 32, 32, 32, "fp", exp_bits=FP_EXP_BITS, man_bits=FP_MAN_BITS
        )
    if pe.family == "int":
        product = pe.act_bits + pe.weight_bits
        return NumberFormat(pe.label, pe.act_bits, pe.weight_bits, product, _acc(pe, product))
    terms = pe.terms or 1
    # The largest product magnitude is terms * 2^(act_bits-1) * 2^frac (a negative activation
    # times negative terms); one more bit for the sign.
    largest = terms << (pe.act_bits - 1 + LIGHT_FRAC_BITS)
    product = largest.bit_length() + 1
    return NumberFormat(
        pe.label,
        pe.act_bits,
        LIGHT_TERM_BITS * terms,
        product,
        _acc(pe, product),
        "light",
        terms=terms,
        frac_bits=LIGHT_FRAC_BITS,
    )


def format_problem(pe: PEType) -> str | None:
    """Why `format_of` would reject ``pe`` (a message for a diagnostic), or None.

    >>> format_problem(PEType(family="int", act_bits=8, weight_bits=8, acc_bits=12))
    "int8+acc12: acc_bits must be at least the product's 16 bits"
    """
    try:
        format_of(pe)
    except ValueError as err:
        return str(err)
    return None


def _acc(pe: PEType, product: int) -> int:
    if pe.acc_bits is None:
        return product + INT_GUARD_BITS
    if pe.acc_bits < product:
        raise ValueError(f"{pe.label}: acc_bits must be at least the product's {product} bits")
    return pe.acc_bits


# --------------------------------------------------------------------------- helpers


def _checked(values: Array, bits: int, what: str) -> Array:
    """``values`` if all fit ``bits``-bit two's complement, else ValueError."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if np.any((values < lo) | (values > hi)):
        raise ValueError(f"{what} values must lie in {lo}..{hi}")
    return values


def _signed(codes: Array, bits: int) -> Array:
    """Two's complement value of ``bits``-bit patterns."""
    half = 1 << (bits - 1)
    arr = np.asarray(codes, dtype=object if bits > _WIDE else None)
    return ((arr & ((1 << bits) - 1)) ^ half) - half


def _pattern(values: Array, bits: int) -> Array:
    """The ``bits``-bit pattern of integers (wrapping)."""
    return np.asarray(values, dtype=object if bits > _WIDE else None) & ((1 << bits) - 1)


def _nearest(table: Array, x: Array) -> Array:
    """The element of the ascending ``table`` nearest to each x; ties to smaller magnitude."""
    idx = np.clip(np.searchsorted(table, x), 1, len(table) - 1)
    lo, hi = table[idx - 1], table[idx]
    pick_hi = (hi - x < x - lo) | ((hi - x == x - lo) & (np.abs(hi) < np.abs(lo)))
    return np.where(
        x <= table[0], table[0], np.where(x >= table[-1], table[-1], np.where(pick_hi, hi, lo))
    )


def _f32_bits(values: npt.ArrayLike) -> Array:
    """fp32 patterns of values, converted to binary32 (RNE) with subnormals flushed."""
    with np.errstate(all="ignore"):
        bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.int64)
    return _fp_canon(_fp_daz(bits))


def _bits_f32(codes: npt.ArrayLike) -> Array:
    return np.asarray(codes).astype(np.uint32).view(np.float32)


def _fp_daz(bits: Array) -> Array:
    """Subnormal patterns become the zero of their sign."""
    exp = (bits >> FP_MAN_BITS) & 0xFF
    return np.where(exp == 0, bits & 0x80000000, bits)


def _fp_canon(bits: Array) -> Array:
    """Every NaN pattern becomes the canonical quiet NaN."""
    is_nan = ((bits >> FP_MAN_BITS) & 0xFF == 0xFF) & (bits & 0x7FFFFF != 0)
    return np.where(is_nan, FP_QNAN, bits)


def fp32_mul(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """fp32 product of patterns: RNE, DAZ, FTZ after rounding, canonical NaN.

    The product of two binary32 values is exact in binary64, so rounding it once to binary32
    is a correctly rounded multiply. Below 2^-126, scaling by 2^64 first rounds to 24 bits
    with an unbounded exponent, which decides whether the result rounds up to 2^-126.
    """
    with np.errstate(all="ignore"):
        x = _bits_f32(_fp_daz(np.asarray(a).astype(np.int64))).astype(np.float64)
        y = _bits_f32(_fp_daz(np.asarray(b).astype(np.int64))).astype(np.float64)
        exact = x * y
        rounded = exact.astype(np.float32)
        scaled = (exact * 2.0**64).astype(np.float32)
    tiny = np.abs(exact) < 2.0**-126
    up = np.abs(scaled) >= np.float32(2.0**-62)
    small = np.where(up, np.copysign(2.0**-126, exact), np.copysign(0.0, exact))
    result = np.where(tiny, small.astype(np.float32), rounded)
    return _fp_canon(result.view(np.uint32).astype(np.int64))


def fp32_add(a: npt.ArrayLike, b: npt.ArrayLike) -> Array:
    """fp32 sum of patterns: RNE, DAZ, FTZ, canonical NaN.

    A sum of normal numbers that lands below 2^-126 is exact (both are multiples of
    2^-149), so flushing numpy's correctly rounded result is FTZ after rounding.
    """
    x = _bits_f32(_fp_daz(np.asarray(a).astype(np.int64)))
    y = _bits_f32(_fp_daz(np.asarray(b).astype(np.int64)))
    with np.errstate(all="ignore"):
        total = (x + y).view(np.uint32).astype(np.int64)
    return _fp_canon(_fp_daz(total))
