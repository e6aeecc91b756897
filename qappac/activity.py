"""Switching activity measured in simulation, applied to a gate-level netlist for OpenSTA.

Power estimated with one toggle rate on every input makes dynamic power a multiple of area.
qappac instead measures activity: the Verilator simulation of a layer with random quantized
data (`qappac.sim_accel.simulate_layer(..., vcd=...)`) dumps every signal, `read_vcd` counts
each bit's transitions per clock cycle and the fraction of time it is high, and
`annotate` carries those figures onto a Yosys netlist, per primary input and per flip-flop.

OpenSTA 2019 (Debian ``opensta``, the version CI installs) propagates activities from input
ports through combinational logic and through flip-flops (Q follows D), but an activity set
on a cell pin stops that propagation (checked on this version: the pins it drives fall back
to a default rate). So `annotate` *cuts* every flip-flop whose output it can name in the
simulation: the flop's Q (and QN) now drive fresh dangling nets, loaded with the capacitance
of the input pins they drove (`set_load`, from the liberty), and the old output nets are
driven by new input ports that carry the flop's measured activity. The combinational logic
then sees the measured state activity; each flop still sees its clock, and its own
internal and output switching power follow from its D input. Black-box instances (the GLB
left to SRAM macros) are removed and their output nets become ports with their measured
activity too.

Names: a VCD bit ``TOP.<top>.g_pe[0].u_pe.u_ifmap_spad.mem[3]`` bit 5 and the netlist net
``\\g_pe[0].u_pe.u_ifmap_spad.mem[3] [5]`` are both ``g_pe[0].u_pe.u_ifmap_spad.mem[3][5]``
once normalized (`bit_name`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from qappac.tools import liberty as liberty_file
from qappac.tools.sta import Activity

PORT_PREFIX = "qappac_act_"
"""Names of the ports that `annotate` adds (one per cut flop output or black-box output)."""


@dataclass(frozen=True)
class Toggles:
    """Per-bit switching statistics of one simulation window.

    ``rate``: transitions per clock cycle; ``duty``: fraction of the window spent at 1.
    Bits are keyed by `bit_name`, relative to the simulation's top module.
    """

    cycles: int
    rate: Mapping[str, float]
    duty: Mapping[str, float]

    def scope(self, prefix: str) -> Toggles:
        """The bits under hierarchical `prefix` (e.g. ``g_pe[0].u_pe``), renamed relative
        to it."""
        head = prefix.rstrip(".") + "."
        cut = len(head)
        return Toggles(
            self.cycles,
            {k[cut:]: v for k, v in self.rate.items() if k.startswith(head)},
            {k[cut:]: v for k, v in self.duty.items() if k.startswith(head)},
        )

    @staticmethod
    def mean(parts: Iterable[Toggles]) -> Toggles:
        """The bitwise mean of several windows or instances (each bit over those that have
        it), e.g. the average PE of an array."""
        items = list(parts)
        if not items:
            raise ValueError("no toggles to average")
        rate: dict[str, list[float]] = defaultdict(list)
        duty: dict[str, list[float]] = defaultdict(list)
        for part in items:
            for k, v in part.rate.items():
                rate[k].append(v)
            for k, v in part.duty.items():
                duty[k].append(v)
        return Toggles(
            min(p.cycles for p in items),
            {k: sum(v) / len(v) for k, v in sorted(rate.items())},
            {k: sum(v) / len(v) for k, v in sorted(duty.items())},
        )


def bit_name(name: str, bit: int | None = None) -> str:
    """A signal bit's normalized name: no escapes, no spaces, ``[bit]`` appended.

    >>> bit_name("\\\\g_pe[0].u_pe.mem[3] [5]"), bit_name("state", 2), bit_name("clk")
    ('g_pe[0].u_pe.mem[3][5]', 'state[2]', 'clk')
    """
    text = name.replace("\\", "").replace(" ", "")
    return text if bit is None else f"{text}[{bit}]"


# --------------------------------------------------------------------------- VCD

_RANGE = re.compile(r"^\[(\d+)(?::(\d+))?\]$")


def read_vcd(path: str | Path, top: str | None = None) -> Toggles:
    """Toggle rates and duty of every bit in a VCD written two time steps per clock cycle
    (the accelerator bench: one after the rising edge, one after the falling edge).

    Names are relative to `top` (default: the first module under ``TOP``); an x or z value
    counts as 0. The first time step sets the initial values and is not a transition.
    """
    ids: dict[str, list[tuple[str, int, int]]] = defaultdict(list)  # id -> (name, lsb, width)
    scopes: list[str] = []
    with open(path, encoding="ascii", errors="replace") as handle:
        for line in handle:
            words = line.split()
            if not words:
                continue
            head = words[0]
            if head == "$scope":
                scopes.append(words[2])
            elif head == "$upscope":
                scopes.pop()
            elif head == "$var":
                width, code, ref = int(words[2]), words[3], words[4]
                lsb = 0
                if len(words) > 6 and _RANGE.match(words[5]):
                    match = _RANGE.match(words[5])
                    assert match is not None
                    high = int(match.group(1))
                    low = int(match.group(2)) if match.group(2) is not None else high
                    lsb = min(high, low)
                    scalar = False
                else:
                    scalar = width == 1
                path_name = ".".join([*scopes, ref])
                ids[code].append((path_name, -1 if scalar else lsb, width))
            elif head == "$enddefinitions":
                break
        counts, high_time, last_value, last_change, end = _scan(handle, ids)
    prefix = _top_prefix(ids, top)
    rate: dict[str, float] = {}
    duty: dict[str, float] = {}
    cycles = max(1, end // 2)
    for code, names in ids.items():
        toggles = counts.get(code, {})
        highs = dict(high_time.get(code, {}))
        value = last_value.get(code, 0)
        for bit in _bits(value):  # bits still high at the end of the window
            highs[bit] = highs.get(bit, 0) + end - last_change.get(code, 0)
        for full, lsb, width in names:
            if not full.startswith(prefix):
                continue
            rel = full[len(prefix) :]
            for bit in range(width):
                key = bit_name(rel) if lsb < 0 else bit_name(rel, lsb + bit)
                rate[key] = toggles.get(bit, 0) / cycles
                duty[key] = highs.get(bit, 0) / end if end else 0.0
    return Toggles(cycles, dict(sorted(rate.items())), dict(sorted(duty.items())))


def _scan(
    handle: Iterable[str], ids: Mapping[str, object]
) -> tuple[
    dict[str, dict[int, int]], dict[str, dict[int, int]], dict[str, int], dict[str, int], int
]:
    counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    high_time: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    value: dict[str, int] = {}
    since: dict[str, int] = {}
    now = 0
    start: int | None = None
    for line in handle:
        if not line or line[0] in "$\n":
            continue
        first = line[0]
        if first == "#":
            now = int(line[1:])
            if start is None:
                start = now
            continue
        if first in "bB":
            bits, code = line[1:].split()
            new = int(bits.replace("x", "0").replace("z", "0").replace("X", "0"), 2)
        elif first in "01xzXZ":
            code = line[1:].strip()
            new = 1 if first == "1" else 0
        else:
            continue  # real values and the like: not in generated RTL
        if code not in ids:
            continue
        old = value.get(code)
        if old is not None and now != start:
            changed = old ^ new
            count = counts[code]
            for bit in _bits(changed):
                count[bit] += 1
            held = now - since[code]
            highs = high_time[code]
            for bit in _bits(old):
                highs[bit] += held
        value[code] = new
        since[code] = now
    end = now - (start or 0)
    return counts, high_time, value, since, end


def _bits(value: int) -> Iterable[int]:
    while value:
        low = value & -value
        yield low.bit_length() - 1
        value ^= low


def _top_prefix(ids: Mapping[str, list[tuple[str, int, int]]], top: str | None) -> str:
    names = [name for entries in ids.values() for name, _, _ in entries]
    if top is not None:
        marker = f".{top}."
        for name in names:
            at = name.find(marker)
            if at >= 0:
                return name[: at + len(marker)]
        raise ValueError(f"the VCD has no module {top}")
    parts = [n.split(".") for n in names if n.count(".") >= 2 and n.startswith("TOP.")]
    if not parts:
        return "TOP."
    return f"TOP.{parts[0][1]}."


# --------------------------------------------------------------------------- netlist

_INSTANCE = re.compile(r"^  (\\\S+ |[A-Za-z_][\w$]*) (\\\S+ |[A-Za-z_][\w$]*) ?\($", re.MULTILINE)
_CONNECTION = re.compile(r"\.(\w+)\(((?:\\\S+ |[^()\\])*)\)")
_INPUT_DECL = re.compile(r"^\s*input\s+(?:\[(\d+):(\d+)\]\s+)?(\\\S+ |[A-Za-z_][\w$]*)\s*;", re.M)


@dataclass(frozen=True)
class Instance:
    cell: str
    name: str
    pins: Mapping[str, str]
    start: int
    end: int


def instances(netlist: str) -> list[Instance]:
    """The cell instances of a Yosys ``write_verilog -noattr`` netlist (one module)."""
    out = []
    for match in _INSTANCE.finditer(netlist):
        if match.group(1) in ("module", "input", "output", "wire", "assign", "reg", "inout"):
            continue
        end = netlist.index(");", match.end()) + 2
        body = netlist[match.end() : end]
        pins = {p: n.strip() for p, n in _CONNECTION.findall(body)}
        out.append(Instance(match.group(1).strip(), match.group(2), pins, match.start(), end))
    return out


def input_bits(netlist: str) -> list[str]:
    """The primary input bits (Tcl port names, ``a[3]`` for a bus bit) of a netlist."""
    bits = []
    for high, low, name in _INPUT_DECL.findall(netlist):
        port = name.strip()
        if not high:
            bits.append(port)
            continue
        step = -1 if int(high) >= int(low) else 1
        bits += [f"{port}[{i}]" for i in range(int(high), int(low) + step, step)]
    return bits


@dataclass(frozen=True)
class Annotated:
    """A netlist prepared for power analysis with measured activities, and its coverage."""

    netlist: str
    activity: Activity
    cut_flops: int
    flops: int
    matched_inputs: int
    inputs: int
    blackbox_outputs: int
    cut_nets: int = 0


def annotate(
    netlist: str,
    toggles: Toggles,
    liberty: str | Path,
    *,
    clock_port: str = "clk",
    default_activity: float = 0.2,
    cut_nets: bool = True,
) -> Annotated:
    """Cut the netlist's flops (and black boxes) into ports that carry `toggles`' measured
    activities; set every primary input's activity from `toggles` as well.

    With `cut_nets`, every combinational cell output whose net has a simulated counterpart
    (a named RTL wire that survived synthesis) is cut the same way, as a VCD-reading STA
    tool would annotate it. Flops and nets without one stay as they are (OpenSTA
    propagates their activity); inputs without one get `default_activity`.
    """
    cells = liberty_file.cells(str(liberty))
    insts = instances(netlist)
    widths = declared_widths(netlist)
    fanout: dict[str, float] = defaultdict(float)
    driven: set[str] = set()
    for inst in insts:
        info = cells.get(inst.cell)
        if info is None:
            continue
        for pin, net in inst.pins.items():
            if pin in info.inputs:
                fanout[net] += info.inputs[pin]
            elif pin in info.outputs:
                driven.add(net)
    aliases = _ASSIGN.findall(netlist)
    for lhs, rhs in aliases:  # an alias carries its source's loads
        fanout[rhs.strip()] += fanout.get(lhs.strip(), 0.0)
    # nets a black box cannot drive: primary inputs (its clock, its reset) and aliases
    sourced = set(input_bits(netlist)) | {lhs.strip() for lhs, _ in aliases}

    edits: list[tuple[int, int, str]] = []
    new_ports: list[tuple[str, float, float]] = []  # port, activity, duty
    assigns: list[str] = []
    loads: dict[str, float] = {}
    flops = cut = boxes = nets = 0
    for inst in insts:
        info = cells.get(inst.cell)
        if info is None:  # a black box: its outputs become measured ports
            for expr in inst.pins.values():
                for net in expand(expr, widths):
                    key = bit_name(net)
                    if net in driven or net in sourced or key not in toggles.rate:
                        continue  # an input of the box, or a constant
                    port = f"{PORT_PREFIX}{len(new_ports)}"
                    new_ports.append((port, toggles.rate[key], toggles.duty.get(key, 0.5)))
                    assigns.append(f"  assign {net} = {port};")
                    boxes += 1
            edits.append((inst.start, inst.end, f"  // black box {inst.name.strip()} removed"))
            continue
        if info.sequential:
            flops += 1
            q_key = bit_name(inst.pins.get("Q", "")) if inst.pins.get("Q") else ""
            if q_key not in toggles.rate:
                continue
            rate, duty = toggles.rate[q_key], toggles.duty.get(q_key, 0.5)
            outputs = [("Q", rate, duty), ("QN", rate, 1.0 - duty)]
        elif cut_nets:
            outputs = [
                (pin, toggles.rate[key], toggles.duty.get(key, 0.5))
                for pin in sorted(info.outputs)
                if (key := bit_name(inst.pins.get(pin, "") or "-")) in toggles.rate
            ]
        else:
            continue
        body = netlist[inst.start : inst.end]
        changed = False
        for pin, rate, duty in outputs:
            net = inst.pins.get(pin, "")
            if not net:
                continue
            port = f"{PORT_PREFIX}{len(new_ports)}"
            dangling = f"{port}_d"
            new_ports.append((port, rate, min(1.0, max(0.0, duty))))
            assigns.append(f"  wire {dangling};\n  assign {net} = {port};")
            loads[dangling] = fanout.get(net, 0.0)
            body = body.replace(f".{pin}({_raw(netlist, inst, pin)})", f".{pin}({dangling})", 1)
            changed = True
        if changed:
            edits.append((inst.start, inst.end, body))
            if info.sequential:
                cut += 1
            else:
                nets += 1

    # one pass: splicing edit by edit copies the whole text per cut cell, hours for a
    # gate-level whole accelerator (every net cut, about 170,000 cells)
    pieces, pos = [], 0
    for start, end, replacement in sorted(edits):
        pieces += [netlist[pos:start], replacement]
        pos = end
    text = "".join([*pieces, netlist[pos:]])
    text = _add_ports(text, [p for p, _, _ in new_ports], assigns)

    inputs = [b for b in input_bits(netlist) if b != clock_port]
    ports: dict[str, float] = {}
    # an input's static probability matters as much as its toggle rate: left at 0.5, the
    # fp32 PE's enables and selects made its propagated power 14 % lower (docs/validation.md)
    duties: dict[str, float] = {}
    matched = 0
    for bit in inputs:
        key = bit_name(bit)
        if key in toggles.rate:
            ports[bit] = toggles.rate[key]
            if key in toggles.duty:
                duties[bit] = min(1.0, max(0.0, toggles.duty[key]))
            matched += 1
        else:
            ports[bit] = default_activity
    for port, rate, duty in new_ports:
        ports[port] = rate
        duties[port] = duty
    activity = Activity(
        input_activity=default_activity,
        ports=ports,
        duties=duties,
        net_loads=loads,
    )
    return Annotated(text, activity, cut, flops, matched, len(inputs), boxes, nets)


_ASSIGN = re.compile(
    r"^\s*assign\s+(\\\S+ (?:\[\d+\])?|[^=\s]+)\s*=\s*(\\\S+ (?:\[\d+\])?|[^;\s]+)\s*;", re.M
)


_DECL = re.compile(
    r"^\s*(?:wire|input|output|inout|reg)\s+(?:\[(\d+):(\d+)\]\s+)?(\\\S+ |[A-Za-z_][\w$]*)\s*;",
    re.MULTILINE,
)
_SELECT = re.compile(r"^(\\\S+|[A-Za-z_][\w$]*)\s*(?:\[(\d+)(?::(\d+))?\])?$")


def declared_widths(netlist: str) -> dict[str, tuple[int, int] | None]:
    """Net name -> (msb, lsb) of every declaration (None for a scalar)."""
    out: dict[str, tuple[int, int] | None] = {}
    for high, low, name in _DECL.findall(netlist):
        out[name.strip()] = (int(high), int(low)) if high else None
    return out


def expand(expr: str, widths: Mapping[str, tuple[int, int] | None]) -> list[str]:
    """The single-bit references of a connection expression (a net, a bit or part select,
    or a concatenation of those); constants and unknown names give nothing.

    >>> expand("{ a [1:0], b }", {"a": (3, 0), "b": None})
    ['a[1]', 'a[0]', 'b']
    """
    text = expr.strip()
    if text.startswith("{"):
        text = text[1:-1]
    bits: list[str] = []
    for element in (e.strip() for e in text.split(",")):
        match = _SELECT.match(element)
        if match is None or "'" in element:
            continue
        ref = match.group(1) + (" " if match.group(1).startswith("\\") else "")
        name = ref.strip()
        if name not in widths:
            continue
        if match.group(2) is not None:
            high = int(match.group(2))
            low = int(match.group(3)) if match.group(3) is not None else high
        elif widths[name] is None:
            bits.append(ref)
            continue
        else:
            high, low = widths[name]  # type: ignore[misc]
        step = -1 if high >= low else 1
        bits += [f"{ref}[{i}]" for i in range(high, low + step, step)]
    return bits


def _raw(netlist: str, inst: Instance, pin: str) -> str:
    body = netlist[inst.start : inst.end]
    match = re.search(rf"\.{pin}\(((?:\\\S+ |[^()\\])*)\)", body)
    return match.group(1) if match else ""


def _add_ports(text: str, ports: list[str], assigns: list[str]) -> str:
    """Declare `ports` as inputs of the (single) module and append the `assigns`."""
    if not ports:
        return text
    head = re.search(r"^module\s+(\\\S+ |[\w$]+)\s*\(", text, re.MULTILINE)
    if head is None:
        raise ValueError("no module header in the netlist")
    close = text.index(");", head.end())
    text = text[:close] + "".join(f", {p}" for p in ports) + text[close:]
    decl_at = text.index(";", close) + 1
    decls = "".join(f"\n  input {p};" for p in ports)
    text = text[:decl_at] + decls + text[decl_at:]
    end = text.rindex("endmodule")
    return text[:end] + "\n".join(assigns) + "\n" + text[end:]
