"""Theory of the superposition toy model: feature frequencies, weak- and strong-regime predictions.

References:
  [LLG25] Liu, Liu & Gore (2025), "Superposition Yields Robust Neural Scaling".
  [E22]   Elhage et al. (2022), "Toy Models of Superposition".
  [W74]   Welch (1974), "Lower bounds on the maximum cross correlation of signals".

Conventions: n features, width m, frequencies p_i (i = 1..n, sum 1 by default), feature values
x_i = u_i v_i with u_i ~ Bernoulli(p_i), v_i ~ U(0, 2) (E v = 1, E v² = 4/3). Losses are the mean
over features ("loss", the training loss) unless a name says "sum" (× n, the papers' figures).
Exponents are decay rates: L ∝ m^(−exponent). Everything here is pure float math (no training).

Frequency laws are written as strings:
  "power:a"   p_i ∝ i^(−a)                 (the authors' code calls a − 1 "alpha")
  "exp:k"     p_i ∝ exp(−i/τ), τ = n/k     (the paper's exponential law is k = 10.24 at n = 10240)
  "linear"    p_i ∝ (n − i + 1)/n            (i = 1..n: the last feature keeps p ∝ 1/n, as in the authors'
                                           exp-17.py, which writes (n − j)/n for j = 0..n−1)
"""
from __future__ import annotations

import numpy as np

from ..harness.compare import Prediction

from .config import LAW_KINDS, parse_law  # noqa: F401  (pure parsing, torch-free beside the config)

E_V2 = 4.0 / 3.0   # E v² for v ~ U(0, 2)


