"""Area and energy per access of the global buffer (SRAM) in 45 nm, and DRAM energy per bit.

The global buffer is too large to synthesize from flops, so it is not characterized by
Yosys; it follows published 45 nm figures instead (sources and derivations: docs/ppa.md).

* Energy per access: a power law in capacity, ``E = E_ref * (bytes / ref_bytes)^b``, per
  ``ref_width_bits``-wide access, fitted by least squares in log-log space to the 64-bit
  cache access energies of Horowitz, "Computing's energy problem (and what we can do about
  it)", ISSCC 2014 (45 nm, 0.9 V): 8 KB 10 pJ, 32 KB 20 pJ, 1 MB 100 pJ. The energy of a
  narrower or wider word scales with its width (bitlines and sense amplifiers per bit).
* Area: ``600 lambda^2`` per bit with ``lambda = 45 nm`` (1.215 um^2 per bit, cell plus
  periphery), the CACTI-derived rule of thumb in D. J. Greaves, "45nm SRAM Memory Area and
  Power Consumption", System-on-Chip D/M lecture notes, University of Cambridge, 2011-12.
* DRAM: 20 pJ per bit, the low end of Horowitz's 1.3-2.6 nJ per 64-bit DRAM access
  (20.3-40.6 pJ/bit); override it for another memory (e.g. LPDDR4 is lower).

All functions accept numpy arrays as well as scalars, for vectorized design sweeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HOROWITZ_2014_SRAM_64BIT_PJ: tuple[tuple[int, float], ...] = (
    (8 * 1024, 10.0),
    (32 * 1024, 20.0),
    (1024 * 1024, 100.0),
)
"""(capacity in bytes, energy in pJ of one 64-bit access), 45 nm: Horowitz, ISSCC 2014."""

LAMBDA_UM = 0.045
AREA_PER_BIT_UM2 = 600 * LAMBDA_UM**2
"""600 lambda^2 per SRAM bit at 45 nm (Greaves, after CACTI): 1.215 um^2."""

DRAM_PJ_PER_BIT = 20.0
"""Default off-chip DRAM energy per bit moved (Horowitz 2014: 1.3 nJ per 64 bits)."""

ArrayLike = npt.ArrayLike
Floats = float | npt.NDArray[np.float64]


@dataclass(frozen=True)
class SramModel:
    """``energy = energy_ref_pj * (bytes/ref_bytes)^exponent * width/ref_width_bits`` pJ per
    access and ``area = bytes * 8 * area_per_bit_um2`` um^2."""

    energy_ref_pj: float
    exponent: float
    ref_bytes: int = 8 * 1024
    ref_width_bits: int = 64
    area_per_bit_um2: float = AREA_PER_BIT_UM2


def fit_power_law(
    points: Sequence[tuple[float, float]], ref_bytes: int = 8 * 1024, ref_width_bits: int = 64
) -> SramModel:
    """Least-squares fit of ``log E = log E_ref + b log(bytes/ref_bytes)`` to the points."""
    if len(points) < 2:
        raise ValueError("a power law needs at least two (capacity, energy) points")
    x = np.log(np.array([c for c, _ in points], dtype=np.float64) / ref_bytes)
    y = np.log(np.array([e for _, e in points], dtype=np.float64))
    slope, intercept = np.polyfit(x, y, 1)
    return SramModel(float(np.exp(intercept)), float(slope), ref_bytes, ref_width_bits)


DEFAULT_SRAM = fit_power_law(HOROWITZ_2014_SRAM_64BIT_PJ)
"""The 45 nm model fitted to Horowitz's three points (E_ref ~ 10.2 pJ, exponent ~ 0.473)."""


def sram_energy_pj(
    capacity_bytes: ArrayLike, width_bits: ArrayLike, model: SramModel = DEFAULT_SRAM
) -> Floats:
    """Energy of one read or write access of `width_bits` to an SRAM of `capacity_bytes`.

    >>> round(float(sram_energy_pj(32 * 1024, 64)), 1)  # published: 20 pJ
    19.6
    """
    capacity = np.asarray(capacity_bytes, dtype=np.float64)
    width = np.asarray(width_bits, dtype=np.float64)
    if np.any(capacity <= 0) or np.any(width <= 0):
        raise ValueError("SRAM capacity and word width must be positive")
    scale = (capacity / model.ref_bytes) ** model.exponent * (width / model.ref_width_bits)
    return _scalar(model.energy_ref_pj * scale)


def sram_area_um2(capacity_bytes: ArrayLike, model: SramModel = DEFAULT_SRAM) -> Floats:
    """Area of an SRAM of `capacity_bytes` (cells and periphery).

    >>> round(float(sram_area_um2(1000)), 6)  # 8000 bits x 1.215 um^2
    9720.0
    """
    capacity = np.asarray(capacity_bytes, dtype=np.float64)
    if np.any(capacity <= 0):
        raise ValueError("SRAM capacity must be positive")
    return _scalar(capacity * 8.0 * model.area_per_bit_um2)


def dram_energy_pj(bits: ArrayLike, pj_per_bit: float = DRAM_PJ_PER_BIT) -> Floats:
    """Energy of moving `bits` to or from off-chip DRAM.

    >>> float(dram_energy_pj(64))  # one 64-bit access: 1.28 nJ
    1280.0
    """
    return _scalar(np.asarray(bits, dtype=np.float64) * pj_per_bit)


def glb_power_law(model: SramModel = DEFAULT_SRAM) -> tuple[float, float, float]:
    """``(pj_per_bit, ref_bits, exponent)``: energy per bit accessed at a reference capacity
    of ``ref_bits``, scaling as ``(size_bits / ref_bits) ** exponent`` (the form of a
    global-buffer entry in an energy table).

    >>> pj, ref, b = glb_power_law()
    >>> (round(pj, 4), ref, round(b, 4))  # 10.16 pJ / 64 bits at 8 KB
    (0.1587, 65536.0, 0.4726)
    """
    return (
        model.energy_ref_pj / model.ref_width_bits,
        float(model.ref_bytes * 8),
        model.exponent,
    )


def _scalar(value: npt.NDArray[np.float64]) -> Floats:
    return float(value) if np.ndim(value) == 0 else value
