"""Power, performance and area of a whole design, from fitted PE models and the schedules.

* **Area**: PE array = PEs x the PE area model (MAC, scratchpads, PE control, as synthesized);
  global buffer = `qappac.ppa.sram.sram_area_um2`; NoC and control (``noc_area_um2``) = the
  shell model ``shell_area_um2`` (NoC buses and PE ID matching, psum chains, controller and
  DMA, counters, requantizer: the accelerator without its PEs and GLB, characterized by
  `qappac.characterize.ShellConfig`). Model sets without shell models give 0.
* **Clock**: fmax is the PE model's; the design runs at ``effective clock = min(clock,
  fmax)`` and is flagged when its clock exceeds fmax. Everything timed (DRAM stalls, latency,
  leakage energy, power) uses the effective clock. With a shell model of fmax, the
  controller's modeled fmax is reported too (``controller_fmax_mhz``) and a clock above it
  is flagged, but it does not lower the effective clock: the generated controller computes
  its addresses with unpipelined chains of multiplies (about 88-107 MHz in NanGate45 for
  every PE type), which a controller that keeps up with its PEs would pipeline; timing
  assumes that controller (docs/ppa.md).
* **Energy**: each layer's access counts x the per-access energies of the characterized
  table (`qappac.ppa.table.energy_table_from_models` for this accelerator at its effective
  clock), MACs x the characterized MAC energy, leakage = PE leakage x PEs x time.
  `characterized_schedules` schedules a design with that same table, so the mapping search
  also weighs characterized energies; `design_ppa` re-costs whatever schedules it is given.
* **Power**: PE dynamic = PEs x ``energy_cycle_pj`` x effective clock (the characterization's
  activity, all PEs busy); shell dynamic = ``shell_energy_cycle_pj`` x effective clock; GLB =
  the network's GLB energy / its latency; leakage = PEs x ``leakage_mw`` + ``shell_leakage_mw``.
  DRAM power is off chip and excluded; GLB leakage is not modeled.
* **NoC energy**: with a shell model, the ``noc`` level is the shell's dynamic energy,
  ``shell_energy_cycle_pj`` x cycles (the NoC and the control logic clock every cycle); the
  base table's per-transfer NoC energy then only weighs mappings in the engine's search.
  Without one, it is that per-transfer energy. Shell leakage goes to the ``leakage`` level.
* **Performance**: 2 operations per MAC; GOPS = 2 MACs / latency; GOPS/mm^2 over the total
  area; EDP = energy x latency of the whole batch.

`explore_ppa` computes the same totals for many accelerators at once (`qappac.dataflow.evaluate`
and `predict_many`); the tests check both agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from qappac.dataflow import (
    ENERGY_LEVELS,
    Accesses,
    EnergyTable,
    LayerSchedule,
    accelerator_arrays,
    evaluate,
    schedule,
)
from qappac.formats import fmt_float
from qappac.ir import Accelerator, Design, Objective
from qappac.numerics import format_of
from qappac.ppa.models import ModelSet, predict, predict_many
from qappac.ppa.sram import sram_area_um2
from qappac.ppa.table import accelerator_features, energy_table_from_models
from qappac.shapes import LayerShape

LEVELS: tuple[str, ...] = ("mac", "spad", "noc", "glb", "dram", "leakage")
"""Energy levels of a PPA breakdown (the engine's ``static`` is the PE leakage here)."""

OPS_PER_MAC = 2


@dataclass(frozen=True)
class LevelEnergy:
    """Energy per level, pJ."""

    mac: float
    spad: float
    noc: float
    glb: float
    dram: float
    leakage: float

    @property
    def total(self) -> float:
        return self.mac + self.spad + self.noc + self.glb + self.dram + self.leakage

    def as_tuple(self) -> tuple[float, ...]:
        """The levels in `LEVELS` order."""
        return (self.mac, self.spad, self.noc, self.glb, self.dram, self.leakage)


@dataclass(frozen=True)
class LayerPPA:
    """One layer: cycles, latency at the effective clock, MACs and energy by level."""

    layer: str
    kind: str
    cycles: int
    latency_s: float
    macs: int
    energy: LevelEnergy


@dataclass(frozen=True)
class DesignPPA:
    """PPA of one design running its network (one batch). Units are in the names.

    Invariants: ``area_um2 = pe_array_area_um2 + glb_area_um2 + noc_area_um2``;
    ``effective_clock_mhz = min(clock_mhz, fmax_mhz)``; ``energy`` is the sum of the layers'.
    """

    design: str
    pe: str
    pes: int
    batch: int
    pe_area_um2: float
    pe_array_area_um2: float
    glb_area_um2: float
    noc_area_um2: float
    clock_mhz: float
    fmax_mhz: float
    controller_fmax_mhz: float | None
    effective_clock_mhz: float
    pe_dynamic_mw: float
    shell_dynamic_mw: float
    glb_dynamic_mw: float
    leakage_mw: float
    layers: tuple[LayerPPA, ...]
    energy: LevelEnergy
    cycles: int
    latency_s: float
    macs: int

    @property
    def area_um2(self) -> float:
        return self.pe_array_area_um2 + self.glb_area_um2 + self.noc_area_um2

    @property
    def area_mm2(self) -> float:
        return self.area_um2 * 1e-6

    @property
    def clock_exceeds_fmax(self) -> bool:
        return self.clock_mhz > self.fmax_mhz

    @property
    def clock_exceeds_controller_fmax(self) -> bool:
        return self.controller_fmax_mhz is not None and self.clock_mhz > self.controller_fmax_mhz

    @property
    def warnings(self) -> tuple[str, ...]:
        out = []
        if self.clock_exceeds_fmax:
            out.append(
                f"clock {fmt_float(self.clock_mhz)} MHz exceeds the PE's modeled fmax "
                f"{fmt_float(self.fmax_mhz)} MHz; timed results use "
                f"{fmt_float(self.effective_clock_mhz)} MHz"
            )
        if self.controller_fmax_mhz is not None and self.clock_exceeds_controller_fmax:
            out.append(
                f"clock {fmt_float(self.clock_mhz)} MHz exceeds the controller's modeled fmax "
                f"{fmt_float(self.controller_fmax_mhz)} MHz (its address arithmetic is not "
                "pipelined); timed results assume a controller that keeps up with the PEs"
            )
        return tuple(out)

    @property
    def power_mw(self) -> float:
        return self.pe_dynamic_mw + self.shell_dynamic_mw + self.glb_dynamic_mw + self.leakage_mw

    @property
    def energy_pj(self) -> float:
        return self.energy.total

    @property
    def energy_per_inference_pj(self) -> float:
        return self.energy.total / self.batch

    @property
    def gops(self) -> float:
        return OPS_PER_MAC * self.macs / self.latency_s * 1e-9 if self.latency_s else 0.0

    @property
    def gops_per_mm2(self) -> float:
        return self.gops / self.area_mm2

    @property
    def edp_j_s(self) -> float:
        return self.energy.total * 1e-12 * self.latency_s


# --------------------------------------------------------------------------- scalar


def effective_accelerator(accel: Accelerator, models: ModelSet) -> Accelerator:
    """The accelerator at the clock it can run at: ``min(clock, modeled fmax)``."""
    fmax = predict(models.get(accel.pe.label, "fmax_mhz"), accelerator_features(accel))
    if fmax <= 0:
        raise ValueError(f"the fmax model of {accel.pe.label} predicts {fmax} MHz")
    clock = min(accel.clock_mhz, fmax)
    return accel if clock == accel.clock_mhz else accel.model_copy(update={"clock_mhz": clock})


SHELL_AREA, SHELL_ENERGY, SHELL_LEAKAGE, SHELL_FMAX = (
    "shell_area_um2",
    "shell_energy_cycle_pj",
    "shell_leakage_mw",
    "shell_fmax_mhz",
)
"""The shell models design PPA uses (`qappac.characterize.SHELL_TARGETS`)."""


def shell_prediction(models: ModelSet, accel: Accelerator, target: str) -> float:
    """A shell model's prediction for the accelerator, 0 without that model; clamped at 0
    (a linear model extrapolated far below its data)."""
    label = accel.pe.label
    if not models.has(label, target):
        return 0.0
    return max(0.0, predict(models.get(label, target), accelerator_features(accel)))


def with_shell(
    energy: LevelEnergy, cycles: int, accel: Accelerator, models: ModelSet
) -> LevelEnergy:
    """A layer's energy with the shell's: ``noc`` = shell energy per cycle x cycles (when
    there is a shell model), shell leakage added to ``leakage`` (module docstring)."""
    label = accel.pe.label
    if not models.has(label, SHELL_ENERGY):
        return energy
    leak_pj = shell_prediction(models, accel, SHELL_LEAKAGE) / accel.clock_mhz * 1e3
    return dataclasses.replace(
        energy,
        noc=shell_prediction(models, accel, SHELL_ENERGY) * cycles,
        leakage=energy.leakage + leak_pj * cycles,
    )


def design_table(design: Design, models: ModelSet, base: EnergyTable | None = None) -> EnergyTable:
    """The characterized energy table of a design at its effective clock."""
    return energy_table_from_models(
        models, base, effective_accelerator(design.accelerator, models)
    )


def characterized_schedules(
    design: Design, models: ModelSet, base: EnergyTable | None = None
) -> list[LayerSchedule]:
    """Schedule a design at its effective clock with its characterized energy table."""
    accel = effective_accelerator(design.accelerator, models)
    effective = design.model_copy(update={"accelerator": accel})
    return schedule(effective, energy_table_from_models(models, base, accel))


def layer_energy(
    accesses: Accesses, cycles: int, accel: Accelerator, table: EnergyTable
) -> LevelEnergy:
    """Accesses x per-access energies (reads; writes x ``write_factor``), plus leakage."""
    fmt = format_of(accel.pe)
    ib, wb, pb = fmt.ifmap_bits, fmt.filter_bits, fmt.psum_bits
    wf = table.write_factor
    glb_bits = accel.glb_bytes * 8

    def spad(bits: int, depth: int) -> float:
        return float(table.spad_pj(bits, depth * bits))

    def glb(bits: int) -> float:
        return float(table.glb_pj(bits, glb_bits))

    a = accesses
    spad_e = (
        a.spad_ifmap_reads * spad(ib, accel.spad_ifmap)
        + a.spad_ifmap_writes * spad(ib, accel.spad_ifmap) * wf
        + a.spad_filter_reads * spad(wb, accel.spad_filter)
        + a.spad_filter_writes * spad(wb, accel.spad_filter) * wf
        + a.spad_psum_reads * spad(pb, accel.spad_psum)
        + a.spad_psum_writes * spad(pb, accel.spad_psum) * wf
    )
    glb_e = (
        a.glb_ifmap_reads * glb(ib)
        + a.glb_ifmap_writes * glb(ib) * wf
        + a.glb_filter_reads * glb(wb)
        + a.glb_filter_writes * glb(wb) * wf
        + a.glb_psum_reads * glb(pb)
        + a.glb_psum_writes * glb(pb) * wf
    )
    noc_e = (
        a.noc_ifmap * float(table.noc_pj(ib))
        + a.noc_filter * float(table.noc_pj(wb))
        + a.noc_psum * float(table.noc_pj(pb))
    )
    dram_e = (a.dram_ifmap_reads + a.dram_ofmap_writes) * float(
        table.dram_pj(ib)
    ) + a.dram_filter_reads * float(table.dram_pj(wb))
    return LevelEnergy(
        mac=a.macs * table.mac_pj(accel.pe),
        spad=spad_e,
        noc=noc_e,
        glb=glb_e,
        dram=dram_e,
        leakage=table.static_pj_per_pe_cycle * accel.pes * cycles,
    )


def design_ppa(
    design: Design,
    schedules: Sequence[LayerSchedule],
    models: ModelSet,
    base: EnergyTable | None = None,
    table: EnergyTable | None = None,
) -> DesignPPA:
    """Area, power, fmax, latency and energy of a design from its schedules and PE models.

    `schedules` give cycles and access counts (best from `characterized_schedules`, so the
    mapping was chosen with the same energies); energies are re-costed with the design's
    characterized table at its effective clock (module docstring). A caller that already
    built that table (`design_table`) passes it as `table`.
    """
    accel = design.accelerator
    features = accelerator_features(accel)
    label = accel.pe.label
    eff = effective_accelerator(accel, models)
    table = table or energy_table_from_models(models, base, eff)
    clock = eff.clock_mhz
    layers = tuple(
        LayerPPA(
            layer=s.layer,
            kind=s.kind,
            cycles=s.cycles,
            latency_s=s.cycles / (clock * 1e6),
            macs=s.macs,
            energy=with_shell(
                layer_energy(s.accesses, s.cycles, eff, table), s.cycles, eff, models
            ),
        )
        for s in schedules
    )
    energy = LevelEnergy(
        *(float(sum(layer.energy.as_tuple()[i] for layer in layers)) for i in range(6))
    )
    cycles = sum(layer.cycles for layer in layers)
    latency = cycles / (clock * 1e6)
    pe_area = predict(models.get(label, "area_um2"), features)
    pes = accel.pes
    return DesignPPA(
        design=design.name,
        pe=label,
        pes=pes,
        batch=design.batch,
        pe_area_um2=pe_area,
        pe_array_area_um2=pes * pe_area,
        glb_area_um2=float(sram_area_um2(accel.glb_bytes)),
        noc_area_um2=shell_prediction(models, accel, SHELL_AREA),
        clock_mhz=accel.clock_mhz,
        fmax_mhz=predict(models.get(label, "fmax_mhz"), features),
        controller_fmax_mhz=(
            shell_prediction(models, accel, SHELL_FMAX) if models.has(label, SHELL_FMAX) else None
        ),
        effective_clock_mhz=clock,
        pe_dynamic_mw=pes * predict(models.get(label, "energy_cycle_pj"), features) * clock * 1e-3,
        shell_dynamic_mw=shell_prediction(models, eff, SHELL_ENERGY) * clock * 1e-3,
        glb_dynamic_mw=energy.glb / latency * 1e-9 if latency else 0.0,
        leakage_mw=pes * predict(models.get(label, "leakage_mw"), features)
        + shell_prediction(models, accel, SHELL_LEAKAGE),
        layers=layers,
        energy=energy,
        cycles=cycles,
        latency_s=latency,
        macs=sum(layer.macs for layer in layers),
    )


def build_ppa(
    design: Design, models: ModelSet, base: EnergyTable | None = None
) -> tuple[list[LayerSchedule], DesignPPA]:
    """`characterized_schedules` then `design_ppa`: the build pipeline's PPA step."""
    schedules = characterized_schedules(design, models, base)
    return schedules, design_ppa(design, schedules, models, base)


# --------------------------------------------------------------------------- vectorized

FloatArray = npt.NDArray[np.float64]


def _predict_by_label(
    models: ModelSet, target: str, accelerators: Sequence[Accelerator]
) -> FloatArray:
    """One model prediction per accelerator, evaluated with `predict_many` per PE type."""
    out = np.zeros(len(accelerators), dtype=np.float64)
    labels = [a.pe.label for a in accelerators]
    for label in sorted(set(labels)):
        index = np.array([i for i, lab in enumerate(labels) if lab == label])
        rows = [accelerator_features(accelerators[i]) for i in index]
        arrays = {name: np.array([r[name] for r in rows]) for name in rows[0]}
        out[index] = predict_many(models.get(label, target), arrays)
    return out


def _shell_by_label(
    models: ModelSet, target: str, accelerators: Sequence[Accelerator]
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """`shell_prediction` for many accelerators, and which of them have that model."""
    have = np.array([models.has(a.pe.label, target) for a in accelerators], dtype=bool)
    out = np.zeros(len(accelerators), dtype=np.float64)
    if have.any():
        index = np.flatnonzero(have)
        out[index] = np.maximum(
            0.0, _predict_by_label(models, target, [accelerators[int(i)] for i in index])
        )
    return out, have


def explore_ppa(
    accelerators: Sequence[Accelerator],
    layers: Sequence[LayerShape],
    batch: int,
    objective: Objective,
    models: ModelSet,
    base: EnergyTable | None = None,
) -> dict[str, np.ndarray]:
    """`design_ppa` totals for many accelerators running one network, as arrays (designs,).

    Keys: ``ok`` (every layer mapped; other entries are NaN where not), ``pe_area_um2``,
    ``pe_array_area_um2``, ``glb_area_um2``, ``noc_area_um2``, ``area_um2``, ``fmax_mhz``,
    ``effective_clock_mhz``, ``clock_exceeds_fmax``, ``pe_dynamic_mw``, ``shell_dynamic_mw``,
    ``glb_dynamic_mw``,
    ``leakage_mw``, ``power_mw``, ``cycles``, ``latency_s``, ``macs``,
    ``energy_<level>_pj`` for `LEVELS`, ``energy_pj``, ``energy_per_inference_pj``, ``gops``,
    ``gops_per_mm2``, ``edp_j_s``; and (designs, layers) ``layer_cycles``,
    ``layer_energy_pj``.

    All designs share one characterized energy table; the static (leakage) energy, which
    depends on each design's PE type, scratchpads and clock, goes in as a per-design array,
    so the whole sweep is one vectorized `evaluate` call.
    """
    n = len(accelerators)
    if not n or not layers:
        raise ValueError("explore_ppa needs at least one accelerator and one layer")
    effective = [effective_accelerator(a, models) for a in accelerators]
    table = energy_table_from_models(models, base)
    leakage = _predict_by_label(models, "leakage_mw", effective)
    clocks = np.array([a.clock_mhz for a in effective], dtype=np.float64)
    static = leakage / clocks * 1e3  # as static_pj_per_pe_cycle, one design at a time
    raw = evaluate(accelerator_arrays(effective, static), layers, batch, objective, table)
    ok = raw["ok"].all(axis=1)
    clock = np.array([a.clock_mhz for a in effective], dtype=np.float64)
    pes = np.array([a.pes for a in accelerators], dtype=np.float64)
    out: dict[str, np.ndarray] = {"ok": np.asarray(ok)}
    out["fmax_mhz"] = _predict_by_label(models, "fmax_mhz", accelerators)
    out["effective_clock_mhz"] = clock
    out["clock_exceeds_fmax"] = np.array([a.clock_mhz for a in accelerators]) > out["fmax_mhz"]
    out["pe_area_um2"] = _predict_by_label(models, "area_um2", accelerators)
    out["pe_array_area_um2"] = pes * out["pe_area_um2"]
    out["glb_area_um2"] = np.asarray(
        sram_area_um2(np.array([a.glb_bytes for a in accelerators])), dtype=np.float64
    )
    out["noc_area_um2"], _ = _shell_by_label(models, SHELL_AREA, accelerators)
    out["area_um2"] = out["pe_array_area_um2"] + out["glb_area_um2"] + out["noc_area_um2"]
    cycles = raw["cycles"].sum(axis=1)
    latency = cycles / (clock * 1e6)
    out["cycles"] = cycles
    out["latency_s"] = latency
    out["macs"] = raw["macs"].sum(axis=1)
    shell_pj, has_shell = _shell_by_label(models, SHELL_ENERGY, effective)
    shell_leak_mw, _ = _shell_by_label(models, SHELL_LEAKAGE, effective)
    per_layer = {
        level: np.asarray(raw[f"energy_{engine_level}_pj"], dtype=np.float64)
        for level, engine_level in zip(LEVELS, ENERGY_LEVELS, strict=True)
    }
    layer_cycles = np.asarray(raw["cycles"], dtype=np.float64)
    per_layer["noc"] = np.where(
        has_shell[:, None], shell_pj[:, None] * layer_cycles, per_layer["noc"]
    )
    per_layer["leakage"] = per_layer["leakage"] + (shell_leak_mw / clock * 1e3)[:, None] * (
        layer_cycles
    )
    total = np.zeros(n)
    for level in LEVELS:
        value = per_layer[level].sum(axis=1)
        out[f"energy_{level}_pj"] = value
        total = total + value
    out["energy_pj"] = total
    out["energy_per_inference_pj"] = total / batch
    cycle_pj = _predict_by_label(models, "energy_cycle_pj", accelerators)
    out["pe_dynamic_mw"] = pes * cycle_pj * clock * 1e-3
    out["shell_dynamic_mw"] = shell_pj * clock * 1e-3
    with np.errstate(divide="ignore", invalid="ignore"):
        out["glb_dynamic_mw"] = np.where(latency > 0, out["energy_glb_pj"] / latency * 1e-9, 0.0)
        out["gops"] = np.where(latency > 0, OPS_PER_MAC * out["macs"] / latency * 1e-9, 0.0)
    out["leakage_mw"] = (
        pes * _predict_by_label(models, "leakage_mw", accelerators)
        + (_shell_by_label(models, SHELL_LEAKAGE, accelerators)[0])
    )
    out["power_mw"] = (
        out["pe_dynamic_mw"] + out["shell_dynamic_mw"] + out["glb_dynamic_mw"] + out["leakage_mw"]
    )
    out["gops_per_mm2"] = out["gops"] / (out["area_um2"] * 1e-6)
    out["edp_j_s"] = total * 1e-12 * latency
    out["layer_cycles"] = raw["cycles"]
    out["layer_energy_pj"] = np.sum(list(per_layer.values()), axis=0)
    for name, value in out.items():
        if name not in ("ok", "clock_exceeds_fmax") and value.ndim == 1:
            out[name] = np.where(ok, value.astype(np.float64), np.nan)
    return out
