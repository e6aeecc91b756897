"""The mapping's assumptions about a module's surroundings (flows 3 and 4): ABC buffers
high-fanout nets (and maps for area, with no gate sizing), and OpenSTA drives the inputs as
ABC assumed; what is mapped apart (the PE's MAC) adds up.

Liberty facts are checked on small synthetic libraries written here; the flow on the
NanGate45 liberty of ``QAPPAC_LIBERTY`` (skipped without it, or without Yosys/OpenSTA).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from qappac import characterize as ch
from qappac.activity import instances
from qappac.ir import PEType
from qappac.rtl_accel import array_pe_name, emit_array_pe, probe_accelerator
from qappac.rtl_pe import mac_name
from qappac.tools import sta
from qappac.tools.liberty import buffer_cell, capacitance_unit_ff, cells


def _cell(name: str, area: float, pins: dict[str, str | None]) -> str:
    """A liberty cell; pins map name -> output function, or None for an input."""
    body = []
    for pin, function in pins.items():
        if function is None:
            body.append(
                f"    pin ({pin}) {{\n      direction : input;\n      capacitance : 1.0;\n    }}"
            )
        else:
            out = f'direction : output;\n      function : "{function}";'
            body.append(f"    pin ({pin}) {{\n      {out}\n    }}")
    return f"  cell ({name}) {{\n    area : {area};\n" + "\n".join(body) + "\n  }\n"


def _library(tmp_path: Path, cells: str, head: str = "  capacitive_load_unit (1,ff);\n") -> str:
    path = tmp_path / "cells.lib"
    path.write_text(f"library (t) {{\n{head}{cells}}}\n")
    return str(path)


def test_the_buffer_is_the_smallest_cell_whose_output_follows_its_one_input(
    tmp_path: Path,
) -> None:
    cells = (
        _cell("INV_X1", 0.5, {"A": None, "ZN": "!A"})  # smaller, but inverting
        + _cell("AND2_X1", 0.6, {"A1": None, "A2": None, "ZN": "(A1 & A2)"})
        + _cell("BUF_X4", 1.9, {"A": None, "Z": "A"})
        + _cell("CLKBUF_X1", 0.8, {"A": None, "Z": "(A)"})
        + _cell("BUF_X1", 0.8, {"A": None, "Z": "A"})  # ties CLKBUF_X1: the name decides
    )
    assert buffer_cell(_library(tmp_path, cells)) == "BUF_X1"


def test_a_library_without_a_buffer_has_none(tmp_path: Path) -> None:
    cells = _cell("INV_X1", 0.5, {"A": None, "ZN": "!A"})
    assert buffer_cell(_library(tmp_path, cells)) is None


def test_the_cell_reader_keeps_area_state_pin_capacitances_and_functions(
    tmp_path: Path,
) -> None:
    flop = """  cell (DFF_X1) {
    area : 4.5;
    pin (D) {
      direction : input;
      capacitance : 1.25;
      rise_capacitance : 9.0;
    }
    ff (IQ, IQN) {
      next_state : "D";
      clocked_on : "CK";
    }
    pin (CK) {
      capacitance : 0.5;
      direction : input;
    }
    pin (Q) {
      direction : output;
      max_capacitance : 60.0;
      function : "IQ";
    }
  }
