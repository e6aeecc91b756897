"""Fit polynomial PPA models to a characterization dataset, choosing them by k-fold CV.

This is the only module of qappac that imports scikit-learn (lazily, inside the functions
that need it). For every PE type and every target column it searches polynomial models
``PolynomialFeatures(degree) -> LinearRegression`` (``alpha == 0``) or ``-> Ridge(alpha)``
over every subset of the features that vary within that PE type (a greedy forward search
when there are many), scores each by its mean squared error over deterministic folds
(``KFold(shuffle=True, random_state=0)``), and keeps the *simplest* model whose CV error is
within one standard error of the best (Hastie, Tibshirani, Friedman, ESL 7.10). The chosen
model is refitted on all rows and returned as plain data (`qappac.ppa.models.PolyModel`),
which `qappac.ppa.models.predict` evaluates with numpy alone. The dataset's CSV format is
described in docs/ppa.md.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from qappac.ppa.models import CVScore, ModelSet, PolyModel, save, with_derived

FloatArray = npt.NDArray[np.float64]

PE_COLUMN = "pe"
"""The column naming the PE type (its label, e.g. ``int8``); one model set per value."""

DEFAULT_FEATURES = (
    "act_bits",
    "weight_bits",
    "product_bits",
    "acc_bits",
    "spad_ifmap",
    "spad_filter",
    "spad_psum",
    "rows",
    "cols",
    "pes",
    "pes_log2_pes",
)
"""Feature columns used when present in the dataset and no explicit list is given
(``pes_log2_pes`` is derived from ``pes``, `qappac.ppa.models.with_derived`)."""

SHELL_TARGETS = (
    "shell_area_um2",
    "shell_power_mw",
    "shell_dynamic_mw",
    "shell_leakage_mw",
    "shell_fmax_mhz",
    "shell_energy_cycle_pj",
)
"""What a shell job of `qappac.characterize` measures (shell rows of a dataset)."""

DEFAULT_TARGETS = (
    "area_um2",
    "power_mw",
    "dynamic_mw",
    "leakage_mw",
    "fmax_mhz",
    *SHELL_TARGETS,
)
"""Target columns fitted when present; every ``energy_*_pj`` column is a target as well."""

_ENERGY_TARGET = re.compile(r"^energy_\w+_pj$")


@dataclass(frozen=True)
class FitOptions:
    """The model search space and the selection rule.

    Selection follows the one-standard-error rule: a candidate whose CV mean squared error
    (mean over folds) exceeds the best one's by at most the larger of that best's standard
    error and ``tolerance`` times its value (plus ``exact_floor`` times the target's variance,
    so that exact fits tie) counts as good as the best; among those the one with the fewest
    terms wins, then the lowest error.
    ``max_exhaustive``: up to this many varying features every subset is tried, beyond it a
    greedy forward selection. ``linear_targets`` are fitted with degree 1 only: the shell
    models are characterized on arrays up to 4 x 4 and used up to 32 x 32, where only a
    model linear in rows, columns and PEs (buses per row and column, logic per PE)
    extrapolates sanely. ``linear_features`` (when not empty) are the only features those
    targets may use: the default grid measures three shapes per PE type (2 x 2, 2 x 4,
    4 x 4), enough to tell a cost per PE from a fixed cost and no more; with one feature
    free to choose among rows, cols and PEs, three points would pick whichever fits their
    noise. A dataset with more shapes can set it to ``()`` and let CV choose.
    """

    degrees: tuple[int, ...] = (1, 2, 3)
    alphas: tuple[float, ...] = (0.0, 1e-6, 1e-4, 1e-2, 1.0)
    folds: int = 5
    tolerance: float = 0.02
    exact_floor: float = 1e-10
    max_exhaustive: int = 4
    linear_targets: tuple[str, ...] = SHELL_TARGETS
    linear_features: tuple[str, ...] = ("pes", "pes_log2_pes")


@dataclass(frozen=True)
class _Candidate:
    inputs: tuple[int, ...]
    degree: int
    alpha: float
    n_terms: int
    mse: float
    mse_se: float = 0.0
    r2: tuple[float, ...] = field(default=())
    mape: tuple[float, ...] = field(default=())
    r2_pooled: float = math.nan
    mape_pooled: float = math.nan


# --------------------------------------------------------------------------- public API


def fit_models(
    rows: Sequence[Mapping[str, Any]],
    features: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    options: FitOptions | None = None,
    dataset_sha256: str | None = None,
) -> ModelSet:
    """Fit one polynomial model per PE type and target column of `rows`.

    `rows` are dicts (e.g. read from the dataset CSV) with a ``pe`` column, numeric feature
    columns and target columns; empty or non-finite target cells (a failed job) are skipped
    for that target. Without `features`/`targets`, the known names present in the first
    row are used (`DEFAULT_FEATURES`, `DEFAULT_TARGETS` and ``energy_*_pj``).
    `dataset_sha256` defaults to the hash of the rows' canonical JSON.
    """
    opts = options or FitOptions()
    if not rows:
        raise ValueError("the dataset has no rows")
    digest = (
        dataset_sha256
        or hashlib.sha256(
            json.dumps([dict(r) for r in rows], sort_keys=True, default=str).encode()
        ).hexdigest()
    )
    rows = [with_derived(row) for row in rows]
    header = list(rows[0])
    feats = tuple(features) if features is not None else default_features(header)
    tgts = tuple(targets) if targets is not None else default_targets(header)
    if not tgts:
        raise ValueError("the dataset has no target column (e.g. area_um2, power_mw)")
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row.get(PE_COLUMN, "all")), []).append(row)
    models: dict[str, dict[str, PolyModel]] = {}
    for pe in sorted(groups):
        for target in tgts:
            used = _present_features(groups[pe], feats, target)
            if target in opts.linear_targets and opts.linear_features:
                used = tuple(f for f in used if f in opts.linear_features)
            x, y = _matrix(groups[pe], used, target)
            if len(y):
                models.setdefault(pe, {})[target] = fit_one(x, y, used, pe, target, opts)
    return ModelSet(
        dataset_sha256=digest,
        rows=len(rows),
        models=models,
        options={**_options_dict(opts), "features": list(feats), "targets": list(tgts)},
    )


def fit_csv(
    path: str | Path,
    out_path: str | Path,
    plot_path: str | Path | None = None,
    options: FitOptions | None = None,
    features: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
) -> ModelSet:
    """Fit the dataset CSV at `path`, write the models JSON to `out_path` and return them.

    With `plot_path`, also draw actual against predicted values per target, one colour per
    PE type (the paper's Figure 2); the format follows the suffix (``.svg``, ``.png``).
    """
    data = Path(path).read_bytes()
    rows = read_dataset(path)
    models = fit_models(
        rows, features, targets, options, dataset_sha256=hashlib.sha256(data).hexdigest()
    )
    save(models, out_path)
    if plot_path is not None:
        from qappac.ppa.plot import plot_actual_vs_predicted

        plot_actual_vs_predicted(rows, models, plot_path)
    return models


def read_dataset(path: str | Path) -> list[dict[str, str]]:
    """The rows of a dataset CSV as dicts of strings (header = column names)."""
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def default_features(header: Iterable[str]) -> tuple[str, ...]:
    """The known feature columns present in `header`, in `DEFAULT_FEATURES` order."""
    present = set(header)
    return tuple(f for f in DEFAULT_FEATURES if f in present)


def default_targets(header: Iterable[str]) -> tuple[str, ...]:
    """The known target columns present in `header`: `DEFAULT_TARGETS`, then energies."""
    names = list(header)
    known = [t for t in DEFAULT_TARGETS if t in names]
    return tuple(known + sorted(n for n in names if _ENERGY_TARGET.match(n)))


def fit_one(
    x: FloatArray,
    y: FloatArray,
    features: Sequence[str],
    pe: str,
    target: str,
    options: FitOptions | None = None,
) -> PolyModel:
    """Choose and fit the polynomial model of `y` (n) from `x` (n x len(features)).

    Features that are constant over the rows are left out (they only shift the intercept).
    """
    opts = options or FitOptions()
    if target in opts.linear_targets:
        opts = replace(opts, degrees=(1,))
    x = np.asarray(x, dtype=np.float64).reshape(len(y), len(features))
    y = np.asarray(y, dtype=np.float64)
    order = np.lexsort(np.column_stack([x, y]).T[::-1])  # canonical row order
    x, y = x[order], y[order]
    varying = tuple(j for j in range(x.shape[1]) if np.ptp(x[:, j]) > 0)
    scales = np.array([_scale(x[:, j]) for j in range(x.shape[1])])
    xs = x / scales
    folds = _folds(len(y), opts.folds)
    candidates = _search(xs, y, varying, folds, opts)
    best = _select(candidates, float(np.var(y)), opts)
    return _final(xs, y, best, features, scales, pe, target)


# --------------------------------------------------------------------------- search


def _search(
    xs: FloatArray,
    y: FloatArray,
    varying: tuple[int, ...],
    folds: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]],
    opts: FitOptions,
) -> list[_Candidate]:
    """Score the constant model and polynomial candidates over feature subsets."""
    done: list[_Candidate] = [_score(xs, y, (), 0, 0.0, folds)]
    if not folds or not varying:
        return done
    if len(varying) <= opts.max_exhaustive:
        for k in range(1, len(varying) + 1):
            for subset in itertools.combinations(varying, k):
                done += _score_subset(xs, y, subset, folds, opts)
        return done
    chosen: tuple[int, ...] = ()
    best = done[0].mse
    while len(chosen) < len(varying):
        trials = {
            j: _score_subset(xs, y, tuple(sorted((*chosen, j))), folds, opts)
            for j in varying
            if j not in chosen
        }
        done += [c for cs in trials.values() for c in cs]
        j, mse = min(((j, min(c.mse for c in cs)) for j, cs in trials.items()), key=_by_mse)
        if not mse < best * (1 - opts.tolerance):
            break
        chosen, best = tuple(sorted((*chosen, j))), mse
    return done


def _by_mse(item: tuple[int, float]) -> tuple[float, int]:
    return (item[1], item[0])


def _score_subset(
    xs: FloatArray,
    y: FloatArray,
    subset: tuple[int, ...],
    folds: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]],
    opts: FitOptions,
) -> list[_Candidate]:
    smallest_train = min(len(train) for train, _ in folds)
    out = []
    for degree in opts.degrees:
        n_terms = math.comb(len(subset) + degree, degree) - 1
        for alpha in opts.alphas:
            if alpha == 0.0 and n_terms + 1 > smallest_train:
                continue  # underdetermined least squares: CV would only measure noise
            out.append(_score(xs, y, subset, degree, alpha, folds))
    return out


def _score(
    xs: FloatArray,
    y: FloatArray,
    subset: tuple[int, ...],
    degree: int,
    alpha: float,
    folds: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]],
) -> _Candidate:
    """Out-of-fold predictions of one candidate, its pooled MSE and per-fold R2 and MAPE."""
    terms = _poly(xs, subset, degree)
    pred = np.empty_like(y)
    r2, mape, fold_mse = [], [], []
    for train, test in folds:
        intercept, coef = _regress(terms[train], y[train], alpha)
        pred[test] = intercept + terms[test] @ coef
        r2.append(_r2(y[test], pred[test]))
        mape.append(_mape(y[test], pred[test]))
        fold_mse.append(float(np.mean((pred[test] - y[test]) ** 2)))
    if not folds:
        return _Candidate(subset, degree, alpha, terms.shape[1], math.inf)
    mse = float(np.mean(fold_mse))
    se = float(np.std(fold_mse, ddof=1) / math.sqrt(len(fold_mse))) if len(folds) > 1 else 0.0
    return _Candidate(
        subset,
        degree,
        alpha,
        terms.shape[1],
        mse,
        se,
        tuple(r2),
        tuple(mape),
        _r2(y, pred),
        _mape(y, pred),
    )


def _select(candidates: list[_Candidate], variance: float, opts: FitOptions) -> _Candidate:
    """The simplest candidate whose CV error is within one standard error of the best."""
    best = min(candidates, key=lambda c: c.mse)
    if not math.isfinite(best.mse):
        return candidates[0]
    slack = max(best.mse_se, opts.tolerance * best.mse)
    limit = best.mse + slack + opts.exact_floor * variance
    good = [c for c in candidates if c.mse <= limit]
    return min(good, key=lambda c: (c.n_terms, c.mse, c.degree, c.inputs, c.alpha))


def _final(
    xs: FloatArray,
    y: FloatArray,
    best: _Candidate,
    features: Sequence[str],
    scales: FloatArray,
    pe: str,
    target: str,
) -> PolyModel:
    """Refit the chosen candidate on every row and express it over its own inputs."""
    terms = _poly(xs, best.inputs, best.degree)
    intercept, coef = _regress(terms, y, best.alpha)
    powers = _powers(len(best.inputs), best.degree)
    return PolyModel(
        pe=pe,
        target=target,
        inputs=tuple(features[j] for j in best.inputs),
        scales=tuple(float(scales[j]) for j in best.inputs),
        degree=best.degree,
        alpha=best.alpha,
        powers=tuple(tuple(int(p) for p in row) for row in powers),
        coef=tuple(float(c) for c in coef),
        intercept=float(intercept),
        rows=len(y),
        cv=CVScore(
            r2=best.r2, mape=best.mape, r2_pooled=best.r2_pooled, mape_pooled=best.mape_pooled
        ),
    )


# --------------------------------------------------------------------------- scikit-learn


def _poly(xs: FloatArray, subset: tuple[int, ...], degree: int) -> FloatArray:
    """The monomials (no constant) of the chosen columns up to `degree`."""
    if not subset or degree == 0:
        return np.zeros((xs.shape[0], 0))
    from sklearn.preprocessing import PolynomialFeatures

    poly = PolynomialFeatures(degree=degree, include_bias=False)
    return np.asarray(poly.fit_transform(xs[:, list(subset)]), dtype=np.float64)


def _powers(n_inputs: int, degree: int) -> npt.NDArray[np.int64]:
    if n_inputs == 0 or degree == 0:
        return np.zeros((0, n_inputs), dtype=np.int64)
    from sklearn.preprocessing import PolynomialFeatures

    poly = PolynomialFeatures(degree=degree, include_bias=False).fit(np.zeros((1, n_inputs)))
    return np.asarray(poly.powers_, dtype=np.int64)


def _regress(terms: FloatArray, y: FloatArray, alpha: float) -> tuple[float, FloatArray]:
    """Intercept and coefficients of least squares (alpha 0) or ridge regression."""
    if terms.shape[1] == 0:
        return float(np.mean(y)), np.zeros(0)
    from sklearn.linear_model import LinearRegression, Ridge

    model = LinearRegression() if alpha == 0.0 else Ridge(alpha=alpha)
    model.fit(terms, y)
    return float(model.intercept_), np.asarray(model.coef_, dtype=np.float64)


def _folds(n: int, k: int) -> list[tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]]:
    """Deterministic shuffled k-fold splits (no CV below 3 rows)."""
    if n < 3:
        return []
    from sklearn.model_selection import KFold

    splitter = KFold(n_splits=min(k, n), shuffle=True, random_state=0)
    return [(train, test) for train, test in splitter.split(np.zeros((n, 1)))]


# --------------------------------------------------------------------------- helpers


def _present_features(
    rows: Sequence[Mapping[str, Any]], features: Sequence[str], target: str
) -> tuple[str, ...]:
    """The features that have a value in at least one row of `target`: a dataset may hold
    several kinds of rows (PE rows without an array shape, shell rows with one), each
    measuring its own targets. A feature missing from only some of those rows stays, and
    `_matrix` reports those rows."""
    measured = [row for row in rows if _number(row.get(target)) is not None]
    return tuple(f for f in features if any(_number(row.get(f)) is not None for row in measured))


def _matrix(
    rows: Sequence[Mapping[str, Any]], features: Sequence[str], target: str
) -> tuple[FloatArray, FloatArray]:
    """Feature matrix and target vector of the rows whose target is a finite number."""
    xs, ys = [], []
    for row in rows:
        value = _number(row.get(target))
        if value is None:
            continue
        point = [_number(row.get(f)) for f in features]
        if any(p is None for p in point):
            missing = [f for f, p in zip(features, point, strict=True) if p is None]
            raise ValueError(f"row {dict(row)} has no numeric value for {', '.join(missing)}")
        xs.append(point)
        ys.append(value)
    return np.asarray(xs, dtype=np.float64).reshape(len(ys), len(features)), np.asarray(ys)


def _number(cell: Any) -> float | None:
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    try:
        value = float(cell)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _scale(column: FloatArray) -> float:
    largest = float(np.max(np.abs(column))) if len(column) else 0.0
    return largest if largest > 0 else 1.0


def _r2(actual: FloatArray, predicted: FloatArray) -> float:
    total = float(np.sum((actual - np.mean(actual)) ** 2))
    if len(actual) < 2 or total == 0.0:
        return math.nan
    return 1.0 - float(np.sum((actual - predicted) ** 2)) / total


def _mape(actual: FloatArray, predicted: FloatArray) -> float:
    """Mean absolute percentage error over the non-zero actual values, in percent."""
    nonzero = actual != 0
    if not np.any(nonzero):
        return math.nan
    rel = np.abs((predicted[nonzero] - actual[nonzero]) / actual[nonzero])
    return 100.0 * float(np.mean(rel))


def _options_dict(opts: FitOptions) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(opts).items()}
