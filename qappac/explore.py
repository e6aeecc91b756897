"""Design spaces: an `Explore` block expanded into the accelerators it names.

The expansion is the full product of the axes, in declaration order, the last axis varying
fastest, so point indices are stable as long as the block is.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qappac.executor import Executor
from qappac.formats import fmt_bytes, fmt_float
from qappac.ir import (
    Accelerator,
    ArrayAxis,
    Explore,
    Network,
    Objective,
    PEAxis,
    RateAxis,
    SizeAxis,
)
from qappac.plots import energy_breakdown_plot, pareto_plot
from qappac.ppa.models import ModelSet
from qappac.shapes import LayerShape, layer_shapes
from qappac.templates import render


@dataclass(frozen=True)
class Point:
    """One design of a space: its index, the varied parameters, and the accelerator."""

    index: int
    params: tuple[tuple[str, str], ...]
    accelerator: Accelerator


def _updates(axis: Any, value: Any) -> tuple[dict[str, Any], tuple[str, str]]:
    if isinstance(axis, PEAxis):
        return {"pe": value}, ("pe", value.label)
    if isinstance(axis, ArrayAxis):
        return {"rows": value.rows, "cols": value.cols}, ("array", f"{value.rows}x{value.cols}")
    if isinstance(axis, SizeAxis):
        shown = fmt_bytes(value) if axis.param == "glb_bytes" else str(value)
        return {axis.param: value}, (axis.param, shown)
    assert isinstance(axis, RateAxis)
    return {axis.param: value}, (axis.param, fmt_float(value))


def expand(explore: Explore) -> list[Point]:
    """Every point of the space, named `<explore>_<index>`.

    >>> from qappac.lower import load_text
    >>> from qappac.source import DiagnosticSink
    >>> program = load_text('''accelerator a { pe int16; array 2 x 2; spad ifmap 3; spad filter 9
    ...   spad psum 2; glb 1 KiB; dram 1 GB/s; clock 100 MHz }
    ... network n { input 1 x 4 x 4; conv c out=1 kernel=3 }
    ... explore e { base a; networks n; vary array in 2 x 2, 4 x 4
    ...   vary glb in 1 KiB .. 4 KiB step *2 }
    ... ''', DiagnosticSink())
    >>> [(p.accelerator.name, p.params) for p in expand(program.explores[0])][1]
    ('e_0001', (('array', '2x2'), ('glb_bytes', '2 KiB')))
    >>> len(expand(program.explores[0]))
    6
    """
    points = []
    width = max(4, len(str(explore.size - 1)))
    for index, values in enumerate(itertools.product(*(axis.values for axis in explore.axes))):
        update: dict[str, Any] = {}
        params = []
        for axis, value in zip(explore.axes, values, strict=True):
            fields, shown = _updates(axis, value)
            update.update(fields)
            params.append(shown)
        name = f"{explore.name}_{index:0{width}d}"
        accelerator = explore.base.model_copy(update={"name": name, **update})
        points.append(Point(index, tuple(params), accelerator))
    return points


# --------------------------------------------------------------------------- analysis
#
# A result is one design running one network: a flat dict with at least `network`,
# `design`, `pe`, `valid`, `gops_per_mm2` and `energy_uj` (per inference).

Row = dict[str, Any]


def pareto_mask(perf: Sequence[float], energy: Sequence[float]) -> list[bool]:
    """Which points are Pareto-optimal when performance per area is maximized and energy
    minimized. A point is dominated if another is at least as good in both and better in
    one; of identical points, the first is kept.

    >>> pareto_mask([1.0, 2.0, 1.5, 2.0], [1.0, 3.0, 2.0, 4.0])
    [True, True, True, False]
    """
    order = sorted(range(len(perf)), key=lambda i: (energy[i], -perf[i], i))
    mask = [False] * len(perf)
    best = -math.inf
    for i in order:
        if perf[i] > best:
            mask[i] = True
            best = perf[i]
    return mask


def reference(rows: Sequence[Row], pe: str) -> Row | None:
    """The valid design of PE type `pe` with the highest performance per area (ties: lower
    energy, then the earlier design): the paper's normalization reference."""
    candidates = [r for r in rows if r["valid"] and r["pe"] == pe]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (-r["gops_per_mm2"], r["energy_uj"], r["index"]))


