"""Polynomial PPA models as plain data: load, save and evaluate them with numpy only.

A `PolyModel` predicts one target (area, power, fmax, an energy per access) of one PE type
from a few numeric features (bit widths, scratchpad sizes). It is a polynomial in the
*scaled* features ``x_j / scales[j]``: ``intercept + sum_t coef[t] * prod_j (x_j/s_j)^p[t][j]``
where ``p = powers``. Scaling by the largest magnitude seen in the data keeps every monomial
in [-1, 1], which keeps the fit well conditioned and makes ridge penalties comparable across
features; `raw_coefficients` converts back to monomials of the unscaled features.

Models are fitted by `qappac.ppa.fit` (the only module that imports scikit-learn) and stored
as JSON, never as pickles; predicting needs nothing but numpy, so `qappac build` stays light.
The JSON layout is described in docs/ppa.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

MODELS_FORMAT = "qappac-ppa-models/1"
"""The ``format`` tag of a models JSON file; bumped when the layout changes."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class CVScore:
    """Out-of-fold scores of the chosen model: one entry per fold (k-fold CV), and the same
    scores over all out-of-fold predictions pooled (every row predicted once, by the model
    that did not see it). With few rows per fold a per-fold R2 mostly measures how spread
    the held-out rows happen to be; the pooled R2 does not."""

    r2: tuple[float, ...] = ()
    mape: tuple[float, ...] = ()
    r2_pooled: float = float("nan")
    mape_pooled: float = float("nan")

    @property
    def r2_mean(self) -> float:
        return float(np.mean(self.r2)) if self.r2 else float("nan")

    @property
    def mape_mean(self) -> float:
        return float(np.mean(self.mape)) if self.mape else float("nan")


@dataclass(frozen=True)
class PolyModel:
    """One fitted polynomial: target of one PE type as a function of named features.

    Invariants: ``len(scales) == len(inputs)``; every row of ``powers`` has ``len(inputs)``
    non-negative entries summing to at most ``degree``; ``len(coef) == len(powers)``.
    """

    pe: str
    target: str
    inputs: tuple[str, ...]
    scales: tuple[float, ...]
    degree: int
    alpha: float
    powers: tuple[tuple[int, ...], ...]
    coef: tuple[float, ...]
    intercept: float
    rows: int
    cv: CVScore = field(default_factory=CVScore)

    @property
    def term_names(self) -> tuple[str, ...]:
        """Readable monomials of the raw features, e.g. ``act_bits^2 spad_filter``."""
        return tuple(term_name(self.inputs, p) for p in self.powers)


@dataclass(frozen=True)
class ModelSet:
    """All fitted models of one dataset, with the dataset's provenance.

    ``models[pe][target]`` is a `PolyModel`; ``options`` records the search space of the fit
    (degrees, alphas, folds) so a refit can be reproduced.
    """

    dataset_sha256: str
    rows: int
    models: Mapping[str, Mapping[str, PolyModel]]
    options: Mapping[str, Any] = field(default_factory=dict)

    def has(self, pe: str, target: str) -> bool:
        """Whether there is a model of `target` for PE type `pe`."""
        return target in self.models.get(pe, {})

    def get(self, pe: str, target: str) -> PolyModel:
        """The model of `target` for PE type `pe` (its label, e.g. ``int8``)."""
        try:
            return self.models[pe][target]
        except KeyError:
            known = ", ".join(f"{p}/{t}" for p in sorted(self.models) for t in self.models[p])
            raise KeyError(f"no model for {pe}/{target} (have: {known})") from None


DERIVED_FEATURES: tuple[str, ...] = ("pes_log2_pes",)
"""Features computed from others wherever features are read (`with_derived`): both the
fit's dataset rows and the feature dicts of predictions get them, so a dataset never needs
the column. ``pes_log2_pes = pes x log2(pes)``: the shell's logic per PE grows with the
width of a PE's ID and of the selects among PEs (log2 of the PE count); the characterized
shells' area is linear in it (docs/validation.md)."""


def with_derived(features: Mapping[str, Any]) -> dict[str, Any]:
    """`features` plus `DERIVED_FEATURES` computable from them (strings, as read from a
    CSV, are accepted); a derived feature is ``""`` where its inputs are missing or empty.

    >>> with_derived({"pes": "8"})["pes_log2_pes"]
    24.0
    >>> with_derived({"pes": ""})["pes_log2_pes"]
    ''
    >>> "pes_log2_pes" in with_derived({"area_um2": 1.0})
    False
    """
    out = dict(features)
    if "pes" in features:
        cell = features["pes"]
        pes = float(cell) if cell not in (None, "") else None
        out["pes_log2_pes"] = pes * float(np.log2(pes)) if pes else ""
    return out


def term_name(inputs: Sequence[str], powers: Sequence[int]) -> str:
    """The monomial ``prod inputs^powers`` spelled like scikit-learn's feature names.

    >>> term_name(("a", "b"), (2, 1))
    'a^2 b'
    """
    parts = [
        name if p == 1 else f"{name}^{p}" for name, p in zip(inputs, powers, strict=True) if p
    ]
    return " ".join(parts) or "1"


def predict(model: PolyModel, features: Mapping[str, float]) -> float:
    """The model's value at one point; `features` must name every input of the model.

    >>> m = PolyModel("int8", "area_um2", ("a",), (2.0,), 2, 0.0, ((1,), (2,)), (3.0, 4.0),
    ...               1.0, 10)
    >>> predict(m, {"a": 1.0})  # 1 + 3 * (1/2) + 4 * (1/2)^2
    3.5
    """
    arrays = {name: np.asarray([float(features[name])]) for name in model.inputs}
    return float(np.ravel(predict_many(model, arrays))[0])


