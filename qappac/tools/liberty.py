"""Facts qappac reads from a liberty file besides what the tools read themselves.

The mapping (`qappac.tools.yosys.map_commands`) and the timing and power analysis
(`qappac.tools.sta`) make the same assumption about a module's surroundings: each input is
driven by the library's smallest buffer (`buffer_cell`), each output drives
`OUTPUT_LOAD_FF`. A module analysed alone then sees roughly what it sees inside the
accelerator, where its inputs come from buffered logic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qappac.tools import ToolError

OUTPUT_LOAD_FF = 3.0
"""Load on every primary output in mapping and in analysis (fF): about two gate inputs."""

_CELL = re.compile(r"^\s*cell\s*\(\s*\"?([^\")]+)\"?\s*\)")
_AREA = re.compile(r"^\s*area\s*:\s*([\d.eE+-]+)")
_PIN = re.compile(r"^\s*pin\s*\(\s*\"?([^\")]+)\"?\s*\)")
_DIRECTION = re.compile(r"^\s*direction\s*:\s*\"?(\w+)")
_CAPACITANCE = re.compile(r"^\s*capacitance\s*:\s*([\d.eE+-]+)")
_FUNCTION = re.compile(r'^\s*function\s*:\s*"\s*\(?\s*([^"()]+?)\s*\)?\s*"')
_SEQUENTIAL = re.compile(r"^\s*(ff|latch)\s*\(")


@dataclass(frozen=True)
class Cell:
    """What qappac needs of a liberty cell: its area, whether it holds state, its input pins
    with their capacitances (liberty units) and its output pins with their functions
    (``""`` when the liberty gives none)."""

    name: str
    area: float
    sequential: bool
    inputs: Mapping[str, float]
    outputs: Mapping[str, str]


@lru_cache(maxsize=4)
def cells(liberty: str | Path) -> dict[str, Cell]:
    """Cell name -> `Cell` of a liberty file: a line-based reader for the flat layout that
    NanGate and most open libraries use (one attribute per line), the one reader of cells
    in qappac (activity annotation, the buffer of `buffer_cell`, tests)."""
    out: dict[str, Cell] = {}
    name: str | None = None
    area = 0.0
    sequential = False
    pins: dict[str, dict[str, str]] = {}
    pin: dict[str, str] | None = None

    def close() -> None:
        if name is None:
            return
        inputs = {
            p: float(a.get("capacitance", "0")) for p, a in pins.items() if a.get("dir") == "input"
        }
        outputs = {p: a.get("function", "") for p, a in pins.items() if a.get("dir") == "output"}
        out[name] = Cell(name, area, sequential, inputs, outputs)

    with open(liberty, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if match := _CELL.match(line):
                close()
                name, area, sequential, pins, pin = match.group(1), 0.0, False, {}, None
            elif name is None:
                continue
            elif match := _PIN.match(line):
                pin = pins.setdefault(match.group(1), {})
            elif pin is None:
                if match := _AREA.match(line):
                    area = float(match.group(1))
                elif _SEQUENTIAL.match(line):
                    sequential = True
            elif match := _DIRECTION.match(line):
                pin["dir"] = match.group(1)
            elif match := _CAPACITANCE.match(line):
                pin["capacitance"] = match.group(1)
            elif match := _FUNCTION.match(line):
                pin["function"] = match.group(1)
            elif _SEQUENTIAL.match(line):
                sequential = True
    close()
    return out


@lru_cache(maxsize=4)
def buffer_cell(liberty: str) -> str | None:
    """The liberty's smallest non-inverting buffer (one input, one output that follows it),
    by area then name: ``BUF_X1`` in NanGate45; None if it has none (inputs are then ideal
    in analysis and ABC maps without buffering). It stands for the gate that drives a
    module's inputs, in mapping (`map_commands`) and in timing and power
    (`qappac.tools.sta`)."""
    found = [
        (cell.area, cell.name)
        for cell in cells(liberty).values()
        if not cell.sequential
        and len(cell.inputs) == 1
        and list(cell.outputs.values()) == list(cell.inputs)
    ]
    return min(found)[1] if found else None


def _head(liberty: str | Path) -> str:
    """The start of a liberty file, where its library-level attributes are."""
    with open(liberty, encoding="utf-8", errors="replace") as handle:
        return handle.read(20000)


_CAP_UNIT = re.compile(r"capacitive_load_unit\s*\(\s*([\d.]+)\s*,\s*(\w+)\s*\)")
_TIME_UNIT = re.compile(r'time_unit\s*:\s*"?\s*(\d+(?:\.\d+)?)\s*(ps|ns|us)"?')


def _unit(liberty: str | Path, pattern: re.Pattern[str], scales: dict[str, float]) -> float:
    """A library-level unit attribute (`pattern`: its number, then its unit) in the unit
    whose scale is 1 in `scales`; 1.0 when the liberty does not give it."""
    match = pattern.search(_head(liberty))
    if match is None:
        return 1.0
    scale = scales.get(match.group(2).lower())
    if scale is None:
        raise ToolError(f"{liberty}: unknown unit {match.group(2)!r} in {match.group(0)!r}")
    return float(match.group(1)) * scale


@lru_cache(maxsize=8)
def capacitance_unit_ff(liberty: str | Path) -> float:
    """The liberty's ``capacitive_load_unit`` in fF (1.0 when absent)."""
    return _unit(liberty, _CAP_UNIT, {"ff": 1.0, "pf": 1e3})


@lru_cache(maxsize=8)
def time_unit_ns(liberty: str | Path) -> float:
    """The liberty's ``time_unit`` in ns (1.0 when absent, the liberty default)."""
    return _unit(liberty, _TIME_UNIT, {"ps": 1e-3, "ns": 1.0, "us": 1e3})
