"""Simulated against modeled cycles: the paper's performance panel, with the RTL as judge.

Samples random accelerators (PE type, array shape, scratchpads, GLB, DRAM bandwidth) and
random small conv/FC layers, maps each layer with the dataflow engine, runs it on the
generated RTL (`qappac.sim_accel.simulate_layer`: outputs checked bit for bit, every counter
against the model) and plots simulated against modeled cycles: every point must sit on the
diagonal.

    python benchmarks/bench_rtl_cycles.py [--samples 24] [--seed 1] [--out rtl_cycles.png]
"""

from __future__ import annotations

import argparse
import random
import time

from qappac.dataflow import default_energy_table
from qappac.dataflow.schedule import MappingError, schedule_layer
from qappac.ir import FC, Accelerator, Conv, Network, PEType, Shape
from qappac.plots import _pyplot, style_of
from qappac.shapes import layer_shapes
from qappac.sim_accel import describe, simulate_layer

PE_TYPES = {
    "fp32": PEType(family="fp", act_bits=32, weight_bits=32),
    "int16": PEType(family="int", act_bits=16, weight_bits=16),
    "int8": PEType(family="int", act_bits=8, weight_bits=8),
    "int(8,4)": PEType(family="int", act_bits=8, weight_bits=4),
    "lightpe1": PEType(family="light", act_bits=8, weight_bits=4, terms=1),
    "lightpe2": PEType(family="light", act_bits=8, weight_bits=8, terms=2),
}


def random_accelerator(rng: random.Random) -> Accelerator:
    return Accelerator(
        name="rand",
        pe=PE_TYPES[rng.choice(sorted(PE_TYPES))],
        rows=rng.choice([2, 3, 4]),
        cols=rng.choice([2, 3, 4, 5]),
        spad_ifmap=rng.choice([9, 12, 16]),
        spad_filter=rng.choice([27, 48, 96]),
        spad_psum=rng.choice([2, 4, 8]),
        glb_bytes=rng.choice([1024, 2048, 8192]),
        dram_gb_per_s=rng.choice([0.05, 0.4, 2.0, 8.0]),
        clock_mhz=200.0,
    )


def random_network(rng: random.Random) -> Network:
    c, h = rng.randint(1, 6), rng.randint(3, 9)
    if rng.random() < 0.15:
        layer = FC(name="layer", inputs=("input",), out_features=rng.randint(2, 12))
        return Network(name="n", input=Shape(c=c, h=2, w=2), layers=(layer,))
    k = rng.choice([1, 3, 3, 5])
    k = min(k, h)
    groups = rng.choice([1, 1, 1, "depthwise"])
    m = c if groups == "depthwise" else rng.randint(1, 9)
    conv = Conv(
        name="layer",
        inputs=("input",),
        out_channels=m,
        kernel_h=k,
        kernel_w=k,
        stride=rng.choice([1, 1, 2]),
        pad=rng.randint(0, k // 2),
        groups=groups,
    )
    return Network(name="n", input=Shape(c=c, h=h, w=h + rng.randint(0, 3)), layers=(conv,))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="rtl_cycles.png")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    table = default_energy_table()
    points: list[tuple[str, int, int]] = []
    failures = 0
    start = time.perf_counter()
    while len(points) < args.samples:
        accel = random_accelerator(rng)
        (layer,) = layer_shapes(random_network(rng))
        batch = rng.randint(1, 3)
        try:
            sched = schedule_layer(layer, accel, batch, "energy", table)
        except MappingError:
            continue
        assert sched.mapping is not None
        result = simulate_layer(layer, accel, batch, sched.mapping, seed=len(points))
        points.append((accel.pe.label, result.cycles, result.model_cycles))
        failures += not result.ok
        status = "ok" if result.ok else "MISMATCH\n" + describe(result)
        print(
            f"{len(points):3d} {accel.pe.label:9s} {accel.rows}x{accel.cols} "
            f"C{layer.C} {layer.H}x{layer.W} M{layer.M} {layer.R}x{layer.S}/{layer.U} "
            f"G{layer.G} N{batch}: simulated {result.cycles} modeled {result.model_cycles} "
            f"{status}",
            flush=True,
        )
    seconds = time.perf_counter() - start
    on_diagonal = sum(sim == model for _, sim, model in points)
    print(f"{on_diagonal}/{len(points)} on the diagonal, {failures} failing; {seconds:.0f} s")

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    order = sorted({pe for pe, _, _ in points})
    for pe in order:
        color, marker = style_of(pe, order)
        xs = [model for p, _, model in points if p == pe]
        ys = [sim for p, sim, _ in points if p == pe]
        ax.scatter(xs, ys, color=color, marker=marker, label=pe)
    top = max(max(s, m) for _, s, m in points) * 1.2
    ax.plot([1, top], [1, top], color="#888888", linewidth=0.8)
    ax.set(xscale="log", yscale="log", xlabel="modeled cycles", ylabel="simulated cycles (RTL)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
