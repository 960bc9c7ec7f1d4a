"""Theory of outer-product associative memories on Zipf data, and of Hopfield capacities.

References (C23 = Cabannes, Dohmatob & Bietti, "Scaling Laws for Associative Memories", arXiv:2310.02984 v1,
ICLR 2024; theorem numbers as in v1 — check them against the version you cite):
- C23 Thm. 1 / Eq. (5): infinite capacity (d = ∞), any store-if-seen scheme: E[E] = Σ_x p(x)(1 − p(x))^T,
  ≍ T^(−(1−1/a)) for a > 1.
- C23 Thm. 2: q = p^ρ at finite d: E ≍ d^(−(a−1)/(2ρa)) + T^(−1+1/a), for 2ρa > 1.
- C23 Thm. 3: thresholding, P ∝ d stored tokens: E ≍ d^(−(a−1)) + T^(−1+1/a).
- C23 §5: learned memories; small-lr large-batch SGD ≈ q = p; large steps / sign-like Adam flatten q.
- Amit, Gutfreund & Sompolinsky 1985/1987: Hopfield capacity α_c ≈ 0.138.
- Krotov & Hopfield 2016, §2: dense associative memory F(z) = z^k stores P ∝ N^(k−1) patterns.

Curves (not only slopes): `expected_error_infinite_capacity` is exact at finite N. `predicted_error_dim` is a
Gaussian-interference approximation (ours, following the signal-vs-noise argument behind C23 Thm. 2–3):
token x is retrieved iff q(x) + σ_{f(x)} Z_0 > max_{y≠f(x)} σ_y Z_y with σ_y² = Σ_{x'≠x, f(x')=y} q(x')²/d.
Every function raises outside its regime, naming the condition.
"""
from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special, stats

from .config import check_model

REF_T = "Cabannes, Dohmatob & Bietti 2023, Thm. 1 (Eq. 5)"
REF_POWER = "Cabannes, Dohmatob & Bietti 2023, Thm. 2"
REF_THRESH = "Cabannes, Dohmatob & Bietti 2023, Thm. 3"
REF_LEARN = "Cabannes, Dohmatob & Bietti 2023, §5 (optimization-based memories)"
REF_HOPFIELD = "Amit, Gutfreund & Sompolinsky 1985 (α_c ≈ 0.138)"
REF_DENSE = "Krotov & Hopfield 2016, §2 (capacity ∝ N^(k−1))"
HOPFIELD_ALPHA_C = 0.138


def _need_tail(a: float, what: str):
    if not a > 1:
        raise ValueError(f"{what}: needs a > 1 (a normalisable Zipf tail as N → ∞), got a = {a}")


def zipf_probs(N: int, a: float) -> np.ndarray:
    """p(x) = x^(−a)/Σ_{x'≤N} x'^(−a), x = 1..N, as float64 [N]. Any a > 0 (finite N)."""
    check_model(N=N, a=a)
    w = np.arange(1, N + 1, dtype=float) ** (-float(a))
    return w / w.sum()


# --------------------------------------------------------------------------- data scaling
def expected_error_infinite_capacity(N: int, a: float, T) -> np.ndarray:
    """E[E](T) = Σ_x p(x)(1 − p(x))^T: exact expected error of any store-if-seen memory at d = ∞
    (an unseen token is an error, a seen one is recalled). C23 Thm. 1 / Eq. (5). Exact for every finite N
    and a > 0. T: int or array of ints >= 0 -> array like T."""
    p = zipf_probs(N, a)
    T = np.asarray(T, dtype=float)
    if np.any(T < 0):
        raise ValueError(f"T must be >= 0, got {T.min()}")
    return np.sum(p[:, None] * np.exp(T.reshape(1, -1) * np.log1p(-p)[:, None]), 0).reshape(T.shape)


def asymptotic_error_infinite_capacity(a: float, T) -> np.ndarray:
    """N = ∞ asymptote of Σ p(1−p)^T: Γ(1 − 1/a) ζ(a)^(−1/a) T^(−(1−1/a)) / a (C23 Thm. 1), needs a > 1."""
    _need_tail(a, "asymptotic_error_infinite_capacity")
    T = np.asarray(T, dtype=float)
    return special.gamma(1 - 1 / a) * special.zeta(a) ** (-1 / a) / a * T ** (-(1 - 1 / a))


