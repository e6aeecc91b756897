"""Power, performance and area: fitted polynomial models and memory models.

`models` (numpy only) loads and evaluates fitted models; `fit` (scikit-learn, imported only
there) fits them to a characterization dataset; `sram` models the global buffer and DRAM.
See docs/ppa.md.
"""

from __future__ import annotations

from qappac.ppa.models import ModelSet, PolyModel, load, predict, predict_many
from qappac.ppa.sram import dram_energy_pj, glb_power_law, sram_area_um2, sram_energy_pj

__all__ = [
    "ModelSet",
    "PolyModel",
    "dram_energy_pj",
    "glb_power_law",
    "load",
    "predict",
    "predict_many",
    "sram_area_um2",
    "sram_energy_pj",
]
