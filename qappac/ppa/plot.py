"""Actual-versus-predicted plots of fitted PPA models (the paper's Figure 2).

matplotlib is imported lazily with the Agg back end; the output bytes are deterministic
(fixed SVG hash salt, no date or software metadata).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qappac.ppa.models import ModelSet, predict_many, with_derived


def actual_and_predicted(
    rows: Sequence[Mapping[str, Any]], models: ModelSet, pe: str, target: str
) -> tuple[np.ndarray, np.ndarray]:
    """Actual and in-sample predicted values of `target` over the rows of PE type `pe`."""
    model = models.get(pe, target)
    keep = [
        with_derived(r) for r in rows if str(r.get("pe", "all")) == pe and _finite(r.get(target))
    ]
    arrays = {name: np.array([float(r[name]) for r in keep]) for name in model.inputs}
    actual = np.array([float(r[target]) for r in keep])
    predicted = (
        predict_many(model, arrays) if model.inputs else np.full(len(keep), model.intercept)
    )
    return actual, np.broadcast_to(predicted, actual.shape).copy()


def plot_actual_vs_predicted(
    rows: Sequence[Mapping[str, Any]], models: ModelSet, path: str | Path
) -> None:
    """One panel per target: actual (x) against predicted (y), one colour per PE type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "qappac"
    targets = sorted({t for per_pe in models.models.values() for t in per_pe})
    cols = min(3, len(targets)) or 1
    nrows = max(1, math.ceil(len(targets) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.0 * cols, 3.6 * nrows), squeeze=False)
    for ax, target in zip(axes.flat, targets, strict=False):
        for pe in sorted(models.models):
            if target not in models.models[pe]:
                continue
            actual, predicted = actual_and_predicted(rows, models, pe, target)
            ax.scatter(actual, predicted, s=12, label=pe)
        low, high = ax.get_xlim()
        ax.plot([low, high], [low, high], color="black", linewidth=0.8)
        ax.set_title(target)
        ax.set_xlabel("actual")
        ax.set_ylabel("predicted")
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(targets) :]:
        ax.set_visible(False)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, metadata=_metadata(out.suffix.lower()))
    plt.close(fig)


def _metadata(suffix: str) -> dict[str, Any]:
    if suffix == ".svg":
        return {"Date": None, "Creator": None}
    if suffix == ".pdf":
        return {"CreationDate": None, "Creator": None, "Producer": None}
    return {"Software": None}


def _finite(cell: Any) -> bool:
    try:
        return math.isfinite(float(cell))
    except (TypeError, ValueError):
        return False
