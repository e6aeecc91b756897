"""Flow-4 sweep (branch flow4-wip), fp32 PEs first, then shells, then the other PEs."""
import sys, time
sys.path.insert(0, "/work/flow4")
from pathlib import Path
import qappac
assert qappac.__file__.startswith("/work/flow4"), qappac.__file__
from qappac import characterize as ch
from qappac.executor import LocalExecutor
print("FLOW", ch.FLOW_VERSION, flush=True)
lib = Path("/work/shared/pdk/nangate45/NangateOpenCellLibrary_typical.lib")
pes = ch.default_configs(); shells = ch.default_shell_configs()
order = [c for c in pes if c.pe.label == "fp32"] + shells + [c for c in pes if c.pe.label != "fp32"]
cache = Path.home() / ".cache/qappac/characterize-flow4"
opts = ch.FlowOptions(activity="simulated")
for i in range(0, len(order), 6):
    t = time.time()
    res = ch.characterize(order[i:i + 6], cache, LocalExecutor(jobs=2), options=opts, liberty=lib)
    bad = [r for r in res if r["status"] != "ok"]
    print(i + 6, "done", round(time.time() - t), "s", "failed", len(bad), [r.get("error", "")[:200] for r in bad], flush=True)
