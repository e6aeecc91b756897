"""Measure each PE type: simulation speed (bit-exact against numpy) and Yosys area.

    python benchmarks/bench_pe_sim.py [--primitives N] [--no-synth] [--spads I F P]

Prints one markdown table row per PE type. Simulation MACs/s counts the Verilator run only
(the build is cached; the numpy check is timed separately). Area needs Yosys and
``QAPPAC_LIBERTY`` (NanGate45 typical .lib); without them those columns are empty.
"""

from __future__ import annotations

import argparse
import sys
import time

from qappac.ir import PEType
from qappac.rtl_pe import emit_pe, top_name
from qappac.sim_pe import simulate_pe
from qappac.tools import yosys

PES = {
    "fp32": PEType(family="fp", act_bits=32, weight_bits=32),
    "int16": PEType(family="int", act_bits=16, weight_bits=16),
    "int8": PEType(family="int", act_bits=8, weight_bits=8),
    "int(8,6)": PEType(family="int", act_bits=8, weight_bits=6),
    "lightpe1": PEType(family="light", act_bits=8, weight_bits=4, terms=1),
    "lightpe2": PEType(family="light", act_bits=8, weight_bits=8, terms=2),
    "light(6,3)": PEType(family="light", act_bits=6, weight_bits=12, terms=3),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--primitives", type=int, default=400)
    parser.add_argument("--no-synth", action="store_true")
    parser.add_argument("--spads", type=int, nargs=3, default=(12, 224, 24))
    args = parser.parse_args()
    spads = tuple(args.spads)
    tool = None if args.no_synth else yosys.find_yosys()
    liberty = yosys.liberty_path()
    print(
        "| PE | MACs | build s | sim s | MACs/s (sim) | check s | MAC cells | MAC um2 "
        "| PE cells | PE um2 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, pe in PES.items():
        start = time.perf_counter()
        result = simulate_pe(
            pe, spads, seed=1, n_primitives=args.primitives, max_rows=6, optimize="-O2"
        )
        total = time.perf_counter() - start
        if not result.ok:
            print(f"{name}: MISMATCH\n" + "\n".join(result.mismatches), file=sys.stderr)
            return 1
        check = total - result.build_seconds - result.sim_seconds
        row = [
            name,
            f"{result.macs}",
            f"{result.build_seconds:.1f}",
            f"{result.sim_seconds:.3f}",
            f"{result.macs_per_second:.3g}",
            f"{check:.2f}",
        ]
        row += _synth(pe, spads, tool, liberty)
        print("| " + " | ".join(row) + " |", flush=True)
    return 0


def _synth(
    pe: PEType,
    spads: tuple[int, ...],
    tool: yosys.Yosys | None,
    liberty: object,
) -> list[str]:
    from pathlib import Path

    if tool is None or not isinstance(liberty, Path):
        return ["", "", "", ""]
    files = emit_pe(pe, *spads)
    out: list[str] = []
    for top in (top_name(pe) + "_mac", top_name(pe)):
        stats = yosys.synthesize(files, top, liberty, tool)
        out += [f"{stats.mapped_count}", f"{stats.area_um2:.0f}" if stats.area_um2 else ""]
    return out


if __name__ == "__main__":
    raise SystemExit(main())
