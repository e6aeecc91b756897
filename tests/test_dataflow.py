"""Hand-worked row-stationary examples: every count derived here from the data movement.

The model is described in docs/dataflow.md. Each example fixes a mapping and derives, from
what moves where, the access counts and cycles; the expected numbers are worked out in the
comments, never copied from the code's output.
"""

from __future__ import annotations

import pytest

from qappac.dataflow import (
    CSV_COLUMNS,
    EnergyTable,
    default_energy_table,
    schedule,
    schedule_csv,
    schedule_table_md,
)
from qappac.dataflow.model import (
    DramPort,
    DramTraffic,
    cost_mac_layer,
    cost_vector_layer,
    dram_port,
    dram_traffic,
)
from qappac.ir import FC, Accelerator, Add, Conv, Design, Network, PEType, Pool, Shape
from qappac.shapes import layer_shapes

INT8 = PEType(family="int", act_bits=8, weight_bits=8)  # 8-bit act/weight, 24-bit psum
TABLE = default_energy_table()


def small_array(**changes: object) -> Accelerator:
    base = dict(
        name="small",
        pe=INT8,
        rows=3,
        cols=4,
        spad_ifmap=12,
        spad_filter=224,
        spad_psum=24,
        glb_bytes=65536,
        dram_gb_per_s=1.0,
        clock_mhz=200.0,
    )
    base.update(changes)
    return Accelerator(**base)  # type: ignore[arg-type]


def only_layer(network: Network):  # type: ignore[no-untyped-def]
    return layer_shapes(network)[0]


# --------------------------------------------------------------------------- example 1


