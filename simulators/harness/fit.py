"""Power-law fits with recorded fit windows and bootstrap-over-seeds confidence intervals.

Conventions: exponents are decay rates, L ∝ x^(−exponent). `y` is `[S, X]` (S seeds × X sizes) or `[X]`.
The seed is the bootstrap unit (resample rows), never the point.

- `fit_power_law`: log-log least squares of the seed-aggregated curve over a fit window.
  The window is a rule ("auto", "all", or explicit x bounds), resolved once on the full data and
  recorded (rule and indices) in `FitResult`.
- `fit_saturating`: L = E + A·x^(−a), Huber loss on log residuals, multi-start L-BFGS (the Chinchilla
  recipe, Hoffmann et al. 2022, App. D.2).
- `window_slope`: the same regression applied to a theory curve at the same sizes and window.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy import optimize

AGGREGATES = ("mean_log", "median", "mean")


@dataclass
class FitResult:
    exponent: float
    prefactor: float
    ci95: tuple[float, float]
    window: tuple[float, float]          # x bounds used (inclusive)
    window_idx: tuple[int, int]          # indices into x (inclusive lo, exclusive hi)
    window_rule: str
    n_points: int
    n_seeds: int
    stderr: float                        # bootstrap sd (or OLS stderr for one seed)
    residual_rms: float                  # rms of log residuals in the window
    x: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)    # [S, X] as given
    curve: np.ndarray = field(repr=False)  # aggregated curve [X]
    agg: str = "mean_log"
    local_slopes: np.ndarray = field(default=None, repr=False)  # −dlogL/dlogx between neighbours


def aggregate(y: np.ndarray, agg: str = "mean_log") -> np.ndarray:
    """Seed aggregate of `y [S, X] -> [X]`: geometric mean ("mean_log"), median or mean (NaNs ignored)."""
    if agg not in AGGREGATES:
        raise ValueError(f"agg must be one of {AGGREGATES}, got {agg!r}")
    y = np.asarray(y, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if agg == "mean_log":
            return np.exp(np.nanmean(np.log(y), axis=0))
        if agg == "median":
            return np.nanmedian(y, axis=0)
        return np.nanmean(y, axis=0)


def local_slopes(x: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """Decay rate between neighbouring points: −Δlog L / Δlog x, shape [X-1]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.diff(np.log(curve)) / np.diff(np.log(x))


def auto_window(x, curve, *, min_points: int = 4, rel_tol: float = 0.3, abs_tol: float = 0.1) -> tuple[int, int]:
    """Trim the small-size transient and the finite-size plateau.

    Rule: start from all points; while more than `min_points` remain, look at the two end segments'
    local slopes; if the one further from the median local slope (of the remaining window) deviates by
    more than max(rel_tol·|median|, abs_tol), drop that end point. Returns (lo, hi) with hi exclusive.
    """
    s = local_slopes(np.asarray(x, float), np.asarray(curve, float))
    lo, hi = 0, len(x)
    while hi - lo > min_points:
        seg = s[lo:hi - 1]
        med = np.median(seg)
        tol = max(rel_tol * abs(med), abs_tol)
        dl, dr = abs(seg[0] - med), abs(seg[-1] - med)
        if max(dl, dr) <= tol:
            break
        if dl >= dr:
            lo += 1
        else:
            hi -= 1
    return lo, hi


def _resolve_window(x, curve, window, min_points) -> tuple[int, int, str]:
    n = len(x)
    if window is None or (isinstance(window, str) and window == "all"):
        return 0, n, "all points"
    if isinstance(window, str) and window == "auto":
        lo, hi = auto_window(x, curve, min_points=min_points)
        return lo, hi, f"auto: trim ends whose local slope deviates from the median by > max(0.3|median|, 0.1), keep >= {min_points}"
    if isinstance(window, str) and window.startswith("last_decades:"):
        k = float(window.split(":", 1)[1])
        lo = int(np.searchsorted(x, x[-1] / 10 ** k, side="left"))
        return lo, n, f"last {k:g} decades of x"
    lo_x, hi_x = window
    idx = np.nonzero((x >= lo_x * (1 - 1e-12)) & (x <= hi_x * (1 + 1e-12)))[0]
    if len(idx) < 2:
        raise ValueError(f"window {window} holds {len(idx)} points; need >= 2")
    return int(idx[0]), int(idx[-1]) + 1, f"x in [{lo_x:g}, {hi_x:g}]"


def _ols(lx, ly):
    A = np.stack([lx, np.ones_like(lx)], 1)
    coef, *_ = np.linalg.lstsq(A, ly, rcond=None)
    return coef  # slope, intercept


