"""OpenSTA wrapper: timing and power of small netlists synthesized here with Debian Yosys.

Expected values are invariants derived by hand, not earlier outputs: the critical path does
not depend on the clock period (so slack moves one for one with it), dynamic power per
transition-per-period activity scales with frequency, switching power is linear in
activity, and leakage is the sum of the cells' ``cell_leakage_power`` in the liberty.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from qappac.tools import sta
from qappac.tools.liberty import time_unit_ns

ADDER = """
module T(input clk, input rst, input [7:0] a, input [7:0] b, output reg [8:0] s);
  reg [7:0] ra, rb;
  always @(posedge clk or posedge rst)
    if (rst) begin ra <= 0; rb <= 0; s <= 0; end
    else begin ra <= a; rb <= b; s <= ra + rb; end
endmodule
"""

SIGNED_COUNTER = """
module C(input clk, input signed [3:0] step, output reg signed [7:0] q);
  always @(posedge clk) q <= q + step;
endmodule
"""


def _liberty() -> Path:
    lib = sta.liberty_path()
    if lib is None or not lib.is_file():
        pytest.skip(f"set {sta.LIBERTY_ENV} to the NanGate45 liberty (.lib) to run STA tests")
    if sta.find_sta() is None:
        pytest.skip("OpenSTA is missing: apt-get install opensta")
    return lib


def _synthesize(verilog: str, top: str, liberty: Path, tmp: Path) -> str:
    if shutil.which("yosys") is None:
        pytest.skip("Yosys is missing: apt-get install yosys")
    (tmp / "in.v").write_text(verilog)
    script = (
        f"read_verilog -sv in.v; synth -flatten -top {top}; dfflibmap -liberty {liberty}; "
        f"abc -liberty {liberty}; opt_clean; write_verilog -noattr net.v"
    )
    subprocess.run(
        ["yosys", "-q", "-p", script], cwd=tmp, check=True, timeout=120, capture_output=True
    )
    return (tmp / "net.v").read_text()


@pytest.fixture(scope="module")
def adder(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    lib = _liberty()
    return _synthesize(ADDER, "T", lib, tmp_path_factory.mktemp("adder")), lib


def _leakage_mw(netlist: str, liberty: Path) -> float:
    """Sum of cell_leakage_power (nW in NanGate45) over the netlist's cell instances."""
    text = liberty.read_text()
    leak = {}
    for chunk in text.split("\n  cell (")[1:]:  # one chunk per cell group
        name = chunk.split(")", 1)[0]
        value = re.search(r"cell_leakage_power\s*:\s*([\d.]+)", chunk)
        if value:
            leak[name] = float(value.group(1))
    cells = re.findall(r"^\s*(\w+)\s+\S+\s*\(", netlist, re.MULTILINE)
    used = [c for c in cells if c in leak]
    assert len(used) > 10  # the adder maps to many cells
    return sum(leak[c] for c in used) * 1e-6


def test_timing_is_independent_of_the_period(adder: tuple[str, Path]) -> None:
    netlist, lib = adder
    fast = sta.analyze(netlist, "T", "clk", 2.0, false_path_from=("rst",), liberty=lib)
    slow = sta.analyze(netlist, "T", "clk", 5.0, false_path_from=("rst",), liberty=lib)
    assert fast.critical_path_ns == pytest.approx(slow.critical_path_ns, abs=1e-5)
    assert slow.worst_slack_ns - fast.worst_slack_ns == pytest.approx(3.0, abs=1e-5)
    # an 8-bit ripple/abc adder plus a flop in 45 nm: a few hundred ps, far below 2 ns
    assert 0.1 < fast.critical_path_ns < 1.5
    assert fast.fmax_mhz == pytest.approx(1000.0 / (2.0 - fast.worst_slack_ns))
    # an impossible clock: negative slack, same fmax
    tight = sta.analyze(netlist, "T", "clk", 0.05, false_path_from=("rst",), liberty=lib)
    assert tight.worst_slack_ns < 0
    assert tight.fmax_mhz == pytest.approx(fast.fmax_mhz, rel=1e-4)


