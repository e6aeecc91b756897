"""Design spaces: an `Explore` block expanded into the accelerators it names.

The expansion is the full product of the axes, in declaration order, the last axis varying
fastest, so point indices are stable as long as the block is.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from qappac.formats import fmt_bytes, fmt_float
from qappac.ir import Accelerator, ArrayAxis, Explore, PEAxis, RateAxis, SizeAxis


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
