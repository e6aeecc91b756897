"""The mapping search, vectorized over designs x candidate mappings with numpy.

Candidates. For one layer on one array shape (rows x cols) the candidate mappings form a fixed
list (`candidate_table`): strip widths `e = ceil(E/s)` for every strip count s (a wider strip
with the same count only idles columns) that fit the array; `n = ceil(N/b)` likewise; `p`,
`q`, `t` from `NICE` (counter-friendly values, including Eyeriss's 16 and 3), each rounded down
to the smallest value with the same tile count; `r` either 1 or the most channel sets the
array holds beside the `t` filter sets. The list depends on the array shape only, never on
scratchpads, GLB or bandwidth, nor on the other designs evaluated alongside: a design gets the
same mapping alone (`schedule`) as in a sweep (`evaluate`), and a larger scratchpad, GLB or
bandwidth only ever adds feasible candidates.

Search. Each design takes the feasible candidate minimizing its objective (energy: energy,
then compute cycles; latency: cycles, then energy; edp: energy x cycles, then cycles), ties to
the first in list order. It is exhaustive but pruned exactly: a lower bound of every
candidate's objective (exact but for the DRAM time, taken as words x D / L without rounding
each phase up to whole beats) is a few outer products; only candidates whose bound does not
exceed the exact objective of the best-bounded one are costed exactly (the DRAM phases summed
by class, as `model.dram_traffic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from qappac.dataflow.energy import EnergyTable, default_energy_table
from qappac.dataflow.geometry import column_hull, folds_of, strip_rows, used_columns
from qappac.dataflow.model import (
    ACCESS_FIELDS,
    BEAT_EPSILON,
    ENERGY_LEVELS,
    level_energies,
    unit_energies_of,
)
from qappac.ir import Accelerator, Objective, PEType
from qappac.numerics import format_of
from qappac.shapes import LayerShape

NICE: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
"""Values of t (filter sets side by side)."""
P_VALUES: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
"""Values of p (filters interleaved per PE)."""
Q_VALUES: tuple[int, ...] = (1, 2, 3, 4, 8, 16, 32, 64, 128, 256)
"""Values of q (channels interleaved per PE)."""

MAPPING_FIELDS: tuple[str, ...] = (
    "set_rows",
    "set_cols",
    "folds",
    "strips",
    "n",
    "p",
    "q",
    "r",
    "t",
    "m",
    "array_passes",
    "glb_passes",
)

I64 = np.int64
F64 = np.float64
_SLACK = 1e-9  # relative slack on the pruning bound: it is summed in a different order
_CHUNK = 256  # designs per block of the (designs x candidates) bound matrix


@dataclass(frozen=True)
class AcceleratorArrays:
    """The accelerator parameters of D designs as parallel arrays (one entry per design)."""

    pe: tuple[PEType, ...]
    rows: np.ndarray
    cols: np.ndarray
    spad_ifmap: np.ndarray
    spad_filter: np.ndarray
    spad_psum: np.ndarray
    glb_bytes: np.ndarray
    dram_gb_per_s: np.ndarray
    clock_mhz: np.ndarray
    static_pj_per_pe_cycle: np.ndarray | None = None
    """Per-design static energy per PE per cycle; None: the energy table's one value."""

    @property
    def size(self) -> int:
        return len(self.pe)


def accelerator_arrays(
    accelerators: Sequence[Accelerator], static_pj_per_pe_cycle: npt.ArrayLike | None = None
) -> AcceleratorArrays:
    """Stack accelerators into arrays for `evaluate`; `static_pj_per_pe_cycle` gives each
    design its own static (leakage) energy instead of the energy table's single value."""

    def col(name: str, dtype: type) -> np.ndarray:
        return np.array([getattr(a, name) for a in accelerators], dtype=dtype)

    return AcceleratorArrays(
        pe=tuple(a.pe for a in accelerators),
        rows=col("rows", I64),
        cols=col("cols", I64),
        spad_ifmap=col("spad_ifmap", I64),
        spad_filter=col("spad_filter", I64),
        spad_psum=col("spad_psum", I64),
        glb_bytes=col("glb_bytes", I64),
        dram_gb_per_s=col("dram_gb_per_s", F64),
        clock_mhz=col("clock_mhz", F64),
        static_pj_per_pe_cycle=(
            None
            if static_pj_per_pe_cycle is None
            else np.asarray(static_pj_per_pe_cycle, dtype=F64)
        ),
    )


# --------------------------------------------------------------------------- candidates


