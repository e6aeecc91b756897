"""The characterized energy table: per-access energies from fitted PPA models.

The dataflow engine weighs accesses with an `EnergyTable` it receives as data; its stand-in
(`qappac.dataflow.default_energy_table`) comes from published numbers. This module builds the
table from the characterization instead (docs/ppa.md, "Characterized energy table"):

* **MAC**: ``energy_mac_pj`` of each PE type in the model set, looked up by PE label
  (`CharacterizedEnergyTable.mac_pj_by_label`); PE types without a model keep the base
  table's formula.
* **Scratchpads**: one per-bit energy and size exponent, ``E/bit = a * (size/ref)^b``, fitted
  by least squares in log-log space to the ``energy_spad_<tensor>_pj`` predictions of every
  PE type at the characterized depths (`SPAD_DEPTHS`). The characterization measures one
  *cycle* of a scratchpad (a write and a read), so a read costs ``E_cycle / (1 +
  write_factor)`` and a write ``write_factor`` times that.
* **Global buffer**: `qappac.ppa.sram.glb_power_law` (Horowitz ISSCC 2014, 45 nm).
* **DRAM**: `qappac.ppa.sram.DRAM_PJ_PER_BIT`.
* **NoC**: per-transfer energies kept from the base table: they weigh mappings in the
  engine's search. Design PPA replaces the NoC level by the measured shell energy
  (`qappac.ppa.design`).
* **Static**: the PE leakage model of the accelerator's PE type at its scratchpad sizes,
  ``leakage_mw / clock_mhz * 1e3`` pJ per PE per cycle; without an accelerator the base
  table's value is kept.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from qappac.dataflow.energy import EnergyTable, default_energy_table
from qappac.ir import Accelerator, PEType
from qappac.numerics import format_of
from qappac.ppa.models import ModelSet, predict, with_derived
from qappac.ppa.sram import DRAM_PJ_PER_BIT, glb_power_law

SPAD_TENSORS: tuple[str, ...] = ("ifmap", "filter", "psum")

SPAD_DEPTHS: Mapping[str, tuple[int, ...]] = {
    "ifmap": (12,),
    "filter": (64, 128, 224),
    "psum": (16, 24, 32),
}
"""Depths (words) the scratchpad law is fitted over: Eyeriss's and the paper's design space
(specs/qappa_dse.qa)."""

REFERENCE_GEOMETRY: Mapping[str, int] = {
    "spad_ifmap": 12,
    "spad_filter": 224,
    "spad_psum": 24,
    "rows": 12,
    "cols": 14,
    "pes": 168,
}
"""Scratchpad depths and array shape (Eyeriss) used for features a query does not fix."""


@dataclass(frozen=True)
class CharacterizedEnergyTable(EnergyTable):
    """An `EnergyTable` whose MAC energy is looked up per PE label before the formula.

    ``mac_pj_by_label``: sorted ``(label, pJ)`` pairs (a tuple, so the table stays hashable
    and the engine's memoization keeps working).
    """

    mac_pj_by_label: tuple[tuple[str, float], ...] = ()

    def mac_pj(self, pe: PEType) -> float:
        """The characterized MAC energy of `pe`'s label, else the base formula."""
        for label, value in self.mac_pj_by_label:
            if label == pe.label:
                return value
        return super().mac_pj(pe)


def pe_of_label(label: str) -> PEType:
    """The PE type a dataset label names (the inverse of `PEType.label`).

    >>> pe_of_label("int(8,4)+acc20").acc_bits, pe_of_label("lightpe2").terms
    (20, 2)
    """
    base, _, acc = label.partition("+acc")
    acc_bits = int(acc) if acc else None
    named = {
        "fp32": ("fp", 32, 32, None),
        "int16": ("int", 16, 16, None),
        "int8": ("int", 8, 8, None),
        "lightpe1": ("light", 8, 4, 1),
        "lightpe2": ("light", 8, 8, 2),
    }
    if base in named:
        family, act, weight, terms = named[base]
    elif m := re.fullmatch(r"int\((\d+),(\d+)\)", base):
        family, act, weight, terms = "int", int(m[1]), int(m[2]), None
    elif m := re.fullmatch(r"light\((\d+),(\d+)\)", base):
        family, act, weight, terms = "light", int(m[1]), 4 * int(m[2]), int(m[2])
    else:
        raise ValueError(f"unknown PE label {label!r}")
    return PEType(
        family=family,  # type: ignore[arg-type]
        act_bits=act,
        weight_bits=weight,
        terms=terms,
        acc_bits=acc_bits,
    )


def pe_features(pe: PEType, geometry: Mapping[str, float] | None = None) -> dict[str, float]:
    """Model features of a PE type: its widths (`format_of`) and scratchpad depths / array
    shape from `geometry` (missing entries from `REFERENCE_GEOMETRY`)."""
    fmt = format_of(pe)
    features: dict[str, float] = {k: float(v) for k, v in REFERENCE_GEOMETRY.items()}
    features.update({k: float(v) for k, v in (geometry or {}).items()})
    features.update(
        act_bits=float(fmt.act_bits),
        weight_bits=float(fmt.weight_bits),
        product_bits=float(fmt.product_bits),
        acc_bits=float(fmt.acc_bits),
    )
    return with_derived(features)


def accelerator_features(accel: Accelerator) -> dict[str, float]:
    """Model features of an accelerator's PE: widths, its scratchpad depths, array shape."""
    return pe_features(
        accel.pe,
        {
            "spad_ifmap": accel.spad_ifmap,
            "spad_filter": accel.spad_filter,
            "spad_psum": accel.spad_psum,
            "rows": accel.rows,
            "cols": accel.cols,
            "pes": accel.rows * accel.cols,
        },
    )


def static_pj_per_pe_cycle(models: ModelSet, accel: Accelerator) -> float:
    """Leakage energy of one PE in one cycle at the accelerator's clock (mW / MHz = nJ)."""
    leakage_mw = predict(models.get(accel.pe.label, "leakage_mw"), accelerator_features(accel))
    return leakage_mw / accel.clock_mhz * 1e3


def fit_spad_law(
    models: ModelSet,
    ref_bits: float,
    write_factor: float = 1.0,
    depths: Mapping[str, Sequence[int]] = SPAD_DEPTHS,
) -> tuple[float, float]:
    """``(pj_per_bit at ref_bits, exponent)`` of scratchpad reads, least squares of
    ``log(E_read / bits) = log a + b log(size_bits / ref_bits)`` over every PE type, tensor
    and depth with a positive ``energy_spad_<tensor>_pj`` prediction.

    A single distinct size (or none varying) gives exponent 0 and the geometric mean.
    """
    xs: list[float] = []
    ys: list[float] = []
    for label in sorted(models.models):
        pe = pe_of_label(label)
        fmt = format_of(pe)
        widths = {"ifmap": fmt.ifmap_bits, "filter": fmt.filter_bits, "psum": fmt.psum_bits}
        for tensor in SPAD_TENSORS:
            model = models.models[label].get(f"energy_spad_{tensor}_pj")
            if model is None:
                continue
            for depth in depths[tensor]:
                cycle_pj = predict(model, pe_features(pe, {f"spad_{tensor}": depth}))
                if cycle_pj > 0:
                    bits = widths[tensor]
                    xs.append(float(np.log(depth * bits / ref_bits)))
                    ys.append(float(np.log(cycle_pj / (1.0 + write_factor) / bits)))
    if not ys:
        raise ValueError("no positive energy_spad_*_pj prediction to fit the scratchpad law")
    x, y = np.array(xs), np.array(ys)
    if np.ptp(x) == 0.0:
        return float(np.exp(y.mean())), 0.0
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.exp(intercept)), float(slope)


