"""The per-access energy table the mapping search weighs accesses with.

The engine hard-codes no energy: every number lives in an `EnergyTable`, passed in as data.
`ppa/` builds characterized tables; until then `default_energy_table()` stands in, built from
two published sources:

* Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm, 0.9 V: an 8-bit integer multiply
  costs 0.2 pJ and a 32-bit one 3.1 pJ (so about 0.2 pJ x (a*w)/64 for an a x w bit array
  multiplier), an 8-bit add 0.03 pJ (0.00375 pJ per bit), a 32-bit float multiply 3.7 pJ and a
  32-bit float add 0.9 pJ.
* Chen, Emer, Sze, "Eyeriss: a spatial architecture for energy-efficient dataflow for CNNs",
  ISCA 2016, Table IV: normalized energy per 16-bit access relative to one 16-bit MAC:
  register file (scratchpad) 1x, array NoC 2x, global buffer 6x, DRAM 200x.

The reference MAC is a 16 x 16 bit integer multiply into a 40-bit accumulator (the int16
format's default accumulator): 0.2 x 256/64 + 40 x 0.00375 = 0.95 pJ; the Eyeriss ratios turn
it into per-bit costs of the memory levels. Scratchpad cost does not depend on size in the
default table (Eyeriss gives one number for all register files); global-buffer cost grows with
the square root of capacity around Eyeriss's 108 KiB (the usual CACTI rule of thumb).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from qappac.ir import PEType
from qappac.numerics import format_of

_MULT8_PJ = 0.2  # Horowitz 2014: 8-bit integer multiply
_ADD8_PJ = 0.03  # Horowitz 2014: 8-bit integer add
_FP32_MULT_PJ = 3.7
_FP32_ADD_PJ = 0.9
_REF_PE = PEType(family="int", act_bits=16, weight_bits=16)
"""Eyeriss's 16-bit fixed-point PE: its MAC and its word are the unit of the normalized costs."""
_STATIC_SHARE = 0.5  # assumption, see the module docstring


@dataclass(frozen=True)
class EnergyTable:
    """Energy per access (pJ) of every level, as functions of word width and memory size.

    Per-bit costs are at a reference size; a memory of `size_bits` costs
    `pj_per_bit * (size_bits / ref_bits) ** exponent` per bit accessed (exponent 0: size-free).
    Writes cost `write_factor` times reads. MAC energy: an integer `a x w` multiply costs
    `int_mult_pj_per_bit2 * a * w`; a LightNN power-of-two multiply costs one shift-add of the
    product width per term; fp32 costs `fp32_mac_pj`; every MAC adds `add_pj_per_bit * acc_bits`
    (integer and light formats).
    """

    int_mult_pj_per_bit2: float
    add_pj_per_bit: float
    fp32_mac_pj: float
    spad_pj_per_bit: float
    spad_ref_bits: float
    spad_exponent: float
    noc_pj_per_bit: float
    glb_pj_per_bit: float
    glb_ref_bits: float
    glb_exponent: float
    dram_pj_per_bit: float
    static_pj_per_pe_cycle: float = 0.0
    write_factor: float = 1.0
    source: str = ""

    def mac_pj(self, pe: PEType) -> float:
        """Energy of one multiply-accumulate of `pe`'s number format."""
        fmt = format_of(pe)
        if pe.family == "fp":
            return self.fp32_mac_pj
        acc = self.add_pj_per_bit * fmt.acc_bits
        if pe.family == "light":
            terms = pe.terms or 1
            return terms * self.add_pj_per_bit * fmt.product_bits + acc
        return self.int_mult_pj_per_bit2 * fmt.act_bits * fmt.weight_bits + acc

    def spad_pj(self, bits: Any, size_bits: Any) -> Any:
        """Read energy of one `bits`-wide scratchpad word in a scratchpad of `size_bits`."""
        return _scaled(
            self.spad_pj_per_bit, bits, size_bits, self.spad_ref_bits, self.spad_exponent
        )

    def glb_pj(self, bits: Any, size_bits: Any) -> Any:
        """Read energy of one `bits`-wide global-buffer word in a buffer of `size_bits`."""
        return _scaled(self.glb_pj_per_bit, bits, size_bits, self.glb_ref_bits, self.glb_exponent)

    def noc_pj(self, bits: Any) -> Any:
        """Energy of delivering one `bits`-wide word over the array NoC to one PE."""
        return self.noc_pj_per_bit * np.asarray(bits, dtype=np.float64)

    def dram_pj(self, bits: Any) -> Any:
        """Energy of moving one `bits`-wide word to or from DRAM."""
        return self.dram_pj_per_bit * np.asarray(bits, dtype=np.float64)


def _scaled(per_bit: float, bits: Any, size_bits: Any, ref: float, exponent: float) -> Any:
    size = np.asarray(size_bits, dtype=np.float64)
    factor = np.power(size / ref, exponent) if exponent else np.ones_like(size)
    return per_bit * np.asarray(bits, dtype=np.float64) * factor


def default_energy_table() -> EnergyTable:
    """The stand-in table: Horowitz ISSCC 2014 MACs, Eyeriss ISCA 2016 relative memory costs.

    >>> t = default_energy_table(); round(t.dram_pj_per_bit / t.spad_pj_per_bit)
    200
    """
    ref = format_of(_REF_PE)  # widths from numerics: 16-bit words, 40-bit accumulator
    ref_mac_pj = _MULT8_PJ * ref.act_bits * ref.weight_bits / 64 + ref.acc_bits * _ADD8_PJ / 8
    per_bit = ref_mac_pj / ref.act_bits
    return EnergyTable(
        int_mult_pj_per_bit2=_MULT8_PJ / 64,
        add_pj_per_bit=_ADD8_PJ / 8,
        fp32_mac_pj=_FP32_MULT_PJ + _FP32_ADD_PJ,
        spad_pj_per_bit=1 * per_bit,
        spad_ref_bits=224 * ref.filter_bits,  # the Eyeriss filter scratchpad
        spad_exponent=0.0,
        noc_pj_per_bit=2 * per_bit,
        glb_pj_per_bit=6 * per_bit,
        glb_ref_bits=108 * 1024 * 8,
        glb_exponent=0.5,
        dram_pj_per_bit=200 * per_bit,
        static_pj_per_pe_cycle=_STATIC_SHARE * ref_mac_pj,
        source="Horowitz ISSCC 2014 (45 nm MAC); Eyeriss ISCA 2016 (RF 1x, NoC 2x, GLB 6x, "
        "DRAM 200x a 16-bit MAC)",
    )
