"""Plots of reports (matplotlib, Agg): deterministic PNG and SVG bytes, no timestamps.

Only this module (and `ppa/plot.py` for model fits) imports matplotlib, lazily, so that
`qappac check` starts fast.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

PE_STYLES: dict[str, tuple[str, str]] = {
    "fp32": ("#d62728", "s"),
    "int16": ("#1f77b4", "o"),
    "int(12,12)": ("#17becf", "v"),
    "int8": ("#9467bd", "D"),
    "int(8,4)": ("#8c564b", "P"),
    "lightpe1": ("#2ca02c", "^"),
    "lightpe2": ("#ff7f0e", "*"),
}
_OTHER_STYLES = (("#7f7f7f", "X"), ("#bcbd22", "h"), ("#e377c2", "p"))
ENERGY_LEVELS = ("mac", "spad", "noc", "glb", "dram", "leakage")
_LEVEL_COLORS = ("#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "qappac", "path.simplify": False})
    return plt


def style_of(pe: str, order: Sequence[str]) -> tuple[str, str]:
    """A stable color and marker per PE type: fixed for the known ones, then by order."""
    if pe in PE_STYLES:
        return PE_STYLES[pe]
    others = [p for p in order if p not in PE_STYLES]
    index = others.index(pe) if pe in others else 0
    return _OTHER_STYLES[index % len(_OTHER_STYLES)]


def _save(fig: Any, plt: Any) -> dict[str, bytes]:
    out = {}
    for fmt, metadata in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, metadata=metadata, dpi=120)
        out[fmt] = buffer.getvalue()
    plt.close(fig)
    return out


def pareto_plot(rows: Sequence[dict[str, Any]], network: str, reference: str) -> dict[str, bytes]:
    """The paper's Figures 3-5: normalized performance per area against normalized energy,
    one color and marker per PE type, the Pareto front as a line; log axes."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    valid = [r for r in rows if r["valid"] and not math.isnan(r["norm_energy"])]
    order = list(dict.fromkeys(r["pe"] for r in rows))
    for pe in order:
        mine = [r for r in valid if r["pe"] == pe]
        if not mine:
            continue
        color, marker = style_of(pe, order)
        ax.scatter(
            [r["norm_energy"] for r in mine],
            [r["norm_perf_per_area"] for r in mine],
            c=color,
            marker=marker,
            s=14,
            alpha=0.7,
            label=pe,
            linewidths=0,
        )
    front = sorted((r for r in valid if r["pareto"]), key=lambda r: r["norm_energy"])
    if front:
        ax.plot(
            [r["norm_energy"] for r in front],
            [r["norm_perf_per_area"] for r in front],
            color="black",
            linewidth=1.0,
            label="Pareto front",
        )
    ax.scatter(
        [1.0],
        [1.0],
        facecolors="none",
        edgecolors="black",
        s=80,
        linewidths=1.2,
        label=f"reference ({reference})",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("energy per inference (normalized)")
    ax.set_ylabel("performance per area (normalized)")
    ax.set_title(f"{network}: normalized to the best {reference} design")
    ax.grid(True, which="both", linewidth=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return _save(fig, plt)


def energy_breakdown_plot(
    labels: Sequence[str], energies: Sequence[dict[str, float]], title: str, unit: str = "uJ"
) -> dict[str, bytes]:
    """Stacked bars of energy per level (mac, spad, noc, glb, dram, leakage)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(labels) + 2.5), 4.2))
    bottom = [0.0] * len(labels)
    for level, color in zip(ENERGY_LEVELS, _LEVEL_COLORS, strict=True):
        values = [e.get(level, 0.0) for e in energies]
        ax.bar(range(len(labels)), values, bottom=bottom, color=color, label=level, width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(f"energy ({unit})")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, plt)