def _smallest_same_count(total: int, values: Sequence[int]) -> np.ndarray:
    """Each value (capped at `total`) rounded down to the smallest with as many chunks."""
    v = np.minimum(np.asarray(values, dtype=I64), total)
    return np.unique(-(-total // (-(-total // v))))[::-1]


def _cdiv(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    return -(-a // b)  # type: ignore[operator, return-value]


def _classes(
    total: np.ndarray | int, size: np.ndarray | int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(count, size)] of the regular chunks and the last one of `total` cut into `size`
    (element by element; a count may be 0)."""
    chunks = _cdiv(total, size)
    return [(chunks - 1, size + 0 * chunks), (chunks * 0 + 1, total - (chunks - 1) * size)]


def beat_shapes(bits_per_cycle: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, D) per design, as `model.beat_shape`: words per DRAM beat and cycles per beat."""
    words = np.floor(bits_per_cycle / width + BEAT_EPSILON).astype(I64)
    slow = words < 1
    cycles = np.where(slow, np.ceil(width / bits_per_cycle - BEAT_EPSILON), 1).astype(I64)
    return np.maximum(words, 1), cycles


@dataclass(frozen=True)
class CandidateTable:
    """The candidate mappings of one layer on one array shape, with every quantity that does
    not depend on the rest of the design (arrays of shape (K,), in tie-break order)."""

    folds: int
    height: int
    tier1: int  # candidates [0, tier1) are tier 1
    e: np.ndarray
    n: np.ndarray
    p: np.ndarray
    q: np.ndarray
    r: np.ndarray
    t: np.ndarray
    strips: np.ndarray
    image_blocks: np.ndarray
    tiles: np.ndarray  # filter tiles T
    channel_tiles: np.ndarray
    compute: np.ndarray
    noc_ifmap: np.ndarray
    noc_filter: np.ndarray
    filter_loads: np.ndarray
    glb_ifmap_reads: np.ndarray
    accumulations: np.ndarray  # GLB psum reads (= writes): outputs x CT x folds
    windows: np.ndarray  # NoC psum transfers: outputs x Q x R
    dram_per_block: np.ndarray  # DRAM ifmap words per GLB block of filter tiles
    glb_ifmap_coef: np.ndarray  # GLB bits = coef x ifmap bits (single-buffered ifmap tile)
    glb_filter_coef: np.ndarray
    glb_psum_coef: np.ndarray  # per filter tile kept in the GLB
    qs: np.ndarray  # q*S: ifmap spad words
    pqs: np.ndarray  # p*q*S: filter spad words
    # The strips' distinct row hulls and how many strips have each: (widths, V) tables and
    # each candidate's row in them (for the DRAM phases, summed by class in `_dram_cycles`).
    hull_row: np.ndarray
    hull_values: np.ndarray
    hull_counts: np.ndarray
    column_hull: int
    batch: int
    outputs: int
    macs: int

    @property
    def size(self) -> int:
        return int(self.e.shape[0])


@lru_cache(maxsize=256)
def candidate_table(layer: LayerShape, batch: int, rows: int, cols: int) -> CandidateTable:
    """All candidate mappings of a conv/FC layer on a rows x cols array."""
    N, G, R, S, E, F = batch, layer.G, layer.R, layer.S, layer.E, layer.F
    Cg, Mg = layer.C // layer.G, layer.M // layer.G
    folds, height = folds_of(R, rows)
    slots = (rows // height) * cols
    all_widths = np.unique(_cdiv(E, np.arange(1, E + 1, dtype=I64)))[::-1]
    widths = all_widths[all_widths <= slots]
    ns = _smallest_same_count(N, range(1, N + 1))
    ps = _smallest_same_count(Mg, P_VALUES)
    qs = _smallest_same_count(Cg, Q_VALUES)
    nice = np.asarray([v for v in NICE if v <= slots] or [1], dtype=I64)

    # The full grid e x n x p x q x t(NICE) x {r most, r = 1}, then validity and rounding.
    e, n, p, q, tv, flag = (
        a.reshape(-1)
        for a in np.meshgrid(widths, ns, ps, qs, nice, np.array([1, 0]), indexing="ij")
    )
    sets = slots // e
    P, Q = _cdiv(Mg, p), _cdiv(Cg, q)
    valid = tv <= np.minimum(P, sets)
    t = _cdiv(P, _cdiv(P, np.maximum(tv, 1)))
    r_most = np.minimum(Q, sets // t)
    r = np.where(flag == 1, r_most, 1)
    valid &= r >= 1
    r = _cdiv(Q, _cdiv(Q, np.maximum(r, 1)))
    e, n, p, t, q, r = (x[valid] for x in (e, n, p, t, q, r))
    # Tier 1: candidates that use at least 90% of the PEs the best-filling one uses. Emptier
    # mappings pay static energy and time on idle PEs; they are searched only for designs
    # that can hold no tier-1 candidate (see docs/dataflow.md).
    active = r * t * e
    full = (10 * active >= 9 * active.max(initial=0)).astype(I64)
    # Unique candidates in tie-break order (tier 1, then larger e, n, p, t, q, r first): a
    # mixed-radix key orders like the tuple.
    key = np.zeros(e.shape, dtype=I64)
    for x in (full, e, n, p, t, q, r):
        key = key * (int(x.max(initial=0)) + 1) + x
    _, first = np.unique(-key, return_index=True)
    e, n, p, t, q, r, full = (x[first] for x in (e, n, p, t, q, r, full))
    tier1 = int(full.sum())

    # Row sums for every strip width, shared by all array shapes.
    sr = strip_rows(layer, folds, tuple(int(w) for w in all_widths))
    ei = np.searchsorted(-all_widths, -e)
    rows_folds, hull_total, widest = sr.total_folds[ei], sr.hull_total[ei], sr.hull_widest[ei]
    real_cols, padded_cols = used_columns(layer)
    wu = column_hull(layer)

    strips = _cdiv(E, e)
    image_blocks = _cdiv(N, n)
    P, Q = _cdiv(Mg, p), _cdiv(Cg, q)
    T = _cdiv(P, t)
    CT = _cdiv(Q, r)
    outputs = N * G * Mg * E * F
    weights = G * Mg * Cg * R * S
    step = q * S + F * p * q * S
    compute = G * strips * T * CT * folds * (image_blocks * p * q * S + N * step)
    noc_ifmap = N * G * P * Cg * E * R * padded_cols
    noc_filter = image_blocks * E * weights
    filter_loads = image_blocks * strips * weights
    glb_ifmap_reads = N * G * T * Cg * rows_folds * real_cols
    dram_per_block = N * G * Cg * hull_total * wu

    return CandidateTable(
        folds=folds,
        height=height,
        tier1=tier1,
        e=e,
        n=n,
        p=p,
        q=q,
        r=r,
        t=t,
        strips=strips,
        image_blocks=image_blocks,
        tiles=T,
        channel_tiles=CT,
        compute=compute,
        noc_ifmap=noc_ifmap,
        noc_filter=noc_filter,
        filter_loads=filter_loads,
        glb_ifmap_reads=glb_ifmap_reads,
        accumulations=outputs * CT * folds,
        windows=outputs * Q * R,
        dram_per_block=dram_per_block,
        glb_ifmap_coef=q * r * widest * wu * n,
        glb_filter_coef=p * t * q * r * height * S,
        glb_psum_coef=p * t * e * F * n,
        qs=q * S,
        pqs=p * q * S,
        hull_row=ei,
        hull_values=sr.hull_values,
        hull_counts=sr.hull_counts,
        column_hull=wu,
        batch=N,
        outputs=outputs,
        macs=outputs * Cg * R * S,
    )


# --------------------------------------------------------------------------- designs


@dataclass(frozen=True)
class Designs:
    """Per-design quantities the model needs (arrays of shape (D,))."""

    rows: np.ndarray
    cols: np.ndarray
    spad_i: np.ndarray
    spad_f: np.ndarray
    spad_p: np.ndarray
    glb_bits: np.ndarray
    ib: np.ndarray
    wb: np.ndarray
    pb: np.ndarray
    bits_per_cycle: np.ndarray
    units: dict[str, np.ndarray]
    l_i: np.ndarray  # ifmap/ofmap words per DRAM beat
    d_i: np.ndarray  # cycles per ifmap/ofmap beat
    l_w: np.ndarray  # filter words per DRAM beat
    d_w: np.ndarray  # cycles per filter beat

    def take(self, index: np.ndarray) -> Designs:
        return Designs(
            rows=self.rows[index],
            cols=self.cols[index],
            spad_i=self.spad_i[index],
            spad_f=self.spad_f[index],
            spad_p=self.spad_p[index],
            glb_bits=self.glb_bits[index],
            ib=self.ib[index],
            wb=self.wb[index],
            pb=self.pb[index],
            bits_per_cycle=self.bits_per_cycle[index],
            units={k: v[index] for k, v in self.units.items()},
            l_i=self.l_i[index],
            d_i=self.d_i[index],
            l_w=self.l_w[index],
            d_w=self.d_w[index],
        )


def designs_of(arrays: AcceleratorArrays, table: EnergyTable) -> Designs:
    """Widths (from `qappac.numerics`), sizes and per-access energies of every design."""
    formats = {pe: format_of(pe) for pe in set(arrays.pe)}
    macs = {pe: table.mac_pj(pe) for pe in formats}
    ib = np.array([formats[pe].ifmap_bits for pe in arrays.pe], dtype=I64)
    wb = np.array([formats[pe].filter_bits for pe in arrays.pe], dtype=I64)
    pb = np.array([formats[pe].psum_bits for pe in arrays.pe], dtype=I64)
    mac = np.array([macs[pe] for pe in arrays.pe], dtype=F64)
    glb_bits = arrays.glb_bytes * 8
    units = unit_energies_of(
        table,
        mac,
        ib,
        wb,
        pb,
        arrays.spad_ifmap,
        arrays.spad_filter,
        arrays.spad_psum,
        glb_bits,
        arrays.rows * arrays.cols,
    )
    if arrays.static_pj_per_pe_cycle is not None:
        units["static"] = arrays.static_pj_per_pe_cycle * (arrays.rows * arrays.cols)
    bits_per_cycle = arrays.dram_gb_per_s * 8000.0 / arrays.clock_mhz
    l_i, d_i = beat_shapes(bits_per_cycle, ib)
    l_w, d_w = beat_shapes(bits_per_cycle, wb)
    return Designs(
        rows=arrays.rows,
        cols=arrays.cols,
        spad_i=arrays.spad_ifmap,
        spad_f=arrays.spad_filter,
        spad_p=arrays.spad_psum,
        glb_bits=glb_bits,
        ib=ib,
        wb=wb,
        pb=pb,
        bits_per_cycle=bits_per_cycle,
        units={k: np.broadcast_to(np.asarray(v, dtype=F64), ib.shape) for k, v in units.items()},
        l_i=l_i,
        d_i=d_i,
        l_w=l_w,
        d_w=d_w,
    )


# --------------------------------------------------------------------------- the model


def _fixed_energy(layer: LayerShape, c: CandidateTable, u: dict[str, np.ndarray]) -> np.ndarray:
    """The energy every candidate of the layer spends alike: MACs with their spad reads and
    psum writes, and the ofmap's DRAM writes."""
    per_mac = (
        u["mac"] + u["spad_ifmap_r"] + u["spad_filter_r"] + u["spad_psum_r"] + u["spad_psum_w"]
    )
    return c.macs * per_mac + c.outputs * u["dram_ifmap"]


def _bound_weights(u: dict[str, np.ndarray]) -> np.ndarray:
    """(7, D) per-design energy per count of: NoC ifmap, NoC filter, filter loads, GLB ifmap
    reads, DRAM ifmap words, GLB psum accumulations, psum windows."""
    return np.stack(
        [
            u["noc_ifmap"] + u["spad_ifmap_w"],
            u["noc_filter"] + u["spad_filter_w"],
            u["dram_filter"] + u["glb_filter_w"] + u["glb_filter_r"],
            u["glb_ifmap_r"],
            u["dram_ifmap"] + u["glb_ifmap_w"],
            u["glb_psum_r"] + u["glb_psum_w"],
            u["noc_psum"] - u["spad_psum_r"],  # each window saves its first psum spad read
        ]
    )


def _dram_cycles(
    layer: LayerShape,
    batch: int,
    c: CandidateTable,
    k: np.ndarray,
    kept: np.ndarray,
    blocks: np.ndarray,
    d: Designs,
    di: np.ndarray,
) -> np.ndarray:
    """DRAM cycles of candidate k[i] on design di[i]: `model.dram_traffic`, each tensor's
    phases summed by class (regular and last image block, channel tile, filter tile, fold,
    strip, GLB block; strips by distinct row hull)."""
    N, G, R, S, E, F = batch, layer.G, layer.R, layer.S, layer.E, layer.F
    Cg, Mg = layer.C // layer.G, layer.M // layer.G
    e, n, p, q, r, t = c.e[k], c.n[k], c.p[k], c.q[k], c.r[k], c.t[k]
    l_i, l_w = d.l_i[di], d.l_w[di]
    images = _classes(N, n)
    channels = _classes(Cg, q * r)
    # LOAD_IFMAP per (g, b, s, blk, ct): nb * ch * rows(s) * Wu words.
    values = c.hull_values[c.hull_row[k]] * c.column_hull  # (pairs, V)
    counts = c.hull_counts[c.hull_row[k]]
    ifmap = np.zeros(k.shape, dtype=I64)
    for cb, nb in images:
        for cc, ch in channels:
            beats = -(-((nb * ch)[:, None] * values) // l_i[:, None])
            ifmap += cb * cc * (counts * beats).sum(axis=1)
    ifmap *= G * blocks
    # LOAD_FILTER per (g, b, s, blk, ct, ft of blk, fold): f * ch * h * S words.
    filters = np.zeros(k.shape, dtype=I64)
    for fc, h in _classes(R, c.height):
        for cc, ch in channels:
            for cf, f in _classes(Mg, p * t):
                filters += fc * cc * cf * -(-(f * ch * (h * S)) // l_w)
    filters *= G * _cdiv(N, n) * _cdiv(E, e)
    # WRITE_OFMAP per (g, b, s, blk): nb * mb(blk) * er(s) * F words.
    ofmap = np.zeros(k.shape, dtype=I64)
    for cb, nb in images:
        for cs, er in _classes(E, e):
            for ck, mb in _classes(Mg, kept * p * t):
                ofmap += cb * cs * ck * -(-(nb * mb * er * F) // l_i)
    ofmap *= G
    return (ifmap + ofmap) * d.d_i[di] + filters * d.d_w[di]


def _exact(
    layer: LayerShape, c: CandidateTable, k: np.ndarray, d: Designs, di: np.ndarray
) -> dict[str, np.ndarray]:
    """The exact model for candidate k[i] on design di[i] (1-D arrays, element by element)."""
    ib, wb, pb = d.ib[di], d.wb[di], d.pb[di]
    T = c.tiles[k]
    room = d.glb_bits[di] - c.glb_ifmap_coef[k] * ib - c.glb_filter_coef[k] * wb
    kept = np.minimum(T, room // (c.glb_psum_coef[k] * pb))
    ok = (
        (kept >= 1)
        & (c.p[k] <= d.spad_p[di])
        & (c.qs[k] <= d.spad_i[di])
        & (c.pqs[k] <= d.spad_f[di])
    )
    kept = np.maximum(kept, 1)
    blocks = -(-T // kept)
    dram_ifmap = c.dram_per_block[k] * blocks
    compute = c.compute[k]
    stall = _dram_cycles(layer, c.batch, c, k, kept, blocks, d, di)
    u = {name: d.units[name][di] for name in _EXACT_UNITS}
    w = _bound_weights(u)
    energy = (
        _fixed_energy(layer, c, u)
        + c.noc_ifmap[k] * w[0]
        + c.noc_filter[k] * w[1]
        + c.filter_loads[k] * w[2]
        + c.glb_ifmap_reads[k] * w[3]
        + dram_ifmap * w[4]
        + c.accumulations[k] * w[5]
        + c.windows[k] * w[6]
        + (compute + stall) * u["static"]
    )
    return {
        "ok": ok,
        "kept": kept,
        "blocks": blocks,
        "dram_ifmap": dram_ifmap,
        "compute": compute,
        "stall": stall,
        "energy": energy,
    }


_EXACT_UNITS = (
    "mac",
    "spad_ifmap_r",
    "spad_filter_r",
    "noc_ifmap",
    "spad_ifmap_w",
    "noc_filter",
    "spad_filter_w",
    "dram_filter",
    "glb_filter_w",
    "glb_filter_r",
    "glb_ifmap_r",
    "dram_ifmap",
    "glb_ifmap_w",
    "glb_psum_r",
    "glb_psum_w",
    "noc_psum",
    "spad_psum_r",
    "spad_psum_w",
    "static",
)


def _keys(objective: Objective, x: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    cycles = (x["compute"] + x["stall"]).astype(F64)
    if objective == "energy":
        return x["energy"], x["compute"].astype(F64)
    if objective == "latency":
        return cycles, x["energy"]
    return x["energy"] * cycles, cycles


@dataclass(frozen=True)
class Grouping:
    """How a set of designs splits for the search: by GLB size and word widths (which fix how
    many filter tiles each candidate keeps in the GLB) and by scratchpad triple."""

    glb_id: np.ndarray
    glb_configs: np.ndarray  # (G, 4): GLB bits, ifmap, filter, psum bits
    spad_id: np.ndarray
    spad_triples: np.ndarray  # (U, 3): ifmap, filter, psum words


def grouping_of(d: Designs) -> Grouping:
    glb_keys = np.stack([d.glb_bits, d.ib, d.wb, d.pb], axis=1)
    configs, glb_id = np.unique(glb_keys, axis=0, return_inverse=True)
    spads = np.stack([d.spad_i, d.spad_f, d.spad_p], axis=1)
    triples, spad_id = np.unique(spads, axis=0, return_inverse=True)
    return Grouping(glb_id.reshape(-1), configs, spad_id.reshape(-1), triples)


def search(
    layer: LayerShape,
    c: CandidateTable,
    d: Designs,
    objective: Objective,
    grouping: Grouping | None = None,
) -> np.ndarray:
    """Index into `c` of each design's best feasible candidate (-1 where none fits).

    All designs must have the array shape `c` was built for; `grouping` (of `d`) may be
    passed to share it between layers.
    """
    D = d.rows.shape[0]
    choice = np.full(D, -1, dtype=I64)
    if c.size == 0 or D == 0:
        return choice
    grouping = grouping or grouping_of(d)
    weights = _bound_weights(d.units)
    fixed = _fixed_energy(layer, c, d.units)
    members = np.arange(D)
    for pool in (np.arange(c.tier1), np.arange(c.tier1, c.size)):
        members = members[choice[members] < 0]
        for lo in range(0, members.size, _CHUNK):
            rows = members[lo : lo + _CHUNK]
            choice[rows] = _search_group(
                layer, c, pool, d, rows, weights[:, rows], fixed[rows], objective, grouping
            )
    return choice


def _search_group(
    layer: LayerShape,
    c: CandidateTable,
    pool: np.ndarray,
    d: Designs,
    rows: np.ndarray,
    weights: np.ndarray,
    fixed: np.ndarray,
    objective: Objective,
    grouping: Grouping,
) -> np.ndarray:
    """Best candidate of `pool` (index into `c`, -1 if none fits) for designs `rows`."""
    out = np.full(rows.size, -1, dtype=I64)
    if pool.size == 0:
        return out
    # Filter tiles kept in the GLB, per distinct (GLB size, word widths): (configs, K).
    cfg = grouping.glb_configs
    gid = grouping.glb_id[rows]
    room = (
        cfg[:, 0:1]
        - c.glb_ifmap_coef[pool][None, :] * cfg[:, 1:2]
        - c.glb_filter_coef[pool][None, :] * cfg[:, 2:3]
    )
    kept = np.minimum(
        c.tiles[pool][None, :], room // (c.glb_psum_coef[pool][None, :] * cfg[:, 3:4])
    )
    # Candidates no design here can hold are dropped first: this changes no design's choice
    # (they were infeasible for it), only the work.
    alive = (
        (kept[np.unique(gid)] >= 1).any(axis=0)
        & (c.p[pool] <= d.spad_p[rows].max())
        & (c.qs[pool] <= d.spad_i[rows].max())
        & (c.pqs[pool] <= d.spad_f[rows].max())
    )
    live = pool[alive]
    if live.size == 0:
        return out
    kept = kept[:, alive]
    glb_ok = kept >= 1
    dram_ifmap = c.dram_per_block[live][None, :] * (
        -(-c.tiles[live][None, :] // np.maximum(kept, 1))
    )
    counts = np.stack(
        [
            c.noc_ifmap[live],
            c.noc_filter[live],
            c.filter_loads[live],
            c.glb_ifmap_reads[live],
            c.accumulations[live],
            c.windows[live],
            c.compute[live],
        ],
        axis=1,
    ).astype(F64)
    # Feasibility: the GLB (per configuration) and the scratchpads (per distinct triple).
    triples = grouping.spad_triples
    fits = (
        (c.qs[live][None, :] <= triples[:, 0:1])
        & (c.pqs[live][None, :] <= triples[:, 1:2])
        & (c.p[live][None, :] <= triples[:, 2:3])
    )
    feasible = fits[grouping.spad_id[rows]] & glb_ok[gid]
    # A lower bound of each objective: exact but for the DRAM cycles, taken as words x D / L
    # (each phase's ceil(K / L) beats not rounded up): per design, weights of the candidates'
    # counts. `einsum` rather than a matrix product: BLAS threads cost far more than they
    # save at these sizes. The per-design constant `offset` is left out of the bound and
    # subtracted from the threshold instead.
    per_i = d.d_i[rows] / d.l_i[rows]  # DRAM cycles per ifmap/ofmap word, at least
    per_w = d.d_w[rows] / d.l_w[rows]
    static = d.units["static"][rows]
    ifmap_words = dram_ifmap.astype(F64)[gid]
    if objective != "energy":
        # cycles = compute + filter words x per_w + (ifmap words + outputs) x per_i
        cycles = np.einsum(
            "dj,jk->dk",
            np.stack([per_w, np.ones(rows.size)], 1),
            np.ascontiguousarray(counts[:, [2, 6]].T),
        )
        cycles += ifmap_words * per_i[:, None]
    if objective != "latency":
        # energy = counts x weights + static x cycles (+ the fixed energy)
        w = np.stack(
            [
                weights[0],
                weights[1],
                weights[2] + static * per_w,
                weights[3],
                weights[5],
                weights[6],
                static,
            ],
            axis=1,
        )
        energy = np.einsum("dj,jk->dk", w, np.ascontiguousarray(counts.T))
        ifmap_words *= (weights[4] + static * per_i)[:, None]
        energy += ifmap_words
    if objective == "latency":
        bound = cycles
        offset = c.outputs * per_i
    elif objective == "energy":
        bound = energy
        offset = fixed + c.outputs * per_i * static
    else:
        cycles += (c.outputs * per_i)[:, None]
        energy += (fixed + c.outputs * per_i * static)[:, None]
        energy *= cycles
        bound = energy
        offset = np.zeros(rows.size)
    bound[~feasible] = np.inf
    masked = bound
    best = np.argmin(masked, axis=1)
    has = np.isfinite(masked[np.arange(rows.size), best])
    if not has.any():
        return out
    local = np.nonzero(has)[0]
    ub, _ = _keys(objective, _exact(layer, c, live[best[local]], d, rows[local]))
    threshold = np.full(rows.size, -np.inf)
    threshold[local] = ub * (1 + _SLACK) - offset[local]
    di, k = np.nonzero(bound <= threshold[:, None])
    x = _exact(layer, c, live[k], d, rows[di])
    primary, secondary = _keys(objective, x)
    keep = x["ok"]
    di, k, primary, secondary = di[keep], live[k[keep]], primary[keep], secondary[keep]
    order = np.lexsort((k, secondary, primary, di))
    di, k = di[order], k[order]
    firsts = np.nonzero(np.r_[True, di[1:] != di[:-1]])[0]
    out[di[firsts]] = k[firsts]
    return out


def mapping_counts(
    layer: LayerShape, c: CandidateTable, k: np.ndarray, d: Designs, di: np.ndarray
) -> dict[str, np.ndarray]:
    """Mapping fields, cycles, access counts and energies of candidate k[i] on design di[i]."""
    x = _exact(layer, c, k, d, di)
    folds = c.folds
    outputs, macs = c.outputs, c.macs
    accumulations, windows = c.accumulations[k], c.windows[k]
    dram_ifmap = x["dram_ifmap"]
    filter_loads = c.filter_loads[k]
    noc_ifmap, noc_filter = c.noc_ifmap[k], c.noc_filter[k]
    shape = k.shape
    counts = {
        "macs": macs,
        "dram_ifmap_reads": dram_ifmap,
        "dram_filter_reads": filter_loads,
        "dram_ofmap_writes": outputs,
        "glb_ifmap_reads": c.glb_ifmap_reads[k],
        "glb_ifmap_writes": dram_ifmap,
        "glb_filter_reads": filter_loads,
        "glb_filter_writes": filter_loads,
        "glb_psum_reads": accumulations,
        "glb_psum_writes": accumulations,
        "noc_ifmap": noc_ifmap,
        "noc_filter": noc_filter,
        "noc_psum": windows,
        "spad_ifmap_reads": macs,
        "spad_ifmap_writes": noc_ifmap,
        "spad_filter_reads": macs,
        "spad_filter_writes": noc_filter,
        "spad_psum_reads": macs - windows,
        "spad_psum_writes": macs,
    }
    out = {name: np.broadcast_to(np.asarray(v, dtype=I64), shape) for name, v in counts.items()}
    p, t, e = c.p[k], c.t[k], c.e[k]
    mapping = {
        "set_rows": c.height,
        "set_cols": e,
        "folds": folds,
        "strips": c.strips[k],
        "n": c.n[k],
        "p": p,
        "q": c.q[k],
        "r": c.r[k],
        "t": t,
        "m": x["kept"] * p * t,
        "array_passes": layer.G
        * c.strips[k]
        * c.tiles[k]
        * c.channel_tiles[k]
        * folds
        * c.image_blocks[k],
        "glb_passes": layer.G * c.image_blocks[k] * c.strips[k] * x["blocks"],
    }
    for name, v in mapping.items():
        out[name] = np.broadcast_to(np.asarray(v, dtype=I64), shape)
    out["active_pes"] = c.r[k] * t * e * c.height
    out["compute_cycles"] = x["compute"]
    out["stall_cycles"] = x["stall"]
    out["cycles"] = x["compute"] + x["stall"]
    u = {name: v[di] for name, v in d.units.items()}
    for level, value in zip(
        ENERGY_LEVELS, level_energies(_Attrs(out), out["cycles"], u), strict=True
    ):
        out[f"energy_{level}_pj"] = np.broadcast_to(np.asarray(value, dtype=F64), shape)
    return out


_RESULT_FIELDS: tuple[str, ...] = (
    ACCESS_FIELDS
    + MAPPING_FIELDS
    + ("active_pes", "compute_cycles", "stall_cycles", "cycles")
    + tuple(f"energy_{level}_pj" for level in ENERGY_LEVELS)
)


class _Attrs:
    """Attribute view of a dict, so `level_energies` reads counts by name."""

    def __init__(self, values: dict[str, np.ndarray]) -> None:
        self.__dict__.update(values)


# --------------------------------------------------------------------------- evaluate


def _search_key(d: Designs) -> np.ndarray:
    """Everything a design's choice depends on, besides its array shape."""
    columns = [d.spad_i, d.spad_f, d.spad_p, d.glb_bits, d.ib, d.wb, d.pb, d.bits_per_cycle]
    columns += [d.units[k] for k in sorted(d.units)]
    return np.stack([np.asarray(col, dtype=F64) for col in columns], axis=1)


@dataclass(frozen=True)
class _ArrayGroup:
    """Designs of one array shape, deduplicated by everything their choice depends on."""

    rows: int
    cols: int
    members: np.ndarray  # indices into all designs
    unique: Designs
    inverse: np.ndarray  # member -> index into `unique`
    grouping: Grouping


def _array_groups(d: Designs) -> list[_ArrayGroup]:
    out = []
    for rows, cols in np.unique(np.stack([d.rows, d.cols], axis=1), axis=0):
        members = np.nonzero((d.rows == rows) & (d.cols == cols))[0]
        sub = d.take(members)
        _, first, inverse = np.unique(
            _search_key(sub), axis=0, return_index=True, return_inverse=True
        )
        unique = sub.take(first)
        out.append(
            _ArrayGroup(
                int(rows), int(cols), members, unique, inverse.reshape(-1), grouping_of(unique)
            )
        )
    return out


def _mac_layer(
    layer: LayerShape, d: Designs, groups: list[_ArrayGroup], batch: int, objective: Objective
) -> dict[str, np.ndarray]:
    D = d.rows.shape[0]
    parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    for group in groups:
        members = group.members
        c = candidate_table(layer, batch, group.rows, group.cols)
        choice = search(layer, c, group.unique, objective, group.grouping)[group.inverse]
        found = choice >= 0
        if c.size:
            res = dict(mapping_counts(layer, c, np.maximum(choice, 0), d, members))
        else:
            res = {name: np.zeros(members.size) for name in _RESULT_FIELDS}
        res["ok"] = found
        parts.append((members, res))
    out: dict[str, np.ndarray] = {}
    for members, res in parts:
        for name, value in res.items():
            if name not in out:
                out[name] = np.zeros(D, dtype=np.asarray(value).dtype)
            out[name][members] = np.where(res["ok"], value, 0) if name != "ok" else value
    return out


def _vector_layer(layer: LayerShape, d: Designs, batch: int) -> dict[str, np.ndarray]:
    D = d.rows.shape[0]
    outputs = batch * layer.M * layer.E * layer.F
    if layer.kind == "pool":
        loaded = batch * layer.C * layer.H * layer.W
        reads = outputs * layer.R * layer.S
    else:
        loaded = batch * layer.C * layer.H * layer.W * len(layer.inputs)
        reads = loaded
    zeros = np.zeros(D, dtype=I64)
    out: dict[str, np.ndarray] = {name: zeros for name in ACCESS_FIELDS}
    out.update(
        dram_ifmap_reads=zeros + loaded,
        dram_ofmap_writes=zeros + outputs,
        glb_ifmap_writes=zeros + loaded,
        glb_ifmap_reads=zeros + reads,
    )
    compute = -(-reads // d.cols)
    # One serial load phase and one serial write phase (model.dram_traffic).
    dram_cycles = (-(-loaded // d.l_i) + -(-outputs // d.l_i)) * d.d_i
    out["compute_cycles"] = compute
    out["stall_cycles"] = dram_cycles
    out["cycles"] = out["compute_cycles"] + out["stall_cycles"]
    out["ok"] = np.ones(D, dtype=bool)
    out["active_pes"] = zeros
    for name in MAPPING_FIELDS:
        out[name] = zeros
    energies = level_energies(_Attrs(out), out["cycles"], d.units)
    for level, value in zip(ENERGY_LEVELS, energies, strict=True):
        out[f"energy_{level}_pj"] = np.asarray(value, dtype=F64).reshape(D)
    return out


def _geometry(layer: LayerShape) -> tuple[object, ...]:
    """A layer's identity for the cost model (its name and kind of input aside)."""
    return (
        layer.kind,
        layer.C,
        layer.H,
        layer.W,
        layer.M,
        layer.E,
        layer.F,
        layer.R,
        layer.S,
        layer.U,
        layer.pad,
        layer.G,
        len(layer.inputs),
    )


def evaluate(
    arrays: AcceleratorArrays,
    layers: Sequence[LayerShape],
    batch: int = 1,
    objective: Objective = "energy",
    table: EnergyTable | None = None,
) -> dict[str, np.ndarray]:
    """Search and cost every layer on every design at once (layers of equal shape once).

    Returns arrays of shape (designs, layers): the chosen mapping (`MAPPING_FIELDS`; 0 for
    pool/add), `ok` (False where no mapping fits: then every other entry is 0),
    `active_pes`, `compute_cycles`, `stall_cycles`, `cycles`, every count of
    `ACCESS_FIELDS`, `energy_<level>_pj` for each of `ENERGY_LEVELS` and `energy_pj`.
    """
    d = designs_of(arrays, table or default_energy_table())
    groups = _array_groups(d) if any(layer.is_mac for layer in layers) else []
    done: dict[tuple[object, ...], dict[str, np.ndarray]] = {}
    per_layer = []
    for layer in layers:
        key = _geometry(layer)
        if key not in done:
            done[key] = (
                _mac_layer(layer, d, groups, batch, objective)
                if layer.is_mac
                else _vector_layer(layer, d, batch)
            )
        per_layer.append(done[key])
    names = ("ok",) + _RESULT_FIELDS if per_layer else ()
    result = {name: np.stack([r[name] for r in per_layer], axis=1) for name in names}
    if per_layer:
        total = result["energy_mac_pj"]
        for level in ENERGY_LEVELS[1:]:
            total = total + result[f"energy_{level}_pj"]
        result["energy_pj"] = total
    return result
