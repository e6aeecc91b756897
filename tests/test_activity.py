"""Switching activity from simulation (`qappac.activity`).

The VCD reader is checked on a hand-written trace whose toggle counts and duty cycles are
counted by hand. `annotate` is checked structurally on a hand-written netlist (which flop is
cut, which port carries which rate, which load goes where: the load is the input
capacitance of the pin the flop drove, 6.258425 fF for INV_X4's A in the NanGate45 liberty),
and through OpenSTA: dynamic power is affine in a cut flop's activity, so the power added by
0.4 transitions per cycle is four times the power added by 0.1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qappac.activity import Toggles, annotate, bit_name, expand, input_bits, read_vcd
from qappac.tools import sta

# TOP.dut: a 4-bit bus `q` and a scalar `en`, two time steps per clock cycle, 4 cycles.
#   q: 0000 -> 0011 (step 2) -> 0001 (step 4) -> 0001 (step 6, no change) -> 1001 (step 7)
#   en: 1 from step 0, 0 at step 3, 1 at step 5
VCD = """$timescale 1ps $end
$scope module TOP $end
 $var wire 1 ! clk $end
 $scope module dut $end
  $var wire 4 " q [3:0] $end
  $var wire 1 # en $end
  $var wire 4 " q_alias [3:0] $end
  $scope module sub $end
   $var wire 2 $ r [1:0] $end
  $upscope $end
 $upscope $end
$upscope $end
$enddefinitions $end
#0
1!
b0000 "
1#
b00 $
#1
0!
#2
1!
b0011 "
#3
0!
0#
#4
1!
b0001 "
#5
0!
1#
#6
1!
b1x $
#7
0!
b1001 "
#8
1!
"""


def test_read_vcd_counts_toggles_per_bit(tmp_path: Path) -> None:
    path = tmp_path / "t.vcd"
    path.write_text(VCD)
    toggles = read_vcd(path)
    assert toggles.cycles == 4  # 8 time steps, two per cycle
    # q[0]: 0->1 at 2 (1 toggle); q[1]: 0->1 at 2, 1->0 at 4 (2); q[3]: 0->1 at 7 (1)
    assert toggles.rate["q[0]"] == 1 / 4
    assert toggles.rate["q[1]"] == 2 / 4
    assert toggles.rate["q[2]"] == 0.0
    assert toggles.rate["q[3]"] == 1 / 4
    assert toggles.rate["q_alias[1]"] == toggles.rate["q[1]"]  # one code, two names
    assert toggles.rate["en"] == 2 / 4  # 1->0 at 3, 0->1 at 5
    # duty over the 8 steps: q[0] high from 2 to 8 = 6; q[1] from 2 to 4 = 2; en 0-3, 5-8
    assert toggles.duty["q[0]"] == 6 / 8
    assert toggles.duty["q[1]"] == 2 / 8
    assert toggles.duty["en"] == 6 / 8
    # r: 00 -> 1x at step 6; an x counts as 0, so only r[1] rises
    assert toggles.rate["sub.r[1]"] == 1 / 4
    assert toggles.rate["sub.r[0]"] == 0.0
    assert "clk" not in toggles.rate  # above the top module


def test_scope_and_mean() -> None:
    a = Toggles(10, {"g[0].x[0]": 0.2, "g[0].y": 0.4, "h": 1.0}, {"g[0].x[0]": 0.5})
    b = Toggles(8, {"g[1].x[0]": 0.6}, {"g[1].x[0]": 0.1})
    mean = Toggles.mean([a.scope("g[0]"), b.scope("g[1]")])
    assert mean.cycles == 8
    assert mean.rate == {"x[0]": pytest.approx(0.4), "y": 0.4}
    assert mean.duty == {"x[0]": pytest.approx(0.3)}


def test_names() -> None:
    assert bit_name("\\g_pe[0].u_pe.mem[3] [5]") == "g_pe[0].u_pe.mem[3][5]"
    widths = {"a": (7, 0), "\\b.c": None, "d": (0, 3)}
    assert expand("a[5:4]", widths) == ["a[5]", "a[4]"]
    assert expand("{ \\b.c , d, 2'h1 }", widths) == ["\\b.c ", "d[0]", "d[1]", "d[2]", "d[3]"]
    assert expand("unknown", widths) == []


LIBERTY_ENV_SKIP = f"set {sta.LIBERTY_ENV} to the NanGate45 liberty (.lib) to run this test"

NETLIST = """module t(clk, a, en, y, z);
  input clk;
  wire clk;
  input a;
  wire a;
  input [1:0] en;
  wire [1:0] en;
  output y;
  wire y;
  output z;
  wire z;
  wire \\u.q ;
  wire n1;
  wire n2;
  DFF_X1 _1_ (
    .CK(clk),
    .D(a),
    .Q(\\u.q )
  );
  INV_X4 _2_ (
    .A(\\u.q ),
    .ZN(n1)
  );
  INV_X4 _3_ (
    .A(n1),
    .ZN(n2)
  );
  INV_X4 _4_ (
    .A(n2),
    .ZN(y)
  );
  AND2_X1 _5_ (
    .A1(en[0]),
    .A2(en[1]),
    .ZN(z)
  );
