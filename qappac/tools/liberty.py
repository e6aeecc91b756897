"""Facts qappac reads from a liberty file besides what the tools read themselves.

The mapping (`qappac.tools.yosys.map_commands`) and the timing and power analysis
(`qappac.tools.sta`) make the same assumption about a module's surroundings: each input is
driven by the library's smallest buffer (`buffer_cell`), each output drives
`OUTPUT_LOAD_FF`. A module analysed alone then sees roughly what it sees inside the
accelerator, where its inputs come from buffered logic.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from qappac.tools import ToolError

OUTPUT_LOAD_FF = 3.0
"""Load on every primary output in mapping and in analysis (fF): about two gate inputs."""

_CELL = re.compile(r"^\s*cell\s*\(\s*\"?([^\")]+)\"?\s*\)")
_AREA = re.compile(r"^\s*area\s*:\s*([\d.eE+-]+)")
_PIN = re.compile(r"^\s*pin\s*\(\s*\"?([^\")]+)\"?\s*\)")
_DIRECTION = re.compile(r"^\s*direction\s*:\s*\"?(\w+)")
_FUNCTION = re.compile(r'^\s*function\s*:\s*"\s*\(?\s*([^"()]+?)\s*\)?\s*"')


@lru_cache(maxsize=4)
def buffer_cell(liberty: str) -> str | None:
    """The liberty's smallest non-inverting buffer (one input, one output that follows it),
    by area then name: ``BUF_X1`` in NanGate45; None if it has none (inputs are then ideal
    in analysis and ABC maps without buffering). It stands for the gate that drives a
    module's inputs, in mapping (`map_commands`) and in timing and power
    (`qappac.tools.sta`)."""
    found: list[tuple[float, str]] = []
    name: str | None = None
    area = 0.0
    pins: dict[str, tuple[str, str]] = {}
    pin: str | None = None

    def close() -> None:
        if name is None or len(pins) != 2:
            return
        ins = [p for p, (d, _) in pins.items() if d == "input"]
        outs = [f for _, (d, f) in pins.items() if d == "output"]
        if len(ins) == 1 and len(outs) == 1 and outs[0] == ins[0]:
            found.append((area, name))

    with open(liberty, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if match := _CELL.match(line):
                close()
                name, area, pins, pin = match.group(1), 0.0, {}, None
            elif name is None:
                continue
            elif match := _AREA.match(line):
                area = float(match.group(1))
            elif match := _PIN.match(line):
                pin = match.group(1)
                pins[pin] = ("", "")
            elif pin is not None and (match := _DIRECTION.match(line)):
                pins[pin] = (match.group(1), pins[pin][1])
            elif pin is not None and (match := _FUNCTION.match(line)):
                pins[pin] = (pins[pin][0], match.group(1))
    close()
    return min(found)[1] if found else None


_CAP_UNIT = re.compile(r"capacitive_load_unit\s*\(\s*([\d.]+)\s*,\s*(\w+)\s*\)")


@lru_cache(maxsize=8)
def capacitance_unit_ff(liberty: str | Path) -> float:
    """The liberty's ``capacitive_load_unit`` in fF (1.0 when absent)."""
    with open(liberty, encoding="utf-8", errors="replace") as handle:
        head = handle.read(20000)
    match = _CAP_UNIT.search(head)
    if match is None:
        return 1.0
    scale = {"ff": 1.0, "pf": 1e3}.get(match.group(2).lower())
    if scale is None:
        raise ToolError(f"{liberty}: unknown capacitive_load_unit {match.group(2)!r}")
    return float(match.group(1)) * scale
