"""How much of each array PE's area is scratchpad, and how much is the MAC (docs/validation.md).

For every PE type of the default grid, at the given scratchpad depths: synthesize the array
PE (`qappac_ape_*`, Yosys onto ``QAPPAC_LIBERTY``) whole, again with its three register
files as black boxes, and its MAC alone; print the areas and shares as a Markdown table.

    python benchmarks/spad_share.py [--depths 16 128 24]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from qappac.characterize import DEFAULT_PES, synthesize_netlist
from qappac.rtl_accel import array_pe_name, emit_array_pe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depths", type=int, nargs=3, default=[16, 128, 24])
    args = parser.parse_args()
    if "QAPPAC_LIBERTY" not in os.environ:
        sys.exit("set QAPPAC_LIBERTY to the NanGate45 liberty")
    lib = Path(os.environ["QAPPAC_LIBERTY"])
    ifmap, filt, psum = args.depths
    print(f"scratchpads ifmap {ifmap}, filter {filt}, psum {psum} words\n")
    print("| PE type | PE um2 | scratchpads um2 | share | MAC um2 | share | rest um2 |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for pe in DEFAULT_PES:
        files = emit_array_pe(pe, ifmap, filt, psum)
        top = array_pe_name(pe)
        _, whole = synthesize_netlist(files, top, lib)
        _, bare = synthesize_netlist(files, top, lib, blackboxes=("qappac_regfile",))
        mac_top = f"{top}_mac"
        mac_files = {n: t for n, t in files.items() if n.startswith(mac_top)}
        _, mac = synthesize_netlist(mac_files, mac_top, lib)
        spads = whole - bare
        print(
            f"| {pe.label} | {whole:,.0f} | {spads:,.0f} | {100 * spads / whole:.0f} % | "
            f"{mac:,.0f} | {100 * mac / whole:.0f} % | {bare - mac:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