def normalize(rows: Sequence[Row], pe: str = "int16") -> list[Row]:
    """Per network: performance per area and energy relative to the reference design of
    `pe` (the paper's Figures 3-5), and Pareto membership. Invalid rows get empty values."""
    out = []
    for network in _networks(rows):
        group = [r for r in rows if r["network"] == network]
        ref = reference(group, pe)
        valid = [r for r in group if r["valid"]]
        front = pareto_mask([r["gops_per_mm2"] for r in valid], [r["energy_uj"] for r in valid])
        on_front = {id(r) for r, keep in zip(valid, front, strict=True) if keep}
        for row in group:
            new = dict(row)
            if row["valid"] and ref is not None:
                new["norm_perf_per_area"] = row["gops_per_mm2"] / ref["gops_per_mm2"]
                new["norm_energy"] = row["energy_uj"] / ref["energy_uj"]
            else:
                new["norm_perf_per_area"] = math.nan
                new["norm_energy"] = math.nan
            new["pareto"] = id(row) in on_front
            out.append(new)
    return out


@dataclass(frozen=True)
class Headline:
    """For one PE type and network: its best design's gains over the reference design."""

    network: str
    pe: str
    reference: str
    best_perf_design: str
    perf_per_area_gain: float
    best_energy_design: str
    energy_gain: float


def headline(
    rows: Sequence[Row], pe_types: Sequence[str], ref_pe: str = "int16"
) -> list[Headline]:
    """Per network and PE type: the design with the best performance per area, its gain over
    the reference (`ref_pe`'s best design by performance per area), and, separately, the
    design with the lowest energy and its energy gain (reference energy / its energy)."""
    table = []
    for network in _networks(rows):
        group = [r for r in rows if r["network"] == network]
        ref = reference(group, ref_pe)
        if ref is None:
            continue
        for pe in pe_types:
            mine = [r for r in group if r["valid"] and r["pe"] == pe]
            if not mine:
                continue
            fast = reference(mine, pe)
            assert fast is not None
            frugal = min(mine, key=lambda r: (r["energy_uj"], -r["gops_per_mm2"], r["index"]))
            table.append(
                Headline(
                    network,
                    pe,
                    ref["design"],
                    fast["design"],
                    fast["gops_per_mm2"] / ref["gops_per_mm2"],
                    frugal["design"],
                    ref["energy_uj"] / frugal["energy_uj"],
                )
            )
    return table


def average_gains(table: Sequence[Headline]) -> dict[str, tuple[float, float]]:
    """Per PE type, the arithmetic mean over networks of (perf/area gain, energy gain), as
    the paper averages its three networks."""
    out: dict[str, tuple[float, float]] = {}
    for pe in dict.fromkeys(h.pe for h in table):
        mine = [h for h in table if h.pe == pe]
        out[pe] = (
            sum(h.perf_per_area_gain for h in mine) / len(mine),
            sum(h.energy_gain for h in mine) / len(mine),
        )
    return out


def _networks(rows: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r["network"] for r in rows))


# --------------------------------------------------------------------------- evaluation

RESULT_COLUMNS = (
    "index",
    "design",
    "network",
    "pe",
    "rows",
    "cols",
    "spad_ifmap",
    "spad_filter",
    "spad_psum",
    "glb_bytes",
    "dram_gb_per_s",
    "clock_mhz",
    "fmax_mhz",
    "run_clock_mhz",
    "over_fmax",
    "valid",
    "reason",
    "cycles",
    "latency_ms",
    "inferences_per_s",
    "energy_uj",
    "energy_mac_uj",
    "energy_spad_uj",
    "energy_noc_uj",
    "energy_glb_uj",
    "energy_dram_uj",
    "energy_leakage_uj",
    "area_mm2",
    "power_mw",
    "gops",
    "gops_per_mm2",
    "edp_uj_ms",
    "norm_perf_per_area",
    "norm_energy",
    "pareto",
)
LEVELS = ("mac", "spad", "noc", "glb", "dram", "leakage")


