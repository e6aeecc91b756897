"""The report back end: (Design, results) -> report.md, and the network layer table."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate

from qappac.formats import fmt_bytes, fmt_float, fmt_int
from qappac.ir import Accelerator, Design, Network
from qappac.numerics import format_of
from qappac.shapes import LayerShape, layer_shapes
from qappac.templates import render

LAYER_HEADERS = (
    "layer",
    "kind",
    "from",
    "input",
    "output",
    "kernel",
    "stride",
    "pad",
    "groups",
    "MACs",
    "weights",
)


def _kernel(shape: LayerShape) -> str:
    if shape.kind == "add":
        return "-"
    return f"{shape.R}x{shape.S}"


def layer_rows(network: Network) -> list[list[str]]:
    """One row per layer (see LAYER_HEADERS), then a totals row."""
    rows = []
    for s in layer_shapes(network):
        rows.append(
            [
                s.name,
                s.kind,
                ", ".join(s.inputs),
                str(s.in_shape),
                str(s.out_shape),
                _kernel(s),
                str(s.U) if s.kind != "add" else "-",
                str(s.pad) if s.kind != "add" else "-",
                str(s.G) if s.is_mac else "-",
                fmt_int(s.macs),
                fmt_int(s.weights),
            ]
        )
    shapes = layer_shapes(network)
    rows.append(
        [
            "total",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            fmt_int(sum(s.macs for s in shapes)),
            fmt_int(sum(s.weights for s in shapes)),
        ]
    )
    return rows


def network_table(network: Network) -> str:
    """The layer table of `qappac show network` and of reports (GitHub Markdown)."""
    return tabulate(
        layer_rows(network), headers=LAYER_HEADERS, tablefmt="github", disable_numparse=True
    )


def accelerator_rows(acc: Accelerator) -> list[tuple[str, str]]:
    fmt = format_of(acc.pe)
    return [
        (
            "PE type",
            f"{acc.pe.label} (activations {fmt.act_bits} b, weights "
            f"{fmt.weight_bits} b, products {fmt.product_bits} b, accumulator "
            f"{fmt.acc_bits} b)",
        ),
        ("PE array", f"{acc.rows} x {acc.cols} ({acc.pes} PEs)"),
        ("ifmap scratchpad", f"{acc.spad_ifmap} words x {fmt.ifmap_bits} b per PE"),
        ("filter scratchpad", f"{acc.spad_filter} words x {fmt.filter_bits} b per PE"),
        ("psum scratchpad", f"{acc.spad_psum} words x {fmt.psum_bits} b per PE"),
        ("global buffer", fmt_bytes(acc.glb_bytes)),
        ("DRAM bandwidth", f"{fmt_float(acc.dram_gb_per_s)} GB/s"),
        ("clock", f"{fmt_float(acc.clock_mhz)} MHz"),
    ]


def render_report(design: Design, sections: list[tuple[str, str]] | None = None) -> str:
    """report.md: the design, its accelerator, its network, then one section per pass."""
    context: dict[str, Any] = {
        "design": design,
        "accelerator": tabulate(
            accelerator_rows(design.accelerator), headers=("parameter", "value"), tablefmt="github"
        ),
        "layers": network_table(design.network),
        "sections": sections or [],
    }
    return render("report", "report.md.j2", **context)
