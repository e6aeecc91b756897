"""Number formats: the single source of truth for quantization and bit widths.

(Skeleton: the contract other passes rely on. Being completed in issue 4.)
"""

from __future__ import annotations

from dataclasses import dataclass

from qappac.ir import PEType


@dataclass(frozen=True)
class NumberFormat:
    name: str
    act_bits: int
    weight_bits: int
    product_bits: int
    acc_bits: int

    @property
    def ifmap_bits(self) -> int:
        return self.act_bits

    @property
    def filter_bits(self) -> int:
        return self.weight_bits

    @property
    def psum_bits(self) -> int:
        return self.acc_bits


def format_of(pe: PEType) -> NumberFormat:
    if pe.family == "fp":
        return NumberFormat(pe.label, 32, 32, 32, pe.acc_bits or 32)
    if pe.family == "int":
        product = pe.act_bits + pe.weight_bits
        return NumberFormat(pe.label, pe.act_bits, pe.weight_bits, product, pe.acc_bits or product + 8)
    product = pe.act_bits + 8
    return NumberFormat(pe.label, pe.act_bits, pe.weight_bits, product, pe.acc_bits or product + 8)
