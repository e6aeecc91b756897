"""The cost of one layer under one row-stationary mapping: the scalar reference model.

This module states the model the way docs/dataflow.md does, one explicit loop or product per
quantity, for one (layer, accelerator, mapping). The mapping search (`search.py`) evaluates the
same model in closed form over many designs and candidate mappings at once; tests check that
both give identical numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from qappac.dataflow.energy import EnergyTable
from qappac.dataflow.geometry import ceil_div, folds_of, real_rows, used_columns
from qappac.ir import Accelerator
from qappac.numerics import format_of
from qappac.shapes import LayerShape


@dataclass(frozen=True)
class Mapping:
    """A row-stationary mapping (Eyeriss notation, Chen et al. JSSC 2017).

    A logical PE set is `set_rows` filter rows x `set_cols` (= e) output rows; `folds` splits
    filter rows taller than the array, `strips` splits the E output rows into strips of e.
    `r` sets work on different channels and `t` sets on different filters at the same time;
    each PE interleaves `p` filters and `q` channels; `n` images stream over the resident
    filters of a pass; the GLB keeps the psums of `m` filters (`m / (p*t)` filter tiles).
    """

    set_rows: int
    set_cols: int
    folds: int
    strips: int
    n: int
    p: int
    q: int
    r: int
    t: int
    m: int
    array_passes: int
    glb_passes: int


@dataclass(frozen=True)
class Accesses:
    """Access counts, in words of the tensor's own width, per level and tensor.

    DRAM and GLB count one access per word; the NoC counts one transfer per word per
    receiving PE (a multicast to k PEs is 1 GLB read and k NoC transfers); psums moving
    from PE to PE or to the GLB are NoC transfers too.
    """

    macs: int
    dram_ifmap_reads: int
    dram_filter_reads: int
    dram_ofmap_writes: int
    glb_ifmap_reads: int
    glb_ifmap_writes: int
    glb_filter_reads: int
    glb_filter_writes: int
    glb_psum_reads: int
    glb_psum_writes: int
    noc_ifmap: int
    noc_filter: int
    noc_psum: int
    spad_ifmap_reads: int
    spad_ifmap_writes: int
    spad_filter_reads: int
    spad_filter_writes: int
    spad_psum_reads: int
    spad_psum_writes: int


ACCESS_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Accesses))


@dataclass(frozen=True)
class Energy:
    """Energy per level, pJ; `static` is the table's per-PE-cycle clock and leakage share
    times PEs x cycles (zero when the table has none)."""

    mac: float
    spad: float
    noc: float
    glb: float
    dram: float
    static: float

    @property
    def total(self) -> float:
        return self.mac + self.spad + self.noc + self.glb + self.dram + self.static


ENERGY_LEVELS: tuple[str, ...] = ("mac", "spad", "noc", "glb", "dram", "static")


@dataclass(frozen=True)
class Cost:
    """Everything one layer costs under one mapping (mapping is None outside the MAC array)."""

    mapping: Mapping | None
    accesses: Accesses
    active_pes: int
    compute_cycles: int
    stall_cycles: int
    energy: Energy

    @property
    def cycles(self) -> int:
        return self.compute_cycles + self.stall_cycles


# --------------------------------------------------------------------------- energy


def unit_energies(accel: Accelerator, table: EnergyTable) -> dict[str, Any]:
    """Per-access energies (pJ) of every (level, tensor) for one accelerator."""
    fmt = format_of(accel.pe)
    ib, wb, pb = fmt.ifmap_bits, fmt.filter_bits, fmt.psum_bits
    glb = accel.glb_bytes * 8
    return unit_energies_of(
        table,
        table.mac_pj(accel.pe),
        ib,
        wb,
        pb,
        accel.spad_ifmap,
        accel.spad_filter,
        accel.spad_psum,
        glb,
        accel.pes,
    )


def unit_energies_of(
    table: EnergyTable,
    mac: Any,
    ib: Any,
    wb: Any,
    pb: Any,
    spad_i: Any,
    spad_f: Any,
    spad_p: Any,
    glb_bits: Any,
    pes: Any,
) -> dict[str, Any]:
    """Per-access energies from widths and sizes (scalars or numpy arrays alike)."""
    wf = table.write_factor
    si = table.spad_pj(ib, spad_i * ib)
    sf = table.spad_pj(wb, spad_f * wb)
    sp = table.spad_pj(pb, spad_p * pb)
    gi, gf, gp = table.glb_pj(ib, glb_bits), table.glb_pj(wb, glb_bits), table.glb_pj(pb, glb_bits)
    return {
        "mac": mac,
        "spad_ifmap_r": si,
        "spad_ifmap_w": si * wf,
        "spad_filter_r": sf,
        "spad_filter_w": sf * wf,
        "spad_psum_r": sp,
        "spad_psum_w": sp * wf,
        "noc_ifmap": table.noc_pj(ib),
        "noc_filter": table.noc_pj(wb),
        "noc_psum": table.noc_pj(pb),
        "glb_ifmap_r": gi,
        "glb_ifmap_w": gi * wf,
        "glb_filter_r": gf,
        "glb_filter_w": gf * wf,
        "glb_psum_r": gp,
        "glb_psum_w": gp * wf,
        "dram_ifmap": table.dram_pj(ib),
        "dram_filter": table.dram_pj(wb),
        "static": table.static_pj_per_pe_cycle * np.asarray(pes, dtype=np.float64),
    }


def level_energies(a: Any, cycles: Any, u: dict[str, Any]) -> tuple[Any, ...]:
    """(mac, spad, noc, glb, dram, static) energy from counts `a` (attribute access), cycles
    and unit energies.

    Shared by the scalar and vectorized paths so that both sum in the same order.
    """
    mac = a.macs * u["mac"]
    spad = (
        a.spad_ifmap_reads * u["spad_ifmap_r"]
        + a.spad_ifmap_writes * u["spad_ifmap_w"]
        + a.spad_filter_reads * u["spad_filter_r"]
        + a.spad_filter_writes * u["spad_filter_w"]
        + a.spad_psum_reads * u["spad_psum_r"]
        + a.spad_psum_writes * u["spad_psum_w"]
    )
    noc = (
        a.noc_ifmap * u["noc_ifmap"] + a.noc_filter * u["noc_filter"] + a.noc_psum * u["noc_psum"]
    )
    glb = (
        a.glb_ifmap_reads * u["glb_ifmap_r"]
        + a.glb_ifmap_writes * u["glb_ifmap_w"]
        + a.glb_filter_reads * u["glb_filter_r"]
        + a.glb_filter_writes * u["glb_filter_w"]
        + a.glb_psum_reads * u["glb_psum_r"]
        + a.glb_psum_writes * u["glb_psum_w"]
    )
    dram = (a.dram_ifmap_reads + a.dram_ofmap_writes) * u["dram_ifmap"] + a.dram_filter_reads * u[
        "dram_filter"
    ]
    return mac, spad, noc, glb, dram, cycles * u["static"]


def dram_bits_per_cycle(accel: Accelerator) -> float:
    """DRAM bits per core clock cycle: GB/s x 8e9 / (MHz x 1e6)."""
    return accel.dram_gb_per_s * 8000.0 / accel.clock_mhz


def stall_cycles_for(dram_bits: int, compute_cycles: int, bits_per_cycle: float) -> int:
    """Double buffering hides DRAM traffic behind compute; only the excess stalls."""
    return max(0, math.ceil(dram_bits / bits_per_cycle) - compute_cycles)


# --------------------------------------------------------------------------- MAC layers


def cost_mac_layer(
    layer: LayerShape,
    accel: Accelerator,
    batch: int,
    table: EnergyTable,
    e: int,
    n: int,
    p: int,
    q: int,
    r: int,
    t: int,
) -> Cost | None:
    """Cost of a conv or FC layer under the mapping (e, n, p, q, r, t), None if it does not fit.

    The GLB keeps as many filter tiles' psums (`k`, so m = k*p*t) as fit beside the
    double-buffered ifmap and filter tiles.
    """
    fmt = format_of(accel.pe)
    ib, wb, pb = fmt.ifmap_bits, fmt.filter_bits, fmt.psum_bits
    N, G, R, S, E, F = batch, layer.G, layer.R, layer.S, layer.E, layer.F
    Cg, Mg = layer.C // layer.G, layer.M // layer.G
    folds, height = folds_of(R, accel.rows)
    sets = (accel.rows // height) * accel.cols // e
    if not (1 <= e <= E and 1 <= n <= N and r * t <= sets):
        return None
    if p > accel.spad_psum or q * S > accel.spad_ifmap or p * q * S > accel.spad_filter:
        return None
    if p > Mg or q > Cg or t > ceil_div(Mg, p) or r > ceil_div(Cg, q):
        return None

    strips = ceil_div(E, e)
    image_blocks = ceil_div(N, n)
    tiles = ceil_div(Mg, p * t)  # filter tiles of p*t filters
    channel_tiles = ceil_div(Cg, q * r)
    p_groups = ceil_div(Mg, p)  # sets-worth of filters: sum over tiles of the sets in use
    q_groups = ceil_div(Cg, q)  # psum contributions per output (one per q-channel chunk)
    real_cols, padded_cols = used_columns(layer)

    # The strips' input rows: loaded into the GLB once per strip (all R filter rows), read
    # from the GLB by each fold.
    rows_all = rows_folds = widest = 0
    for lo in range(0, E, e):
        hi = min(E, lo + e)
        rows = real_rows(layer, lo, hi, 0, R)
        rows_all += rows
        widest = max(widest, rows)
        for f in range(folds):
            rows_folds += real_rows(layer, lo, hi, f * height, min(R, (f + 1) * height))

    glb_bits = accel.glb_bytes * 8
    ifmap_buffer = 2 * q * r * widest * real_cols * n * ib
    filter_buffer = 2 * p * t * q * r * height * S * wb
    psum_per_tile = p * t * e * F * n * pb
    k = min(tiles, (glb_bits - ifmap_buffer - filter_buffer) // psum_per_tile)
    if k < 1:
        return None
    blocks = ceil_div(tiles, k)

    outputs = N * G * Mg * E * F
    macs = outputs * Cg * R * S
    weights = G * Mg * Cg * R * S
    dram_ifmap = N * G * blocks * Cg * rows_all * real_cols
    filter_loads = image_blocks * strips * weights
    noc_ifmap = N * G * p_groups * Cg * E * R * padded_cols
    noc_filter = image_blocks * E * weights
    accesses = Accesses(
        macs=macs,
        dram_ifmap_reads=dram_ifmap,
        dram_filter_reads=filter_loads,
        dram_ofmap_writes=outputs,
        glb_ifmap_reads=N * G * tiles * Cg * rows_folds * real_cols,
        glb_ifmap_writes=dram_ifmap,
        glb_filter_reads=filter_loads,
        glb_filter_writes=filter_loads,
        glb_psum_reads=outputs * q_groups * folds,
        glb_psum_writes=outputs * q_groups * folds,
        noc_ifmap=noc_ifmap,
        noc_filter=noc_filter,
        noc_psum=outputs * q_groups * R,
        spad_ifmap_reads=macs,
        spad_ifmap_writes=noc_ifmap,
        spad_filter_reads=macs,
        spad_filter_writes=noc_filter,
        spad_psum_reads=macs + outputs * q_groups * R,
        spad_psum_writes=macs + outputs * q_groups * (R - folds),
    )

    passes_per_image_block = G * strips * tiles * channel_tiles * folds
    step = q * S + F * p * q * S + height
    compute = G * strips * tiles * channel_tiles * folds * (image_blocks * p * q * S + N * step)
    dram_bits = (dram_ifmap + outputs) * ib + filter_loads * wb
    stall = stall_cycles_for(dram_bits, compute, dram_bits_per_cycle(accel))
    mapping = Mapping(
        set_rows=height,
        set_cols=e,
        folds=folds,
        strips=strips,
        n=n,
        p=p,
        q=q,
        r=r,
        t=t,
        m=k * p * t,
        array_passes=passes_per_image_block * image_blocks,
        glb_passes=G * image_blocks * strips * blocks,
    )
    energy = Energy(*level_energies(accesses, compute + stall, unit_energies(accel, table)))
    return Cost(mapping, accesses, r * t * e * height, compute, stall, energy)


# --------------------------------------------------------------------------- pool and add


def cost_vector_layer(
    layer: LayerShape, accel: Accelerator, batch: int, table: EnergyTable
) -> Cost:
    """Pool or residual add on the vector unit beside the GLB (outside the MAC array).

    Inputs stream from DRAM into the GLB, `cols` lanes read them (a pool reads every window
    element, an add every operand) and each lane retires one read per cycle; results go
    straight back to DRAM.
    """
    fmt = format_of(accel.pe)
    N = batch
    outputs = N * layer.M * layer.E * layer.F
    if layer.kind == "pool":
        loaded = N * layer.C * layer.H * layer.W
        reads = outputs * layer.R * layer.S
    else:
        loaded = N * layer.C * layer.H * layer.W * len(layer.inputs)
        reads = loaded
    zero = {name: 0 for name in ACCESS_FIELDS}
    zero.update(
        dram_ifmap_reads=loaded,
        dram_ofmap_writes=outputs,
        glb_ifmap_writes=loaded,
        glb_ifmap_reads=reads,
    )
    accesses = Accesses(**zero)
    compute = ceil_div(reads, accel.cols)
    dram_bits = (loaded + outputs) * fmt.ifmap_bits
    stall = stall_cycles_for(dram_bits, compute, dram_bits_per_cycle(accel))
    energy = Energy(*level_energies(accesses, compute + stall, unit_energies(accel, table)))
    return Cost(None, accesses, 0, compute, stall, energy)