def predicted_exponent_data(a: float) -> float:
    """E ∝ T^(−(1−1/a)) for any store-if-seen scheme with enough capacity (C23 Thm. 1), needs a > 1."""
    _need_tail(a, "predicted_exponent_data")
    return 1.0 - 1.0 / a


# --------------------------------------------------------------------------- dimension scaling
def predicted_exponent_dim(a: float, scheme: str, rho: float = 1.0) -> float:
    """Exponent of E in d at T = ∞ (C23 Thm. 2–3).

    scheme "power" (q = p^ρ): (a − 1)/(2ρa), needs a > 1 and 2ρa > 1.
    scheme "threshold" (P ∝ d most frequent tokens): a − 1, needs a > 1.
    scheme "seen" has no d-exponent while d is below the number of stored tokens (overload): raises.
    """
    _need_tail(a, f"predicted_exponent_dim({scheme!r})")
    if scheme == "power":
        if not rho > 0 or not 2 * rho * a > 1:
            raise ValueError(f"q = p^ρ law needs ρ > 0 and 2ρa > 1, got ρ = {rho}, a = {a} (2ρa = {2 * rho * a:g})")
        return (a - 1) / (2 * rho * a)
    if scheme == "threshold":
        return a - 1.0
    if scheme == "seen":
        raise ValueError("scheme 'seen' has no d-exponent: it is overloaded (no d-scaling) until d ≳ number of "
                         "seen tokens, and then the T-term dominates")
    raise ValueError(f"scheme must be 'power', 'threshold' or 'seen', got {scheme!r}")


def _noise_sigma(q: np.ndarray, f: np.ndarray, M: int, d: int) -> np.ndarray:
    """σ[x, y]: interference std on label y's score for token x (its own term removed)."""
    Q = np.zeros(M)
    np.add.at(Q, f, q ** 2)
    S = np.broadcast_to(Q, (len(q), M)).copy()
    S[np.arange(len(q)), f] -= q ** 2
    return np.sqrt(np.maximum(S, 0.0) / d)


def predicted_error_dim(N: int, a: float, M: int, d: int, q: np.ndarray, n_z: int = 161) -> float:
    """Gaussian-interference approximation of the error of memory weights q [N] at dimension d.

    P(correct | x) = E_{Z0}[ Π_{y≠f(x)} Φ((q(x) + σ_{f(x)} Z0)/σ_y) ], σ_y² = Σ_{x'≠x, f(x')=y} q(x')²/d
    (ours; the signal-vs-interference argument of C23 §3). Unstored tokens (q = 0) are right with chance ≈ 1/M.
    Valid for d >> 1 (so that e_x·e_x' is ≈ Gaussian); returns E = Σ_x p(x) P(wrong | x)."""
    check_model(N=N, a=a, M=M, d=d)
    q = np.asarray(q, float)
    if q.shape != (N,) or np.any(q < 0):
        raise ValueError(f"q must be a non-negative array of shape ({N},)")
    p = zipf_probs(N, a)
    f = np.arange(1, N + 1) % M
    sig = np.maximum(_noise_sigma(q, f, M, d), 1e-300)                          # [N, M]
    z, w = np.polynomial.hermite_e.hermegauss(n_z)                              # ∫ φ(z) g(z) dz ≈ Σ w g / √(2π)
    w = w / math.sqrt(2 * math.pi)
    own = sig[np.arange(N), f]                                                  # [N]
    top = q[:, None] + own[:, None] * z[None, :]                                # [N, Z]
    logcdf = stats.norm.logcdf(top[:, :, None] / sig[:, None, :])               # [N, Z, M]
    logcdf[np.arange(N), :, f] = 0.0                                            # exclude the true label
    p_correct = (np.exp(logcdf.sum(-1)) * w).sum(-1)                            # [N]
    return float(np.sum(p * (1 - np.clip(p_correct, 0, 1))))


