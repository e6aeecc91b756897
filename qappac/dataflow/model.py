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
from qappac.dataflow.geometry import (
    ceil_div,
    column_hull,
    folds_of,
    real_rows,
    strip_row_hull,
    used_columns,
)
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
    """Everything one layer costs under one mapping (mapping is None outside the MAC array).

    `stall_cycles`: the cycles the array waits for the serial DRAM phases (all of the DRAM
    time: DRAM and compute never overlap); `cycles = compute_cycles + stall_cycles`.
    """

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


BEAT_EPSILON = 1e-9
"""Slack on the beat shape's floor and ceiling, against floating error in bits per cycle."""


def beat_shape(bits_per_cycle: float, width: int) -> tuple[int, int]:
    """(L, D): words of `width` bits per DRAM beat and cycles per beat.

    `L = floor(bpc / w)` words per beat when the DRAM moves at least one word per cycle (then
    `D = 1`); else one word per beat taking `D = ceil(w / bpc)` cycles (docs/accelerator.md
    section 1).
    """
    words = math.floor(bits_per_cycle / width + BEAT_EPSILON)
    if words >= 1:
        return words, 1
    return 1, math.ceil(width / bits_per_cycle - BEAT_EPSILON)


@dataclass(frozen=True)
class DramPort:
    """The DRAM port of an accelerator: beat shape per tensor word width.

    A DRAM phase of K words of the ifmap/ofmap (or filter) tensor takes
    `ceil(K / ifmap_words) * ifmap_cycles` (or the filter's) cycles.
    """

    ifmap_bits: int
    filter_bits: int
    ifmap_words: int  # L for ifmap and ofmap words (ib bits)
    ifmap_cycles: int  # D for ifmap and ofmap words
    filter_words: int  # L for filter words (wb bits)
    filter_cycles: int  # D for filter words

    @property
    def width_bits(self) -> int:
        """The port's width: `max(L_ifmap * ib, L_filter * wb)` bits."""
        return max(self.ifmap_words * self.ifmap_bits, self.filter_words * self.filter_bits)


def dram_port(accel: Accelerator) -> DramPort:
    """The beat shapes (L, D) of an accelerator's ifmap/ofmap and filter words."""
    fmt = format_of(accel.pe)
    bpc = dram_bits_per_cycle(accel)
    li, di = beat_shape(bpc, fmt.ifmap_bits)
    lw, dw = beat_shape(bpc, fmt.filter_bits)
    return DramPort(fmt.ifmap_bits, fmt.filter_bits, li, di, lw, dw)


@dataclass(frozen=True)
class DramTraffic:
    """DRAM beats per tensor of one layer (sum over its DRAM phases of ceil(K / L)) and the
    cycles they take (beats x D), all phases serial with compute."""

    ifmap_beats: int
    filter_beats: int
    ofmap_beats: int
    cycles: int


def chunk_classes(total: int, size: int) -> list[tuple[int, int]]:
    """[(how many, size of each)]: `total` cut into chunks of `size`, the last one smaller.

    >>> chunk_classes(10, 4)
    [(2, 4), (1, 2)]
    """
    chunks = ceil_div(total, size)
    last = total - (chunks - 1) * size
    return [(count, value) for count, value in ((chunks - 1, size), (1, last)) if count > 0]


