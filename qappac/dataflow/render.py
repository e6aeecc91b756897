"""schedule.csv and the per-layer Markdown table of report.md: deterministic text."""

from __future__ import annotations

from collections.abc import Sequence

from qappac.dataflow.model import ACCESS_FIELDS, ENERGY_LEVELS
from qappac.dataflow.schedule import LayerSchedule
from qappac.dataflow.search import MAPPING_FIELDS

FLOAT_FORMAT = "{:.6g}"
"""The one float format of every schedule output."""

CSV_COLUMNS: tuple[str, ...] = (
    ("layer", "kind")
    + MAPPING_FIELDS
    + (
        "pes",
        "active_pes",
        "utilization",
        "mac_utilization",
        "compute_cycles",
        "stall_cycles",
        "cycles",
    )
    + ACCESS_FIELDS
    + tuple(f"energy_{level}_pj" for level in ENERGY_LEVELS)
    + ("energy_pj",)
)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return FLOAT_FORMAT.format(value)
    return str(value)


def schedule_row(s: LayerSchedule) -> dict[str, object]:
    """One layer as {column: value}, columns as in `CSV_COLUMNS` (mapping fields empty for
    pool/add)."""
    row: dict[str, object] = {"layer": s.layer, "kind": s.kind}
    for name in MAPPING_FIELDS:
        row[name] = getattr(s.mapping, name) if s.mapping is not None else ""
    row.update(
        pes=s.pes,
        active_pes=s.active_pes,
        utilization=s.utilization,
        mac_utilization=s.mac_utilization,
        compute_cycles=s.compute_cycles,
        stall_cycles=s.stall_cycles,
        cycles=s.cycles,
    )
    for name in ACCESS_FIELDS:
        row[name] = getattr(s.accesses, name)
    for level in ENERGY_LEVELS:
        row[f"energy_{level}_pj"] = float(getattr(s.energy, level))
    row["energy_pj"] = float(s.energy.total)
    return row


def schedule_csv(schedules: Sequence[LayerSchedule]) -> str:
    """schedule.csv: a header and one row per layer, stable columns, '\\n' line endings."""
    lines = [",".join(CSV_COLUMNS)]
    for s in schedules:
        row = schedule_row(s)
        lines.append(",".join(_csv_cell(_fmt(row[c])) for c in CSV_COLUMNS))
    return "\n".join(lines) + "\n"


def _csv_cell(text: str) -> str:
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def schedule_table_md(schedules: Sequence[LayerSchedule]) -> str:
    """A Markdown table for report.md: mapping, PEs, cycles, utilization, DRAM/GLB traffic."""
    header = (
        "| layer | kind | PE set | folds x strips | n p q r t | m | active PEs | cycles "
        "| stall | MAC util. | DRAM words | GLB words | energy (uJ) |"
    )
    lines = [header, "|" + "---|" * 13]
    for s in schedules:
        a = s.accesses
        dram = a.dram_ifmap_reads + a.dram_filter_reads + a.dram_ofmap_writes
        glb = (
            a.glb_ifmap_reads
            + a.glb_ifmap_writes
            + a.glb_filter_reads
            + a.glb_filter_writes
            + a.glb_psum_reads
            + a.glb_psum_writes
        )
        m = s.mapping
        if m is None:
            shape = folds = npqrt = mm = "-"
        else:
            shape = f"{m.set_rows} x {m.set_cols}"
            folds = f"{m.folds} x {m.strips}"
            npqrt = f"{m.n} {m.p} {m.q} {m.r} {m.t}"
            mm = str(m.m)
        cells = (
            s.layer,
            s.kind,
            shape,
            folds,
            npqrt,
            mm,
            str(s.active_pes),
            str(s.cycles),
            str(s.stall_cycles),
            _fmt(float(s.mac_utilization)),
            str(dram),
            str(glb),
            _fmt(float(s.energy.total) / 1e6),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