def population_weights(N: int, a: float, scheme: str, d: int, rho: float = 1.0, c: float = 8.0) -> np.ndarray:
    """q at T = ∞: 'power' q = p^ρ, 'threshold' q = 1{x ≤ ⌊d/c⌋}, 'seen' q = 1 (every token is seen)."""
    p = zipf_probs(N, a)
    if scheme == "power":
        return p ** rho
    if scheme == "threshold":
        return (np.arange(1, N + 1) <= max(1, math.floor(d / c))).astype(float)
    if scheme == "seen":
        return np.ones(N)
    raise ValueError(f"scheme must be 'power', 'threshold' or 'seen', got {scheme!r}")


def predicted_error_dim_curve(N: int, a: float, M: int, ds, scheme: str, rho: float = 1.0, c: float = 8.0) -> np.ndarray:
    """`predicted_error_dim` of the T = ∞ memory of `scheme` at each d in ds -> [len(ds)] (a fresh array).

    Memoised (a pure function of its arguments, ~0.3 s per d): every analysis of memory.dim draws it, and a
    re-analysis of the same records (`toyscale report`, a negative control) reuses it."""
    return _error_dim_curve(int(N), float(a), int(M), tuple(int(d) for d in ds), str(scheme), float(rho),
                            float(c)).copy()


@functools.lru_cache(maxsize=64)
def _error_dim_curve(N, a, M, ds, scheme, rho, c):
    return np.array([predicted_error_dim(N, a, M, d, population_weights(N, a, scheme, d, rho, c)) for d in ds])


def threshold_tail_error(N: int, a: float, M: int, d: int, c: float = 8.0) -> float:
    """No-interference limit of thresholding: (1 − 1/M) Σ_{x > ⌊d/c⌋} p(x) (C23 Thm. 3, finite N)."""
    check_model(N=N, a=a, M=M, d=d)
    P = min(N, max(1, math.floor(d / c)))
    return (1 - 1 / M) * float(zipf_probs(N, a)[P:].sum())


# --------------------------------------------------------------------------- learned memories
def predicted_exponent_learned(a: float, regime: str) -> float:
    """C23 §5: 'sgd_small_lr' (small lr, large batch) behaves like q = p: (a−1)/(2a), needs 2a > 1;
    'sign_adam' (Adam with β = (0, 0), or large lr / small batch) flattens q towards thresholding: a − 1."""
    _need_tail(a, "predicted_exponent_learned")
    if regime == "sgd_small_lr":
        return predicted_exponent_dim(a, "power", 1.0)
    if regime == "sign_adam":
        return predicted_exponent_dim(a, "threshold")
    raise ValueError(f"regime must be 'sgd_small_lr' or 'sign_adam', got {regime!r}")


# --------------------------------------------------------------------------- Hopfield
def predicted_dense_capacity_exponent(k: int) -> float:
    """Dense associative memory with F(z) = z^k: capacity P_c ∝ N^(k−1) (Krotov & Hopfield 2016, §2), k >= 2."""
    if int(k) != k or k < 2:
        raise ValueError(f"dense-memory capacity law needs an integer k >= 2, got k = {k}")
    return float(k - 1)


def dense_capacity_estimate(N: int, k: int, bit_error: float) -> float:
    """One-step signal-to-noise estimate of P_c at a given one-step bit-error rate ε (Krotov & Hopfield 2016,
    §2): signal 2k N^(k−1), noise variance 4k² P (2k−3)!! N^(k−1) ⇒ P_c = N^(k−1) / ((2k−3)!! z²), z = Φ^(−1)(1−ε).
    Valid for N >> k and 0 < ε < 1/2."""
    predicted_dense_capacity_exponent(k)
    if not 0 < bit_error < 0.5:
        raise ValueError(f"bit_error must be in (0, 1/2), got {bit_error}")
    if N < 2 * k:
        raise ValueError(f"needs N >> k (here N >= 2k), got N = {N}, k = {k}")
    dfact = float(np.prod(np.arange(2 * k - 3, 0, -2))) if k > 1 else 1.0
    z = stats.norm.ppf(1 - bit_error)
    return N ** (k - 1) / (dfact * z * z)