def fit_power_law(
    x: Sequence[float],
    y,
    *,
    window="auto",
    agg: str = "mean_log",
    n_boot: int = 2000,
    ci: float = 0.95,
    min_points: int = 4,
    rng_seed: int = 0,
) -> FitResult:
    """Fit L ∝ x^(−exponent) to seed-aggregated data over a fit window, with a seed-bootstrap CI.

    Args:
        x: sizes [X], positive, increasing.
        y: losses [S, X] (or [X] for one seed); non-positive/NaN entries are ignored by the aggregate.
        window: "auto" (see `auto_window`), "all", "last_decades:k", or (x_lo, x_hi) inclusive.
        agg: seed aggregate per size: "mean_log" (geometric mean), "median" (the lottery paper), "mean".
        n_boot: bootstrap resamples over seeds; ci: coverage of the percentile interval.
    Returns:
        FitResult (exponent = −slope of log L on log x; prefactor = exp(intercept)).
    """
    x = np.asarray(x, dtype=float)
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if x.ndim != 1 or y.shape[1] != len(x):
        raise ValueError(f"y must be [S, X] with X = len(x) = {len(x)}, got shape {y.shape}")
    if np.any(x <= 0) or np.any(np.diff(x) <= 0):
        raise ValueError("x must be positive and strictly increasing")
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    y = np.where(y > 0, y, np.nan)
    curve = aggregate(y, agg)
    ok = np.isfinite(curve)
    if ok.sum() < 2:
        raise ValueError("fewer than 2 sizes with a positive finite aggregate loss")
    xs, ys, cs = x[ok], y[:, ok], curve[ok]
    lo, hi, rule = _resolve_window(xs, cs, window, min(min_points, len(xs)))
    lx = np.log(xs[lo:hi])
    slope, icpt = _ols(lx, np.log(cs[lo:hi]))
    resid = np.log(cs[lo:hi]) - (slope * lx + icpt)
    S = y.shape[0]
    if S >= 2 and n_boot > 0:
        rng = np.random.default_rng(rng_seed)
        idx = rng.integers(0, S, size=(n_boot, S))
        boots = np.empty(n_boot)
        for b in range(n_boot):
            cb = aggregate(ys[idx[b]], agg)[lo:hi]
            m = np.isfinite(cb)
            boots[b] = -_ols(lx[m], np.log(cb[m]))[0] if m.sum() >= 2 else np.nan
        boots = boots[np.isfinite(boots)]
        q = (1 - ci) / 2
        ci_lo, ci_hi = np.quantile(boots, [q, 1 - q])
        stderr = float(np.std(boots, ddof=1))
    else:  # one seed: OLS t-interval of the slope
        from scipy import stats

        n = hi - lo
        dof = max(n - 2, 1)
        s2 = float(resid @ resid) / dof
        stderr = float(np.sqrt(s2 / np.sum((lx - lx.mean()) ** 2)))
        t = stats.t.ppf(1 - (1 - ci) / 2, dof)
        ci_lo, ci_hi = -slope - t * stderr, -slope + t * stderr
    return FitResult(
        exponent=float(-slope),
        prefactor=float(np.exp(icpt)),
        ci95=(float(ci_lo), float(ci_hi)),
        window=(float(xs[lo]), float(xs[hi - 1])),
        window_idx=(int(np.nonzero(ok)[0][lo]), int(np.nonzero(ok)[0][hi - 1]) + 1),
        window_rule=rule,
        n_points=int(hi - lo),
        n_seeds=int(S),
        stderr=stderr,
        residual_rms=float(np.sqrt(np.mean(resid ** 2))),
        x=x,
        y=y,
        curve=curve,
        agg=agg,
        local_slopes=local_slopes(x, curve),
    )


def window_slope(x: Sequence[float], curve: Sequence[float], window: tuple[float, float]) -> float:
    """Decay exponent of `curve` (e.g. a theory curve at the same sizes) by log-log LS over x in `window`."""
    x = np.asarray(x, float)
    c = np.asarray(curve, float)
    m = (x >= window[0] * (1 - 1e-12)) & (x <= window[1] * (1 + 1e-12)) & (c > 0)
    if m.sum() < 2:
        raise ValueError(f"window {window} holds fewer than 2 positive points of the curve")
    return float(-_ols(np.log(x[m]), np.log(c[m]))[0])


@dataclass
class SaturatingFit:
    exponent: float      # a in L = E + A x^(-a)
    prefactor: float     # A
    offset: float        # E (L_inf)
    loss: float          # Huber objective at the optimum


def fit_saturating(x, y, *, delta: float = 1e-3, agg: str = "mean_log") -> SaturatingFit:
    """Fit L = E + A·x^(−a) by minimising Σ Huber_δ(log(E + A x^−a) − log L), multi-start L-BFGS-B.

    Parametrised as (e, α, a) with E = exp(e), A = exp(α) so both stay positive. Starts form a grid over
    e ∈ log(min L)+{−6,−3,−1}, a ∈ {0.25, 0.5, 1, 2}; the best optimum is returned.
    """
    x = np.asarray(x, float)
    curve = aggregate(np.atleast_2d(np.asarray(y, float)), agg)
    m = np.isfinite(curve) & (curve > 0)
    lx, ly = np.log(x[m]), np.log(curve[m])
    if m.sum() < 4:
        raise ValueError("need >= 4 positive points for a saturating fit")

    def huber(r):
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))

    def obj(p):
        e, al, a = p
        pred = np.logaddexp(e, al - a * lx)
        return float(np.sum(huber(pred - ly)))

    best = None
    for de in (-6.0, -3.0, -1.0):
        for a0 in (0.25, 0.5, 1.0, 2.0):
            al0 = ly[0] + a0 * lx[0]
            r = optimize.minimize(obj, np.array([ly.min() + de, al0, a0]), method="L-BFGS-B",
                                  bounds=[(None, None), (None, None), (1e-4, 20.0)])
            if best is None or r.fun < best.fun:
                best = r
    e, al, a = best.x
    return SaturatingFit(exponent=float(a), prefactor=float(np.exp(al)), offset=float(np.exp(e)), loss=float(best.fun))
