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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qappac.check import check_program
from qappac.ir import Design, Program
from qappac.lower import load_program
from qappac.report import render_report
from qappac.source import DesignError, DiagnosticSink, did_you_mean

Outputs = dict[str, str]
"""Relative path -> file text: what a back end returns."""


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


Pass = Callable[[Design, Options], tuple[Outputs, list[tuple[str, str]]]]
"""A pass returns files of its own and report sections (title, Markdown)."""

PIPELINE: tuple[Pass, ...] = ()


def render_design(design: Design, options: Options) -> Outputs:
    """Every file `qappac build` writes for one design, as text."""
    outputs: Outputs = {"design.json": design_json(design)}
    sections: list[tuple[str, str]] = []
    for run in PIPELINE:
        files, more = run(design, options)
        outputs.update(files)
        sections.extend(more)
    outputs["report.md"] = render_report(design, sections)
    return outputs


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


def _plain_error(message: str):  # type: ignore[no-untyped-def]
    from qappac.source import Diagnostic

    return Diagnostic("error", message)


def build(path: str | Path, options: Options) -> list[Path]:
    """Build the designs of `path` into `options.out_dir/<design>/`; returns those folders."""
    program = compile_file(path)
    designs = select_designs(program, options.design, path)
    rendered = {d.name: render_design(d, options) for d in designs}
    return [write_tree(options.out_dir / name, files) for name, files in rendered.items()]


def write_tree(dest: Path, files: Outputs) -> Path:
    """Write `files` into a fresh folder and atomically replace `dest` with it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for rel in sorted(files):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(files[rel])
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
