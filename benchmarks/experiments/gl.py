"""Gate-level arbitration: fp32 2x2 tiled whole + parts, flattened PE (flow 3) or MAC kept."""
import functools, json, os, sys, time, dataclasses
from pathlib import Path
sys.path.insert(0, "/work/main/benchmarks")
from composition_check import PE_TYPES
from qappac.characterize import ShellConfig, fixed_probe_mapping, probe_layer
from qappac.ppa import composition as comp
pe, variant = sys.argv[1], sys.argv[2]
accel = ShellConfig(PE_TYPES[pe], 2, 2).accelerator(200.0)
if variant == "mac":
    mac = comp.pe_module(accel) + "_mac"
    orig = comp.synthesize_netlist
    def patched(files, top, lib, params=None, **kw):
        kw["keep"] = tuple(kw.get("keep", ())) + (mac,)
        return orig(files, top, lib, params, **kw)
    comp.synthesize_netlist = patched
lib = Path(os.environ["QAPPAC_LIBERTY"])
t = time.time()
c = comp.check_composition(accel, probe_layer(), 1, fixed_probe_mapping(accel), lib, seed=11)
out = {k: (dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v) for k, v in vars(c).items()}
out["pes"] = [dataclasses.asdict(p) for p in c.pes]; out["pes_rtl"] = [dataclasses.asdict(p) for p in c.pes_rtl]
out["seconds"] = time.time() - t
Path(f"/tmp/exp/gl-{pe}-{variant}.json").write_text(json.dumps(out, indent=1))
print(json.dumps(out, indent=1))