def _base_row(point: Point, network: str) -> Row:
    acc = point.accelerator
    return {
        "index": point.index,
        "design": acc.name,
        "network": network,
        "pe": acc.pe.label,
        "rows": acc.rows,
        "cols": acc.cols,
        "spad_ifmap": acc.spad_ifmap,
        "spad_filter": acc.spad_filter,
        "spad_psum": acc.spad_psum,
        "glb_bytes": acc.glb_bytes,
        "dram_gb_per_s": acc.dram_gb_per_s,
        "clock_mhz": acc.clock_mhz,
    }


def _invalid(row: Row, reason: str) -> Row:
    row.update(valid=False, reason=reason, over_fmax=False)
    for name in RESULT_COLUMNS:
        row.setdefault(name, math.nan)
    return row


def _spad_reason(acc: Accelerator, shapes: Sequence[LayerShape]) -> str:
    """Why the smallest row-stationary primitive of some layer does not fit, or ''."""
    for shape in shapes:
        if shape.is_mac and (acc.spad_filter < shape.S or acc.spad_ifmap < shape.S):
            return f"scratchpads too small for layer '{shape.name}' ({shape.S}-wide rows)"
    return ""


def evaluate_network(
    points: Sequence[Point],
    network: Network,
    batch: int,
    objective: Objective,
    models: ModelSet,
) -> list[Row]:
    """One result row per point for `network` (vectorized over the points)."""
    from qappac.ppa.design import explore_ppa

    shapes = layer_shapes(network)
    rows = [_base_row(p, network.name) for p in points]
    runnable = []
    for point, row in zip(points, rows, strict=True):
        label = point.accelerator.pe.label
        if label not in models.models:
            _invalid(row, f"no PPA model for PE type '{label}' (run qappac characterize)")
        elif reason := _spad_reason(point.accelerator, shapes):
            _invalid(row, reason)
        else:
            runnable.append((point, row))
    if not runnable:
        return rows
    res = explore_ppa([p.accelerator for p, _ in runnable], shapes, batch, objective, models)
    for i, (_, row) in enumerate(runnable):
        if not res["ok"][i]:
            _invalid(row, "no row-stationary mapping fits some layer (global buffer too small)")
            continue
        latency_s = float(res["latency_s"][i])
        energy_uj = float(res["energy_per_inference_pj"][i]) * 1e-6
        row.update(
            fmax_mhz=float(res["fmax_mhz"][i]),
            run_clock_mhz=float(res["effective_clock_mhz"][i]),
            over_fmax=bool(res["clock_exceeds_fmax"][i]),
            valid=True,
            reason="",
            cycles=int(res["cycles"][i]),
            latency_ms=latency_s * 1e3,
            inferences_per_s=batch / latency_s,
            energy_uj=energy_uj,
            area_mm2=float(res["area_um2"][i]) * 1e-6,
            power_mw=float(res["power_mw"][i]),
            gops=float(res["gops"][i]),
            gops_per_mm2=float(res["gops_per_mm2"][i]),
            edp_uj_ms=energy_uj * latency_s * 1e3 / batch,
        )
        for level in LEVELS:
            row[f"energy_{level}_uj"] = float(res[f"energy_{level}_pj"][i]) * 1e-6 / batch
    return rows


def _evaluate_job(args: tuple[Sequence[Point], Network, int, Objective, ModelSet]) -> list[Row]:
    return evaluate_network(*args)


def evaluate_space(
    explore: Explore,
    models: ModelSet,
    executor: Executor | None = None,
    chunk: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> list[Row]:
    """Every design of `explore` on every network: rows ordered by network, then design.

    Work is split in chunks of designs per network and mapped over `executor` (in-process
    when None), so a Dask cluster or local processes can share a large sweep. `progress`
    is called with (evaluations done, evaluations in all) as chunks finish.
    """
    points = expand(explore)
    jobs = [
        (points[start : start + chunk], network, explore.batch, explore.objective, models)
        for network in explore.networks
        for start in range(0, len(points), chunk)
    ]
    total = len(points) * len(explore.networks)
    if executor is not None:
        parts = executor.map(_evaluate_job, jobs)
        if progress:
            progress(total, total)
    else:
        parts, done = [], 0
        for job in jobs:
            parts.append(_evaluate_job(job))
            done += len(job[0])
            if progress:
                progress(done, total)
    return [row for part in parts for row in part]


# --------------------------------------------------------------------------- back end

PAPER_GAINS = {"lightpe1": (4.9, 4.9), "lightpe2": (4.1, 4.2), "int16": (1.7, 1.4)}
"""The paper's average gains: (perf/area, energy) over the best INT16 design (for INT16:
over the best FP32 design), Inci et al., Section 4."""


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if math.isnan(value) else fmt_float(value)
    return str(value)


def results_csv(rows: Sequence[Row], columns: Sequence[str] = RESULT_COLUMNS) -> str:
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join(_csv_text(_cell(row.get(c, ""))) for c in columns))
    return "\n".join(lines) + "\n"


