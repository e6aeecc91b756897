"""fp32 PE jobs under flow 4 (input duties) with the MAC mapped on its own."""
import sys, functools, json, time
sys.path.insert(0, "/work/flow4")
from pathlib import Path
import qappac
assert qappac.__file__.startswith("/work/flow4")
from qappac import characterize as ch
from qappac.executor import LocalExecutor
_orig = ch.synthesize_netlist

def job_fn(job):
    def patched(sources, top, liberty, params=None, **kw):
        if top == job.top:
            kw["keep"] = (f"{top}_mac",)
        return _orig(sources, top, liberty, params, **kw)
    ch.synthesize_netlist = patched
    ch.access_energies = lambda job: {}
    return ch.synthesize_and_time(job)

if __name__ == "__main__":
    lib = Path("/work/shared/pdk/nangate45/NangateOpenCellLibrary_typical.lib")
    configs = [c for c in ch.default_configs() if c.pe.label == "fp32"]
    t = time.time()
    res = ch.characterize(configs, "/tmp/exp/cache-mac4", LocalExecutor(jobs=2), job_fn,
                          options=ch.FlowOptions(activity="simulated"), liberty=lib)
    print("took", round(time.time() - t), flush=True)
    ch.write_dataset(res, "/tmp/exp/fp32-mac4.csv")
    for r in res:
        c = r["config"]; m = r.get("metrics", {})
        print(c["spad_ifmap"], c["spad_filter"], c["spad_psum"], r["status"], round(m.get("area_um2", 0)), round(m.get("power_mw", 0), 3))