def frequencies(n: int, law: str, density: float = 0.0) -> np.ndarray:
    """Feature frequencies p [n] (float64), [LLG25] Sec. 2 ("data").

    p_i ∝ i^(−a) | exp(−(i − 1)/τ) | (n − i + 1)/n, normalised to Σ p = 1 (one active feature per sample on
    average), then the activation-density knob s: p ← p·(1 + s(1/p_1 − 1)) (s = 0: unchanged; s = 1:
    the most frequent feature is always on). Valid for n >= 2, s in [0, 1].
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    if not (0.0 <= density <= 1.0):
        raise ValueError(f"density s must be in [0, 1], got {density}")
    kind, val = parse_law(law)
    i = np.arange(1, n + 1, dtype=np.float64)
    if kind == "power":
        w = i ** (-val)
    elif kind == "exp":
        w = np.exp(-(i - 1) / (n / val))
    else:
        w = (n - i + 1) / n
    p = w / w.sum()
    p = p * (1.0 + density * (1.0 / p[0] - 1.0))
    return np.minimum(p, 1.0)


# --------------------------------------------------------------------------- weak superposition
def predicted_loss_weak(n: int, widths, law: str, density: float = 0.0) -> np.ndarray:
    """Finite-n weak-superposition loss (mean over features), [LLG25] Sec. 3 (weak regime, Eq. for L ∝ Σ_{i>m} p_i).

    The m most frequent features are represented orthogonally (no loss); each unrepresented feature is
    output as its best constant E x_i = p_i and costs Var x_i = (4/3) p_i − p_i²:
        L_weak(m) = (1/n) Σ_{i=m+1}^{n} [(4/3) p_i − p_i²].
    (× n gives the per-sample sum the paper plots; p_i² is negligible in the tail.) Valid for m < n.
    """
    p = frequencies(n, law, density)
    widths = np.asarray(widths, dtype=int)
    if np.any(widths < 1) or np.any(widths >= n):
        raise ValueError(f"widths must be in [1, n-1] = [1, {n - 1}], got {widths.tolist()}")
    var = E_V2 * p - p ** 2                         # [n]
    tail = np.concatenate([np.cumsum(var[::-1])[::-1], [0.0]])   # tail[k] = Σ_{i>=k} var (0-based)
    return tail[widths] / n


def predicted_exponent_weak(law: str) -> Prediction:
    """Asymptotic weak-regime exponent, [LLG25] Sec. 3: Σ_{i>m} p_i ∝ m^(1−a) as n → ∞, so α_m = a − 1.

    Valid only for the power law with a > 1 (for a <= 1 the tail sum is dominated by n, exponent ≈ 0).
    """
    kind, a = parse_law(law)
    if kind != "power":
        raise ValueError(f"weak-regime exponent a − 1 holds for power laws only, got law {law!r}")
    if a <= 1.0:
        raise ValueError(f"weak-regime exponent a − 1 needs a > 1 (normalisable tail as n → ∞), got a = {a}")
    return Prediction(a - 1.0, regime="weak superposition (γ > 0)",
                      assumptions=("only the m most frequent features are represented, orthogonally",
                                   "n → ∞ (the finite-n curve predicted_loss_weak is steeper)"),
                      reference="Liu, Liu & Gore 2025, Sec. 3 (weak superposition, L ∝ Σ_{i>m} p_i)")


# --------------------------------------------------------------------------- strong superposition
def welch_bound(k, m) -> np.ndarray:
    """Lower bound on the mean squared overlap of k unit vectors in R^m, [W74] Eq. (2) with k=1 moment:
        mean_{i≠j} (ŵ_i·ŵ_j)² >= (k − m) / (m (k − 1))     (0 when k <= m)
    ≈ 1/m for k ≫ m. Used in [LLG25] Sec. 4 for the strong regime."""
    k = np.asarray(k, dtype=float)
    m = np.asarray(m, dtype=float)
    if np.any(m < 1) or np.any(k < 2):
        raise ValueError("welch_bound needs m >= 1 and k >= 2")
    return np.maximum(k - m, 0.0) / (m * (k - 1.0))


def predicted_exponent_strong(law: str) -> Prediction:
    """Strong-regime exponent α_m, [LLG25] Sec. 4 and Fig. 5 (exponent map).

    All n features are represented with norm ≈ 1; the loss is set by interference, the mean squared
    overlap ≈ 1/m (Welch bound), so L ∝ 1/m for flat laws (exponential, linear, power a <= 1.5). For steep
    power laws the rare tail's interference falls faster; the paper's map follows α_m ≈ max(1, 2(a − 1)).
    The branch is named in `regime`.
    """
    kind, a = parse_law(law)
    if kind == "power" and 2.0 * (a - 1.0) > 1.0:
        return Prediction(2.0 * (a - 1.0), regime="strong superposition, steep power law: α = 2(a − 1)",
                          assumptions=("γ < 0 (row norms pulled to 1)", "n large enough that the tail is learned"),
                          reference="Liu, Liu & Gore 2025, Sec. 4 / Fig. 5 (α_m ≈ max(1, 2(a−1)))")
    return Prediction(1.0, regime="strong superposition, interference ∝ 1/m: α = 1",
                      assumptions=("γ < 0 (row norms pulled to 1)", "mean squared overlap ≈ Welch bound ≈ 1/m",
                                   "frequency law not much steeper than a = 1.5"),
                      reference="Liu, Liu & Gore 2025, Sec. 4 (L ∝ 1/m from the Welch bound)")


def predicted_exponent(law: str, gamma: float) -> Prediction:
    """Dispatch on the regime: γ > 0 weak, γ < 0 strong. γ = 0 (no decay) is not covered: raises."""
    if gamma > 0:
        return predicted_exponent_weak(law)
    if gamma < 0:
        return predicted_exponent_strong(law)
    raise ValueError("γ = 0 lies between the weak (γ > 0) and strong (γ < 0) regimes; no prediction")


def regime(gamma: float) -> str:
    """'weak' (γ > 0), 'strong' (γ < 0) or 'none' (γ = 0), [LLG25] Sec. 2."""
    return "weak" if gamma > 0 else ("strong" if gamma < 0 else "none")


def no_representation_loss(n: int, law: str, density: float = 0.0) -> float:
    """Loss (mean over features) of W = 0 with the best bias b_i = p_i: (1/n) Σ Var x_i = L_weak(0)."""
    p = frequencies(n, law, density)
    return float(np.sum(E_V2 * p - p ** 2) / n)


def fitted_slope(widths, curve) -> float:
    """Decay rate of `curve` over all `widths` by log-log least squares (a helper for tests/notebooks)."""
    lx, ly = np.log(np.asarray(widths, float)), np.log(np.asarray(curve, float))
    return float(-np.polyfit(lx, ly, 1)[0])


__all__ = ["E_V2", "LAW_KINDS", "fitted_slope", "frequencies", "no_representation_loss", "parse_law",
           "predicted_exponent", "predicted_exponent_strong", "predicted_exponent_weak", "predicted_loss_weak",
           "regime", "welch_bound"]
