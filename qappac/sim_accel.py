"""`qappac sim --layer`: run one layer on the generated accelerator and check it.

The generated RTL (`qappac.rtl_accel`) is built with Verilator together with a C++ testbench
(`backends/sim/accel_bench.cpp`) that only writes the configuration registers and serves the
DRAM port. The host side (`qappac.accel_host`) lays the layer's quantized data out in DRAM and
computes the bit-exact reference; this module compares the ofmap bit for bit, and the cycles
and every access counter with the dataflow model (docs/accelerator.md).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Mapping as StrMapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

import qappac.accel_host as accel_host
from qappac.dataflow.energy import default_energy_table
from qappac.dataflow.model import Cost, Mapping, cost_mac_layer, dram_port, dram_traffic
from qappac.ir import Accelerator
from qappac.numerics import format_of
from qappac.resources import data_dir
from qappac.rtl_accel import (
    COUNTER_NAMES,
    PE_CONFIG_BASE,
    REGISTERS,
    emit_accelerator,
    layer_registers,
    pe_config,
    port_of,
    top_name,
)
from qappac.shapes import LayerShape
from qappac.tools.verilator import build_cpp_simulation


@dataclass(frozen=True)
class LayerSimResult:
    """One layer on the RTL: outputs compared bit for bit, cycles and counters vs the model.

    `cycles` is counted by the testbench, from START to `done`; the RTL's own cycle counter
    is one of `counters`.
    """

    layer: str
    pe: str
    mapping: Mapping
    outputs: int
    mismatches: int
    cycles: int
    model_cycles: int
    counters: dict[str, int]
    model_counters: dict[str, int]
    sim_seconds: float

    @property
    def counter_differences(self) -> dict[str, tuple[int, int]]:
        """Counters where the RTL (first) and the model (second) disagree."""
        return {
            name: (self.counters[name], model)
            for name, model in self.model_counters.items()
            if self.counters[name] != model
        }

    @property
    def ok(self) -> bool:
        return (
            self.mismatches == 0
            and self.cycles == self.model_cycles
            and not self.counter_differences
        )


def describe(result: LayerSimResult) -> str:
    m = result.mapping
    lines = [
        f"layer {result.layer} on {result.pe}: mapping e={m.set_cols} n={m.n} p={m.p} q={m.q} "
        f"r={m.r} t={m.t} m={m.m} folds={m.folds} strips={m.strips}",
        f"  outputs: {result.outputs} compared, {result.mismatches} mismatches",
        f"  cycles: simulated {result.cycles}, modeled {result.model_cycles}",
        f"  counters: {len(result.model_counters)} compared, "
        f"{len(result.counter_differences)} differ",
        f"  simulation: {result.sim_seconds:.2f} s",
    ]
    for name, (rtl, model) in result.counter_differences.items():
        lines.append(f"    {name}: RTL {rtl}, model {model}")
    return "\n".join(lines)


def build_accelerator(accel: Accelerator, optimize: str = "-O0", trace: bool = False) -> Path:
    """The (cached) Verilator simulation of an accelerator's RTL (with VCD tracing when
    `trace`)."""
    bench = (data_dir("backends") / "sim" / "accel_bench.cpp").read_text()
    return build_cpp_simulation(
        emit_accelerator(accel, port_of(accel)),
        top_name(accel),
        bench,
        optimize=optimize,
        trace=trace,
    )


def model_of(layer: LayerShape, accel: Accelerator, batch: int, mapping: Mapping) -> Cost:
    """The dataflow model's cost of the layer under exactly this mapping."""
    cost = cost_mac_layer(
        layer,
        accel,
        batch,
        default_energy_table(),
        mapping.set_cols,
        mapping.n,
        mapping.p,
        mapping.q,
        mapping.r,
        mapping.t,
    )
    if cost is None or cost.mapping != mapping:
        raise ValueError(f"mapping {mapping} is not the model's mapping of layer {layer.name}")
    return cost


