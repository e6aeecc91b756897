"""Semantic checks over a lowered program: shapes through every network's DAG, and whether
each design's scratchpads can hold the smallest row-stationary primitive of every layer."""

from __future__ import annotations

from qappac.ir import Design, Program
from qappac.numerics import format_of, format_problem
from qappac.shapes import infer_shapes, layer_shapes
from qappac.source import DiagnosticSink, note


def check_program(program: Program, sink: DiagnosticSink) -> None:
    """Report every semantic error of `program`; all of them, in one run."""
    broken = set()
    for network in program.networks:
        before = len(sink.diagnostics)
        infer_shapes(network, sink)
        if len(sink.diagnostics) > before:
            broken.add(network.name)
    bad_pes = check_number_formats(program, sink)
    reported: set[tuple[str, str, str]] = set()
    for design in program.designs:
        if design.network.name not in broken and design.accelerator.name not in bad_pes:
            check_scratchpads(design, sink, reported)


def check_number_formats(program: Program, sink: DiagnosticSink) -> set[str]:
    """PE types whose widths `qappac.numerics` rejects (e.g. an accumulator narrower than the
    product), reported where they are written; returns the accelerators that have one."""
    bad = set()
    for acc in program.accelerators:
        problem = format_problem(acc.pe)
        if problem is not None:
            bad.add(acc.name)
            sink.error(_format_message(acc.pe.label, problem), acc.span_of("pe"))
    for explore in program.explores:
        for axis in explore.axes:
            if axis.kind != "pe":
                continue
            for pe in axis.values:
                problem = format_problem(pe)
                if problem is not None:
                    sink.error(_format_message(pe.label, problem), pe.span or axis.span)
    return bad


def _format_message(label: str, problem: str) -> str:
    return f"invalid PE type '{label}': {problem.split(': ', 1)[-1]}"


def check_scratchpads(
    design: Design, sink: DiagnosticSink, reported: set[tuple[str, str, str]] | None = None
) -> None:
    """The smallest row-stationary primitive (p = q = 1: one filter row of S weights, a
    window of S ifmap words, one psum) must fit each scratchpad (Eyeriss, ISCA 2016 sec. V).

    A `spad filter` too small for an 11-wide filter row is reported once per accelerator and
    layer, on the statement that set the size, with the layer and the design as notes.
    """
    acc = design.accelerator
    fmt = format_of(acc.pe)
    seen = reported if reported is not None else set()
    layers = {layer.name: layer for layer in design.network.layers}
    for shape in layer_shapes(design.network):
        if not shape.is_mac:
            continue
        needs = {"spad_filter": shape.S, "spad_ifmap": shape.S, "spad_psum": 1}
        layer = layers[shape.name]
        for field, words in needs.items():
            have = getattr(acc, field)
            key = (acc.name, shape.name, field)
            if have >= words or key in seen:
                continue
            seen.add(key)
            which = field.removeprefix("spad_")
            bits = {"spad_filter": fmt.filter_bits, "spad_ifmap": fmt.ifmap_bits}.get(
                field, fmt.psum_bits
            )
            sink.error(
                f"{which} scratchpad of accelerator '{acc.name}' holds {have} words but layer "
                f"'{shape.name}' needs at least {words} ({words} x {bits}-bit words for one "
                f"{shape.S}-wide row, p = q = 1)",
                acc.span_of(field),
                note(f"layer '{shape.name}' declared here", layer.span),
                note(f"used by design '{design.name}'", design.span),
            )
