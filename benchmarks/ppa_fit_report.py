"""Fit quality of the shipped PPA models: k-fold CV R2 and MAPE (pooled over all
out-of-fold predictions) per PE type and target, as Markdown tables, the PE models' and the
shell models' (docs/validation.md quotes them).

    python benchmarks/ppa_fit_report.py [models.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

from qappac.build import default_models_path
from qappac.ppa.models import load

TARGETS = ("area_um2", "power_mw", "leakage_mw", "fmax_mhz", "energy_cycle_pj")
SHELL_TARGETS = ("shell_area_um2", "shell_power_mw", "shell_leakage_mw", "shell_energy_cycle_pj")


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else default_models_path()
    models = load(path)
    print(f"{path.name}: {models.rows} rows, dataset sha256 {models.dataset_sha256[:12]}\n")
    for targets, headline in ((TARGETS, ("area_um2", "power_mw")), (SHELL_TARGETS, ())):
        headline = headline or targets[:2]
        print("| PE type | " + " | ".join(targets) + " |")
        print("|---|" + "---|" * len(targets))
        worst_r2, worst_mape = 1.0, 0.0
        for pe in sorted(models.models):
            cells = []
            for target in targets:
                model = models.models[pe].get(target)
                if model is None or not model.cv.r2:
                    cells.append("-")
                    continue
                r2, mape = model.cv.r2_pooled, model.cv.mape_pooled
                if target in headline:
                    worst_r2, worst_mape = min(worst_r2, r2), max(worst_mape, mape)
                cells.append(f"{r2:.4f} / {mape:.2f}% (deg {model.degree})")
            print(f"| {pe} | " + " | ".join(cells) + " |")
        what = " and ".join(headline)
        print(f"\n{what}, worst PE type: CV R2 {worst_r2:.4f}, MAPE {worst_mape:.2f}%\n")


if __name__ == "__main__":
    main()
