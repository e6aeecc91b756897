"""The pipeline: parse -> lower -> check -> passes -> back ends -> write.

This module alone writes files. Outputs of a build are rendered in memory first, written into
a temporary folder beside the destination, and renamed into place only when complete, so an
error never leaves a half-written output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from qappac.check import check_program
from qappac.dataflow import (
    EnergyTable,
    LayerSchedule,
    MappingError,
    schedule_csv,
    schedule_layer,
    schedule_table_md,
)
from qappac.executor import Executor
from qappac.formats import fmt_bytes, fmt_float, fmt_int
from qappac.ir import Design, Program
from qappac.lower import load_program
from qappac.plots import energy_breakdown_plot
from qappac.ppa.design import LEVELS, design_ppa, effective_accelerator
from qappac.ppa.models import ModelSet
from qappac.ppa.render import ppa_csv, ppa_section_md
from qappac.ppa.table import energy_table_from_models
from qappac.report import render_report
from qappac.shapes import layer_shapes
from qappac.source import DesignError, DiagnosticSink, did_you_mean, error, note

Outputs = dict[str, str]
"""Relative path -> file text: what a back end returns."""

Files = Mapping[str, str | bytes]
"""What `write_tree` accepts: text, or bytes for images."""


@dataclass(frozen=True)
class Options:
    out_dir: Path = Path("out")
    design: str | None = None
    no_src: bool = False
    models: Path | None = None
    """PPA models JSON; None: the models that ship with qappac."""


def compile_file(path: str | Path) -> Program:
    """Parse, lower and check one file; raise DesignError with every diagnostic on failure."""
    sink = DiagnosticSink()
    program = load_program(path, sink)
    if program is not None and not sink.has_errors:
        check_program(program, sink)
    if program is None or sink.has_errors:
        raise DesignError(sink.sorted())
    return program


def design_json(design: Design) -> str:
    """The canonical IR of a design: sorted keys, no spans."""
    return json.dumps(design.model_dump(mode="json"), sort_keys=True, indent=2) + "\n"


def schedule_design(
    design: Design, table: EnergyTable, sink: DiagnosticSink
) -> list[LayerSchedule]:
    """The row-stationary schedule of every layer; a layer that no mapping fits is reported
    at its declaration (all such layers at once)."""
    acc = design.accelerator
    layers = {layer.name: layer for layer in design.network.layers}
    schedules = []
    for shape in layer_shapes(design.network):
        try:
            schedules.append(schedule_layer(shape, acc, design.batch, design.objective, table))
        except MappingError:
            sink.error(
                f"no row-stationary mapping of layer '{shape.name}' fits accelerator "
                f"'{acc.name}' (its global buffer of {fmt_bytes(acc.glb_bytes)} or its "
                f"scratchpads are too small for one pass at batch {design.batch})",
                layers[shape.name].span,
                note(f"used by design '{design.name}'", design.span),
            )
    return schedules


def running_design(design: Design, models: ModelSet) -> tuple[Design, EnergyTable]:
    """The design as it runs, at min(its clock, its modeled fmax), and the characterized
    energy table the mapping search uses there (shared by build and `qappac sim --layer`)."""
    effective = effective_accelerator(design.accelerator, models)
    table = energy_table_from_models(models, None, effective)
    return design.model_copy(update={"accelerator": effective}), table


def render_design(design: Design, models: ModelSet, sink: DiagnosticSink) -> Files:
    """Every file `qappac build` writes for one design, as text.

    The passes run in order; the build stops at a pass boundary if a pass reported errors.
    The design runs at min(its clock, its modeled fmax), with the characterized energy
    table, so the schedule, the mapping choice and the PPA all see the same energies.
    """
    acc = design.accelerator
    if acc.pe.label not in models.models:
        known = ", ".join(sorted(models.models))
        sink.error(
            f"no PPA model for PE type '{acc.pe.label}' (characterized: {known}); run "
            "qappac characterize and qappac fit on a grid that has it, then pass --models",
            acc.span_of("pe"),
        )
        raise DesignError(sink.sorted())
    running, table = running_design(design, models)
    effective = running.accelerator
    if effective.clock_mhz < acc.clock_mhz:
        sink.warning(
            f"clock {fmt_float(acc.clock_mhz)} MHz of accelerator '{acc.name}' exceeds its "
            f"modeled fmax of {fmt_float(effective.clock_mhz)} MHz; design '{design.name}' "
            "is evaluated at the fmax",
            acc.span_of("clock_mhz"),
        )
    schedules = schedule_design(running, table, sink)
    if sink.has_errors:
        raise DesignError(sink.sorted())
    ppa = design_ppa(design, schedules, models, table=table)
    plot = energy_breakdown_plot(
        [layer.layer for layer in ppa.layers],
        [
            {level: getattr(layer.energy, level) * 1e-6 / design.batch for level in LEVELS}
            for layer in ppa.layers
        ],
        f"{design.name}: energy per inference by layer and level",
    )
    sections = [
        ("Schedule", _schedule_section(schedules)),
        (
            "Power, performance and area",
            ppa_section_md(design, ppa)
            + "\n\n![energy per layer and level](plots/energy_per_layer.png)",
        ),
    ]
    files: dict[str, str | bytes] = {
        **{f"rtl/{name}": text for name, text in render_rtl(running).items()},
        "design.json": design_json(design),
        "schedule.csv": schedule_csv(schedules),
        "ppa.csv": ppa_csv(design, ppa),
        "report.md": render_report(design, sections),
        "plots/energy_per_layer.png": plot["png"],
        "plots/energy_per_layer.svg": plot["svg"],
    }
    return files


def render_rtl(design: Design) -> Outputs:
    """The design's accelerator RTL and `filelist.f` (compilation order): the PE array, NoC,
    global buffer, DRAM port and controller of docs/accelerator.md, for the accelerator as it
    runs (its DRAM port width follows the bandwidth per cycle at the effective clock). The
    top is elaborated by pyslang: a diagnostic there is a qappac bug, raised as an internal
    error with the files kept for the report."""
    from qappac.rtl_accel import emit_accelerator, port_of, top_name
    from qappac.tools.slang import check_sources

    acc = design.accelerator
    rtl = emit_accelerator(acc, port_of(acc))
    report = check_sources(rtl, top_name(acc))
    if not report.clean:
        kept = Path(tempfile.mkdtemp(prefix="qappac-rtl-"))
        for name, text in rtl.items():
            (kept / name).write_text(text, encoding="utf-8")
        raise RuntimeError(
            f"generated RTL of '{top_name(acc)}' has pyslang diagnostics (files kept in "
            f"{kept}):\n" + report.text
        )
    return {**rtl, "filelist.f": "".join(f"{name}\n" for name in rtl)}


def _schedule_section(schedules: list[LayerSchedule]) -> str:
    cycles = sum(s.cycles for s in schedules)
    return (
        "Row-stationary mapping of every layer (docs/dataflow.md), chosen by the design's "
        f"objective. Total: {fmt_int(cycles)} cycles.\n\n" + schedule_table_md(schedules)
    )


def select_designs(program: Program, name: str | None, path: str | Path) -> list[Design]:
    if name is None:
        if not program.designs:
            raise DesignError([error(f"{path} defines no design to build")])
        return list(program.designs)
    for design in program.designs:
        if design.name == name:
            return [design]
    hint = did_you_mean(name, [d.name for d in program.designs])
    raise DesignError([error(f"{path} has no design '{name}'{hint}")])


def build(path: str | Path, options: Options, sink: DiagnosticSink | None = None) -> list[Path]:
    """Build the designs of `path` into `options.out_dir/<design>/`; returns those folders.

    Warnings go to `sink`; errors raise DesignError before anything is written.
    """
    sink = sink if sink is not None else DiagnosticSink()
    program = compile_file(path)
    designs = select_designs(program, options.design, path)
    models = load_models(options.models)
    rendered = {d.name: render_design(d, models, sink) for d in designs}
    return [write_tree(options.out_dir / name, files) for name, files in rendered.items()]


def default_models_path() -> Path:
    """The PPA models that ship with qappac, fitted on the dataset beside them."""
    return Path(__file__).resolve().parent / "ppa" / "data" / "models.json"


def load_models(path: str | Path | None) -> ModelSet:
    """The models at `path`, else the shipped defaults; a missing file is a user error."""
    from qappac.ppa.models import load

    target = Path(path) if path else default_models_path()
    if not target.is_file():
        raise DesignError(
            [
                error(
                    f"cannot read PPA models '{target}': no such file "
                    "(qappac characterize, then qappac fit)"
                )
            ]
        )
    return load(target)


def explore(
    path: str | Path,
    options: Options,
    name: str | None = None,
    models_path: str | Path | None = None,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Evaluate the explore blocks of `path` (or the one named) into `out_dir/<explore>/`."""
    from qappac.explore import evaluate_space, explore_outputs

    program = compile_file(path)
    spaces = [e for e in program.explores if name is None or e.name == name]
    if not spaces:
        hint = did_you_mean(name, [e.name for e in program.explores]) if name else ""
        what = f"no explore '{name}'{hint}" if name else "no explore block"
        raise DesignError([error(f"{path} has {what}")])
    models = load_models(models_path)
    rendered = {
        space.name: explore_outputs(
            space, evaluate_space(space, models, executor, progress=progress)
        )
        for space in spaces
    }
    return [write_tree(options.out_dir / n, files) for n, files in rendered.items()]


def write_tree(dest: Path, files: Files) -> Path:
    """Write `files` into a fresh folder and atomically replace `dest` with it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for rel in sorted(files):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            content = files[rel]
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                with open(target, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(content)
        os.chmod(tmp, 0o755)
        old = None
        if dest.exists():
            old = dest.parent / f".{dest.name}.old"
            if old.exists():
                shutil.rmtree(old)
            dest.rename(old)
        tmp.rename(dest)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
