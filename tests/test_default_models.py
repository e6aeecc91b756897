"""The PPA models that ship with qappac are reproducible from the dataset beside them: a refit
gives the same coefficients (relative 1e-9: linear algebra libraries differ between machines),
and the models record the dataset's hash, size and cross-validation scores."""

from __future__ import annotations

import hashlib
import math

import pytest

from qappac.build import default_models_path
from qappac.ppa.fit import fit_csv
from qappac.ppa.models import load

MODELS = default_models_path()
DATASET = MODELS.with_name("dataset.csv")


def test_models_name_the_dataset_they_were_fitted_on() -> None:
    models = load(MODELS)
    data = DATASET.read_bytes()
    assert models.dataset_sha256 == hashlib.sha256(data).hexdigest()
    rows = [line for line in data.decode().splitlines()[1:] if line.strip()]
    assert models.rows == len(rows)
    # every PE type of the bundled design space has every target
    for pe in ("fp32", "int16", "int(12,12)", "int8", "int(8,4)", "lightpe1", "lightpe2"):
        for target in ("area_um2", "power_mw", "leakage_mw", "fmax_mhz", "energy_mac_pj"):
            assert models.get(pe, target).rows > 0


def test_refit_gives_the_shipped_coefficients(tmp_path) -> None:  # type: ignore[no-untyped-def]
    shipped = load(MODELS)
    refit = fit_csv(DATASET, tmp_path / "models.json")
    assert sorted(refit.models) == sorted(shipped.models)
    for pe, targets in shipped.models.items():
        assert sorted(refit.models[pe]) == sorted(targets)
        for target, model in targets.items():
            again = refit.models[pe][target]
            assert (again.inputs, again.degree, again.powers) == (
                model.inputs,
                model.degree,
                model.powers,
            ), (pe, target)
            assert again.alpha == model.alpha
            for a, b in zip(
                (*again.coef, again.intercept), (*model.coef, model.intercept), strict=True
            ):
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (pe, target)
            assert again.cv.r2 == pytest.approx(model.cv.r2, rel=1e-9, abs=1e-12, nan_ok=True)