def simulate_layer(
    layer: LayerShape,
    accel: Accelerator,
    batch: int,
    mapping: Mapping,
    seed: int = 0,
    *,
    relu: bool = False,
    optimize: str = "-O0",
    vcd: Path | None = None,
    netlist: StrMapping[str, str] | None = None,
) -> LayerSimResult:
    """Run a conv or FC layer with random quantized data on the RTL and check everything.

    With `vcd`, every signal is dumped there from START to done (`qappac.activity` turns it
    into switching activities for power analysis). `netlist` simulates these sources
    instead of the RTL: a gate-level netlist of the accelerator with its cell models
    (`qappac.ppa.composition.gate_level_sources`); every traced net is dumped.
    """
    if layer.kind not in ("conv", "fc"):
        raise ValueError(
            f"layer {layer.name} ({layer.kind}) runs on the vector unit, not the array"
        )
    fmt = format_of(accel.pe)
    cost = model_of(layer, accel, batch, mapping)
    traffic = dram_traffic(layer, accel, batch, mapping)
    dram = dram_port(accel)
    ifmap, filt = accel_host.random_layer_data(fmt, layer, batch, seed)
    psums = accel_host.reference_psums(fmt, layer, mapping, batch, ifmap, filt)
    shift = accel_host.choose_shift(fmt, psums)
    expected = fmt.requantize(psums, shift, relu)
    ifmap_words, filter_words = accel_host.dram_image(layer, mapping, batch, ifmap, filt)

    registers = layer_registers(layer, accel, mapping, batch, port_of(accel), shift, relu)
    cfg = [(REGISTERS.index(name), value) for name, value in registers.items()]
    for pe, config in enumerate(pe_config(layer, accel, mapping)):
        for word, value in enumerate(config.words()):
            cfg.append((PE_CONFIG_BASE + 4 * pe + word, value))
    n_ofmap = int(expected.size)
    header = [
        fmt.ifmap_bits,
        fmt.filter_bits,
        dram.ifmap_cycles,
        dram.filter_cycles,
        len(ifmap_words),
        len(filter_words),
        n_ofmap,
        len(cfg),
        4 * cost.cycles + 1000,
    ]
    text = " ".join(map(str, header)) + "\n"
    text += "".join(f"{a} {v}\n" for a, v in cfg)
    text += "".join(f"{int(w):x}\n" for w in ifmap_words)
    text += "".join(f"{int(w):x}\n" for w in filter_words)

    if netlist is None:
        exe = build_accelerator(accel, optimize, trace=vcd is not None)
    else:
        bench = (data_dir("backends") / "sim" / "accel_bench.cpp").read_text()
        # a netlist's nets are mostly Yosys-named (_123_): trace those too
        flags = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "--trace-underscore"]
        exe = build_cpp_simulation(
            netlist,
            top_name(accel),
            bench,
            optimize=optimize,
            trace=vcd is not None,
            extra_flags=flags,
        )
    with tempfile.TemporaryDirectory(prefix="qappac-layer-") as tmp:
        stim, out = Path(tmp) / "in.txt", Path(tmp) / "out.txt"
        stim.write_text(text)
        start = time.perf_counter()
        args = [str(exe), str(stim), str(out), *([str(vcd)] if vcd is not None else [])]
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"accelerator simulation failed: {proc.stdout}{proc.stderr}")
        lines = out.read_text().split("\n")
    cycles = int(lines[0].split()[1])
    counter_values = [int(line.split()[1]) for line in lines[1:33]]
    words = np.array([int(w, 16) for w in lines[33 : 33 + n_ofmap]], dtype=np.int64)
    counters = dict(zip(COUNTER_NAMES, counter_values, strict=False))
    got = accel_host.ofmap_from_dram(layer, mapping, batch, words)
    model_counters = {f.name: getattr(cost.accesses, f.name) for f in fields(cost.accesses)}
    model_counters.update(
        cycles=cost.cycles,
        dram_ifmap_beats=traffic.ifmap_beats,
        dram_filter_beats=traffic.filter_beats,
        dram_ofmap_beats=traffic.ofmap_beats,
    )
    return LayerSimResult(
        layer=layer.name,
        pe=accel.pe.label,
        mapping=mapping,
        outputs=n_ofmap,
        mismatches=int(np.count_nonzero(got != expected)),
        cycles=cycles,
        model_cycles=cost.cycles,
        counters=counters,
        model_counters=model_counters,
        sim_seconds=seconds,
    )
