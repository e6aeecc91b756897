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
from dataclasses import dataclass
from pathlib import Path

from qappac.check import check_program
from qappac.dataflow import (
    LayerSchedule,
    MappingError,
    default_energy_table,
    schedule_csv,
    schedule_layer,
    schedule_table_md,
)
from qappac.executor import Executor
from qappac.formats import fmt_bytes, fmt_int
from qappac.ir import Design, Program
from qappac.lower import load_program
from qappac.ppa.models import ModelSet
from qappac.report import render_report
from qappac.shapes import layer_shapes
from qappac.source import DesignError, Diagnostic, DiagnosticSink, did_you_mean, note

Outputs = dict[str, str]
"""Relative path -> file text: what a back end returns."""

Files = dict[str, str] | dict[str, bytes] | dict[str, str | bytes]
"""What `write_tree` accepts: text, or bytes for images."""


@dataclass(frozen=True)
class Options:
    out_dir: Path = Path("out")
    design: str | None = None
    no_src: bool = False


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


def schedule_design(design: Design, sink: DiagnosticSink) -> list[LayerSchedule]:
    """The row-stationary schedule of every layer; a layer that no mapping fits is reported
    at its declaration (all such layers at once)."""
    table = default_energy_table()
    acc = design.accelerator
    layers = {layer.name: layer for layer in design.network.layers}
    schedules = []
    for shape in layer_shapes(design.network):
        try:
            schedules.append(
                schedule_layer(shape, acc, design.batch, design.objective, table)
            )
        except MappingError:
            sink.error(
                f"no row-stationary mapping of layer '{shape.name}' fits accelerator "
                f"'{acc.name}' (its global buffer of {fmt_bytes(acc.glb_bytes)} or its "
                f"scratchpads are too small for one pass at batch {design.batch})",
                layers[shape.name].span,
                note(f"used by design '{design.name}'", design.span),
            )
    return schedules


def render_design(design: Design, options: Options) -> Outputs:
    """Every file `qappac build` writes for one design, as text.

    The passes run in order; the build stops at a pass boundary if a pass reported errors.
    """
    sink = DiagnosticSink()
    schedules = schedule_design(design, sink)
    if sink.has_errors:
        raise DesignError(sink.sorted())
    sections = [("Schedule", _schedule_section(schedules))]
    return {
        "design.json": design_json(design),
        "schedule.csv": schedule_csv(schedules),
        "report.md": render_report(design, sections),
    }


def _schedule_section(schedules: list[LayerSchedule]) -> str:
    cycles = sum(s.cycles for s in schedules)
    return (
        "Row-stationary mapping of every layer (docs/dataflow.md), chosen by the design's "
        f"objective. Total: {fmt_int(cycles)} cycles.\n\n" + schedule_table_md(schedules)
    )


def select_designs(program: Program, name: str | None, path: str | Path) -> list[Design]:
    if name is None:
        if not program.designs:
            raise DesignError([_plain_error(f"{path} defines no design to build")])
        return list(program.designs)
    for design in program.designs:
        if design.name == name:
            return [design]
    hint = did_you_mean(name, [d.name for d in program.designs])
    raise DesignError([_plain_error(f"{path} has no design '{name}'{hint}")])


def _plain_error(message: str) -> Diagnostic:
    return Diagnostic("error", message)


def build(path: str | Path, options: Options) -> list[Path]:
    """Build the designs of `path` into `options.out_dir/<design>/`; returns those folders."""
    program = compile_file(path)
    designs = select_designs(program, options.design, path)
    rendered = {d.name: render_design(d, options) for d in designs}
    return [write_tree(options.out_dir / name, files) for name, files in rendered.items()]


def default_models_path() -> Path:
    """The PPA models that ship with qappac, fitted on the dataset beside them."""
    return Path(__file__).resolve().parent / "ppa" / "data" / "models.json"


def load_models(path: str | Path | None) -> ModelSet:
    """The models at `path`, else the shipped defaults; a missing file is a user error."""
    from qappac.ppa.models import load

    target = Path(path) if path else default_models_path()
    if not target.is_file():
        raise DesignError([Diagnostic("error", f"cannot read PPA models '{target}': no such "
                                      "file (qappac characterize, then qappac fit)")])
    return load(target)


def explore(path: str | Path, options: Options, name: str | None = None,
            models_path: str | Path | None = None, executor: Executor | None = None,
            ) -> list[Path]:
    """Evaluate the explore blocks of `path` (or the one named) into `out_dir/<explore>/`."""
    from qappac.explore import evaluate_space, explore_outputs

    program = compile_file(path)
    spaces = [e for e in program.explores if name is None or e.name == name]
    if not spaces:
        hint = did_you_mean(name, [e.name for e in program.explores]) if name else ""
        what = f"no explore '{name}'{hint}" if name else "no explore block"
        raise DesignError([Diagnostic("error", f"{path} has {what}")])
    models = load_models(models_path)
    rendered = {
        space.name: explore_outputs(space, evaluate_space(space, models, executor))
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
