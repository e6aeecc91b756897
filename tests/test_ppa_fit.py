"""Polynomial PPA fitting: coefficient recovery, CV model choice, JSON round trip, refits.

Every expected value comes from the synthetic polynomial that generated the data, never from
an earlier run of the fitter.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from qappac.ir import Accelerator, PEType
from qappac.ppa import models as pm
from qappac.ppa import table
from qappac.ppa.fit import FitOptions, fit_csv, fit_models, fit_one
from qappac.ppa.plot import actual_and_predicted

SPAD_IFMAP = (4, 8, 12, 16, 24)
SPAD_FILTER = (16, 64, 128, 224)
SPAD_PSUM = (8, 16, 24, 32)


def _area(spad_ifmap: float, spad_filter: float, spad_psum: float) -> float:
    # The known polynomial: degree 2, independent of spad_ifmap.
    return 100.0 + 3.0 * spad_filter + 0.02 * spad_filter * spad_psum + 0.5 * spad_psum**2


def _grid_rows(pe: str = "int8", scale: float = 1.0) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, f, p in itertools.product(SPAD_IFMAP, SPAD_FILTER, SPAD_PSUM):
        rows.append(
            {
                "pe": pe,
                "act_bits": 8,
                "weight_bits": 8,
                "acc_bits": 24,
                "spad_ifmap": i,
                "spad_filter": f,
                "spad_psum": p,
                "area_um2": scale * _area(i, f, p),
                "fmax_mhz": 500.0 - 0.5 * f,
            }
        )
    return rows


def test_recovers_coefficients_and_drops_unused_feature() -> None:
    models = fit_models(_grid_rows())
    area = models.get("int8", "area_um2")
    assert area.degree == 2
    assert area.inputs == ("spad_filter", "spad_psum")  # spad_ifmap has no effect
    raw = pm.raw_coefficients(area)
    expected = {
        "1": 100.0,
        "spad_filter": 3.0,
        "spad_psum": 0.0,
        "spad_filter^2": 0.0,
        "spad_filter spad_psum": 0.02,
        "spad_psum^2": 0.5,
    }
    assert set(raw) == set(expected)
    for name, value in expected.items():
        assert raw[name] == pytest.approx(value, rel=1e-7, abs=1e-8), name
    fmax = models.get("int8", "fmax_mhz")
    assert (fmax.degree, fmax.inputs) == (1, ("spad_filter",))
    assert pm.raw_coefficients(fmax) == pytest.approx({"1": 500.0, "spad_filter": -0.5})
    assert area.cv.r2_mean == pytest.approx(1.0, abs=1e-9)
    assert area.cv.mape_mean < 1e-6
    assert len(area.cv.r2) == 5 and area.rows == 80


def test_models_per_pe_type() -> None:
    rows = _grid_rows("int8") + _grid_rows("int16", scale=4.0)
    models = fit_models(rows)
    assert sorted(models.models) == ["int16", "int8"]
    point = {"spad_ifmap": 12.0, "spad_filter": 100.0, "spad_psum": 20.0}
    # 100 + 300 + 0.02 * 2000 + 0.5 * 400 = 640; the int16 data is 4x that
    assert pm.predict(models.get("int8", "area_um2"), point) == pytest.approx(640.0)
    assert pm.predict(models.get("int16", "area_um2"), point) == pytest.approx(2560.0)


@pytest.mark.parametrize("true_degree", [1, 2, 3])
def test_cv_picks_the_generating_degree(true_degree: int) -> None:
    rng = np.random.default_rng(7)
    x = np.linspace(1.0, 10.0, 40)
    coef = {1: [2.0, 1.5], 2: [2.0, 1.5, 0.8], 3: [2.0, -1.5, -0.8, 0.3]}[true_degree]
    clean = sum(c * x**k for k, c in enumerate(coef))
    y = clean + rng.normal(0.0, 0.002 * float(np.std(clean)), len(x))
    model = fit_one(x.reshape(-1, 1), y, ("spad_psum",), "int8", "area_um2")
    assert model.degree == true_degree
    raw = pm.raw_coefficients(model)
    names = ["1", "spad_psum", "spad_psum^2", "spad_psum^3"]
    for k, c in enumerate(coef):
        assert raw[names[k]] == pytest.approx(c, rel=0.05, abs=0.05)


def test_noisy_constant_target_prefers_simplest_model() -> None:
    rng = np.random.default_rng(3)
    x = np.linspace(1.0, 10.0, 30).reshape(-1, 1)
    y = 7.0 + rng.normal(0.0, 0.1, 30)
    model = fit_one(x, y, ("spad_psum",), "int8", "leakage_mw")
    assert model.powers == () and model.inputs == ()
    assert model.intercept == pytest.approx(float(np.mean(y)))
    assert pm.predict(model, {}) == pytest.approx(float(np.mean(y)))
    assert pm.predict_many(model, {}).shape == ()


def test_json_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = _grid_rows()
    for row in rows:  # noise so the chosen model is not exact
        row["area_um2"] = float(row["area_um2"]) * (1 + rng.normal(0, 0.01))  # type: ignore[arg-type]
    models = fit_models(rows)
    pm.save(models, tmp_path / "m.json")
    again = pm.load(tmp_path / "m.json")
    assert again == models
    points = {
        "spad_ifmap": rng.uniform(1, 30, 500),
        "spad_filter": rng.uniform(1, 300, 500),
        "spad_psum": rng.uniform(1, 40, 500),
    }
    for target in ("area_um2", "fmax_mhz"):
        a = pm.predict_many(models.get("int8", target), points)
        b = pm.predict_many(again.get("int8", target), points)
        assert np.array_equal(a, b)
        one = {k: float(v[3]) for k, v in points.items()}
        assert pm.predict(again.get("int8", target), one) == a[3]
    assert pm.dumps(again) == (tmp_path / "m.json").read_text()
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["format"] == pm.MODELS_FORMAT
    assert "pickle" not in (tmp_path / "m.json").read_text()


def _write_csv(rows: list[dict[str, object]], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_refit_on_the_same_csv_gives_the_same_coefficients(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = _grid_rows() + _grid_rows("lightpe1", scale=0.3)
    for row in rows:
        row["area_um2"] = float(row["area_um2"]) * (1 + rng.normal(0, 0.02))  # type: ignore[arg-type]
    rows[4]["area_um2"] = ""  # a failed job: skipped for this target only
    _write_csv(rows, tmp_path / "d.csv")
    first = fit_csv(tmp_path / "d.csv", tmp_path / "a.json", plot_path=tmp_path / "a.svg")
    second = fit_csv(tmp_path / "d.csv", tmp_path / "b.json", plot_path=tmp_path / "b.svg")
    for pe, target in itertools.product(("int8", "lightpe1"), ("area_um2", "fmax_mhz")):
        m1, m2 = first.get(pe, target), second.get(pe, target)
        assert (m1.inputs, m1.degree, m1.alpha) == (m2.inputs, m2.degree, m2.alpha)
        assert m2.coef == pytest.approx(m1.coef, rel=1e-9)
        assert m2.intercept == pytest.approx(m1.intercept, rel=1e-9)
    assert first.get("int8", "area_um2").rows == 79
    assert first.get("int8", "fmax_mhz").rows == 80
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    import hashlib

    digest = hashlib.sha256((tmp_path / "d.csv").read_bytes()).hexdigest()
    assert json.loads((tmp_path / "a.json").read_text())["dataset_sha256"] == digest


def test_predict_names_missing_features() -> None:
    model = fit_models(_grid_rows()).get("int8", "area_um2")
    with pytest.raises(KeyError, match="spad_psum"):
        pm.predict(model, {"spad_filter": 3.0})


def test_ridge_is_chosen_when_it_generalizes_better() -> None:
    # Few noisy rows, many candidate terms: plain least squares on cubic terms overfits.
    rng = np.random.default_rng(11)
    x = rng.uniform(1, 10, (12, 2))
    y = 3.0 + 2.0 * x[:, 0] + rng.normal(0, 0.5, 12)
    opts = FitOptions(degrees=(3,), alphas=(0.0, 1.0))
    model = fit_one(x, y, ("spad_filter", "spad_psum"), "int8", "area_um2", opts)
    # the search space only holds degree-3 models (or the constant one): the chosen one must
    # still predict a fresh point close to the truth
    fresh = {"spad_filter": 5.0, "spad_psum": 5.0}
    assert pm.predict(model, fresh) == pytest.approx(13.0, abs=2.0)


# --------------------------------------------------------------------------- SRAM / DRAM


def test_sram_model_fits_horowitz_points() -> None:
    from qappac.ppa import sram

    # Hand least squares in log space, x = ln(C / 8 KB) = 0, ln 4, ln 128 and
    # y = ln 10, ln 20, ln 100: Sxy = 5.9038, Sxx = 12.4917 -> b = 0.4726;
    # ln E_ref = mean(y) - b mean(x) = 3.3012 - 0.4726 * 2.0794 = 2.3185 -> E_ref = 10.16 pJ
    model = sram.DEFAULT_SRAM
    assert model.exponent == pytest.approx(0.4726, abs=2e-4)
    assert model.energy_ref_pj == pytest.approx(10.16, abs=0.01)
    for capacity, published in sram.HOROWITZ_2014_SRAM_64BIT_PJ:
        assert sram.sram_energy_pj(capacity, 64) == pytest.approx(published, rel=0.03)
    # 16-bit words cost a quarter of 64-bit ones; arrays broadcast
    energies = sram.sram_energy_pj(np.array([8192, 32768]), 16)
    assert energies == pytest.approx([10.16 / 4, 10.16 * 4**0.4726 / 4], rel=1e-3)
    # 600 lambda^2 per bit, lambda = 45 nm: 1.215 um^2; 108 KB -> 884,736 bits -> 1.075 mm^2
    assert sram.sram_area_um2(108 * 1024) == pytest.approx(884_736 * 1.215)
    assert sram.dram_energy_pj(8 * 1000) == pytest.approx(160_000.0)  # 1 kB at 20 pJ/bit
    assert sram.dram_energy_pj(10, pj_per_bit=4.0) == 40.0
    with pytest.raises(ValueError):
        sram.sram_energy_pj(0, 16)


def test_greedy_selection_with_many_features() -> None:
    # six varying features (more than max_exhaustive = 4): forward selection must find the
    # three that matter in y = 5 + 2 a w + 0.1 f
    rng = np.random.default_rng(2)
    names = ("act_bits", "weight_bits", "acc_bits", "spad_ifmap", "spad_filter", "spad_psum")
    x = rng.integers(2, 40, size=(120, 6)).astype(float)
    y = 5.0 + 2.0 * x[:, 0] * x[:, 1] + 0.1 * x[:, 4]
    model = fit_one(x, y, names, "int(8,8)", "area_um2", FitOptions(degrees=(1, 2)))
    assert model.inputs == ("act_bits", "weight_bits", "spad_filter")
    raw = pm.raw_coefficients(model)
    expected = {"1": 5.0, "act_bits weight_bits": 2.0, "spad_filter": 0.1}
    for name, value in raw.items():
        assert value == pytest.approx(expected.get(name, 0.0), abs=1e-7), name


def test_pooled_cv_scores_of_an_exact_and_of_a_pure_noise_target() -> None:
    # An exactly linear target: every out-of-fold prediction is exact, so the pooled R2 is
    # 1 and the pooled MAPE 0.
    x = np.linspace(1.0, 10.0, 20)
    exact = fit_one(x.reshape(-1, 1), 5.0 + 2.0 * x, ("spad_psum",), "int8", "area_um2")
    assert exact.cv.r2_pooled == pytest.approx(1.0, abs=1e-9)
    assert exact.cv.mape_pooled == pytest.approx(0.0, abs=1e-6)
    # Pure noise around a constant: the chosen model is the training mean, and predicting
    # each held-out row by the mean of the other rows is worse than the mean of all rows,
    # so the pooled R2 is negative (leave-k-out mean predictors always are); its MAPE is
    # about the noise's relative size (0.1 / 7 = 1.4 %, mean |N(0,1)| = 0.8: ~1.2 %).
    rng = np.random.default_rng(5)
    noise = fit_one(
        x.reshape(-1, 1), 7.0 + rng.normal(0.0, 0.1, 20), ("spad_psum",), "int8", "leakage_mw"
    )
    assert noise.inputs == ()
    assert noise.cv.r2_pooled < 0.0
    assert 0.5 < noise.cv.mape_pooled < 2.5
    # the scores survive the JSON round trip
    again = pm.model_from_dict(json.loads(json.dumps(pm.model_to_dict(exact))))
    assert again.cv.r2_pooled == exact.cv.r2_pooled


def test_pe_and_shell_rows_in_one_dataset() -> None:
    # PE rows (no array shape) measure the PE's targets; shell rows (an array shape, the
    # scratchpads fixed) measure the shell's. Each target is fitted on the features its rows
    # have, and the shell targets are linear only, so a law linear in rows, cols and PEs is
    # recovered and extrapolates exactly from 4 x 4 to 32 x 32.
    def shell_area(r: int, c: int) -> float:
        return 2000.0 + 40.0 * r + 25.0 * c + 310.0 * r * c

    shells = [
        {
            "pe": "int8",
            "spad_ifmap": 16,
            "spad_filter": 128,
            "spad_psum": 24,
            "rows": r,
            "cols": c,
            "pes": r * c,
            "shell_area_um2": shell_area(r, c),
        }
        for r, c in ((2, 2), (2, 4), (4, 2), (3, 3), (4, 4), (3, 4))
    ]
    # as in a dataset CSV, every row has every column
    pes = [
        {**row, "rows": "", "cols": "", "pes": "", "shell_area_um2": ""} for row in _grid_rows()
    ]
    models = fit_models(pes + shells, options=FitOptions(linear_features=()))
    area = models.get("int8", "area_um2")
    assert area.inputs == ("spad_filter", "spad_psum")
    shell = models.get("int8", "shell_area_um2")
    assert shell.degree == 1
    assert set(shell.inputs) <= {"rows", "cols", "pes"}
    point = {"rows": 32.0, "cols": 32.0, "pes": 1024.0}
    assert pm.predict(shell, point) == pytest.approx(shell_area(32, 32), rel=1e-9)
    # A feature missing from only some rows of a target is an error, not silently dropped.
    broken = [dict(r) for r in shells]
    broken[0]["cols"] = ""
    with pytest.raises(ValueError, match="cols"):
        fit_models(pes + broken, options=FitOptions(linear_features=()))
    # By default a shell target may use only the number of PEs: on the default grid's three
    # shapes a free choice among rows, cols and PEs would follow the noise.
    default = fit_models(pes + shells).get("int8", "shell_area_um2")
    assert set(default.inputs) <= {"pes", "pes_log2_pes"}
    assert default.degree == 1


def test_a_shell_law_in_pes_log2_pes_extrapolates() -> None:
    # Shell logic per PE that grows with the PE ID's width: area = 60000 + 1400 pes log2(pes)
    # um^2 on the default grid's three shapes is recovered from the derived feature
    # (`with_derived`; the CSV has no such column) and extrapolates to Eyeriss's 12 x 14.
    def law(pes: int) -> float:
        return 60000.0 + 1400.0 * pes * math.log2(pes)

    shells = [
        {
            "pe": "int8",
            "rows": str(r),
            "cols": str(c),
            "pes": str(r * c),
            "shell_area_um2": law(r * c),
        }
        for r, c in ((2, 2), (2, 4), (4, 4))
    ]
    model = fit_models(shells).get("int8", "shell_area_um2")
    assert model.inputs == ("pes_log2_pes",)
    features = table.accelerator_features(
        Accelerator(
            name="eyeriss",
            pe=PEType(family="int", act_bits=8, weight_bits=8),
            rows=12,
            cols=14,
            spad_ifmap=12,
            spad_filter=224,
            spad_psum=24,
            glb_bytes=110592,
            dram_gb_per_s=1.0,
            clock_mhz=200.0,
        )
    )
    assert features["pes_log2_pes"] == pytest.approx(168 * math.log2(168))
    assert pm.predict(model, features) == pytest.approx(law(168), rel=1e-9)
    # the actual-vs-predicted plot derives the feature from the rows as well
    models = fit_models(shells)
    actual, predicted = actual_and_predicted(shells, models, "int8", "shell_area_um2")
    assert predicted == pytest.approx(actual, rel=1e-9)