def test_power_scales_with_frequency_and_activity(adder: tuple[str, Path]) -> None:
    netlist, lib = adder
    act = sta.Activity(global_activity=0.2)
    p2 = sta.analyze(netlist, "T", "clk", 2.0, act, liberty=lib)
    p4 = sta.analyze(netlist, "T", "clk", 4.0, act, liberty=lib)
    # activity is per clock period: halving the frequency halves dynamic power
    assert p2.dynamic_mw == pytest.approx(2 * p4.dynamic_mw, rel=1e-3)
    assert p2.leakage_mw == pytest.approx(p4.leakage_mw, rel=1e-9)
    doubled = sta.analyze(netlist, "T", "clk", 2.0, sta.Activity(global_activity=0.4), liberty=lib)
    # switching power = 1/2 C V^2 f * activity: linear in activity
    assert doubled.switching_mw == pytest.approx(2 * p2.switching_mw, rel=1e-3)
    assert p2.total_mw == pytest.approx(p2.internal_mw + p2.switching_mw + p2.leakage_mw)
    # leakage: the sum of the cells' cell_leakage_power in the liberty (nW -> mW)
    assert p2.leakage_mw == pytest.approx(_leakage_mw(netlist, lib), rel=1e-4)


def test_input_port_activity_reaches_the_logic(adder: tuple[str, Path]) -> None:
    netlist, lib = adder
    quiet = sta.Activity(input_activity=0.0)
    busy = sta.Activity(input_activity=0.0, ports={"a[*]": 0.5, "b[*]": 0.5})
    p_quiet = sta.analyze(netlist, "T", "clk", 2.0, quiet, liberty=lib)
    p_busy = sta.analyze(netlist, "T", "clk", 2.0, busy, liberty=lib)
    assert p_busy.switching_mw > 2 * p_quiet.switching_mw
    pins = sta.Activity(input_activity=0.0, pins={"*/D": 0.5})
    p_pins = sta.analyze(netlist, "T", "clk", 2.0, pins, liberty=lib)
    assert p_pins.internal_mw > p_quiet.internal_mw


