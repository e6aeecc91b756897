"""OpenSTA wrapper: static timing (worst slack, fmax) and power of a gate-level netlist.

`analyze` writes the netlist and a Tcl script into a fresh temporary folder, runs ``sta``
there and parses its reports. The netlist is what Yosys writes (``write_verilog -noattr``)
after mapping to the liberty's cells; OpenSTA 2019 (Debian ``opensta``) cannot parse
``signed`` in declarations, so `sanitize_netlist` strips it first.

Constraints: one clock on `clock_port` with `period_ns`; every other input has a zero input
delay and every output a zero output delay on that clock, so register-to-register,
input-to-register and register-to-output paths are all timed; `false_path_from` ports
(asynchronous resets) are excluded, or their recovery check would be the critical path.
Every input but the clock is driven by the liberty's smallest buffer and every output
carries a small load, the surroundings the mapping assumed (`qappac.tools.liberty`): an
ideal input would switch a scratchpad's 300-gate read-address net in zero time, which
inside the accelerator a buffer tree does in a few hundred ps, with the short-circuit power
that goes with it. ``fmax = 1 / (period - worst slack)``.

Switching activity is in transitions per clock period. What OpenSTA 2019 honours (checked
on this version): a *global* activity overrides every other setting; otherwise activities of
primary inputs (a default for all of them, or per port) propagate through the logic, and
activities set on cell *input* pins are used for those pins; activities on output pins are
ignored. Its ``set_power_activity -pins`` command is broken in this version (it calls an
undefined ``get_pins_error``), so pin activities go through ``sta::set_power_pin_activity``.
It has no ``read_vcd``/``read_saif``.

Its power report can fail on one cell: activity propagation in single-precision floats can
leave a cell with a subnormal output density (1e-42 per second was seen on a counter's top
bit) and a NaN internal power, and ``report_power`` then stops on the NaN. The script then
sums ``sta::instance_power`` over the cells itself, skipping the cells whose power is not a
number and naming them (`StaReport.nan_cells`); the skipped cells switch about never, so
what they leave out is their leakage, a few nW.

Failures raise `qappac.tools.ToolError`, naming the log file kept on failure.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from qappac.tools import ToolError, ToolMissingError
from qappac.tools.liberty import (
    OUTPUT_LOAD_FF,
    buffer_cell,
    capacitance_unit_ff,
    time_unit_ns,
)

LIBERTY_ENV = "QAPPAC_LIBERTY"
"""Environment variable holding the path of the liberty (.lib, not .lib.gz) file."""

STA_ENV = "QAPPAC_STA"
"""Optional environment variable naming the ``sta`` binary (else ``sta`` on PATH)."""

INSTALL_HINT = "OpenSTA is missing: apt-get install opensta (binary 'sta'), or set QAPPAC_STA"


@dataclass(frozen=True)
class Activity:
    """Switching activities (transitions per clock period) for power analysis.

    ``global_activity`` overrides everything else when set. ``input_activity`` is the default
    of every primary input; ``ports`` and ``pins`` map port names / cell input pins (Tcl
    patterns such as ``a[*]`` or ``_12_/A1``) to their own activity. ``duties`` overrides
    `duty` per port; ``net_loads`` adds capacitance (in the liberty's unit) to nets, for
    outputs cut from their loads (`qappac.activity.annotate`).
    """

    global_activity: float | None = None
    input_activity: float | None = None
    ports: Mapping[str, float] = field(default_factory=dict)
    pins: Mapping[str, float] = field(default_factory=dict)
    duty: float = 0.5
    duties: Mapping[str, float] = field(default_factory=dict)
    net_loads: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StaReport:
    """Timing and power of one netlist at one clock (times in ns, power in mW)."""

    period_ns: float
    worst_slack_ns: float
    critical_path_ns: float
    fmax_mhz: float
    internal_mw: float
    switching_mw: float
    leakage_mw: float
    total_mw: float
    nan_cells: tuple[str, ...] = ()
    """Cells left out of the power sums because OpenSTA gave them NaN power (see above)."""

    @property
    def dynamic_mw(self) -> float:
        return self.internal_mw + self.switching_mw


def liberty_path() -> Path | None:
    """The liberty file named by ``QAPPAC_LIBERTY``, or None when unset."""
    value = os.environ.get(LIBERTY_ENV)
    return Path(value) if value else None


def find_sta() -> str | None:
    """The ``sta`` binary: ``QAPPAC_STA`` if set, else ``sta`` on PATH."""
    return os.environ.get(STA_ENV) or shutil.which("sta")


@lru_cache(maxsize=4)
def sta_version(binary: str | None = None) -> str:
    """The OpenSTA version string (``sta -version``), e.g. ``2.0.17``."""
    exe = binary or find_sta()
    if exe is None:
        raise ToolMissingError(INSTALL_HINT)
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or out.stderr.strip()


def sanitize_netlist(text: str) -> str:
    """The netlist in the Verilog subset OpenSTA 2019 parses.

    It cannot parse ``signed`` in declarations, nor a concatenation on the left of an
    ``assign``; the latter is split into one ``assign`` per bit (per element when a width
    is unknown but both sides list as many elements).

    >>> print(sanitize_netlist("input signed [7:0] a;\\nassign { x[1], y[1:0] } = 3'h5;"))
    input [7:0] a;
    assign x[1] = 1'b1;
    assign y[1] = 1'b0;
    assign y[0] = 1'b1;
    """
    text = re.sub(r"\b(input|output|inout|wire|reg)\s+signed\b", r"\1", text)
    return _CONCAT_ASSIGN.sub(_split_assign, text)


_CONCAT_ASSIGN = re.compile(
    r"^([ \t]*)assign[ \t]*\{([^{};]*)\}[ \t]*=[ \t]*(\{[^{};]*\}|[^{};]*?)[ \t]*;",
    re.MULTILINE,
)
_ELEMENT = re.compile(r"^(\\\S+ |[A-Za-z_][\w$]*)\s*(?:\[(\d+)(?::(\d+))?\])?$")
_CONSTANT = re.compile(r"^(\d+)'([bodh])([0-9a-fA-F_]+)$")


TIE_PORTS = {"qappac_tie0": 0.0, "qappac_tie1": 1.0}
"""Input ports that `tie_constants` adds, and the constant (duty) each holds."""

_TIED_PIN = re.compile(r"\.(\w+)\(1'[hb]([01])\)")


def tie_constants(text: str) -> tuple[str, dict[str, float]]:
    """Cell pins tied to a constant (``.A(1'h0)``), rerouted to a constant input port.

    OpenSTA 2.0.17 crashes (SIGSEGV) in ``report_power`` on a cell input tied to a
    constant, or to a tie cell's output. Yosys leaves such pins where a module mapped on
    its own is flattened into a design that drives one of its inputs with a constant (the
    array's edge PEs). The ports hold the constant: no switching, a duty of 0 or 1, no
    timing (false paths). Returns the netlist and the ports it added, with their duties.
    """
    used: dict[str, float] = {}

    def reroute(match: re.Match[str]) -> str:
        port = f"qappac_tie{match.group(2)}"
        used[port] = TIE_PORTS[port]
        return f".{match.group(1)}({port})"

    out = _TIED_PIN.sub(reroute, text)
    if not used:
        return text, {}
    header = re.search(r"^module\s+[^\s(]+\s*\(", out, re.MULTILINE)
    if header is None:
        raise ValueError("no module header in the netlist")
    names = sorted(used)
    end = out.index(";", header.end()) + 1
    rest = out[header.end() : end]
    joint = "" if rest.lstrip().startswith(")") else ", "
    head = out[: header.end()] + ", ".join(names) + joint + rest
    decls = "".join(f"\n  input {name};" for name in names)
    return head + decls + out[end:], used


def _split_assign(match: re.Match[str]) -> str:
    """``assign {a, b} = rhs;`` as one ``assign`` per bit (or per element when the widths
    are unknown); the original text when neither is possible."""
    indent = match.group(1)
    left = _elements(match.group(2))
    rhs = match.group(3).strip()
    right = _elements(rhs[1:-1]) if rhs.startswith("{") else [rhs]
    left_bits, right_bits = _bits(left), _bits(right)
    if left_bits is not None and right_bits is not None and len(left_bits) == len(right_bits):
        pairs = list(zip(left_bits, right_bits, strict=True))
    elif len(left) == len(right) and rhs.startswith("{"):
        pairs = list(zip(left, right, strict=True))
    else:
        return match.group(0)
    return "\n".join(f"{indent}assign {lhs} = {rhs};" for lhs, rhs in pairs)


def _elements(text: str) -> list[str]:
    return [e.strip() for e in text.split(",")]


def _bits(elements: list[str]) -> list[str] | None:
    """The single-bit references of a concatenation, MSB first; None if a width is unknown."""
    bits: list[str] = []
    for element in elements:
        constant = _CONSTANT.match(element)
        if constant:
            width, base, digits = constant.groups()
            value = int(digits.replace("_", ""), {"b": 2, "o": 8, "d": 10, "h": 16}[base])
            bits += [f"1'b{(value >> i) & 1}" for i in reversed(range(int(width)))]
            continue
        ref = _ELEMENT.match(element)
        if ref is None or ref.group(2) is None:
            return None
        name, high = ref.group(1), int(ref.group(2))
        low = int(ref.group(3)) if ref.group(3) is not None else high
        step = -1 if high >= low else 1
        bits += [f"{name}[{i}]" for i in range(high, low + step, step)]
    return bits


def build_script(
    liberty: Path,
    netlist: str,
    top: str,
    clock_port: str | None,
    period_ns: float,
    activity: Activity,
    false_path_from: Sequence[str] = (),
    driving_cell: str | None = None,
    output_load: float = 0.0,
) -> str:
    """The Tcl script `analyze` runs (paths as given; the netlist file name relative).

    `driving_cell` drives every input but the clock; `output_load` (liberty units) loads
    every output."""
    lines = [
        f"read_liberty {{{liberty}}}",
        f"read_verilog {{{netlist}}}",
        f"link_design {{{top}}}",
    ]
    if clock_port is None:  # a virtual clock times input-to-output paths
        lines += [
            f"create_clock -name clk -period {period_ns!r}",
            "set others [all_inputs]",
        ]
    else:
        lines += [
            f"create_clock -name clk -period {period_ns!r} [get_ports {{{clock_port}}}]",
            f"set others [delete_from_list [all_inputs] [get_ports {{{clock_port}}}]]",
        ]
    lines += [
        "if {[llength $others]} { set_input_delay 0 -clock clk $others }",
        "if {[llength [all_outputs]]} { set_output_delay 0 -clock clk [all_outputs] }",
    ]
    lines += [f"set_false_path -from [get_ports {{{port}}}]" for port in false_path_from]
    if driving_cell is not None:
        lines.append(
            f"if {{[llength $others]}} {{ set_driving_cell -lib_cell {{{driving_cell}}} $others }}"
        )
    if output_load > 0:
        lines.append(
            f"if {{[llength [all_outputs]]}} {{ set_load {output_load!r} [all_outputs] }}"
        )
    if activity.global_activity is not None:
        lines.append(_activity("-global", activity.global_activity, activity.duty))
    if activity.input_activity is not None:
        lines.append(_activity("-input", activity.input_activity, activity.duty))
    for port, value in sorted(activity.ports.items()):
        duty = activity.duties.get(port, activity.duty)
        lines.append(_activity(f"-input_ports [get_ports {{{port}}}]", value, duty))
    for net, load in sorted(activity.net_loads.items()):
        lines.append(f"set_load {load!r} [get_nets {{{net}}}]")
    for pin, value in sorted(activity.pins.items()):
        lines.append(
            f"foreach p [get_pins {{{pin}}}] "
            f"{{ sta::set_power_pin_activity $p {value!r} {activity.duty!r} }}"
        )
    lines += [
        "report_checks -path_delay max -digits 6",
        "report_worst_slack -digits 6",
        _REPORT_POWER,
        "puts QAPPAC_DONE",
    ]
    return "\n".join(lines) + "\n"


# report_power, or when it fails (a NaN, see the module's docstring) the per-cell sums with
# the non-numeric cells skipped: the same "Total" row, then one line naming those cells.
_REPORT_POWER = """\
if {[catch {report_power -digits 6} qappac_message]} {
  puts "QAPPAC_POWER_FALLBACK $qappac_message"
  set qappac_corner [sta::cmd_corner]
  set qappac_sums {0.0 0.0 0.0 0.0}
  set qappac_nan {}
  foreach qappac_cell [get_cells *] {
    set qappac_power [lrange [sta::instance_power $qappac_cell $qappac_corner] 0 3]
    if {[catch {foreach v $qappac_power { expr {$v + 0.0} }}]} {
      lappend qappac_nan [get_full_name $qappac_cell]
      continue
    }
    set qappac_next {}
    foreach s $qappac_sums v $qappac_power { lappend qappac_next [expr {$s + $v}] }
    set qappac_sums $qappac_next
  }
  puts [format "Total %.6e %.6e %.6e %.6e" {*}$qappac_sums]
  puts "QAPPAC_NAN_CELLS [llength $qappac_nan] [lsort $qappac_nan]"
}"""


def module_surroundings(liberty: Path) -> tuple[str | None, float]:
    """The driving cell of every input and the load of every output (in the liberty's
    capacitance unit) that `analyze` assumes by default: `build_script`'s last two
    arguments."""
    return buffer_cell(str(liberty)), OUTPUT_LOAD_FF / capacitance_unit_ff(str(liberty))


def _activity(target: str, value: float, duty: float) -> str:
    return f"set_power_activity {target} -activity {value!r} -duty {duty!r}"


def analyze(
    netlist: str,
    top: str,
    clock_port: str | None,
    period_ns: float,
    activity: Activity | None = None,
    *,
    liberty: Path | None = None,
    false_path_from: Sequence[str] = (),
    binary: str | None = None,
    timeout_s: float = 600.0,
    keep: bool = False,
    surroundings: bool = True,
) -> StaReport:
    """Run OpenSTA on a gate-level `netlist` (Verilog text) and return timing and power.

    With `surroundings` (the default) the inputs are driven by the liberty's smallest buffer
    and the outputs loaded as in mapping (`qappac.tools.liberty`); without, inputs switch
    in zero time and outputs drive nothing.

    With `clock_port` None, a virtual clock of `period_ns` times a combinational module
    from inputs to outputs, and power is per `period_ns` (energy per operation =
    ``dynamic_mw * period_ns`` pJ).

    `liberty` defaults to ``QAPPAC_LIBERTY``. The temporary folder is removed on success
    (unless `keep`) and kept on failure, where the `ToolError` names its ``sta.log``.
    """
    exe = binary or find_sta()
    if exe is None:
        raise ToolMissingError(INSTALL_HINT)
    lib = liberty or liberty_path()
    if lib is None:
        raise ToolMissingError(f"no cell library: set {LIBERTY_ENV} to a liberty (.lib) file")
    if period_ns <= 0:
        raise ValueError(f"the clock period must be positive (got {period_ns})")
    folder = Path(tempfile.mkdtemp(prefix="qappac-sta-"))
    text, ties = tie_constants(sanitize_netlist(netlist))
    (folder / "netlist.v").write_text(text, encoding="utf-8")
    act = activity or Activity()
    if ties:
        act = dataclasses.replace(
            act,
            ports={**act.ports, **{port: 0.0 for port in ties}},
            duties={**act.duties, **ties},
        )
    script = build_script(
        Path(lib).resolve(),
        "netlist.v",
        top,
        clock_port,
        period_ns,
        act,
        (*false_path_from, *ties),
        *(module_surroundings(Path(lib)) if surroundings else (None, 0.0)),
    )
    (folder / "run.tcl").write_text(script, encoding="utf-8")
    log = folder / "sta.log"
    try:
        done = subprocess.run(
            [exe, "-no_splash", "-exit", "run.tcl"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        output = done.stdout + done.stderr
    except FileNotFoundError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise ToolMissingError(f"{exe}: not found. {INSTALL_HINT}") from error
    except subprocess.TimeoutExpired as error:
        log.write_text(str(error.stdout or "") + str(error.stderr or ""), encoding="utf-8")
        raise ToolError(f"sta timed out after {timeout_s} s; see {log}") from error
    log.write_text(output, encoding="utf-8")
    try:
        report = parse_report(output, period_ns, time_unit_ns(Path(lib)))
        if done.returncode != 0:
            raise ValueError(f"exit status {done.returncode}")
    except ValueError as error:
        raise ToolError(f"sta failed on {top}: {error}; see {log}") from error
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return report


_ERROR = re.compile(r"^Error:? .*$", re.MULTILINE)
_SLACK = re.compile(r"^worst slack\s+(\S+)", re.MULTILINE)
_TOTAL = re.compile(r"^Total\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", re.MULTILINE)
_NAN_CELLS = re.compile(r"^QAPPAC_NAN_CELLS (\d+)(.*)$", re.MULTILINE)


def parse_report(output: str, period_ns: float, unit_ns: float = 1.0) -> StaReport:
    """Timing and power from the output of the script of `build_script`.

    OpenSTA prints times in the liberty's time unit (`unit_ns` ns each) and power in watts.
    Raises ValueError when a report is missing or OpenSTA printed an error.
    """
    errors = _ERROR.findall(output)
    if errors:
        raise ValueError(errors[0])
    if "QAPPAC_DONE" not in output:
        raise ValueError("the script did not finish")
    slack_match = _SLACK.search(output)
    totals = _TOTAL.findall(output)
    total = totals[-1] if totals else None
    if slack_match is None or total is None:
        raise ValueError("no worst slack or power report in the output")
    slack = float(slack_match.group(1)) * unit_ns
    if not math.isfinite(slack):
        raise ValueError("no constrained timing path (is the clock port right?)")
    internal, switching, leakage, power = (float(v) * 1e3 for v in total)
    if not all(map(math.isfinite, (internal, switching, leakage, power))):
        raise ValueError("the power report is not a number")
    nan = _NAN_CELLS.search(output)
    nan_cells = tuple(nan.group(2).split()) if nan else ()
    critical = period_ns - slack
    return StaReport(
        period_ns=period_ns,
        worst_slack_ns=slack,
        critical_path_ns=critical,
        fmax_mhz=1e3 / critical if critical > 0 else math.inf,
        internal_mw=internal,
        switching_mw=switching,
        leakage_mw=leakage,
        total_mw=power,
        nan_cells=nan_cells,
    )
