import re
from qappac.characterize import DEFAULT_PES, ShellConfig, probe_layer_toggles, fixed_probe_mapping
from qappac.rtl_accel import emit_array_pe
accel = ShellConfig({p.label: p for p in DEFAULT_PES}["fp32"], 2, 2).accelerator(200.0)
tog = probe_layer_toggles(accel, fixed_probe_mapping(accel)).scope("g_pe[0].u_pe")
src = emit_array_pe(accel.pe, 16, 128, 24)["qappac_ape_fp32.sv"]
ins = re.findall(r"input\s+logic\s*(?:\[[^\]]*\])?\s*(\w+)", src)
for name in ins:
    bits = sorted(k for k in tog.rate if k == name or k.startswith(name + "["))
    if not bits: continue
    d = [tog.duty[b] for b in bits]; r = [tog.rate[b] for b in bits]
    print(f"{name:14s} bits {len(bits):3d} duty {min(d):.3f}-{max(d):.3f} mean {sum(d)/len(d):.3f}  rate mean {sum(r)/len(r):.3f}")