def predict_many(model: PolyModel, arrays: Mapping[str, npt.ArrayLike]) -> FloatArray:
    """The model's values at many points: one array (all of the same shape) per input."""
    missing = [name for name in model.inputs if name not in arrays]
    if missing:
        raise KeyError(f"{model.pe}/{model.target}: missing features {', '.join(missing)}")
    columns = [
        np.asarray(arrays[name], dtype=np.float64) / scale
        for name, scale in zip(model.inputs, model.scales, strict=True)
    ]
    shape = np.broadcast_shapes(*(c.shape for c in columns)) if columns else ()
    result = np.full(shape, model.intercept, dtype=np.float64)
    for powers, coef in zip(model.powers, model.coef, strict=True):
        term = np.full(shape, coef, dtype=np.float64)
        for column, p in zip(columns, powers, strict=True):
            if p:
                term = term * column**p
        result = result + term
    return result


def raw_coefficients(model: PolyModel) -> dict[str, float]:
    """Coefficients of the monomials of the *unscaled* features, keyed by term name.

    The constant term is keyed ``"1"``. Dividing by ``prod scales^powers`` undoes the scaling.
    """
    raw = {"1": model.intercept}
    for powers, coef in zip(model.powers, model.coef, strict=True):
        factor = float(np.prod([s**p for s, p in zip(model.scales, powers, strict=True)]))
        raw[term_name(model.inputs, powers)] = coef / factor
    return raw


# --------------------------------------------------------------------------- JSON


def model_to_dict(model: PolyModel) -> dict[str, Any]:
    """A JSON-ready dict of one model (floats kept exact: JSON prints their repr)."""
    return {
        "pe": model.pe,
        "target": model.target,
        "inputs": list(model.inputs),
        "scales": list(model.scales),
        "degree": model.degree,
        "alpha": model.alpha,
        "terms": list(model.term_names),
        "powers": [list(p) for p in model.powers],
        "coef": list(model.coef),
        "intercept": model.intercept,
        "rows": model.rows,
        "cv": {
            "folds": len(model.cv.r2),
            "r2": [_json_float(v) for v in model.cv.r2],
            "mape": [_json_float(v) for v in model.cv.mape],
            "r2_mean": _json_float(model.cv.r2_mean),
            "mape_mean": _json_float(model.cv.mape_mean),
            "r2_pooled": _json_float(model.cv.r2_pooled),
            "mape_pooled": _json_float(model.cv.mape_pooled),
        },
    }


def model_from_dict(data: Mapping[str, Any]) -> PolyModel:
    """The inverse of `model_to_dict` (``terms`` and the CV means are derived, not read)."""
    cv = data.get("cv", {})
    return PolyModel(
        pe=str(data["pe"]),
        target=str(data["target"]),
        inputs=tuple(str(n) for n in data["inputs"]),
        scales=tuple(float(s) for s in data["scales"]),
        degree=int(data["degree"]),
        alpha=float(data["alpha"]),
        powers=tuple(tuple(int(p) for p in row) for row in data["powers"]),
        coef=tuple(float(c) for c in data["coef"]),
        intercept=float(data["intercept"]),
        rows=int(data["rows"]),
        cv=CVScore(
            r2=tuple(_float_or_nan(v) for v in cv.get("r2", [])),
            mape=tuple(_float_or_nan(v) for v in cv.get("mape", [])),
            r2_pooled=_float_or_nan(cv.get("r2_pooled")),
            mape_pooled=_float_or_nan(cv.get("mape_pooled")),
        ),
    )


def modelset_to_dict(models: ModelSet) -> dict[str, Any]:
    """A JSON-ready dict of a model set, with PE types and targets in sorted order."""
    return {
        "format": MODELS_FORMAT,
        "dataset_sha256": models.dataset_sha256,
        "rows": models.rows,
        "options": dict(sorted(models.options.items())),
        "models": {
            pe: {t: model_to_dict(models.models[pe][t]) for t in sorted(models.models[pe])}
            for pe in sorted(models.models)
        },
    }


def modelset_from_dict(data: Mapping[str, Any]) -> ModelSet:
    """The inverse of `modelset_to_dict`; rejects files of another format."""
    if data.get("format") != MODELS_FORMAT:
        raise ValueError(f"not a qappac models file (format {data.get('format')!r})")
    return ModelSet(
        dataset_sha256=str(data["dataset_sha256"]),
        rows=int(data["rows"]),
        models={
            pe: {t: model_from_dict(m) for t, m in targets.items()}
            for pe, targets in data["models"].items()
        },
        options=dict(data.get("options", {})),
    )


def dumps(models: ModelSet) -> str:
    """The JSON text of a model set: sorted, indented, newline-terminated, deterministic."""
    return json.dumps(modelset_to_dict(models), indent=1, allow_nan=False) + "\n"


def loads(text: str) -> ModelSet:
    """A model set from its JSON text."""
    return modelset_from_dict(json.loads(text))


def save(models: ModelSet, path: str | Path) -> None:
    """Write a model set as JSON."""
    Path(path).write_text(dumps(models), encoding="utf-8")


def load(path: str | Path) -> ModelSet:
    """Read a model set written by `save`."""
    return loads(Path(path).read_text(encoding="utf-8"))


def _json_float(value: float) -> float | None:
    """JSON has no NaN: an undefined score (R2 of a constant fold) is written as null."""
    return None if not np.isfinite(value) else float(value)


def _float_or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
