"""Speed of design-space exploration: `specs/qappa_dse.qa` (1,008 designs x 3 networks)
through the vectorized dataflow + PPA path, then the back end (CSVs, report, plots).

    python benchmarks/bench_explore.py [--models models.json] [--repeat N]

Prints designs per second (design x network evaluations per second) for the evaluation
alone and for the whole command; nothing is kept.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from qappac.build import compile_file, load_models, write_tree
from qappac.dataflow.geometry import strip_rows
from qappac.dataflow.search import candidate_table
from qappac.explore import evaluate_space, expand, explore_outputs

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    explore = compile_file(ROOT / "specs" / "qappa_dse.qa").explores[0]
    models = load_models(args.models)
    front = time.perf_counter() - start
    designs = len(expand(explore))
    pairs = designs * len(explore.networks)
    print(
        f"front end + models: {front:.2f} s; {designs} designs x "
        f"{len(explore.networks)} networks = {pairs} evaluations"
    )
    for run in range(args.repeat):
        candidate_table.cache_clear()  # cold mapping caches every run
        strip_rows.cache_clear()
        start = time.perf_counter()
        rows = evaluate_space(explore, models)
        evaluated = time.perf_counter() - start
        outputs = explore_outputs(explore, rows)
        with tempfile.TemporaryDirectory() as tmp:
            write_tree(Path(tmp) / explore.name, outputs)
        total = time.perf_counter() - start
        valid = sum(r["valid"] for r in rows)
        print(
            f"run {run}: evaluation {evaluated:.2f} s ({pairs / evaluated:,.0f} design x "
            f"network per s, {designs / evaluated:,.0f} designs per s); with CSVs, report "
            f"and plots {total:.2f} s; {valid} of {pairs} valid"
        )


if __name__ == "__main__":
    main()
