import sys, json, glob, subprocess
sys.path.insert(0, "/work/flow4")
from pathlib import Path
from qappac import characterize as ch
rows = [json.loads(Path(f).read_text()) for f in glob.glob(str(Path.home() / ".cache/qappac/characterize-flow4/*.json"))]
ok = [r for r in rows if r.get("status") == "ok" and r["config"].get("pe") == "fp32" and not r["config"].get("rows")]
print(len(ok), "fp32 PE rows")
for r in sorted(ok, key=lambda r: (r["config"]["spad_ifmap"], r["config"]["spad_filter"], r["config"]["spad_psum"])):
    c, m = r["config"], r["metrics"]
    print(c["spad_ifmap"], c["spad_filter"], c["spad_psum"], round(m["area_um2"]), round(m["power_mw"], 3), m["flops_annotated"])
ch.write_dataset(ok, "/tmp/exp/fp32-flow4.csv")
