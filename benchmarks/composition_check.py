"""Composed against whole-accelerator synthesis, area and power (issue #6, docs/validation.md).

For every PE type and array shape: synthesize the whole accelerator (Yosys onto the liberty
of ``QAPPAC_LIBERTY``, global buffer left as a black box), its shell (PEs as black boxes too)
and its array PE; run one conv layer with random quantized data in Verilator on the RTL, on
the whole netlist and on the parts' netlists stitched together; print area and power
(OpenSTA, every net's simulated activity) of the whole against the sum of the parts, and
the parts' estimate from RTL activity alone (`qappac.ppa.composition`). Several minutes per
design on two cores, most of it building the gate-level simulations.

    python benchmarks/composition_check.py [--shapes 2x2 4x4] [--pes lightpe1 int8]
        [--jobs 2] [--csv composition.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from qappac.dataflow import default_energy_table
from qappac.dataflow.schedule import schedule_layer
from qappac.ir import Accelerator, Conv, Network, PEType, Shape
from qappac.ppa.composition import Composition, check_composition
from qappac.shapes import layer_shapes

PE_TYPES = {
    "fp32": PEType(family="fp", act_bits=32, weight_bits=32),
    "int16": PEType(family="int", act_bits=16, weight_bits=16),
    "int8": PEType(family="int", act_bits=8, weight_bits=8),
    "int(8,6)": PEType(family="int", act_bits=8, weight_bits=6),
    "lightpe1": PEType(family="light", act_bits=8, weight_bits=4, terms=1),
    "lightpe2": PEType(family="light", act_bits=8, weight_bits=8, terms=2),
    "light(6,3)": PEType(family="light", act_bits=6, weight_bits=12, terms=3),
}

LAYER = Network(
    name="probe",
    input=Shape(c=3, h=8, w=9),
    layers=(
        Conv(
            name="conv",
            inputs=("input",),
            out_channels=4,
            kernel_h=3,
            kernel_w=3,
            stride=1,
            pad=1,
        ),
    ),
)


def accelerator(pe: str, rows: int, cols: int) -> Accelerator:
    """The small accelerators of the synthesis tests: scratchpads 9 / 18 / 2 words."""
    return Accelerator(
        name="probe",
        pe=PE_TYPES[pe],
        rows=rows,
        cols=cols,
        spad_ifmap=9,
        spad_filter=18,
        spad_psum=2,
        glb_bytes=1024,
        dram_gb_per_s=1.0,
        clock_mhz=200.0,
    )


def run(pe: str, rows: int, cols: int) -> tuple[Composition, float]:
    start = time.perf_counter()
    accel = accelerator(pe, rows, cols)
    (layer,) = layer_shapes(LAYER)
    sched = schedule_layer(layer, accel, 1, "energy", default_energy_table())
    assert sched.mapping is not None
    liberty = Path(os.environ["QAPPAC_LIBERTY"])
    result = check_composition(accel, layer, 1, sched.mapping, liberty, seed=3)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["2x2", "4x4"])
    parser.add_argument("--pes", nargs="+", default=list(PE_TYPES))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    if "QAPPAC_LIBERTY" not in os.environ:
        sys.exit("set QAPPAC_LIBERTY to the NanGate45 liberty")
    cases = [(pe, *map(int, s.split("x"))) for s in args.shapes for pe in args.pes]
    header = (
        "| PE | array | whole um2 | composed um2 | area err | PE share | whole mW | "
        "composed mW | power err | RTL-activity estimate mW | its err | seconds |"
    )
    print(header)
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run, *case) for case in cases]
        for future in futures:
            res, seconds = future.result()
            print(
                f"| {res.pe} | {res.rows}x{res.cols} | {res.whole.area_um2:,.0f} | "
                f"{res.composed_area_um2:,.0f} | {100 * res.area_error:+.2f} % | "
                f"{100 * res.pe_share:.0f} % | {res.whole.power_mw:.3f} | "
                f"{res.composed_power_mw:.3f} | {100 * res.power_error:+.2f} % | "
                f"{res.composed_rtl_power_mw:.3f} | {100 * res.rtl_estimate_error:+.2f} % | "
                f"{seconds:.0f} |",
                flush=True,
            )
            rows.append(
                {
                    "pe": res.pe,
                    "rows": res.rows,
                    "cols": res.cols,
                    "cycles": res.cycles,
                    "whole_area_um2": res.whole.area_um2,
                    "shell_area_um2": res.shell.area_um2,
                    "pe_area_um2": res.pes[0].area_um2,
                    "composed_area_um2": res.composed_area_um2,
                    "whole_dynamic_mw": res.whole.dynamic_mw,
                    "whole_leakage_mw": res.whole.leakage_mw,
                    "shell_power_mw": res.shell.power_mw,
                    "pes_power_mw": sum(p.power_mw for p in res.pes),
                    "composed_power_mw": res.composed_power_mw,
                    "whole_rtl_power_mw": res.whole_rtl.power_mw,
                    "composed_rtl_power_mw": res.composed_rtl_power_mw,
                    "area_error": res.area_error,
                    "power_error": res.power_error,
                    "rtl_estimate_error": res.rtl_estimate_error,
                    "seconds": seconds,
                }
            )
    if args.csv:
        with args.csv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
