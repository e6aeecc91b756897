"""fp32 2x2 tiled whole: per-cell power (sta::instance_power) grouped by PE instance vs shell,
own-mapping RTL activity; compare each PE's share with that PE analysed alone."""
import dataclasses, os, re, subprocess, tempfile, time
from collections import defaultdict
from pathlib import Path
from qappac.characterize import DEFAULT_PES, ShellConfig, probe_layer_toggles, fixed_probe_mapping
import qappac.characterize as ch
_orig_run = ch._run_yosys
ch._run_yosys = lambda script, work: _orig_run(script.replace("write_verilog -noattr", "write_verilog -noattr -norename"), work)
from qappac.activity import annotate
from qappac.ppa.composition import synthesize_whole
from qappac.rtl_accel import top_name
from qappac.tools import sta
lib = Path(os.environ["QAPPAC_LIBERTY"])
accel = ShellConfig({p.label: p for p in DEFAULT_PES}["fp32"], 2, 2).accelerator(200.0)
t = time.time()
tog = probe_layer_toggles(accel, fixed_probe_mapping(accel))
net, area = synthesize_whole(accel, lib)
Path("/tmp/exp/fp32_whole_norename.v").write_text(net)
print("synth", time.time() - t, flush=True)
a = annotate(net, tog, lib)
text, ties = sta.tie_constants(sta.sanitize_netlist(a.netlist))
folder = Path(tempfile.mkdtemp(prefix="bd-"))
(folder / "n.v").write_text(text)
act = dataclasses.replace(a.activity, ports={**a.activity.ports, **{p: 0.0 for p in ties}}, duties={**a.activity.duties, **ties})
script = sta.build_script(lib.resolve(), "n.v", top_name(accel), "clk", 5.0, act, ("rst_n", *ties), *sta.module_surroundings(lib))
script = script.replace("puts QAPPAC_DONE", """
set f [open cells.txt w]
set corner [sta::cmd_corner]
foreach c [get_cells *] { puts $f "[get_full_name $c] [lrange [sta::instance_power $c $corner] 0 3]" }
close $f
puts QAPPAC_DONE""")
(folder / "run.tcl").write_text(script)
r = subprocess.run(["sta", "-no_splash", "-exit", "run.tcl"], cwd=folder, capture_output=True, text=True)
print(r.stdout[-1500:])
by = defaultdict(float)
for line in (folder / "cells.txt").read_text().splitlines():
    name, *vals = line.split()
    try: p = sum(float(v) for v in vals[:3]) * 1e3
    except ValueError: continue
    m = re.search(r"g_pe\[(\d+)\]\.u_pe", name)
    by[f"pe{m.group(1)}" if m else "shell"] += p
print({k: round(v, 3) for k, v in sorted(by.items())}, "total", round(sum(by.values()), 3), folder, time.time() - t)
