"""Design-space analysis against hand-built tables: expansion, Pareto fronts, the
normalization to the best INT16 design, and the headline gains."""

from __future__ import annotations

import math

import pytest
from conftest import SPECS

from qappac.build import compile_file
from qappac.explore import average_gains, expand, headline, normalize, pareto_mask


def _row(index: int, network: str, pe: str, perf: float, energy: float, valid: bool = True):
    return {
        "index": index,
        "design": f"d{index}",
        "network": network,
        "pe": pe,
        "valid": valid,
        "gops_per_mm2": perf,
        "energy_uj": energy,
    }


def test_qappa_dse_expands_to_the_product_of_its_axes() -> None:
    explore = compile_file(SPECS / "qappa_dse.qa").explores[0]
    points = expand(explore)
    # 7 PE types x 4 arrays x 3 filter x 2 psum scratchpads x 3 buffers x 2 bandwidths
    assert len(points) == 7 * 4 * 3 * 2 * 3 * 2 == 1008
    assert len({p.params for p in points}) == 1008
    last = points[-1].accelerator
    assert (last.pe.label, last.rows, last.spad_psum, last.glb_bytes, last.dram_gb_per_s) == (
        "lightpe2",
        32,
        32,
        256 * 1024,
        8.0,
    )
    # the last axis varies fastest
    assert points[0].accelerator.dram_gb_per_s == 2.0
    assert points[1].accelerator.dram_gb_per_s == 8.0


def test_pareto_front_of_a_hand_built_cloud() -> None:
    # Performance per area up, energy down. Point 3 (4, 3) is dominated by point 1 (5, 2);
    # point 4 ties point 2 exactly and comes later, so only the first of the two is kept.
    perf = [1.0, 5.0, 6.0, 4.0, 6.0, 0.5]
    energy = [1.0, 2.0, 4.0, 3.0, 4.0, 0.5]
    assert pareto_mask(perf, energy) == [True, True, True, False, False, True]


def test_normalization_is_relative_to_the_int16_design_with_best_perf_per_area() -> None:
    rows = [
        _row(0, "net", "int16", perf=10.0, energy=8.0),
        _row(1, "net", "int16", perf=20.0, energy=5.0),  # the reference
        _row(2, "net", "lightpe1", perf=80.0, energy=1.0),
        _row(3, "net", "fp32", perf=5.0, energy=10.0),
        _row(4, "net", "lightpe1", perf=0.0, energy=0.0, valid=False),
    ]
    out = {r["design"]: r for r in normalize(rows)}
    assert out["d1"]["norm_perf_per_area"] == 1.0 and out["d1"]["norm_energy"] == 1.0
    assert out["d2"]["norm_perf_per_area"] == 4.0  # 80 / 20
    assert out["d2"]["norm_energy"] == 0.2  # 1 / 5
    assert out["d3"]["norm_perf_per_area"] == 0.25  # 5 / 20
    assert math.isnan(out["d4"]["norm_energy"])
    assert [out[f"d{i}"]["pareto"] for i in range(5)] == [False, False, True, False, False]


def test_headline_gains_and_their_average_over_networks() -> None:
    rows = [
        # network a: INT16 reference d1 (perf 20, energy 5)
        _row(0, "a", "int16", 10.0, 4.0),
        _row(1, "a", "int16", 20.0, 5.0),
        _row(2, "a", "lightpe1", 60.0, 2.0),  # best lightpe1 perf/area: 3x
        _row(3, "a", "lightpe1", 40.0, 1.0),  # lowest lightpe1 energy: 5 / 1 = 5x
        # network b: INT16 reference d11 (perf 10, energy 10)
        _row(11, "b", "int16", 10.0, 10.0),
        _row(12, "b", "lightpe1", 50.0, 2.5),  # 5x perf/area, 4x energy
    ]
    table = headline(rows, ["int16", "lightpe1"])
    light_a = next(h for h in table if h.network == "a" and h.pe == "lightpe1")
    assert (light_a.best_perf_design, light_a.perf_per_area_gain) == ("d2", 3.0)
    assert (light_a.best_energy_design, light_a.energy_gain) == ("d3", 5.0)
    int16_a = next(h for h in table if h.network == "a" and h.pe == "int16")
    # INT16's own best perf/area design is the reference; its lowest energy is d0: 5/4
    assert int16_a.perf_per_area_gain == 1.0 and int16_a.energy_gain == pytest.approx(1.25)
    averages = average_gains(table)
    assert averages["lightpe1"] == pytest.approx(((3.0 + 5.0) / 2, (5.0 + 4.0) / 2))
