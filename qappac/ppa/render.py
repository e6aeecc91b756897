"""Back ends of the PPA pass: ``ppa.csv`` and the PPA section of ``report.md``.

Pure functions from (Design, DesignPPA) to text: one float format
(`qappac.formats.fmt_float`), a fixed column order, ``\\n`` line endings.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from qappac.formats import fmt_bytes, fmt_float, fmt_int
from qappac.ir import Design
from qappac.ppa.design import LEVELS, DesignPPA, LevelEnergy

LAYER_COLUMNS: tuple[str, ...] = (
    "layer",
    "kind",
    "cycles",
    "latency_s",
    "macs",
    "gops",
    *(f"energy_{level}_pj" for level in LEVELS),
    "energy_pj",
    "energy_per_inference_pj",
)
"""Columns filled on every row (per layer, and summed on the total row)."""

DESIGN_COLUMNS: tuple[str, ...] = (
    "edp_j_s",
    "clock_mhz",
    "fmax_mhz",
    "controller_fmax_mhz",
    "effective_clock_mhz",
    "clock_exceeds_fmax",
    "area_um2",
    "pe_area_um2",
    "pe_array_area_um2",
    "glb_area_um2",
    "noc_area_um2",
    "power_mw",
    "pe_dynamic_mw",
    "shell_dynamic_mw",
    "glb_dynamic_mw",
    "leakage_mw",
    "gops_per_mm2",
)
"""Design-level columns, filled on the total row only (empty on layer rows)."""

CSV_COLUMNS: tuple[str, ...] = LAYER_COLUMNS + DESIGN_COLUMNS


def _energy_cells(energy: LevelEnergy, batch: int) -> list[str]:
    return [
        *(fmt_float(getattr(energy, level)) for level in LEVELS),
        fmt_float(energy.total),
        fmt_float(energy.total / batch),
    ]


def _gops(macs: int, latency_s: float) -> float:
    return 2 * macs / latency_s * 1e-9 if latency_s else 0.0


def ppa_csv(design: Design, ppa: DesignPPA) -> str:
    """``ppa.csv``: one row per layer, then a ``total`` row with the design-level columns."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    blank = [""] * len(DESIGN_COLUMNS)
    for layer in ppa.layers:
        writer.writerow(
            [
                layer.layer,
                layer.kind,
                str(layer.cycles),
                fmt_float(layer.latency_s),
                str(layer.macs),
                fmt_float(_gops(layer.macs, layer.latency_s)),
                *_energy_cells(layer.energy, ppa.batch),
                *blank,
            ]
        )
    writer.writerow(
        [
            "total",
            "",
            str(ppa.cycles),
            fmt_float(ppa.latency_s),
            str(ppa.macs),
            fmt_float(ppa.gops),
            *_energy_cells(ppa.energy, ppa.batch),
            fmt_float(ppa.edp_j_s),
            fmt_float(ppa.clock_mhz),
            fmt_float(ppa.fmax_mhz),
            "" if ppa.controller_fmax_mhz is None else fmt_float(ppa.controller_fmax_mhz),
            fmt_float(ppa.effective_clock_mhz),
            "1" if ppa.clock_exceeds_fmax else "0",
            fmt_float(ppa.area_um2),
            fmt_float(ppa.pe_area_um2),
            fmt_float(ppa.pe_array_area_um2),
            fmt_float(ppa.glb_area_um2),
            fmt_float(ppa.noc_area_um2),
            fmt_float(ppa.power_mw),
            fmt_float(ppa.pe_dynamic_mw),
            fmt_float(ppa.shell_dynamic_mw),
            fmt_float(ppa.glb_dynamic_mw),
            fmt_float(ppa.leakage_mw),
            fmt_float(ppa.gops_per_mm2),
        ]
    )
    return buffer.getvalue()


def _share(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "-"


def _table(header: tuple[str, ...], align: str, rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + align + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def ppa_section_md(design: Design, ppa: DesignPPA) -> str:
    """The body of the PPA section of ``report.md`` (the report gives its heading): area,
    clock and power, performance, energy."""
    accel = design.accelerator
    area = ppa.area_um2
    lines = [
        f"PE type `{ppa.pe}`, {ppa.pes} PEs ({accel.rows} x {accel.cols}), batch {ppa.batch}.",
        "",
        "### Area",
        "",
        *_table(
            ("block", "area (um^2)", "share"),
            "---|---:|---:",
            [
                (
                    f"PE array ({ppa.pes} x {fmt_float(ppa.pe_area_um2)} um^2)",
                    fmt_float(ppa.pe_array_area_um2),
                    _share(ppa.pe_array_area_um2, area),
                ),
                (
                    f"global buffer ({fmt_bytes(accel.glb_bytes)})",
                    fmt_float(ppa.glb_area_um2),
                    _share(ppa.glb_area_um2, area),
                ),
                (
                    "NoC and control (shell)",
                    fmt_float(ppa.noc_area_um2),
                    _share(ppa.noc_area_um2, area),
                ),
                (f"total ({fmt_float(ppa.area_mm2)} mm^2)", fmt_float(area), _share(area, area)),
            ],
        ),
        "",
        "### Clock and power",
        "",
        *_table(
            ("quantity", "value"),
            "---|---:",
            [
                ("clock", f"{fmt_float(ppa.clock_mhz)} MHz"),
                ("modeled fmax (PE)", f"{fmt_float(ppa.fmax_mhz)} MHz"),
                *(
                    []
                    if ppa.controller_fmax_mhz is None
                    else [
                        (
                            "modeled fmax (controller)",
                            f"{fmt_float(ppa.controller_fmax_mhz)} MHz",
                        )
                    ]
                ),
                ("effective clock", f"{fmt_float(ppa.effective_clock_mhz)} MHz"),
                ("PE dynamic power", f"{fmt_float(ppa.pe_dynamic_mw)} mW"),
                ("NoC and control dynamic power", f"{fmt_float(ppa.shell_dynamic_mw)} mW"),
                ("GLB dynamic power", f"{fmt_float(ppa.glb_dynamic_mw)} mW"),
                ("leakage power", f"{fmt_float(ppa.leakage_mw)} mW"),
                ("total power", f"{fmt_float(ppa.power_mw)} mW"),
            ],
        ),
        "",
    ]
    for warning in ppa.warnings:  # one paragraph each
        lines += [f"**Warning:** {warning}.", ""]
    lines += [
        "### Performance",
        "",
        *_table(
            ("quantity", "value"),
            "---|---:",
            [
                ("latency", f"{fmt_int(ppa.cycles)} cycles, {fmt_float(ppa.latency_s)} s"),
                ("throughput", f"{fmt_float(ppa.gops)} GOPS"),
                ("performance per area", f"{fmt_float(ppa.gops_per_mm2)} GOPS/mm^2"),
                ("energy per inference", f"{fmt_float(ppa.energy_per_inference_pj * 1e-6)} uJ"),
                ("energy-delay product", f"{fmt_float(ppa.edp_j_s)} J s"),
            ],
        ),
        "",
        "### Energy by level",
        "",
        *_table(
            ("level", "energy (uJ)", "share"),
            "---|---:|---:",
            [
                (
                    level,
                    fmt_float(getattr(ppa.energy, level) * 1e-6),
                    _share(getattr(ppa.energy, level), ppa.energy_pj),
                )
                for level in LEVELS
            ]
            + [("total", fmt_float(ppa.energy_pj * 1e-6), _share(ppa.energy_pj, ppa.energy_pj))],
        ),
    ]
    return "\n".join(lines) + "\n"
