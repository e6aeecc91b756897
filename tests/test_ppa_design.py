"""Design-level PPA: characterized energy table, area/power/energy, vectorized agreement, CSV.

Models are built by hand (constant or linear `PolyModel`s), so every expected value below is
worked out in the comments from those models and the published memory numbers, never taken
from an earlier run of the code.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from qappac.characterize import ShellConfig
from qappac.dataflow import default_energy_table, schedule
from qappac.ir import FC, Accelerator, Conv, Design, Network, PEType, Pool, Shape
from qappac.ppa.design import (
    LEVELS,
    build_ppa,
    characterized_schedules,
    design_ppa,
    explore_ppa,
    layer_energy,
)
from qappac.ppa.models import ModelSet, PolyModel
from qappac.ppa.render import ppa_csv, ppa_section_md
from qappac.ppa.sram import sram_energy_pj
from qappac.ppa.table import energy_table_from_models, fit_spad_law, pe_of_label
from qappac.shapes import layer_shapes

INT16 = PEType(family="int", act_bits=16, weight_bits=16)  # acc 40 bits (product 32 + 8)
INT8 = PEType(family="int", act_bits=8, weight_bits=8)  # acc 24 bits
SPAD_REF_BITS = 224 * 16  # the default table's scratchpad reference size


def const(pe: str, target: str, value: float) -> PolyModel:
    return PolyModel(pe, target, (), (), 0, 0.0, (), (), value, 10)


def linear(pe: str, target: str, feature: str, slope: float, intercept: float) -> PolyModel:
    return PolyModel(pe, target, (feature,), (1.0,), 1, 0.0, ((1,),), (slope,), intercept, 10)


def pe_models(
    label: str, ib: int, pb: int, area_per_filter_word: float, spad_exponent: int = 0
) -> dict[str, PolyModel]:
    """Hand-made models of one PE type.

    Scratchpads: a read costs 0.01 pJ per bit x (size / 3584 bits)^spad_exponent, a cycle
    (read + write) twice that: exponent 0 gives constants 2 x 0.01 x width; exponent 1 gives
    a line through the origin in the depth, slope 2 x 0.01 x width^2 / 3584.
    """

    def spad(tensor: str, bits: int) -> PolyModel:
        target = f"energy_spad_{tensor}_pj"
        if spad_exponent == 0:
            return const(label, target, 2 * 0.01 * bits)
        return linear(label, target, f"spad_{tensor}", 2 * 0.01 * bits * bits / 3584, 0.0)

    return {
        # area = 1000 + w x spad_filter um^2
        "area_um2": linear(label, "area_um2", "spad_filter", area_per_filter_word, 1000.0),
        "fmax_mhz": const(label, "fmax_mhz", 250.0),
        "energy_cycle_pj": const(label, "energy_cycle_pj", 2.0),
        "leakage_mw": const(label, "leakage_mw", 0.01),
        "energy_mac_pj": const(label, "energy_mac_pj", 1.5 if label == "int16" else 0.4),
        "energy_spad_ifmap_pj": spad("ifmap", ib),
        "energy_spad_filter_pj": spad("filter", ib),
        "energy_spad_psum_pj": spad("psum", pb),
    }


def shell_models(label: str) -> dict[str, PolyModel]:
    """Hand-made shell models: area 5000 + 300 um^2 per PE, 10 pJ and 0.2 mW leakage,
    fmax 150 - 2 MHz per PE."""
    return {
        "shell_area_um2": linear(label, "shell_area_um2", "pes", 300.0, 5000.0),
        "shell_fmax_mhz": linear(label, "shell_fmax_mhz", "pes", -2.0, 150.0),
        "shell_energy_cycle_pj": const(label, "shell_energy_cycle_pj", 10.0),
        "shell_leakage_mw": const(label, "shell_leakage_mw", 0.2),
    }


def model_set(spad_exponent: int = 0, shell: bool = False) -> ModelSet:
    """Both PE types; with `shell`, shell models for int16 only (int8 keeps the engine's
    NoC energy and no shell area)."""
    int16 = pe_models("int16", 16, 40, 10.0, spad_exponent)
    return ModelSet(
        dataset_sha256="0" * 64,
        rows=20,
        models={
            "int16": {**int16, **(shell_models("int16") if shell else {})},
            "int8": pe_models("int8", 8, 24, 5.0, spad_exponent),
        },
    )


def accelerator(**changes: object) -> Accelerator:
    values: dict[str, object] = dict(
        name="tiny",
        pe=INT16,
        rows=3,
        cols=4,
        spad_ifmap=12,
        spad_filter=224,
        spad_psum=24,
        glb_bytes=65536,
        dram_gb_per_s=1.0,
        clock_mhz=200.0,
    )
    values.update(changes)
    return Accelerator.model_validate(values)


def conv_net() -> Network:
    return Network(
        name="n",
        input=Shape(c=4, h=8, w=8),
        layers=(Conv(name="c", inputs=("input",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),),
    )


def mixed_net() -> Network:
    return Network(
        name="m",
        input=Shape(c=4, h=8, w=8),
        layers=(
            Conv(name="c1", inputs=("input",), out_channels=8, kernel_h=3, kernel_w=3, pad=1),
            Pool(name="p", inputs=("c1",), op="max", kernel=2, stride=2),
            FC(name="fc", inputs=("p",), out_features=10),
        ),
    )


def design(accel: Accelerator | None = None, network: Network | None = None) -> Design:
    return Design(
        name="d", accelerator=accel or accelerator(), network=network or conv_net(), batch=2
    )


# --------------------------------------------------------------------------- the table


def test_labels_round_trip() -> None:
    for label in ("fp32", "int16", "int8", "int(8,4)", "int(12,12)", "lightpe1", "lightpe2"):
        assert pe_of_label(label).label == label
    assert pe_of_label("int16+acc32").acc_bits == 32
    with pytest.raises(ValueError):
        pe_of_label("int")


def test_spad_law_recovers_per_bit_energy_and_exponent() -> None:
    # Every point lies on 0.01 pJ/bit x (size/3584)^b, for b = 0 and b = 1.
    for exponent in (0, 1):
        per_bit, b = fit_spad_law(model_set(exponent), SPAD_REF_BITS)
        assert per_bit == pytest.approx(0.01, rel=1e-12)
        assert b == pytest.approx(exponent, abs=1e-12)


def test_characterized_table_entries() -> None:
    models = model_set()
    base = default_energy_table()
    table = energy_table_from_models(models, base, accelerator())
    assert table.mac_pj(INT16) == 1.5
    assert table.mac_pj(INT8) == 0.4
    # a PE type without a model keeps the formula of the base table
    fp = PEType(family="fp", act_bits=32, weight_bits=32)
    assert table.mac_pj(fp) == base.mac_pj(fp)
    # leakage 0.01 mW at 200 MHz: 0.01e-3 W x 5e-9 s = 5e-14 J = 0.05 pJ per PE per cycle
    assert table.static_pj_per_pe_cycle == pytest.approx(0.05, rel=1e-12)
    # GLB: Horowitz's 32 KB point, 64-bit access (the sram model, ~19.6 pJ)
    assert float(table.glb_pj(64, 32 * 1024 * 8)) == pytest.approx(
        float(sram_energy_pj(32 * 1024, 64)), rel=1e-12
    )
    assert float(table.dram_pj(1)) == 20.0
    assert table.noc_pj_per_bit == base.noc_pj_per_bit
    # without an accelerator the base static entry is kept
    assert energy_table_from_models(models, base).static_pj_per_pe_cycle == (
        base.static_pj_per_pe_cycle
    )


# --------------------------------------------------------------------------- one design


def test_tiny_design_hand_worked() -> None:
    models = model_set()
    d = design()
    schedules, ppa = build_ppa(d, models)
    # Area: PE = 1000 + 10 x 224 = 3240 um^2; 12 PEs: 38,880 um^2.
    # GLB: 65536 B x 8 bits x 600 x 0.045^2 um^2 (= 1.215) = 637,009.92 um^2.
    assert ppa.pe_area_um2 == pytest.approx(3240.0)
    assert ppa.pe_array_area_um2 == pytest.approx(38880.0)
    assert ppa.glb_area_um2 == pytest.approx(637009.92)
    assert ppa.area_um2 == pytest.approx(38880.0 + 637009.92)
    # Clock 200 MHz below fmax 250: runs at 200, no warning.
    assert ppa.fmax_mhz == 250.0 and ppa.effective_clock_mhz == 200.0
    assert not ppa.clock_exceeds_fmax and ppa.warnings == ()
    # Power: 12 PEs x 2 pJ x 200 MHz = 4.8 mW dynamic; 12 x 0.01 = 0.12 mW leakage.
    assert ppa.pe_dynamic_mw == pytest.approx(4.8)
    assert ppa.leakage_mw == pytest.approx(0.12)
    # Energy: accesses (the engine's counts) x hand-derived per-access energies.
    # int16: ib = wb = 16, pb = 40.  spad reads/writes: 0.01 pJ/bit -> 0.16, 0.16, 0.4 pJ.
    # NoC (default table): 2 x 0.95 pJ / 16 bits = 0.11875 pJ/bit -> 1.9 and 4.75 pJ.
    # GLB: sram_energy_pj(64 KiB, width).  DRAM: 20 pJ/bit -> 320 pJ per word.  MAC 1.5 pJ.
    # Leakage: 0.05 pJ x 12 PEs per cycle.
    (s,) = schedules
    a = s.accesses
    glb16, glb40 = float(sram_energy_pj(65536, 16)), float(sram_energy_pj(65536, 40))
    expected = {
        "mac": a.macs * 1.5,
        "spad": (a.spad_ifmap_reads + a.spad_ifmap_writes) * 0.16
        + (a.spad_filter_reads + a.spad_filter_writes) * 0.16
        + (a.spad_psum_reads + a.spad_psum_writes) * 0.4,
        "noc": (a.noc_ifmap + a.noc_filter) * 1.9 + a.noc_psum * 4.75,
        "glb": (a.glb_ifmap_reads + a.glb_ifmap_writes + a.glb_filter_reads + a.glb_filter_writes)
        * glb16
        + (a.glb_psum_reads + a.glb_psum_writes) * glb40,
        "dram": (a.dram_ifmap_reads + a.dram_ofmap_writes + a.dram_filter_reads) * 320.0,
        "leakage": 0.05 * 12 * s.cycles,
    }
    for level in LEVELS:
        assert getattr(ppa.energy, level) == pytest.approx(expected[level], rel=1e-12), level
    assert a.macs == 2 * 8 * 8 * 8 * 4 * 9  # N x M x E x F x C x R x S
    assert ppa.macs == a.macs
    # Latency: cycles at 200 MHz.
    assert ppa.latency_s == pytest.approx(s.cycles / 200e6)
    # GLB power = GLB energy / latency (pJ/s -> mW: x 1e-9).
    assert ppa.glb_dynamic_mw == pytest.approx(expected["glb"] / ppa.latency_s * 1e-9)
    # GOPS = 2 x MACs / latency / 1e9; GOPS/mm^2 over the total area in mm^2.
    gops = 2 * a.macs / ppa.latency_s / 1e9
    assert ppa.gops == pytest.approx(gops)
    assert ppa.gops_per_mm2 == pytest.approx(gops / ((38880.0 + 637009.92) / 1e6))
    total = sum(expected.values())
    assert ppa.energy_pj == pytest.approx(total, rel=1e-12)
    assert ppa.energy_per_inference_pj == pytest.approx(total / 2)
    assert ppa.edp_j_s == pytest.approx(total * 1e-12 * s.cycles / 200e6)


def test_shell_models_hand_worked() -> None:
    # The design of test_tiny_design_hand_worked, plus the shell models of `shell_models`.
    plain = build_ppa(design(), model_set())[1]
    schedules, ppa = build_ppa(design(), model_set(shell=True))
    (s,) = schedules
    # NoC and control area: 5000 + 300 x 12 PEs = 8600 um^2, on top of PEs and GLB.
    assert ppa.noc_area_um2 == pytest.approx(8600.0)
    assert ppa.area_um2 == pytest.approx(38880.0 + 637009.92 + 8600.0)
    # Shell dynamic power: 10 pJ x 200 MHz = 2 mW; leakage 12 x 0.01 + 0.2 = 0.32 mW.
    assert ppa.shell_dynamic_mw == pytest.approx(2.0)
    assert ppa.leakage_mw == pytest.approx(0.32)
    assert ppa.power_mw == pytest.approx(4.8 + 2.0 + ppa.glb_dynamic_mw + 0.32)
    # NoC level: 10 pJ per cycle instead of the per-transfer energy; leakage level: the
    # PEs' 0.05 pJ x 12 plus the shell's 0.2 mW / 200 MHz = 1 pJ, per cycle.
    assert ppa.energy.noc == pytest.approx(10.0 * s.cycles, rel=1e-12)
    assert ppa.energy.leakage == pytest.approx((0.05 * 12 + 1.0) * s.cycles, rel=1e-12)
    for level in ("mac", "spad", "glb", "dram"):
        assert getattr(ppa.energy, level) == getattr(plain.energy, level), level
    assert plain.noc_area_um2 == 0.0 and plain.shell_dynamic_mw == 0.0
    # Controller fmax: 150 - 2 x 12 = 126 MHz, below the 200 MHz clock: flagged, but the
    # timing stays the PE's (a pipelined controller is assumed).
    assert ppa.controller_fmax_mhz == pytest.approx(126.0)
    assert plain.controller_fmax_mhz is None and plain.warnings == ()
    assert ppa.clock_exceeds_controller_fmax and not ppa.clock_exceeds_fmax
    (warning,) = ppa.warnings
    assert "controller" in warning and "126" in warning
    assert ppa.effective_clock_mhz == plain.effective_clock_mhz == 200.0
    assert ppa.latency_s == plain.latency_s


def test_engine_and_ppa_cost_the_schedules_alike() -> None:
    # The engine costs its schedule with the same table; design_ppa re-costs independently.
    models = model_set(spad_exponent=1)
    d = design(network=mixed_net())
    schedules, ppa = build_ppa(d, models)
    for s, layer in zip(schedules, ppa.layers, strict=True):
        e = s.energy
        engine = (e.mac, e.spad, e.noc, e.glb, e.dram, e.static)
        assert layer.energy.as_tuple() == pytest.approx(engine, rel=1e-12)


def test_clock_above_fmax_is_flagged_and_clamped() -> None:
    models = model_set()
    d = design(accelerator(clock_mhz=300.0))
    _, ppa = build_ppa(d, models)
    assert ppa.clock_exceeds_fmax and ppa.effective_clock_mhz == 250.0
    assert ppa.warnings and "exceeds" in ppa.warnings[0]
    # leakage per PE-cycle at 250 MHz: 0.01 mW / 250 MHz = 0.04 pJ
    assert ppa.energy.leakage == pytest.approx(0.04 * 12 * ppa.cycles)
    assert ppa.latency_s == pytest.approx(ppa.cycles / 250e6)
    assert ppa.pe_dynamic_mw == pytest.approx(12 * 2.0 * 250 * 1e-3)


def test_invariants() -> None:
    models = model_set(spad_exponent=1)
    small = design(network=mixed_net())
    big = design(accelerator(rows=6), mixed_net())
    _, p1 = build_ppa(small, models)
    _, p2 = build_ppa(big, models)
    assert p2.pes == 2 * p1.pes
    assert p2.pe_array_area_um2 == pytest.approx(2 * p1.pe_array_area_um2, rel=1e-15)
    for p in (p1, p2):
        assert sum(p.energy.as_tuple()) == pytest.approx(p.energy_pj, rel=1e-12)
        assert sum(layer.energy.total for layer in p.layers) == pytest.approx(p.energy_pj)
        assert sum(layer.cycles for layer in p.layers) == p.cycles
        assert p.effective_clock_mhz == min(p.clock_mhz, p.fmax_mhz)
        assert p.gops_per_mm2 == pytest.approx(p.gops / p.area_mm2)
        assert p.power_mw == pytest.approx(
            p.pe_dynamic_mw + p.shell_dynamic_mw + p.glb_dynamic_mw + p.leakage_mw
        )


def test_design_ppa_recosts_schedules_made_with_another_table() -> None:
    # Same mapping either way is not guaranteed, but the energy must follow the accesses.
    models = model_set()
    d = design()
    schedules = schedule(d, default_energy_table())
    ppa = design_ppa(d, schedules, models)
    table = energy_table_from_models(models, None, d.accelerator)
    expected = layer_energy(schedules[0].accesses, schedules[0].cycles, d.accelerator, table)
    assert ppa.layers[0].energy == expected
    assert ppa.energy.mac == schedules[0].macs * 1.5


# --------------------------------------------------------------------------- vectorized


def test_explore_matches_design_ppa() -> None:
    models = model_set(spad_exponent=1, shell=True)  # int16 with a shell model, int8 without
    net = mixed_net()
    accels = [
        accelerator(),
        accelerator(pe=INT8, spad_filter=128, clock_mhz=300.0),
        accelerator(rows=4, cols=4, glb_bytes=32768, spad_psum=16),
        accelerator(pe=INT8, rows=2, cols=8, dram_gb_per_s=0.1),
    ]
    out = explore_ppa(accels, layer_shapes(net), 2, "energy", models)
    assert out["ok"].all()
    for i, acc in enumerate(accels):
        d = Design(name="d", accelerator=acc, network=net, batch=2)
        _, p = build_ppa(d, models)
        scalar = {
            "area_um2": p.area_um2,
            "pe_array_area_um2": p.pe_array_area_um2,
            "glb_area_um2": p.glb_area_um2,
            "noc_area_um2": p.noc_area_um2,
            "fmax_mhz": p.fmax_mhz,
            "effective_clock_mhz": p.effective_clock_mhz,
            "power_mw": p.power_mw,
            "pe_dynamic_mw": p.pe_dynamic_mw,
            "shell_dynamic_mw": p.shell_dynamic_mw,
            "glb_dynamic_mw": p.glb_dynamic_mw,
            "leakage_mw": p.leakage_mw,
            "cycles": p.cycles,
            "latency_s": p.latency_s,
            "macs": p.macs,
            "energy_pj": p.energy_pj,
            "energy_per_inference_pj": p.energy_per_inference_pj,
            "gops": p.gops,
            "gops_per_mm2": p.gops_per_mm2,
            "edp_j_s": p.edp_j_s,
        }
        scalar.update({f"energy_{lv}_pj": getattr(p.energy, lv) for lv in LEVELS})
        for name, value in scalar.items():
            assert out[name][i] == pytest.approx(value, rel=1e-9, abs=0), (i, name)
        assert bool(out["clock_exceeds_fmax"][i]) == p.clock_exceeds_fmax
        assert list(out["layer_cycles"][i]) == [layer.cycles for layer in p.layers]
        layer_energy_pj = [layer.energy.total for layer in p.layers]
        assert out["layer_energy_pj"][i] == pytest.approx(layer_energy_pj, rel=1e-9)
    assert out["clock_exceeds_fmax"].tolist() == [False, True, False, False]


def test_explore_marks_unmappable_designs() -> None:
    # A 1-word psum spad still maps p = 1; a 2-word ifmap spad cannot hold a 3-tap window.
    models = model_set()
    out = explore_ppa(
        [accelerator(), accelerator(spad_ifmap=2)],
        layer_shapes(conv_net()),
        1,
        "energy",
        models,
    )
    assert out["ok"].tolist() == [True, False]
    assert math.isnan(out["energy_pj"][1]) and np.isfinite(out["energy_pj"][0])


# --------------------------------------------------------------------------- rendering


def test_csv_is_deterministic_and_totals_add_up() -> None:
    models = model_set(spad_exponent=1)
    d = design(network=mixed_net())
    schedules, ppa = build_ppa(d, models)
    text = ppa_csv(d, ppa)
    assert text == ppa_csv(d, build_ppa(d, models)[1])
    assert text.endswith("\n") and "\r" not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["layer"] for r in rows] == ["c1", "p", "fc", "total"]
    assert len({len(r) for r in rows}) == 1
    total = rows[-1]
    assert int(total["cycles"]) == sum(int(r["cycles"]) for r in rows[:-1])
    assert float(total["energy_pj"]) == pytest.approx(
        sum(float(r["energy_pj"]) for r in rows[:-1]), rel=1e-5
    )
    for r in rows:
        levels = sum(float(r[f"energy_{lv}_pj"]) for lv in LEVELS)
        assert float(r["energy_pj"]) == pytest.approx(levels, rel=1e-5)
    assert float(total["area_um2"]) == pytest.approx(ppa.area_um2, rel=1e-5)


def test_markdown_section() -> None:
    models = model_set()
    d = design(accelerator(clock_mhz=300.0))
    _, ppa = build_ppa(d, models)
    md = ppa_section_md(d, ppa)
    assert md.endswith("\n")
    assert "exceeds" in md  # the fmax warning
    assert "GOPS/mm" in md
    for level in LEVELS:
        assert level in md
    # the percentages of the energy breakdown add up to 100 (within rounding)
    energy_section = md.split("### Energy by level")[1]
    rows = [line.split("|") for line in energy_section.splitlines() if line.startswith("| ")]
    cells = {row[1].strip(): row[3].strip() for row in rows[1:]}
    assert list(cells) == [*LEVELS, "total"]
    assert cells.pop("total") == "100.0 %"
    shares = {k: float(v.removesuffix(" %")) for k, v in cells.items()}
    assert sum(shares.values()) == pytest.approx(100.0, abs=0.5)


def test_characterized_schedules_run_at_effective_clock() -> None:
    models = model_set()
    # Slow DRAM: stalls depend on the clock; at 250 instead of 300 MHz there are fewer.
    fast = characterized_schedules(
        design(accelerator(clock_mhz=300.0, dram_gb_per_s=0.01)), models
    )
    at_fmax = schedule(
        design(accelerator(clock_mhz=250.0, dram_gb_per_s=0.01)),
        energy_table_from_models(models, None, accelerator(clock_mhz=250.0, dram_gb_per_s=0.01)),
    )
    assert [s.cycles for s in fast] == [s.cycles for s in at_fmax]


def test_models_fitted_on_synthetic_data() -> None:
    # A synthetic int8 dataset from known linear laws, fitted by qappac.ppa.fit.
    from qappac.ppa.fit import FitOptions, fit_models

    rows = [
        {
            "pe": "int8",
            "spad_ifmap": 12,
            "spad_filter": f,
            "spad_psum": p,
            "area_um2": 500.0 + 4.0 * f + 6.0 * p,
            "fmax_mhz": 400.0,
            "leakage_mw": 0.002 + 1e-5 * f,
            "energy_cycle_pj": 1.0,
            "energy_mac_pj": 0.3,
            # 0.02 pJ per bit per read, widths 8, 8, 24 (int8: acc = 16 + 8)
            "energy_spad_ifmap_pj": 2 * 0.02 * 8,
            "energy_spad_filter_pj": 2 * 0.02 * 8,
            "energy_spad_psum_pj": 2 * 0.02 * 24,
        }
        for f in (64, 128, 224)
        for p in (16, 24, 32)
    ]
    models = fit_models(rows, options=FitOptions(degrees=(1,), alphas=(0.0,)))
    acc = accelerator(pe=INT8, spad_filter=128, spad_psum=24, clock_mhz=100.0)
    table = energy_table_from_models(models, None, acc)
    assert table.mac_pj(INT8) == pytest.approx(0.3)
    assert table.spad_pj_per_bit == pytest.approx(0.02) and table.spad_exponent == pytest.approx(0)
    # leakage 0.002 + 0.00128 = 0.00328 mW at 100 MHz: 0.0328 pJ per PE-cycle
    assert table.static_pj_per_pe_cycle == pytest.approx(0.0328)
    _, ppa = build_ppa(design(acc), models)
    # PE area 500 + 4 x 128 + 6 x 24 = 1156 um^2, 12 PEs
    assert ppa.pe_array_area_um2 == pytest.approx(12 * 1156.0)
    assert ppa.effective_clock_mhz == 100.0 and ppa.fmax_mhz == pytest.approx(400.0)


def test_explore_rejects_empty_input() -> None:
    with pytest.raises(ValueError):
        explore_ppa([], layer_shapes(conv_net()), 1, "energy", model_set())


def test_the_whole_accelerator_is_measured_once_per_rtl_and_liberty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`measure_whole` keeps its result under a key of the RTL and the liberty: the second
    call reads it back, another array shape or another liberty measures again."""
    from qappac.ppa import composition

    calls: list[str] = []

    def fake_measure(name, netlist, area, top, toggles, liberty, period):  # type: ignore[no-untyped-def]
        calls.append(top)
        return composition.Part(name, area, 1.5, 0.25, 10, 9)

    monkeypatch.setattr(composition, "probe_layer_toggles", lambda accel, mapping: None)
    monkeypatch.setattr(
        composition, "synthesize_whole", lambda accel, lib: ("", 100.0 * accel.rows)
    )
    monkeypatch.setattr(composition, "measure", fake_measure)
    monkeypatch.setattr(composition, "tool_versions", lambda: {"yosys": "y", "sta": "s"})
    lib = tmp_path / "a.lib"
    lib.write_text("library (a) {}\n")
    pe = PEType(family="light", act_bits=8, weight_bits=4, terms=1)
    small = ShellConfig(pe, 1, 2).accelerator(200.0)
    cache = tmp_path / "cache"
    first = composition.measure_whole(small, lib, cache)
    again = composition.measure_whole(small, lib, cache)
    assert again == first and first.area_um2 == 100.0 and len(calls) == 1
    assert (
        composition.measure_whole(ShellConfig(pe, 2, 2).accelerator(200.0), lib, cache).area_um2
        == 200.0
    )
    assert len(calls) == 2
    lib.write_text("library (b) {}\n")
    composition.measure_whole(small, lib, cache)
    assert len(calls) == 3
    assert composition.measure_whole(small, lib).area_um2 == 100.0 and len(calls) == 4  # no cache
    assert len(list(cache.glob("whole-*.json"))) == 3
