"""Properties of the row-stationary engine over random layers and accelerators (hypothesis)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qappac.dataflow import (
    ACCESS_FIELDS,
    ENERGY_LEVELS,
    MAPPING_FIELDS,
    MappingError,
    accelerator_arrays,
    default_energy_table,
    evaluate,
    schedule_layer,
)
from qappac.dataflow.model import DramTraffic, Mapping, cost_mac_layer, dram_traffic
from qappac.dataflow.search import candidate_table
from qappac.ir import FC, Accelerator, Conv, Network, PEType, Shape
from qappac.shapes import LayerShape, layer_shapes

PES = (
    PEType(family="int", act_bits=8, weight_bits=8),
    PEType(family="int", act_bits=16, weight_bits=16),
    PEType(family="fp", act_bits=32, weight_bits=32),
    PEType(family="light", act_bits=8, weight_bits=4, terms=1),
)
# Per-access energies fixed: no dependence on memory size.
FIXED = dataclasses.replace(default_energy_table(), glb_exponent=0.0, spad_exponent=0.0)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layers(draw: st.DrawFn) -> LayerShape:
    if draw(st.booleans()) and draw(st.booleans()):
        c, h = draw(st.integers(1, 6)), draw(st.integers(1, 3))
        net = Network(
            name="n",
            input=Shape(c=c, h=h, w=h),
            layers=(FC(name="fc", inputs=("input",), out_features=draw(st.integers(1, 12))),),
        )
        return layer_shapes(net)[0]
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c = groups * draw(st.integers(1, 4))
    m = groups * draw(st.integers(1, 5))
    if draw(st.integers(0, 4)) == 0:  # depthwise
        groups, m = c, c
    h = draw(st.integers(1, 12))
    w = draw(st.integers(1, 12))
    pad = draw(st.integers(0, 2))
    r = draw(st.integers(1, min(5, h + 2 * pad)))
    s = draw(st.integers(1, min(5, w + 2 * pad)))
    stride = draw(st.integers(1, 3))
    net = Network(
        name="n",
        input=Shape(c=c, h=h, w=w),
        layers=(
            Conv(
                name="conv",
                inputs=("input",),
                out_channels=m,
                kernel_h=r,
                kernel_w=s,
                stride=stride,
                pad=pad,
                groups=groups,
            ),
        ),
    )
    return layer_shapes(net)[0]


@st.composite
def accelerators(draw: st.DrawFn) -> Accelerator:
    return Accelerator(
        name="a",
        pe=draw(st.sampled_from(PES)),
        rows=draw(st.integers(1, 6)),
        cols=draw(st.integers(1, 6)),
        spad_ifmap=draw(st.integers(5, 24)),
        spad_filter=draw(st.integers(5, 128)),
        spad_psum=draw(st.integers(1, 24)),
        glb_bytes=draw(st.sampled_from([2048, 8192, 65536])),
        dram_gb_per_s=draw(st.sampled_from([0.05, 0.5, 4.0])),
        clock_mhz=draw(st.sampled_from([100.0, 200.0])),
    )


def scheduled(
    layer: LayerShape, acc: Accelerator, batch: int, objective: str = "energy", table=FIXED
):  # type: ignore[no-untyped-def]
    try:
        return schedule_layer(layer, acc, batch, objective, table)  # type: ignore[arg-type]
    except MappingError:
        assume(False)
        raise


def used_inputs(layer: LayerShape) -> int:
    """Input words that feed at least one MAC (numpy reference, per image)."""
    rows = np.zeros(layer.H, dtype=bool)
    cols = np.zeros(layer.W, dtype=bool)
    for o in range(layer.E):
        for i in range(layer.R):
            if 0 <= o * layer.U + i - layer.pad < layer.H:
                rows[o * layer.U + i - layer.pad] = True
    for f in range(layer.F):
        for j in range(layer.S):
            if 0 <= f * layer.U + j - layer.pad < layer.W:
                cols[f * layer.U + j - layer.pad] = True
    return int(rows.sum()) * int(cols.sum()) * layer.C


@SETTINGS
@given(layers(), accelerators(), st.integers(1, 3))
def test_conservation_and_compulsory_traffic(
    layer: LayerShape, acc: Accelerator, batch: int
) -> None:
    s = scheduled(layer, acc, batch)
    a = s.accesses
    outputs = batch * layer.M * layer.E * layer.F
    assert a.macs == batch * layer.macs
    assert a.spad_ifmap_reads == a.spad_filter_reads == a.macs
    # Every weight, every used input and every output crosses the DRAM boundary at least once.
    assert a.dram_filter_reads >= layer.weights
    assert a.dram_ifmap_reads >= batch * used_inputs(layer)
    assert a.dram_ofmap_writes >= outputs
    # Nothing reaches a level without passing the one above it.
    assert a.glb_ifmap_writes == a.dram_ifmap_reads
    if layer.U <= min(layer.R, layer.S):
        # The row and column hulls DRAM loads are exactly the rows and columns read (a
        # stride beyond the kernel loads skipped rows and columns that are never read).
        assert a.glb_ifmap_reads >= a.glb_ifmap_writes
    assert a.glb_filter_reads >= layer.weights and a.noc_filter >= a.glb_filter_reads
    assert a.noc_ifmap >= a.glb_ifmap_reads
    assert a.glb_psum_writes >= outputs and a.glb_psum_reads >= outputs
    assert a.noc_psum >= outputs
    # The array does at most one MAC per PE per cycle.
    assert s.cycles * acc.pes >= a.macs
    assert s.compute_cycles * s.active_pes >= a.macs
    assert 0 < s.active_pes <= acc.pes
    assert s.mapping is not None and s.mapping.m % (s.mapping.p * s.mapping.t) == 0


@SETTINGS
@given(
    layers(),
    st.lists(accelerators(), min_size=1, max_size=5),
    st.integers(1, 3),
    st.sampled_from(["energy", "latency", "edp"]),
)
def test_scalar_and_vectorized_paths_agree_exactly(
    layer: LayerShape, accs: list[Accelerator], batch: int, objective: str
) -> None:
    table = default_energy_table()
    out = evaluate(accelerator_arrays(accs), [layer], batch, objective, table)  # type: ignore[arg-type]
    for i, acc in enumerate(accs):
        try:
            s = schedule_layer(layer, acc, batch, objective, table)  # type: ignore[arg-type]
        except MappingError:
            assert not out["ok"][i, 0]
            continue
        assert out["ok"][i, 0]
        assert s.mapping is not None
        for name in MAPPING_FIELDS:
            assert out[name][i, 0] == getattr(s.mapping, name), name
        for name in ACCESS_FIELDS:
            assert out[name][i, 0] == getattr(s.accesses, name), name
        assert out["compute_cycles"][i, 0] == s.compute_cycles
        assert out["stall_cycles"][i, 0] == s.stall_cycles
        assert out["active_pes"][i, 0] == s.active_pes
        for level in ENERGY_LEVELS:
            assert out[f"energy_{level}_pj"][i, 0] == getattr(s.energy, level), level
        assert out["energy_pj"][i, 0] == s.energy.total


def loop_nest_dram(layer: LayerShape, acc: Accelerator, batch: int, m: Mapping) -> DramTraffic:
    """The DRAM phases of docs/accelerator.md section 1, one by one (a slow reference)."""
    from math import ceil, floor

    from qappac.numerics import format_of

    fmt = format_of(acc.pe)
    bpc = acc.dram_gb_per_s * 8000 / acc.clock_mhz

    def beat(width: int) -> tuple[int, int]:
        if floor(bpc / width + 1e-9) >= 1:
            return floor(bpc / width + 1e-9), 1
        return 1, ceil(width / bpc - 1e-9)

    (li, di), (lw, dw) = beat(fmt.ifmap_bits), beat(fmt.filter_bits)
    N, G, R, S, E, F = batch, layer.G, layer.R, layer.S, layer.E, layer.F
    U, pad = layer.U, layer.pad
    Cg, Mg = layer.C // G, layer.M // G
    e, n, p, q, r, t, height = m.set_cols, m.n, m.p, m.q, m.r, m.t, m.set_rows
    k = m.m // (p * t)
    tiles = -(-Mg // (p * t))
    cols = [f * U + x for f in range(F) for x in range(S)]  # padded columns read
    wu = max(0, min(layer.W - 1, max(cols) - pad) - max(0, min(cols) - pad) + 1)
    ifmap = filters = ofmap = 0
    for _g in range(G):
        for b in range(0, N, n):
            nb = min(n, N - b)
            for lo in range(0, E, e):
                er = min(e, E - lo)
                read = [o * U + i for o in range(lo, lo + er) for i in range(R)]
                rows = max(0, min(layer.H - 1, max(read) - pad) - max(0, min(read) - pad) + 1)
                for blk in range(0, tiles, k):
                    ft_of_blk = range(blk, min(tiles, blk + k))
                    for ct in range(0, Cg, q * r):
                        ch = min(q * r, Cg - ct)
                        ifmap += -(-(nb * ch * rows * wu) // li)
                        for ft in ft_of_blk:
                            f = min(p * t, Mg - ft * p * t)
                            for fold in range(0, R, height):
                                h = min(height, R - fold)
                                filters += -(-(f * ch * h * S) // lw)
                    mb = sum(min(p * t, Mg - ft * p * t) for ft in ft_of_blk)
                    ofmap += -(-(nb * mb * er * F) // li)
    return DramTraffic(ifmap, filters, ofmap, (ifmap + ofmap) * di + filters * dw)


@SETTINGS
@given(layers(), accelerators(), st.integers(1, 3))
def test_dram_phases_summed_by_class_match_the_loop_nest(
    layer: LayerShape, acc: Accelerator, batch: int
) -> None:
    s = scheduled(layer, acc, batch)
    assert s.mapping is not None
    traffic = dram_traffic(layer, acc, batch, s.mapping)
    assert traffic == loop_nest_dram(layer, acc, batch, s.mapping)
    assert s.stall_cycles == traffic.cycles
    assert s.cycles == s.compute_cycles + traffic.cycles


def objective_value(s, objective: str) -> float:  # type: ignore[no-untyped-def]
    if objective == "energy":
        return float(s.energy.total)
    if objective == "latency":
        return float(s.cycles)
    return float(s.energy.total) * s.cycles


@SETTINGS
@given(
    layers(),
    accelerators(),
    st.integers(1, 3),
    st.sampled_from(["energy", "latency", "edp"]),
    st.sampled_from(["dram_gb_per_s", "glb_bytes", "spad_ifmap", "spad_filter", "spad_psum"]),
)
def test_more_resources_never_make_the_optimum_worse(
    layer: LayerShape, acc: Accelerator, batch: int, objective: str, grown: str
) -> None:
    before = scheduled(layer, acc, batch, objective)
    value = getattr(acc, grown)
    bigger = acc.model_copy(update={grown: value * 2 if grown != "spad_psum" else value + 3})
    after = schedule_layer(layer, bigger, batch, objective, FIXED)  # type: ignore[arg-type]
    assert objective_value(after, objective) <= objective_value(before, objective) * (1 + 1e-12)


@SETTINGS
@given(layers(), accelerators(), st.integers(1, 2), st.sampled_from(["energy", "latency", "edp"]))
def test_search_finds_the_best_candidate_of_the_scalar_model(
    layer: LayerShape, acc: Accelerator, batch: int, objective: str
) -> None:
    chosen = scheduled(layer, acc, batch, objective)
    c = candidate_table(layer, batch, acc.rows, acc.cols)
    best = None
    # Tier 1 (the best-filling candidates) first; the rest only if no tier-1 candidate fits.
    for tier in (range(c.tier1), range(c.tier1, c.size)):
        for i in tier:
            e, n, p, q, r, t = (int(x[i]) for x in (c.e, c.n, c.p, c.q, c.r, c.t))
            cost = cost_mac_layer(layer, acc, batch, FIXED, e, n, p, q, r, t)
            if cost is None:
                continue
            key = search_key(cost.energy.total, cost.compute_cycles, cost.cycles, objective)
            best = key if best is None or key < best else best
        if best is not None:
            break
    assert best is not None
    got = search_key(chosen.energy.total, chosen.compute_cycles, chosen.cycles, objective)
    assert np.isclose(got[0], best[0], rtol=1e-12, atol=0)


def search_key(energy: float, compute: int, cycles: int, objective: str) -> tuple[float, float]:
    """What the search minimizes (docs/dataflow.md section 8)."""
    if objective == "energy":
        return (energy, compute)
    if objective == "latency":
        return (cycles, energy)
    return (energy * cycles, cycles)


def test_evaluate_matches_schedule_on_a_whole_network() -> None:
    """Conv, FC, pool and add layers, repeated shapes, several array shapes, all objectives."""
    from qappac.ir import Add, Design, Pool

    net = Network(
        name="n",
        input=Shape(c=4, h=10, w=10),
        layers=(
            Conv(name="a", inputs=("input",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),
            Conv(name="b", inputs=("a",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),
            Conv(name="c", inputs=("b",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),
            Add(name="sum", inputs=("a", "c")),
            Pool(name="pool", inputs=("sum",), op="max", kernel=2, stride=2),
            Conv(name="s2", inputs=("pool",), out_channels=16, kernel_h=1, kernel_w=1, stride=2),
            FC(name="fc", inputs=("s2",), out_features=10),
        ),
    )
    accs = [
        Accelerator(
            name=f"a{i}",
            pe=pe,
            rows=rows,
            cols=cols,
            spad_ifmap=si,
            spad_filter=64,
            spad_psum=8,
            glb_bytes=glb,
            dram_gb_per_s=bw,
            clock_mhz=200.0,
        )
        for i, (pe, (rows, cols), si, glb, bw) in enumerate(
            [
                (PES[0], (3, 4), 12, 8192, 1.0),
                (PES[1], (3, 4), 6, 8192, 0.1),
                (PES[2], (4, 4), 12, 65536, 1.0),
                (PES[3], (2, 8), 24, 4096, 0.5),
                (PES[0], (3, 4), 12, 8192, 1.0),
            ]
        )
    ]
    shapes = layer_shapes(net)
    for objective in ("energy", "latency", "edp"):
        out = evaluate(accelerator_arrays(accs), shapes, 2, objective)  # type: ignore[arg-type]
        for i, acc in enumerate(accs):
            design = Design(name="d", accelerator=acc, network=net, batch=2, objective=objective)  # type: ignore[arg-type]
            from qappac.dataflow import schedule

            for j, s in enumerate(schedule(design)):
                assert out["ok"][i, j]
                assert out["cycles"][i, j] == s.cycles
                assert out["active_pes"][i, j] == s.active_pes
                for name in ACCESS_FIELDS:
                    assert out[name][i, j] == getattr(s.accesses, name), (s.layer, name)
                assert out["energy_pj"][i, j] == s.energy.total
                if s.mapping is not None:
                    assert out["m"][i, j] == s.mapping.m
