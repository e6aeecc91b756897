import os, sys, time
from pathlib import Path
sys.path.insert(0, "/work/main/benchmarks")
from composition_check import PE_TYPES
from qappac.characterize import ShellConfig, fixed_probe_mapping, probe_layer_toggles, probe_mapping
from qappac.ppa.composition import measure, pe_module, synthesize_parts, synthesize_whole
from qappac.rtl_accel import top_name
pe = sys.argv[1]
accel = ShellConfig(PE_TYPES[pe], 2, 2).accelerator(200.0)
lib = Path(os.environ["QAPPAC_LIBERTY"]); period = 5.0
top, pe_top = top_name(accel), pe_module(accel)
t = time.time()
whole_net, whole_area = synthesize_whole(accel, lib)
(shell_net, shell_area), (pe_net, pe_area) = synthesize_parts(accel, lib)
print("synth", time.time() - t, flush=True)
for label, mapping in (("own", None), ("fixed", fixed_probe_mapping(accel))):
    tg = probe_layer_toggles(accel, mapping)
    w = measure("whole", whole_net, whole_area, top, tg, lib, period)
    s = measure("shell", shell_net, shell_area, top, tg, lib, period)
    ps = [measure("pe", pe_net, pe_area, pe_top, tg.scope(f"g_pe[{k}].u_pe"), lib, period).power_mw for k in range(4)]
    print(label, "whole", round(w.power_mw, 3), "shell", round(s.power_mw, 3), "pes", [round(p, 3) for p in ps], "sum", round(s.power_mw + sum(ps), 3), flush=True)