def _csv_text(text: str) -> str:
    return f'"{text}"' if any(ch in text for ch in ',"\n') else text


def explore_outputs(explore: Explore, rows: Sequence[Row]) -> dict[str, str | bytes]:
    """results.csv, pareto.csv, report.md and plots/ of an evaluated design space."""
    table = normalize(rows)
    pe_types = list(dict.fromkeys(axis_value.label for axis_value in _pe_values(explore)))
    gains = headline(table, pe_types)
    fp_gains = headline(table, ["int16"], ref_pe="fp32")
    outputs: dict[str, str | bytes] = {
        "results.csv": results_csv(table),
        "pareto.csv": results_csv([r for r in table if r["pareto"]]),
    }
    sections = []
    for network in explore.networks:
        group = [r for r in table if r["network"] == network.name]
        plots = pareto_plot(group, network.name, "int16")
        best = _best_per_pe(group, pe_types)
        bars = energy_breakdown_plot(
            [f"{r['pe']}\n{r['design']}" for r in best],
            [{lv: r[f"energy_{lv}_uj"] for lv in LEVELS} for r in best],
            f"{network.name}: energy per inference of each PE type's best design",
        )
        for fmt in ("png", "svg"):
            outputs[f"plots/{network.name}_pareto.{fmt}"] = plots[fmt]
            outputs[f"plots/{network.name}_energy.{fmt}"] = bars[fmt]
        sections.append((network.name, group, best))
    outputs["report.md"] = render(
        "report",
        "explore.md.j2",
        explore=explore,
        sections=sections,
        rows=table,
        headline=_headline_rows(gains, fp_gains),
        fmt=_cell,
        invalid=_invalid_summary(table),
        size=explore.size,
    )
    return outputs


def _pe_values(explore: Explore) -> list[Any]:
    for axis in explore.axes:
        if isinstance(axis, PEAxis):
            return list(axis.values)
    return [explore.base.pe]


def _best_per_pe(rows: Sequence[Row], pe_types: Sequence[str]) -> list[Row]:
    best = []
    for pe in pe_types:
        found = reference(rows, pe)
        if found is not None:
            best.append(found)
    return best


def _headline_rows(gains: Sequence[Headline], fp_gains: Sequence[Headline]) -> list[list[str]]:
    """Per PE type: mean gains over networks, per-network gains, and the paper's figures."""
    out = []
    averages = average_gains(gains)
    for pe, (perf, energy) in averages.items():
        if pe == "int16":
            continue
        per_net = ", ".join(
            f"{h.network} {h.perf_per_area_gain:.2f}x / {h.energy_gain:.2f}x"
            for h in gains
            if h.pe == pe
        )
        paper = PAPER_GAINS.get(pe)
        out.append(
            [
                f"{pe} vs best int16",
                f"{perf:.2f}x",
                f"{energy:.2f}x",
                f"{paper[0]}x / {paper[1]}x" if paper else "-",
                per_net,
            ]
        )
    fp = average_gains(fp_gains).get("int16")
    if fp is not None:
        per_net = ", ".join(
            f"{h.network} {h.perf_per_area_gain:.2f}x / {h.energy_gain:.2f}x" for h in fp_gains
        )
        paper = PAPER_GAINS["int16"]
        out.append(
            [
                "int16 vs best fp32",
                f"{fp[0]:.2f}x",
                f"{fp[1]:.2f}x",
                f"{paper[0]}x / {paper[1]}x",
                per_net,
            ]
        )
    return out


def _invalid_summary(rows: Sequence[Row]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for row in rows:
        if not row["valid"]:
            counts[row["reason"]] = counts.get(row["reason"], 0) + 1
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