endmodule
"""


def _liberty() -> Path:
    lib = sta.liberty_path()
    if lib is None or not lib.is_file():
        pytest.skip(LIBERTY_ENV_SKIP)
    return lib


def test_annotate_cuts_the_flop_into_a_measured_port() -> None:
    lib = _liberty()
    toggles = Toggles(100, {"u.q": 0.4, "en[1]": 0.3, "a": 0.1}, {"u.q": 0.25, "en[1]": 0.9})
    out = annotate(NETLIST, toggles, lib, cut_nets=False)
    assert (out.cut_flops, out.flops) == (1, 1)
    assert (out.matched_inputs, out.inputs) == (2, 3)  # a and en[1]; clk excluded
    port = "qappac_act_0"
    assert port in input_bits(out.netlist)
    assert f"assign \\u.q = {port};" in out.netlist
    assert re.search(rf"\.Q\({port}_d\)", out.netlist)
    assert out.activity.ports[port] == 0.4
    assert out.activity.duties[port] == 0.25
    assert out.activity.ports["en[1]"] == 0.3
    assert out.activity.duties["en[1]"] == 0.9  # an input's simulated duty, too
    assert "a" not in out.activity.duties  # no simulated duty: the default
    assert out.activity.ports["en[0]"] == out.activity.input_activity  # not simulated
    assert out.activity.net_loads == {f"{port}_d": 6.258425}  # INV_X4 pin A


def test_a_black_box_drives_only_its_outputs() -> None:
    # A black box's pins connect to its outputs (measured: they become ports) and to its
    # inputs, whether a cell, a primary input (the clock) or an alias drives them. The
    # clock toggles twice a cycle in the VCD; cutting it would re-drive the clock net from a
    # fake port (OpenSTA then reports infinite power).
    netlist = NETLIST.replace(
        "endmodule",
        """  wire bo;
  wire al;
  assign al = a;
  BOX u_box (
    .clk(clk),
    .a(al),
    .d(n1),
    .o(bo)
  );
  AND2_X1 _6_ (
    .A1(bo),
    .A2(a),
    .ZN(y2)
  );
endmodule""",
    )
    toggles = Toggles(100, {"clk": 2.0, "a": 0.1, "al": 0.1, "n1": 0.2, "bo": 0.3}, {})
    out = annotate(netlist, toggles, _liberty(), cut_nets=False)
    assert out.blackbox_outputs == 1
    assert "assign bo = qappac_act_0;" in out.netlist
    for source in ("clk", "n1"):
        assert f"assign {source} = " not in out.netlist, source
    assert out.netlist.count("assign al = ") == 1  # the alias itself, unchanged


@pytest.mark.tools
def test_power_is_affine_in_a_cut_flops_activity() -> None:
    lib = _liberty()
    if sta.find_sta() is None:
        pytest.skip("OpenSTA is missing: apt-get install opensta")

    def dynamic(rate: float) -> float:
        toggles = Toggles(100, {"u.q": rate, "a": 0.0, "en[0]": 0.0, "en[1]": 0.0}, {})
        out = annotate(NETLIST, toggles, lib)
        return sta.analyze(out.netlist, "t", "clk", 5.0, out.activity, liberty=lib).dynamic_mw

    base, low, high = dynamic(0.0), dynamic(0.1), dynamic(0.4)
    assert low > base
    assert high - base == pytest.approx(4 * (low - base), rel=0.02)
