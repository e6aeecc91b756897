"""Speed of the vectorized dataflow engine: design x layer evaluations per second.

ResNet-50 (every conv, FC, pool and residual add, batch 1) over a QAPPA-like design space of
1,200 distinct accelerators (5 PE types x 5 arrays x 2 x 2 x 2 scratchpad sizes x 3 GLB
sizes x 2 DRAM bandwidths), mapping search included, cold caches, one process:

    python benchmarks/bench_dataflow.py [--objective energy|latency|edp] [--repeat N]

Prints one line per run and the best; nothing is written. Every run clears the engine's caches;
the first run of a process is slower (about 1.5x here): numpy's large temporaries page-fault
until glibc's malloc has grown its heap (MALLOC_TOP_PAD_=268435456 removes most of it).

With `--eyeriss` it prints instead the fidelity table of docs/validation.md: the Eyeriss chip
running AlexNet CONV1-5 (batch 4, 200 MHz) against the published figures (Chen et al., JSSC
2017).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

from qappac.build import compile_file
from qappac.dataflow import accelerator_arrays, evaluate
from qappac.dataflow.geometry import strip_rows
from qappac.dataflow.search import candidate_table
from qappac.ir import Accelerator, PEType, Program
from qappac.numerics import format_of
from qappac.shapes import layer_shapes

ROOT = Path(__file__).resolve().parent.parent

PES = (
    PEType(family="fp", act_bits=32, weight_bits=32),
    PEType(family="int", act_bits=16, weight_bits=16),
    PEType(family="int", act_bits=8, weight_bits=8),
    PEType(family="light", act_bits=8, weight_bits=4, terms=1),
    PEType(family="light", act_bits=8, weight_bits=8, terms=2),
)
ARRAYS = ((8, 8), (12, 14), (14, 12), (16, 16), (32, 32))


def bundled(spec: str) -> Program:
    return compile_file(ROOT / "specs" / spec)


# JSSC 2017, AlexNet at batch 4 and 200 MHz: active PEs, latency (ms), GLB and DRAM accesses
# (MB). Entered by hand from the paper's results table.
PUBLISHED = {
    "conv1": (154, 16.5, 18.5, 5.0),
    "conv2": (135, 39.2, 77.6, 4.0),
    "conv3": (156, 21.8, 50.2, 3.0),
    "conv4": (156, 16.0, 37.4, 2.1),
    "conv5": (156, 10.0, 24.9, 1.3),
}


def eyeriss_table(objective: str) -> str:
    """The modeled-vs-published Markdown table of docs/validation.md."""
    from qappac.dataflow import schedule

    base = next(d for d in bundled("eyeriss.qa").designs if d.name == "eyeriss_alexnet")
    design = base.model_copy(update={"objective": objective})
    fmt = format_of(design.accelerator.pe)
    lines = [
        "| layer | mapping: set, strips, n p q r t, m | active PEs (pub.) | latency ms (pub.) "
        "| GLB MB (pub.) | GLB MB at 16-bit psums | DRAM MB (pub.) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in schedule(design):
        if s.kind != "conv":
            continue
        a, m = s.accesses, s.mapping
        assert m is not None
        words_i = a.glb_ifmap_reads + a.glb_ifmap_writes
        words_f = a.glb_filter_reads + a.glb_filter_writes
        words_p = a.glb_psum_reads + a.glb_psum_writes
        glb = words_i * fmt.ifmap_bits + words_f * fmt.filter_bits + words_p * fmt.psum_bits
        glb16 = (words_i + words_f + words_p) * 16
        dram = (
            a.dram_ifmap_reads + a.dram_ofmap_writes
        ) * fmt.ifmap_bits + a.dram_filter_reads * fmt.filter_bits
        pes, ms, pub_glb, pub_dram = PUBLISHED[s.layer]
        lines.append(
            f"| {s.layer} | {m.set_rows}x{m.set_cols}, {m.strips}, {m.n} {m.p} {m.q} {m.r} "
            f"{m.t}, {m.m} | {s.active_pes} ({pes}) | {s.cycles / 200e3:.1f} ({ms}) "
            f"| {glb / 8e6:.1f} ({pub_glb}) | {glb16 / 8e6:.1f} | {dram / 8e6:.1f} ({pub_dram}) |"
        )
    return "\n".join(lines)


def design_space() -> list[Accelerator]:
    return [
        Accelerator(
            name=f"d{i}",
            pe=pe,
            rows=rows,
            cols=cols,
            spad_ifmap=si,
            spad_filter=sf,
            spad_psum=sp,
            glb_bytes=glb,
            dram_gb_per_s=bw,
            clock_mhz=200.0,
        )
        for i, (pe, (rows, cols), si, sf, sp, glb, bw) in enumerate(
            itertools.product(
                PES,
                ARRAYS,
                (12, 24),
                (112, 224),
                (16, 24),
                (54 * 1024, 108 * 1024, 256 * 1024),
                (1.0, 4.0),
            )
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objective", choices=("energy", "latency", "edp"), default="energy")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--eyeriss", action="store_true", help="print the fidelity table")
    args = parser.parse_args(argv)
    if args.eyeriss:
        print(eyeriss_table(args.objective))
        return 0
    layers = layer_shapes(bundled("networks/resnet50.qa").networks[0])
    accelerators = design_space()
    evaluations = len(accelerators) * len(layers)
    best = 0.0
    for run in range(args.repeat):
        candidate_table.cache_clear()  # cold caches every run
        strip_rows.cache_clear()
        start = time.perf_counter()
        result = evaluate(accelerator_arrays(accelerators), layers, 1, args.objective)
        seconds = time.perf_counter() - start
        rate = evaluations / seconds
        best = max(best, rate)
        mapped = int(result["ok"].sum())
        print(
            f"run {run}: {len(accelerators)} designs x {len(layers)} layers = {evaluations} "
            f"evaluations ({mapped} mapped) in {seconds:.3f} s: {rate:,.0f} per second"
        )
    print(f"best: {best:,.0f} design x layer evaluations per second ({args.objective})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