"""
    lib = _library(tmp_path, _cell("XOR2_X1", 1.5, {"A": None, "B": None, "Z": "(A ^ B)"}) + flop)
    found = cells(lib)
    assert sorted(found) == ["DFF_X1", "XOR2_X1"]
    xor, dff = found["XOR2_X1"], found["DFF_X1"]
    assert (xor.area, xor.sequential) == (1.5, False)
    assert dict(xor.inputs) == {"A": 1.0, "B": 1.0} and dict(xor.outputs) == {"Z": "A ^ B"}
    assert (dff.area, dff.sequential) == (4.5, True)
    # the capacitance is the pin's own, before or after its direction, never rise_/max_
    assert dict(dff.inputs) == {"D": 1.25, "CK": 0.5} and dict(dff.outputs) == {"Q": "IQ"}


@pytest.mark.parametrize(
    ("head", "unit"), [("  capacitive_load_unit (1,pf);\n", 1000.0), ("", 1.0)]
)
def test_capacitance_unit(tmp_path: Path, head: str, unit: float) -> None:
    lib = _library(tmp_path, _cell("BUF_X1", 0.8, {"A": None, "Z": "A"}), head)
    assert capacitance_unit_ff(lib) == unit


def test_the_sta_script_drives_inputs_and_loads_outputs() -> None:
    script = sta.build_script(
        Path("c.lib"), "n.v", "T", "clk", 5.0, sta.Activity(), (), "BUF_X1", 3.0
    )
    assert "set_driving_cell -lib_cell {BUF_X1} $others" in script
    assert "set_load 3.0 [all_outputs]" in script
    bare = sta.build_script(Path("c.lib"), "n.v", "T", "clk", 5.0, sta.Activity())
    assert "set_driving_cell" not in bare and "set_load" not in bare


# one select bit steering 128 two-input multiplexers into 128 flops: 128 loads on one input
FANOUT = """
module F(input clk, input sel, input [127:0] a, input [127:0] b, output reg [127:0] q);
  always @(posedge clk) q <= sel ? a : b;
endmodule
"""


def _tools() -> Path:
    lib = sta.liberty_path()
    if lib is None or not lib.is_file():
        pytest.skip(f"set {sta.LIBERTY_ENV} to the NanGate45 liberty to run the mapping")
    if sta.find_sta() is None or ch._yosys_command() is None:
        pytest.skip("needs Yosys and OpenSTA: apt-get install yosys opensta")
    return lib


@pytest.mark.tools
def test_the_mapping_buffers_a_high_fanout_input() -> None:
    """Mapped for area alone, ``sel`` would drive all 128 multiplexers itself; the flow's
    ABC buffers it, so no net carries more than a fraction of those loads, and the input
    buffer that OpenSTA assumes sees a tree, not 128 gates."""
    lib = _tools()
    assert buffer_cell(str(lib)) == "BUF_X1"
    netlist, _ = ch.synthesize_netlist({"f.v": FANOUT}, "F", lib)
    lib_cells = cells(str(lib))
    loads: Counter[str] = Counter()
    for inst in instances(netlist):
        info = lib_cells[inst.cell]
        for pin, net in inst.pins.items():
            if pin in info.inputs and pin != "CK":
                loads[net] += 1
    assert loads["sel"] <= 16, loads.most_common(3)
    assert max(loads.values()) <= 16, loads.most_common(3)
    buffers = sum(1 for inst in instances(netlist) if inst.cell.startswith(("BUF", "CLKBUF")))
    assert buffers >= 4
    # the driven input is slower than an ideal one, never faster
    driven = sta.analyze(netlist, "F", "clk", 2.0, liberty=lib)
    ideal = sta.analyze(netlist, "F", "clk", 2.0, liberty=lib, surroundings=False)
    assert driven.worst_slack_ns < ideal.worst_slack_ns


def test_every_pe_configuration_runs_the_probe_layer_under_one_mapping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`probe_toggles` runs the mapping that is optimal for `PROBE_SPADS` on every
    configuration that holds those scratchpads, and a smaller one its own mapping."""
    seen: list[object] = []

    def record(accel: object, mapping: object = None) -> object:
        seen.append(mapping)
        raise _Stop

    monkeypatch.setattr(ch, "probe_layer_toggles", record)
    assert ch.PROBE_SPADS == tuple(min(level) for level in ch.DEFAULT_LEVELS)
    pe = ch.DEFAULT_PES[0]
    for spads in [ch.PROBE_SPADS, (24, 224, 32), (16, 128, 24), (8, 64, 16)]:
        with pytest.raises(_Stop):
            ch.probe_toggles(ch.Config(pe, *spads), 200.0)
    reference = ch.probe_mapping(probe_accelerator(pe, *ch.PROBE_SPADS, 200.0))
    assert seen[:3] == [reference] * 3
    assert seen[3] is None
    # the point of it: on its own, the larger configuration's optimal mapping differs
    assert ch.probe_mapping(probe_accelerator(pe, 24, 224, 32, 200.0)) != reference


class _Stop(Exception):
    """Stops `probe_toggles` before its simulation."""


