"""Measured vs predicted: `Prediction` (what theory says) and `Comparison` (one report row)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from .fit import FitResult


@dataclass(frozen=True)
class Prediction:
    """A theory prediction for a decay exponent (L ∝ x^(-value)).

    Attributes:
        value: the asymptotic exponent.
        regime: short name of the regime it holds in (e.g. "weak superposition").
        assumptions: conditions of validity, as sentences.
        reference: paper and equation, printed in the report row.
    """

    value: float
    regime: str = ""
    assumptions: tuple[str, ...] = ()
    reference: str = ""


@dataclass
class Comparison:
    """One report row. Field names follow the report.json schema of the foundation issue.

    `theory_window_slope` is the theory *curve* fitted over the same window at the same sizes (None if the
    experiment has no curve); when present the verdict uses it. `plot` holds what the generic figure needs:
    {"x": [...], "y": [[per seed]...], "theory_x": [...], "theory_y": [...]} (all optional but x, y).
    """

    quantity: str
    axis: str
    measured_exponent: float
    ci95: tuple[float, float]
    theory_exponent: float | None
    abs_error: float | None
    tolerance: float
    passed: bool
    fit_window: tuple[float, float]
    n_points: int
    theory_window_slope: float | None = None
    reference: str = ""
    regime: str = ""
    note: str = ""
    prefactor: float = float("nan")
    plot: dict = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["pass"] = d.pop("passed")
        d["ci95"] = list(d["ci95"])
        d["fit_window"] = list(d["fit_window"])
        return _clean(d)


def _clean(obj):
    """JSON-safe: NaN/inf -> None, numpy/tuples -> python."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def compare(
    fit: FitResult,
    prediction: Prediction | None,
    *,
    quantity: str,
    axis: str,
    tolerance: float,
    theory_window_slope: float | None = None,
    note: str = "",
    theory_curve: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Comparison:
    """Hold a fitted exponent against theory.

    Verdict: pass iff |measured − target| ≤ tolerance, target = `theory_window_slope` when given (the
    theory curve's slope over the fit window) else `prediction.value`. With `prediction=None` the row is
    descriptive (a measurement with no theory): it passes iff the fit is finite.

    Args:
        fit: a `FitResult` from `fit_power_law`.
        prediction: the theory exponent, or None.
        quantity, axis: labels, e.g. "loss", "width m".
        tolerance: declared by the experiment (exponent units).
        theory_window_slope: slope of the theory curve over the same window.
        theory_curve: (x, L(x)) of the theory curve for the figure.
    """
    if not (tolerance >= 0):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    measured = float(fit.exponent)
    if prediction is None:
        target, theory = None, None
        passed = math.isfinite(measured)
        err = None
    else:
        theory = float(prediction.value)
        target = theory if theory_window_slope is None else float(theory_window_slope)
        err = abs(measured - target)
        passed = bool(err <= tolerance)
    plot = {"x": list(map(float, fit.x)), "y": np.asarray(fit.y).tolist(), "fit_lo_hi": list(fit.window),
            "agg": fit.agg}
    if theory_curve is not None:
        plot["theory_x"] = list(map(float, theory_curve[0]))
        plot["theory_y"] = list(map(float, theory_curve[1]))
    return Comparison(
        quantity=quantity,
        axis=axis,
        measured_exponent=measured,
        ci95=(float(fit.ci95[0]), float(fit.ci95[1])),
        theory_exponent=theory,
        abs_error=err,
        tolerance=float(tolerance),
        passed=passed,
        fit_window=(float(fit.window[0]), float(fit.window[1])),
        n_points=int(fit.n_points),
        theory_window_slope=None if theory_window_slope is None else float(theory_window_slope),
        reference=prediction.reference if prediction else "",
        regime=prediction.regime if prediction else "",
        note=note,
        prefactor=float(fit.prefactor),
        plot=plot,
    )