def test_the_per_cell_power_fallback_sums_to_report_power(
    adder: tuple[str, Path], tmp_path: Path
) -> None:
    """When ``report_power`` fails (OpenSTA 2.0.17 on a NaN cell), the script sums the
    cells itself: forced here by replacing report_power with a failing proc, the sums
    must equal report_power's own totals on the same netlist and activities."""
    netlist, lib = adder
    act = sta.Activity(input_activity=0.3, ports={"a[*]": 0.1})
    normal = sta.analyze(netlist, "T", "clk", 2.0, act, false_path_from=("rst",), liberty=lib)
    (tmp_path / "netlist.v").write_text(sta.sanitize_netlist(netlist))
    script = sta.build_script(
        lib, "netlist.v", "T", "clk", 2.0, act, ("rst",), *sta.module_surroundings(lib)
    )
    failing = 'proc report_power {args} { error "forced failure" }\n'
    assert script.count(sta._REPORT_POWER) == 1
    (tmp_path / "run.tcl").write_text(
        script.replace(sta._REPORT_POWER, failing + sta._REPORT_POWER)
    )
    done = subprocess.run(
        [sta.find_sta() or "sta", "-no_splash", "-exit", "run.tcl"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "QAPPAC_POWER_FALLBACK forced failure" in done.stdout
    summed = sta.parse_report(done.stdout, 2.0, time_unit_ns(lib))
    assert summed.nan_cells == ()
    for name in ("internal_mw", "switching_mw", "leakage_mw", "total_mw"):
        assert getattr(summed, name) == pytest.approx(getattr(normal, name), rel=1e-5), name
    assert summed.worst_slack_ns == normal.worst_slack_ns


def test_parse_report_names_the_cells_left_out() -> None:
    text = (
        "worst slack 1.0\n"
        "QAPPAC_POWER_FALLBACK can't use non-numeric floating-point value\n"
        "Total 1.0e-03 2.0e-03 3.0e-06 3.003e-03\n"
        "QAPPAC_NAN_CELLS 2 _7_ _9_\nQAPPAC_DONE\n"
    )
    report = sta.parse_report(text, 2.0)
    assert report.nan_cells == ("_7_", "_9_")
    assert report.total_mw == pytest.approx(3.003)
    with pytest.raises(ValueError, match="not a number"):
        sta.parse_report(text.replace("3.003e-03", "nan"), 2.0)


def test_signed_ports_are_accepted(tmp_path: Path) -> None:
    lib = _liberty()
    netlist = _synthesize(SIGNED_COUNTER, "C", lib, tmp_path)
    if "signed" not in netlist:  # Yosys 0.23 drops it; Yosys 0.70 keeps it
        netlist = netlist.replace("input [3:0] step", "input signed [3:0] step")
    assert "signed" in netlist
    report = sta.analyze(netlist, "C", "clk", 2.0, liberty=lib)
    assert report.fmax_mhz > 500


def test_failure_names_the_kept_log(adder: tuple[str, Path]) -> None:
    netlist, lib = adder
    with pytest.raises(sta.ToolError, match=r"see .*sta\.log") as info:
        sta.analyze(netlist, "NOT_THE_TOP", "clk", 2.0, liberty=lib)
    log = Path(str(info.value).rsplit("see ", 1)[1])
    assert log.is_file() and "NOT_THE_TOP" in log.read_text()
    shutil.rmtree(log.parent)


def test_missing_binary_or_liberty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sta.tempfile, "tempdir", str(tmp_path))
    lib = tmp_path / "cells.lib"
    lib.write_text('library (x) { time_unit : "1ns"; }\n')
    with pytest.raises(sta.ToolMissingError, match="opensta"):
        sta.analyze("", "T", "clk", 1.0, binary=str(tmp_path / "no-sta"), liberty=lib)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.lib"]  # nothing left behind
    monkeypatch.delenv(sta.LIBERTY_ENV, raising=False)
    with pytest.raises(sta.ToolMissingError, match=sta.LIBERTY_ENV):
        sta.analyze("", "T", "clk", 1.0, binary="sta")


def test_parse_report_units_and_errors() -> None:
    text = "worst slack 1500\nTotal  1.0e-03 2.0e-03 3.0e-06 3.003e-03 100.0%\nQAPPAC_DONE\n"
    # a liberty in ps: slack 1500 ps = 1.5 ns; power in W -> mW
    report = sta.parse_report(text, 2.0, unit_ns=1e-3)
    assert report.worst_slack_ns == pytest.approx(1.5)
    assert report.fmax_mhz == pytest.approx(2000.0)  # 1 / 0.5 ns
    assert (report.internal_mw, report.switching_mw) == pytest.approx((1.0, 2.0))
    assert report.leakage_mw == pytest.approx(0.003)
    with pytest.raises(ValueError, match="boom"):
        sta.parse_report("Error: run.tcl, 3 boom\n" + text, 2.0)
    with pytest.raises(ValueError, match="no constrained"):
        sta.parse_report(text.replace("1500", "INF"), 2.0)


def test_virtual_clock_for_combinational_logic(tmp_path: Path) -> None:
    lib = _liberty()
    comb = "module A(input [7:0] a, input [7:0] b, output [8:0] s); assign s = a + b; endmodule"
    netlist = _synthesize(comb, "A", lib, tmp_path)
    act = sta.Activity(input_activity=0.5)
    p2 = sta.analyze(netlist, "A", None, 2.0, act, liberty=lib)
    p4 = sta.analyze(netlist, "A", None, 4.0, act, liberty=lib)
    assert 0.05 < p2.critical_path_ns < 1.0
    assert p4.worst_slack_ns - p2.worst_slack_ns == pytest.approx(2.0, abs=1e-5)
    # the same operations at half the rate: same energy per operation, half the power
    assert p2.dynamic_mw * 2.0 == pytest.approx(p4.dynamic_mw * 4.0, rel=1e-3)


def test_sanitize_splits_concatenated_assigns_bit_by_bit() -> None:
    text = (
        "  output signed [3:0] y;\n"
        "  assign { \\u.sig [26], \\u.sig [2:0] } = 4'h8;\n"  # 4'h8 = 1000b
        "  assign { a[8], a[1:0] } = { b[7], c[3:2] };\n"
        "  assign { p, q } = { r, s };\n"
        "  assign { p, q } = r;\n"
    )
    assert sta.sanitize_netlist(text).splitlines() == [
        "  output [3:0] y;",
        "  assign \\u.sig [26] = 1'b1;",
        "  assign \\u.sig [2] = 1'b0;",
        "  assign \\u.sig [1] = 1'b0;",
        "  assign \\u.sig [0] = 1'b0;",
        "  assign a[8] = b[7];",
        "  assign a[1] = c[3];",
        "  assign a[0] = c[2];",
        "  assign p = r;",
        "  assign q = s;",
        "  assign { p, q } = r;",  # widths unknown: left for OpenSTA to report
    ]
