import dataclasses, os, re, subprocess, tempfile
from collections import defaultdict
from pathlib import Path
from qappac.characterize import DEFAULT_PES, ShellConfig, probe_layer_toggles, fixed_probe_mapping
from qappac.activity import annotate
from qappac.ppa.composition import synthesize_parts, pe_module
from qappac.tools import sta
lib = Path(os.environ["QAPPAC_LIBERTY"])
accel = ShellConfig({p.label: p for p in DEFAULT_PES}["fp32"], 2, 2).accelerator(200.0)
tog = probe_layer_toggles(accel, fixed_probe_mapping(accel)).scope("g_pe[0].u_pe")
_, (net, area) = synthesize_parts(accel, lib)
a = annotate(net, tog, lib)
text, ties = sta.tie_constants(sta.sanitize_netlist(a.netlist))
folder = Path(tempfile.mkdtemp(prefix="bdpe-"))
(folder / "n.v").write_text(text)
act = dataclasses.replace(a.activity, ports={**a.activity.ports, **{p: 0.0 for p in ties}}, duties={**a.activity.duties, **ties})
top = pe_module(accel)
script = sta.build_script(lib.resolve(), "n.v", top, "clk", 5.0, act, tuple(ties), *sta.module_surroundings(lib))
script = script.replace("puts QAPPAC_DONE", """
set f [open cells.txt w]
set corner [sta::cmd_corner]
foreach c [get_cells *] { puts $f "[get_full_name $c] [get_property $c ref_name] [lrange [sta::instance_power $c $corner] 0 3]" }
close $f
puts QAPPAC_DONE""")
(folder / "run.tcl").write_text(script)
r = subprocess.run(["sta", "-no_splash", "-exit", "run.tcl"], cwd=folder, capture_output=True, text=True)
print(r.stdout[-800:]); print(folder)