def energy_table_from_models(
    models: ModelSet,
    base: EnergyTable | None = None,
    accelerator: Accelerator | None = None,
) -> CharacterizedEnergyTable:
    """The characterized per-access energy table (see the module docstring for each entry).

    `base` supplies what is not characterized (NoC, write factor, the MAC formula of PE
    types without a model, the reference scratchpad size); default
    `default_energy_table()`. With `accelerator`, the static energy is its PE's leakage at
    its clock; pass the accelerator at the clock it really runs at (`min(clock, fmax)`).
    Everything else is the same for every accelerator, so design sweeps share one table and
    pass the static energies as an array (`explore_ppa`).
    """
    base = base or default_energy_table()
    spad_pj, spad_exp = fit_spad_law(models, base.spad_ref_bits, base.write_factor)
    glb_pj, glb_ref, glb_exp = glb_power_law()
    macs = []
    for label in sorted(models.models):
        model = models.models[label].get("energy_mac_pj")
        if model is None:
            continue
        # The MAC is characterized on its own, apart from the scratchpads: predict it at the
        # reference geometry, so that one table serves every design of a PE type.
        macs.append((label, predict(model, pe_features(pe_of_label(label)))))
    static = (
        static_pj_per_pe_cycle(models, accelerator)
        if accelerator is not None
        else base.static_pj_per_pe_cycle
    )
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(EnergyTable)}
    fields.update(
        spad_pj_per_bit=spad_pj,
        spad_exponent=spad_exp,
        glb_pj_per_bit=glb_pj,
        glb_ref_bits=glb_ref,
        glb_exponent=glb_exp,
        dram_pj_per_bit=DRAM_PJ_PER_BIT,
        static_pj_per_pe_cycle=static,
        source=f"characterized (dataset sha256 {models.dataset_sha256[:12]}); "
        "GLB Horowitz ISSCC 2014; NoC from the base table",
    )
    return CharacterizedEnergyTable(**fields, mac_pj_by_label=tuple(macs))