def conv3x3() -> Network:
    # 4 x 8 x 8 input, 8 filters of 3 x 3, stride 1, pad 1 -> 8 x 8 x 8 output.
    return Network(
        name="c",
        input=Shape(c=4, h=8, w=8),
        layers=(
            Conv(name="conv", inputs=("input",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),
        ),
    )


def test_conv3x3_on_3x4_array_hand_worked() -> None:
    layer = only_layer(conv3x3())
    cost = cost_mac_layer(layer, small_array(), 1, TABLE, e=4, n=1, p=4, q=2, r=1, t=1)
    assert cost is not None
    m, a = cost.mapping, cost.accesses
    assert m is not None
    # The PE set is R=3 filter rows x e=4 output rows: exactly the 3 x 4 array, one set.
    # E=8 output rows -> 2 strips of 4. 8 filters in p=4 per PE -> 2 filter tiles;
    # 4 channels in q=2 per PE -> 2 channel tiles; 2*2*2 = 8 array passes.
    assert (m.set_rows, m.set_cols, m.folds, m.strips) == (3, 4, 1, 2)
    assert m.array_passes == 8
    assert cost.active_pes == 12
    # MACs: 8 filters x 8 x 8 outputs x 4 channels x 9 taps = 18432.
    assert a.macs == 18432
    # DRAM ifmap: strip 0 (output rows 0-3) reads padded rows 0..5 = real rows 0..4 (5 rows),
    # strip 1 (rows 4-7) padded rows 4..9 = real rows 3..7 (5 rows); 8 real columns,
    # 4 channels, both filter tiles share one GLB block: (5 + 5) * 8 * 4 = 320. (GLB: ifmap
    # tile 2 ch x 5 rows x 8 cols x 8 bits = 640, filter tile 4 x 2 x 3 x 3 x 8 = 576, psums
    # of a filter tile 4 x 4 x 8 x 24 = 3072 bits: both tiles fit the 524288 bits.)
    # (256 input words, the 2 overlapping rows x 8 x 4 = 64 read twice.)
    assert a.dram_ifmap_reads == 320
    assert a.glb_ifmap_writes == 320
    # Each filter tile re-reads the strips from the GLB: 2 tiles x 320 = 640.
    assert a.glb_ifmap_reads == 640
    # Filters: 8 x 4 x 9 = 288 weights, loaded once per strip: 576 from DRAM via the GLB.
    assert a.dram_filter_reads == 576
    assert (a.glb_filter_writes, a.glb_filter_reads) == (576, 576)
    # Outputs 8 x 8 x 8 = 512 written once.
    assert a.dram_ofmap_writes == 512
    # Psums: each output gets one accumulation per pass over it (2 channel tiles x 1 fold);
    # each is a GLB read-modify-write (the first pass writes without reading, the read-out
    # to DRAM is the last read): 1024 each.
    assert (a.glb_psum_reads, a.glb_psum_writes) == (1024, 1024)
    # NoC ifmap: each of the 8 x 3 (output row, filter row) PE slots receives, for each of the
    # 2 filter groups and 4 channels, one padded input row of 10 words: 24*2*4*10 = 1920.
    assert a.noc_ifmap == 1920 == a.spad_ifmap_writes
    # NoC filter: each weight row goes to the 4 columns of its strip, for both strips:
    # 288 weights x 8 output rows = 2304.
    assert a.noc_filter == 2304 == a.spad_filter_writes
    # NoC psum: per output and channel tile, 2 PE-to-PE hops up the column + 1 to the GLB.
    assert a.noc_psum == 512 * 2 * 3
    # Spads: every MAC reads ifmap and filter and writes its psum (18432 each); the first MAC
    # of each psum window (output x 2 channel chunks x 3 filter rows = 3072 windows) starts
    # from zero without reading: 18432 - 3072 psum reads. The psum chain is combinational.
    assert (a.spad_ifmap_reads, a.spad_filter_reads) == (18432, 18432)
    assert a.spad_psum_reads == 18432 - 3072
    assert a.spad_psum_writes == 18432
    # Cycles per pass: fill p*q*S = 24 filter words; one step per image: q*S = 6 preload,
    # F * p*q*S = 8 * 24 = 192 compute -> 198; 8 passes x 222.
    assert cost.compute_cycles == 8 * (24 + 198) == 1776
    # DRAM: 40 bits/cycle, 8-bit words: beats of 5 words, 1 cycle each. Phases, serial:
    # LOAD_IFMAP per (strip, channel tile): 2 ch x 5 rows x 8 cols = 80 words = 16 beats,
    #   4 of them: 64;
    # LOAD_FILTER per (strip, channel tile, filter tile): 4 x 2 x 3 x 3 = 72 words = 15
    #   beats (14.4 rounded up), 8 of them: 120;
    # WRITE_OFMAP per strip: 8 filters x 4 rows x 8 cols = 256 words = 52 beats, 2: 104.
    assert dram_traffic(layer, small_array(), 1, m) == DramTraffic(64, 120, 104, 288)
    assert cost.stall_cycles == 288
    assert cost.cycles == 1776 + 288


def test_conv3x3_stalls_when_dram_is_slow() -> None:
    layer = only_layer(conv3x3())
    slow = small_array(dram_gb_per_s=0.01)  # 0.01e9 B/s / 200e6 Hz = 0.05 B = 0.4 bit/cycle
    # An 8-bit word per beat, ceil(8 / 0.4) = 20 cycles per beat.
    assert dram_port(slow) == DramPort(8, 8, 1, 20, 1, 20)
    cost = cost_mac_layer(layer, slow, 1, TABLE, e=4, n=1, p=4, q=2, r=1, t=1)
    assert cost is not None
    # (320 + 576 + 512) words, one beat each, 20 cycles per beat: 28160 cycles of DRAM,
    # after (not under) the 1776 of compute.
    assert cost.stall_cycles == 28160
    assert cost.cycles == 1776 + 28160


def test_mapping_that_does_not_fit_is_rejected() -> None:
    layer = only_layer(conv3x3())
    # q*S = 5*3 = 15 ifmap words exceed the 12-word ifmap spad.
    assert cost_mac_layer(layer, small_array(), 1, TABLE, e=4, n=1, p=4, q=5, r=1, t=1) is None
    # p = 25 psums exceed the 24-word psum spad.
    assert cost_mac_layer(layer, small_array(), 1, TABLE, e=4, n=1, p=25, q=1, r=1, t=1) is None
    # two 3 x 4 sets do not fit a 3 x 4 array.
    assert cost_mac_layer(layer, small_array(), 1, TABLE, e=4, n=1, p=4, q=1, r=1, t=2) is None
    # a GLB too small for one psum tile (4 filters x 4 rows x 8 cols x 24 bits = 3072 bits).
    tiny = small_array(glb_bytes=300)
    assert cost_mac_layer(layer, tiny, 1, TABLE, e=4, n=1, p=4, q=2, r=1, t=1) is None


# --------------------------------------------------------------------------- example 2


def test_strided_conv_hand_worked() -> None:
    # 2 x 9 x 9 input, 4 filters 3 x 3, stride 2, no pad -> 4 x 4 x 4 output.
    net = Network(
        name="s",
        input=Shape(c=2, h=9, w=9),
        layers=(
            Conv(name="conv", inputs=("input",), out_channels=4, kernel_h=3, kernel_w=3, stride=2),
        ),
    )
    layer = only_layer(net)
    assert (layer.E, layer.F) == (4, 4)
    cost = cost_mac_layer(layer, small_array(), 1, TABLE, e=4, n=1, p=2, q=2, r=1, t=1)
    assert cost is not None
    a = cost.accesses
    # One 3 x 4 set, one strip; 4 filters / p=2 -> 2 tiles; 2 channels, q=2 -> 1 channel tile.
    assert cost.mapping is not None and cost.mapping.array_passes == 2
    # MACs: 4 x 4 x 4 outputs x 2 channels x 9 = 1152.
    assert a.macs == 1152
    # Output row o, filter row i reads input row 2o + i: rows 0..8, all 9 columns
    # ((4-1)*2 + 3 = 9): the whole 2 x 9 x 9 = 162 input, read once from DRAM.
    assert a.dram_ifmap_reads == 162
    # Two filter tiles each read it from the GLB: 324.
    assert a.glb_ifmap_reads == 324
    # 12 PEs x 2 filter groups x 2 channels x 9-word rows = 432 NoC words.
    assert a.noc_ifmap == 432
    # 4 x 2 x 9 = 72 weights, one strip: 72 from DRAM; each to the 4 PEs of its row: 288.
    assert a.dram_filter_reads == 72
    assert a.noc_filter == 288
    # 64 outputs, one channel tile: one GLB write and one read each; 3 psum hops each.
    assert a.dram_ofmap_writes == 64
    assert (a.glb_psum_reads, a.glb_psum_writes) == (64, 64)
    assert a.noc_psum == 192
    # 64 outputs x 1 channel chunk x 3 filter rows = 192 windows, each skipping one read.
    assert a.spad_psum_reads == 1152 - 192
    assert a.spad_psum_writes == 1152
    # Pass: fill 2*2*3 = 12; step 6 + 4 * 12 = 54; 2 passes: 132.
    assert cost.compute_cycles == 132


# --------------------------------------------------------------------------- example 3


def test_fc_hand_worked() -> None:
    # FC over a flattened 8 x 2 x 2 map (C = 32) into 10 outputs, batch 2.
    net = Network(
        name="f",
        input=Shape(c=8, h=2, w=2),
        layers=(FC(name="fc", inputs=("input",), out_features=10),),
    )
    layer = only_layer(net)
    assert (layer.C, layer.R, layer.E) == (32, 1, 1)
    cost = cost_mac_layer(layer, small_array(), 2, TABLE, e=1, n=2, p=4, q=8, r=2, t=3)
    assert cost is not None
    a = cost.accesses
    # A 1 x 1 PE set per (channel group, filter group): r*t = 6 of the 12 PEs.
    assert cost.active_pes == 6
    # 10 filters, p=4 -> 3 filter groups (4, 4, 2), all in one tile of t=3 sets;
    # 32 channels, q=8 -> 4 chunks, r=2 at a time -> 2 channel tiles; 2 passes.
    assert cost.mapping is not None and cost.mapping.array_passes == 2
    # MACs: 2 images x 10 x 32 = 640.
    assert a.macs == 640
    # Both images' 32 inputs read once (64); the 320 weights read once, reused by both
    # images (n = 2 streams both over the resident weights).
    assert a.dram_ifmap_reads == 64
    assert a.dram_filter_reads == 320
    assert a.dram_ofmap_writes == 20
    # Every input word is multicast to the 3 filter sets: 64 GLB reads, 192 NoC transfers.
    assert a.glb_ifmap_reads == 64
    assert a.noc_ifmap == 192
    assert a.noc_filter == 320
    # Each output gets 4 psum contributions (one per 8-channel chunk), each 1 NoC transfer
    # (sets are 1 PE tall); the r = 2 chunks of a pass are added in the NoC, so the GLB does
    # one read-modify-write per output and channel tile: 20 x 2 = 40.
    assert a.noc_psum == 80
    assert (a.glb_psum_reads, a.glb_psum_writes) == (40, 40)
    # 80 windows of 8 MACs, each starting from zero: 640 - 80 reads, 640 writes.
    assert (a.spad_psum_reads, a.spad_psum_writes) == (560, 640)
    # Pass: fill 4*8 = 32; per image step 8 + 1*32 = 40; 2 images: 112; 2 passes.
    assert cost.compute_cycles == 224


# --------------------------------------------------------------------------- DRAM phases


def remainders() -> Network:
    # 3 x 7 x 7 input, 3 filters of 5 x 5, pad 1 -> 3 x 5 x 5 output. On a 3 x 4 array with
    # e=2, n=2, p=2, q=2, r=1, t=1 and batch 3 every loop of docs/accelerator.md section 1 has
    # a shorter last iteration: strips of 2, 2, 1 output rows; image blocks of 2, 1; channel
    # tiles of 2, 1; filter tiles of 2, 1; folds of 3, 2 filter rows.
    return Network(
        name="r",
        input=Shape(c=3, h=7, w=7),
        layers=(
            Conv(name="conv", inputs=("input",), out_channels=3, kernel_h=5, kernel_w=5, pad=1),
        ),
    )


def test_dram_phases_with_remainders_hand_worked() -> None:
    layer = only_layer(remainders())
    assert (layer.E, layer.F) == (5, 5)
    # GLB: row hulls of the strips (output rows [0,2), [2,4), [4,5) read padded rows
    # [0,5], [2,7], [4,8], real rows [0,4], [1,6], [3,6]): 5, 6, 4 rows, widest 6; column
    # hull min(7, 4 + 5 - 1) = 7. Ifmap tile 2 ch x 6 x 7 x 2 images x 8 bits = 1344 bits,
    # filter tile 2 x 2 x 3 rows x 5 x 8 = 480, psums of a filter tile 2 x 2 rows x 5 x 2 x
    # 24 = 960: 3000 bits hold one filter tile's psums (1824 + 960), not two: 2 GLB blocks
    # of 2 and 1 filters.
    acc = small_array(glb_bytes=375)
    cost = cost_mac_layer(layer, acc, 3, TABLE, e=2, n=2, p=2, q=2, r=1, t=1)
    assert cost is not None and cost.mapping is not None
    m = cost.mapping
    assert (m.set_rows, m.folds, m.strips, m.m) == (3, 2, 3, 2)
    assert m.glb_passes == 2 * 3 * 2  # image blocks x strips x GLB blocks
    # Compute: 3 strips x 2 filter tiles x 2 channel tiles x 2 folds = 24 passes per image
    # block; a pass is fill 2*2*5 = 20, per image 2*5 + 5*20 = 110: 2 fills + 3 images.
    assert cost.compute_cycles == 24 * (2 * 20 + 3 * 110) == 8880
    # 40 bits/cycle: 5 words per beat, 1 cycle per beat.
    # LOAD_IFMAP (per GLB block) nb * ch * rows * 7 words -> beats:
    #   2 images: ch 2: 140, 168, 112 -> 28 + 34 + 23; ch 1: 70, 84, 56 -> 14 + 17 + 12
    #   1 image:  ch 2: 70, 84, 56 -> 14 + 17 + 12;    ch 1: 35, 42, 28 -> 7 + 9 + 6
    #   = 193 per block, 2 blocks: 386.
    # LOAD_FILTER per (image block, strip): f * ch * h * 5 words, over (f, ch) in
    #   (2,2), (2,1), (1,2), (1,1) and h in 3, 2: 60 40 30 20 30 20 15 10 -> 12 + 8 + 6 + 4
    #   + 6 + 4 + 3 + 2 = 45, x 2 image blocks x 3 strips: 270.
    # WRITE_OFMAP nb * mb * er * 5 words: 2 images: 40 20 | 40 20 | 20 10 -> 8 4 8 4 4 2;
    #   1 image: 20 10 | 20 10 | 10 5 -> 4 2 4 2 2 1: 45.
    assert dram_traffic(layer, acc, 3, m) == DramTraffic(386, 270, 45, 386 + 270 + 45)
    assert cost.stall_cycles == 701
    assert cost.cycles == 8880 + 701
    # Words: ifmap 3 images x 2 blocks x 3 ch x (5 + 6 + 4) rows x 7 = 1890; filters 2 x 3
    # x 225 = 1350; outputs 3 x 3 x 25 = 225.
    a = cost.accesses
    assert (a.dram_ifmap_reads, a.dram_filter_reads, a.dram_ofmap_writes) == (1890, 1350, 225)


def test_dram_phases_when_a_word_takes_several_cycles() -> None:
    layer = only_layer(remainders())
    # 0.08 GB/s at 200 MHz: 3.2 bits per cycle; an 8-bit word is one beat of ceil(8 / 3.2)
    # = 3 cycles.
    acc = small_array(glb_bytes=375, dram_gb_per_s=0.08)
    assert dram_port(acc) == DramPort(8, 8, 1, 3, 1, 3)
    cost = cost_mac_layer(layer, acc, 3, TABLE, e=2, n=2, p=2, q=2, r=1, t=1)
    assert cost is not None and cost.mapping is not None
    # One beat per word: 1890 + 1350 + 225 beats, 3 cycles each.
    assert dram_traffic(layer, acc, 3, cost.mapping) == DramTraffic(1890, 1350, 225, 10395)
    assert cost.cycles == 8880 + 10395


def test_dram_port_words_per_beat() -> None:
    # 40 bits per cycle: 5 8-bit words per beat; a 40-bit port.
    port = dram_port(small_array())
    assert port == DramPort(8, 8, 5, 1, 5, 1) and port.width_bits == 40
    # LightNN 8-bit activations, 4-bit weights at 6 bits per cycle (0.15 GB/s, 200 MHz):
    # activations 1 word per 2-cycle beat, weights 1 word per 1-cycle beat.
    light = PEType(family="light", act_bits=8, weight_bits=4, terms=1)
    port = dram_port(small_array(pe=light, dram_gb_per_s=0.15))
    assert port == DramPort(8, 4, 1, 2, 1, 1) and port.width_bits == 8
    # Exactly 16 bits per cycle (0.4 GB/s) for 16-bit words: 1 word, 1 cycle (no rounding
    # down to 0 words from floating error).
    int16 = PEType(family="int", act_bits=16, weight_bits=16)
    port = dram_port(small_array(pe=int16, dram_gb_per_s=0.4))
    assert (port.ifmap_words, port.ifmap_cycles) == (1, 1)


def test_stride_beyond_the_kernel_loads_the_hull() -> None:
    # 1 x 5 x 5 input, 2 filters 1 x 1 stride 2 -> 2 x 3 x 3: output rows 0, 1, 2 read input
    # rows 0, 2, 4 (and the same columns).
    net = Network(
        name="h",
        input=Shape(c=1, h=5, w=5),
        layers=(
            Conv(name="conv", inputs=("input",), out_channels=2, kernel_h=1, kernel_w=1, stride=2),
        ),
    )
    layer = only_layer(net)
    cost = cost_mac_layer(layer, small_array(), 1, TABLE, e=3, n=1, p=2, q=1, r=1, t=1)
    assert cost is not None
    a = cost.accesses
    # DRAM loads the row hull [0, 4] x the column hull [0, 4]: 25 words, stored in the GLB.
    assert a.dram_ifmap_reads == a.glb_ifmap_writes == 25
    # The array reads only the 3 x 3 rows and columns it uses.
    assert a.glb_ifmap_reads == 9
    assert a.noc_ifmap == 9


# --------------------------------------------------------------------------- pool and add


def test_pool_and_add_run_on_the_vector_unit() -> None:
    net = Network(
        name="p",
        input=Shape(c=2, h=4, w=4),
        layers=(
            Pool(name="pool", inputs=("input",), op="max", kernel=2, stride=2),
            Add(name="add", inputs=("pool", "pool")),
        ),
    )
    pool, add = layer_shapes(net)
    acc = small_array()
    c = cost_vector_layer(pool, acc, 1, TABLE)
    # 32 inputs in, 2 x 2 x 2 = 8 outputs out; each output reads its 4 window words.
    assert (c.accesses.dram_ifmap_reads, c.accesses.dram_ofmap_writes) == (32, 8)
    assert c.accesses.glb_ifmap_reads == 32
    assert c.accesses.macs == 0 and c.mapping is None
    # 32 reads over 4 lanes: 8 cycles. DRAM at 5 words per beat, serial: load 32 words in
    # 7 beats, write 8 in 2.
    assert c.compute_cycles == 8
    assert c.stall_cycles == 7 + 2
    assert dram_traffic(pool, acc, 1, None) == DramTraffic(7, 0, 2, 9)
    c = cost_vector_layer(add, acc, 1, TABLE)
    # Two 8-word operands in, 8 words out; 16 reads over 4 lanes; 16 words in 4 beats, 8 in 2.
    assert (c.accesses.dram_ifmap_reads, c.accesses.dram_ofmap_writes) == (16, 8)
    assert c.compute_cycles == 4
    assert c.stall_cycles == 4 + 2


# --------------------------------------------------------------------------- API


def design(network: Network, **changes: object) -> Design:
    return Design(name="d", accelerator=small_array(**changes), network=network)


def test_schedule_reports_every_layer_and_renders() -> None:
    net = Network(
        name="n",
        input=Shape(c=4, h=8, w=8),
        layers=(
            Conv(name="conv", inputs=("input",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),
            Pool(name="pool", inputs=("conv",), op="max", kernel=2, stride=2),
            FC(name="fc", inputs=("pool",), out_features=10),
        ),
    )
    schedules = schedule(design(net))
    assert [s.layer for s in schedules] == ["conv", "pool", "fc"]
    assert schedules[0].macs == 18432 and schedules[2].macs == 8 * 4 * 4 * 10
    csv = schedule_csv(schedules)
    lines = csv.split("\n")
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert len(lines) == 5 and lines[-1] == "" and "\r" not in csv
    assert lines[2].startswith("pool,pool,,")
    md = schedule_table_md(schedules)
    assert md.count("\n") == 5 and md.startswith("| layer |")
    # Deterministic bytes.
    assert schedule_csv(schedule(design(net))) == csv


def test_energy_comes_only_from_the_table() -> None:
    net = conv3x3()
    zero = EnergyTable(0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0)
    s = schedule(design(net), zero)[0]
    assert s.energy.total == 0
    dram_only = EnergyTable(0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1.0)
    s = schedule(design(net), dram_only)[0]
    a = s.accesses
    # 1 pJ per DRAM bit; all three tensors are 8 bits wide.
    bits = 8 * (a.dram_ifmap_reads + a.dram_filter_reads + a.dram_ofmap_writes)
    assert s.energy.total == pytest.approx(bits)
    assert s.energy.dram == pytest.approx(bits)
