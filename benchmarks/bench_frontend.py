"""Front-end speed: parse + lower + check of every bundled spec, best of N runs.

python benchmarks/bench_frontend.py [--repeat N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from qappac.build import compile_file
from qappac.parse import parser

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__)
    args.add_argument("--repeat", type=int, default=5)
    repeat = args.parse_args().repeat
    start = time.perf_counter()
    parser()
    print(f"grammar load (once per process): {1e3 * (time.perf_counter() - start):.1f} ms")
    for spec in sorted(ROOT.joinpath("specs").rglob("*.qa")):
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            compile_file(spec)
            best = min(best, time.perf_counter() - start)
        size = spec.stat().st_size
        print(f"{spec.relative_to(ROOT)}: {1e3 * best:.1f} ms ({size} bytes, with includes)")


if __name__ == "__main__":
    main()