def dram_traffic(
    layer: LayerShape, accel: Accelerator, batch: int, mapping: Mapping | None
) -> DramTraffic:
    """DRAM beats and cycles of a layer under a mapping (None: pool/add on the vector unit).

    The phases are those of the loop nest of docs/accelerator.md section 1; the sums count
    classes (regular and last image block, channel tile, filter tile, fold, GLB block, strip)
    instead of looping over the passes.
    """
    port = dram_port(accel)
    li, di, lw, dw = port.ifmap_words, port.ifmap_cycles, port.filter_words, port.filter_cycles
    N = batch
    if mapping is None:
        outputs = N * layer.M * layer.E * layer.F
        operands = 1 if layer.kind == "pool" else len(layer.inputs)
        loaded = N * layer.C * layer.H * layer.W * operands
        ifmap, ofmap = ceil_div(loaded, li), ceil_div(outputs, li)
        return DramTraffic(ifmap, 0, ofmap, (ifmap + ofmap) * di)
    G, R, S, E, F = layer.G, layer.R, layer.S, layer.E, layer.F
    Cg, Mg = layer.C // layer.G, layer.M // layer.G
    e, n, p, q, r, t = mapping.set_cols, mapping.n, mapping.p, mapping.q, mapping.r, mapping.t
    height, strips = mapping.set_rows, mapping.strips
    image_blocks = ceil_div(N, n)
    blocks = ceil_div(Mg, mapping.m)
    wu = column_hull(layer)
    images = chunk_classes(N, n)
    channels = chunk_classes(Cg, q * r)
    # LOAD_IFMAP per (g, b, s, blk, ct): nb * ch * rows(s) * Wu words.
    ifmap = 0
    for lo in range(0, E, e):
        rows = strip_row_hull(layer, lo, min(E, lo + e))
        ifmap += sum(
            cb * cc * ceil_div(nb * ch * rows * wu, li) for cb, nb in images for cc, ch in channels
        )
    ifmap *= G * blocks
    # LOAD_FILTER per (g, b, s, blk, ct, ft of blk, fold): f * ch * h * S words.
    filters = sum(
        cc * cf * ch_count * ceil_div(f * ch * h * S, lw)
        for cc, ch in channels
        for cf, f in chunk_classes(Mg, p * t)
        for ch_count, h in chunk_classes(R, height)
    )
    filters *= G * image_blocks * strips
    # WRITE_OFMAP per (g, b, s, blk): nb * mb * er * F words.
    ofmap = G * sum(
        cb * cs * ck * ceil_div(nb * mb * er * F, li)
        for cb, nb in images
        for cs, er in chunk_classes(E, e)
        for ck, mb in chunk_classes(Mg, mapping.m)
    )
    return DramTraffic(ifmap, filters, ofmap, (ifmap + ofmap) * di + filters * dw)


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
    single-buffered ifmap and filter tiles. DRAM phases run serially with compute.
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
    q_groups = ceil_div(Cg, q)  # psum windows per output and filter row (one per q-chunk)
    real_cols, padded_cols = used_columns(layer)
    hull_cols = column_hull(layer)

    # The strips' input rows: DRAM loads the hull of each strip's rows into the GLB (all R
    # filter rows at once); each fold reads the union of its own rows from the GLB.
    rows_hull = rows_folds = widest = 0
    for lo in range(0, E, e):
        hi = min(E, lo + e)
        rows = strip_row_hull(layer, lo, hi)
        rows_hull += rows
        widest = max(widest, rows)
        for f in range(folds):
            rows_folds += real_rows(layer, lo, hi, f * height, min(R, (f + 1) * height))

    glb_bits = accel.glb_bytes * 8
    ifmap_buffer = q * r * widest * hull_cols * n * ib
    filter_buffer = p * t * q * r * height * S * wb
    psum_per_tile = p * t * e * F * n * pb
    k = min(tiles, (glb_bits - ifmap_buffer - filter_buffer) // psum_per_tile)
    if k < 1:
        return None
    blocks = ceil_div(tiles, k)

    outputs = N * G * Mg * E * F
    macs = outputs * Cg * R * S
    weights = G * Mg * Cg * R * S
    dram_ifmap = N * G * blocks * Cg * rows_hull * hull_cols
    filter_loads = image_blocks * strips * weights
    noc_ifmap = N * G * p_groups * Cg * E * R * padded_cols
    noc_filter = image_blocks * E * weights
    windows = outputs * q_groups * R  # (output, q-chunk, filter row): one psum window each
    accumulations = outputs * channel_tiles * folds  # one GLB accumulation per output and pass
    accesses = Accesses(
        macs=macs,
        dram_ifmap_reads=dram_ifmap,
        dram_filter_reads=filter_loads,
        dram_ofmap_writes=outputs,
        glb_ifmap_reads=N * G * tiles * Cg * rows_folds * real_cols,
        glb_ifmap_writes=dram_ifmap,
        glb_filter_reads=filter_loads,
        glb_filter_writes=filter_loads,
        glb_psum_reads=accumulations,
        glb_psum_writes=accumulations,
        noc_ifmap=noc_ifmap,
        noc_filter=noc_filter,
        noc_psum=windows,
        spad_ifmap_reads=macs,
        spad_ifmap_writes=noc_ifmap,
        spad_filter_reads=macs,
        spad_filter_writes=noc_filter,
        spad_psum_reads=macs - windows,
        spad_psum_writes=macs,
    )

    passes_per_image_block = G * strips * tiles * channel_tiles * folds
    step = q * S + F * p * q * S
    compute = passes_per_image_block * (image_blocks * p * q * S + N * step)
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
    stall = dram_traffic(layer, accel, batch, mapping).cycles
    energy = Energy(*level_energies(accesses, compute + stall, unit_energies(accel, table)))
    return Cost(mapping, accesses, r * t * e * height, compute, stall, energy)


# --------------------------------------------------------------------------- pool and add


def cost_vector_layer(
    layer: LayerShape, accel: Accelerator, batch: int, table: EnergyTable
) -> Cost:
    """Pool or residual add on the vector unit beside the GLB (outside the MAC array).

    Inputs are loaded from DRAM into the GLB (one serial phase), `cols` lanes read them (a
    pool reads every window element, an add every operand) and each lane retires one read per
    cycle; the results are written back to DRAM (one serial phase).
    """
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
    stall = dram_traffic(layer, accel, batch, None).cycles
    energy = Energy(*level_energies(accesses, compute + stall, unit_energies(accel, table)))
    return Cost(None, accesses, 0, compute, stall, energy)