def test_constant_pins_become_constant_ports() -> None:
    text = (
        "module T(a, y);\n  input a;\n  output y;\n"
        "  NAND2_X1 g (\n    .A1(1'h1),\n    .A2(a),\n    .ZN(y)\n  );\n"
        "  AND2_X1 h (\n    .A1(1'b0),\n    .A2(a),\n    .ZN()\n  );\nendmodule\n"
    )
    tied, ports = sta.tie_constants(text)
    assert ports == {"qappac_tie1": 1.0, "qappac_tie0": 0.0}
    assert "module T(qappac_tie0, qappac_tie1, a, y);" in tied
    assert "input qappac_tie0;" in tied and ".A1(qappac_tie1)" in tied
    assert "1'h" not in tied and "1'b" not in tied
    assert sta.tie_constants("module T(a);\nendmodule\n") == ("module T(a);\nendmodule\n", {})


# reduced (by delta debugging a tiled accelerator) to three gates on which OpenSTA 2.0.17
# crashes in report_power (SIGSEGV), constants next to undriven nets; without any one of
# them it does not; the flop gives STA a timed path
CRASHER = """module T(clk, q);
  input clk;
  output q;
  wire a, b, c, n, y, d, e, z;
  NAND2_X1 g (.A1({tie}), .A2(a), .ZN(n));
  OAI21_X1 h (.A(n), .B1(b), .B2(c), .ZN(y));
  OAI21_X1 k (.A({tie}), .B1(d), .B2(e), .ZN(z));
  DFF_X1 f (.CK(clk), .D(y), .Q(q));
endmodule
"""


@pytest.mark.tools
def test_power_of_a_netlist_with_pins_tied_to_a_constant() -> None:
    """`analyze` reroutes the constant pins to a constant port: the power must be what the
    same netlist costs with that port written by hand (activity 0, duty 0)."""
    lib = _tools()
    tied = CRASHER.format(tie="1'h0")
    by_hand = CRASHER.format(tie="h").replace("T(clk, q);\n", "T(clk, q, h);\n  input h;\n")
    got = sta.analyze(tied, "T", "clk", 5.0, sta.Activity(input_activity=0.1), liberty=lib)
    want = sta.analyze(
        by_hand,
        "T",
        "clk",
        5.0,
        sta.Activity(input_activity=0.1, ports={"h": 0.0}, duties={"h": 0.0}),
        liberty=lib,
        false_path_from=("h",),
    )
    assert got.leakage_mw > 0
    assert got.total_mw == pytest.approx(want.total_mw, rel=1e-9)


@pytest.mark.tools
@pytest.mark.slow
def test_the_pe_mac_is_mapped_apart_and_only_that_instance() -> None:
    """`mapped_apart` keeps the PE's ``u_mac`` alone: the PE's netlist is then the MAC
    mapped as a module of its own plus the rest of the PE mapped around it as around a
    black box (the areas add up to 0.1 %, less than a cell of the MAC whose output the
    PE leaves unused and ``opt_clean`` drops after flattening; mapped flat, the int8 PE
    is 2 % smaller). The psum chain's adder (``u_chain``, the same module with the
    multiplier's inputs tied to 0) is flattened: keeping the module, every instance of
    it, costs a second multiplier."""
    lib = _tools()
    pe = PEType(family="int", act_bits=8, weight_bits=8)
    files = emit_array_pe(pe, 4, 8, 4)
    top = array_pe_name(pe)
    mac = mac_name(top)
    _, kept = ch.synthesize_netlist(files, top, lib, keep=ch.mapped_apart(top))
    boxed = dict(files)
    boxed[f"{top}.sv"] = files[f"{top}.sv"].replace(f"{mac} u_mac", f"{mac}_box u_mac")
    boxed["box.sv"] = files[f"{mac}.sv"].replace(f"module {mac}", f"module {mac}_box")
    assert boxed[f"{top}.sv"] != files[f"{top}.sv"]
    _, rest = ch.synthesize_netlist(boxed, top, lib, blackboxes=(f"{mac}_box",))
    _, alone = ch.synthesize_netlist({f"{mac}.sv": files[f"{mac}.sv"]}, mac, lib)
    assert kept == pytest.approx(rest + alone, rel=1e-3)
    _, every_instance = ch.synthesize_netlist(files, top, lib, keep=(mac,))
    assert every_instance > kept + 0.5 * alone
