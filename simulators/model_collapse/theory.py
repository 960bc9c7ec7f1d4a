"""Exact finite-sample theory of model collapse: regression chains and Zipf tails.

References:
  [DFK24]  Dohmatob, Feng & Kempe, "Model Collapse Demystified: The Case of Regression", arXiv:2402.07712
           (NeurIPS 2024): §3 setup, §4 exact test error (Thm. 4.1: linear growth in n), §4.2 the
           over-parameterised noiseless chain, §5 power-law spectra and adaptive regularisation (Thm. 5.1).
  [DFYCK24] Dohmatob, Feng, Yang, Charton & Kempe, "A Tale of Tails: Model Collapse as a Change of Scaling
           Laws", arXiv:2402.07043 (ICML 2024): the Hutter model on cut / narrowed / mixed Zipf data.
  [GSK24]  Gerstgrasser et al., "Is Model Collapse Inevitable?", arXiv:2404.01413: replace vs accumulate.
  [DD24]   Dey & Donoho, "Universality of the π²/6 Pathway in Avoiding Model Collapse", arXiv:2410.22812.
  [C23]    Cabannes, Dohmatob & Bietti 2023 (Hutter law Σ p(1−p)^T, reused from the associative-memory family).

Regression chain (our notation; derivations are ours, checked by tests/model_collapse against Monte Carlo):
  x ~ N(0, Σ) in d dims, w0 the truth, ŵ_0 = w0 ("generation 0 is the clean data"). Generation m = 1..n fits
  OLS on T0 fresh inputs X_m labelled y = X_m ŵ_{m−1} + ε_m, ε_m ~ N(0, σ0² I). A downstream model is fit
  on T fresh inputs labelled by ŵ_n plus N(0, σ²) noise; error ‖ŵ − w0‖²_Σ (population, exact).

  * OLS chain: ŵ_m = ŵ_{m−1} + δ_m, δ_m = (X_mᵀX_m)⁻¹X_mᵀε_m, so ŵ_n − w0 = Σ_m δ_m =: Δ_n. For Gaussian X
    (T0 ≥ d + 2) E[(XᵀX)⁻¹] = Σ⁻¹/(T0 − d − 1) (inverse-Wishart mean), hence E[δ_m δ_mᵀ] = σ0² Σ⁻¹/(T0−d−1)
    and E‖δ_m‖²_Σ = σ0² d/(T0 − d − 1). Cross terms E⟨δ_i, δ_j⟩_Σ (i ≠ j) and E⟨Δ_n, δ⟩_Σ vanish: the noises
    are independent, zero mean and independent of every design. Downstream OLS adds δ = (XᵀX)⁻¹Xᵀε:
        E‖ŵ − w0‖²_Σ = σ² d/(T − d − 1) + n σ0² d/(T0 − d − 1)          (`ols_chain_error`, any Σ)
    i.e. linear growth in n [DFK24 Thm. 4.1, our finite-T0 form]. n = 0 is the clean OLS error.
  * Ridge downstream (objective (1/T)‖Xθ − y‖² + λ‖θ‖², θ = (XᵀX + Tλ)⁻¹Xᵀy), Σ = diag(λ_k):
        ŵ − w0 = −λ(Σ̂+λ)⁻¹w0 + Σ̂(Σ̂+λ)⁻¹Δ_n + (Σ̂+λ)⁻¹Xᵀε/T,   Σ̂ = XᵀX/T.
    Δ_n is independent of the downstream data with E[Δ_n] = 0, E[Δ_nΔ_nᵀ] = c_n Σ⁻¹, c_n = nσ0²/(T0−d−1), so
    E = E_clean(w0, σ²) + D with D = tr(c_nΣ⁻¹ E[(I − λR)ᵀ Σ (I − λR)]), R = (Σ̂ + λ)⁻¹. Deterministic
    equivalents (λR ≍ κ(Σ+κ)⁻¹; λ²RΣR ≍ κ²(Σ+κ)⁻²Σ/(1 − df2/T)) give, with the flat "task power" τ_k = c_n:
        D = Σ_k τ_k (1 − 2κ/(λ_k + κ)) + bias_DE(τ),
    where bias_DE(τ) is the random-features `ridge_test_error(lam, τ, T, λ)` excess at zero noise and κ its
    `solve_kappa` root (reused, not re-solved); E_clean is the same function with the teacher's task power and
    noise σ² (`ridge_chain_error`). λ → 0 with T > d gives D = c_n d, the OLS value.
  * Power law (λ_k = k^−β, λ_k w0_k² = k^−(1+2βr)) [DFK24 §5]: bias ≍ κ^{2r}, variance ≍ (σ²/T) κ^{−1/β},
    collapse ≍ c_n κ^{−1/β}. The clean-optimal schedule λ = T^{−ℓ_crit}, ℓ_crit = β/(1 + 2βr), gives the
    fast rate E ≍ T^{−2βr/(1+2βr)}; with c_n > 0 the collapse term grows as T^{ℓ_crit/β} = T^{1/(1+2βr)}, a
    crossover from the fast rate to growth (the changed scaling law). Adapting the ridge to the collapse,
    λ = T_eff^{−ℓ_crit} with T_eff = (1/T + c_n/σ²)^{−1}, restores E ≍ T_eff^{−2βr/(1+2βr)}: the clean law in
    the effective sample size (ours: the optimum of the three-term law above; DFK24 Thm. 5.1 structure).
  * Over-parameterised noiseless chain (T0 < d, Σ = I, min-norm fits): ŵ_m = P_m ŵ_{m−1}, P_m the orthogonal
    projection on the row space of X_m, a uniformly random T0-dim subspace, so E[P_m] = (T0/d) I and
    E‖P_m v‖² = (T0/d)‖v‖² for any fixed v. Independence over m gives E⟨ŵ_n, w0⟩ = E‖ŵ_n‖² = (T0/d)^n ‖w0‖²:
        E‖ŵ_n − w0‖² / ‖w0‖² = 1 − (T0/d)^n            (`overparam_chain_error`; exponential collapse)
    and a noiseless min-norm downstream fit on T < d samples: 1 − (T/d)(T0/d)^n.
  * Replace vs accumulate (fixed design X [T0, d] for every round, fresh noise σ0 each round, round 1 labelled
    by w0): replacing gives e_n = G Σ_{j≤n} ε_j, G = (XᵀX)⁻¹Xᵀ; accumulating (OLS on all rounds' data) gives
    e_m = (1/m) Σ_{j<m} e_j + (1/m) G Σ_{j≤m} ε_j, whose solution is e_n = Σ_{j≤n} Gε_j / j (induction). So
        E_replace(n) = n σ0² d/(T0 − d − 1),   E_accumulate(n) = σ0² d/(T0 − d − 1) · Σ_{j≤n} 1/j²
    → (π²/6) σ0² d/(T0 − d − 1): bounded [GSK24; DD24] (expectations over X too; given X replace d/(T0−d−1)
    by tr(Σ(XᵀX)⁻¹)).

Zipf tails (Hutter model: a token is known iff it occurred in the training sample; error = p-mass of unknown
tokens) with p = Zipf(β) on a vocabulary of V tokens, tested on p:
  * training law q, T samples: E = Σ_i p_i (1 − q_i)^T exactly (C23 Eq. 5 with q ≠ p).
  * cut at rank k: q = Zipf(β) on k tokens, so E = (Z_k/Z_V) Σ_{i≤k} q_i(1−q_i)^T + Σ_{i>k} p_i
    (`tail_cut_error`; reuses the associative-memory exact law) ≍ T^−(1−1/β) + k^−(β−1) [DFYCK24 Thm. 2.1].
  * narrowing q = Zipf(β') (β' > β): E ≍ T^−(β−1)/β' (tokens seen while T q_i ≳ 1, i ≲ T^{1/β'}).
  * mixing a fraction π of clean samples: q_π = πp + (1−π)q; E = Σ p_i(1 − q_π,i)^T: the cut plateau
    Σ_{i>k} p_i until πT ≳ k^β, then the clean decline ≍ (πT)^−(1−1/β) [DFYCK24 §3, "grokking"-like].
  * generations: q_0 = p, q_m = empirical law of T0 samples of q_{m−1}. One token's count is a Wright–Fisher
    chain: C_1 ~ Bin(T0, p_i), C_m | C_{m−1} ~ Bin(T0, C_{m−1}/T0), so E_n(T) = Σ_i p_i E[(1 − C_n/T0)^T]
    = Σ_i p_i Σ_c Bin(c; T0, p_i) (M^{n−1} f_T)(c), M[c, c'] = Bin(c'; T0, c/T0), f_T(c) = (1 − c/T0)^T
    (`generations_error`, exact). A token of expected count T0 p_i dies out within n generations with
    probability ≈ 1 − 2T0p_i/n (critical Galton–Watson), so the effective cut is k_n ≍ (T0/n)^{1/β} and the
    floor E_n(∞) ≍ (n/T0)^{1−1/β} [DFYCK24 Thm. (iterative), our constant-free form].

Every function is float64 numpy math and raises ValueError naming the violated condition outside its regime.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from simulators.associative_memory.theory import expected_error_infinite_capacity, zipf_probs
from simulators.random_features.theory import ridge_test_error, solve_kappa

REF_OLS = "Dohmatob, Feng & Kempe 2024, Thm. 4.1 (finite-T0 form: E[(XᵀX)⁻¹] = Σ⁻¹/(T0−d−1))"
REF_OVER = "Dohmatob, Feng & Kempe 2024, §4 (over-parameterised noiseless chain: 1 − (T0/d)^n)"
REF_RIDGE = "Dohmatob, Feng & Kempe 2024, §5 / Thm. 5.1 (power law; λ = T^−ℓ, ℓ_crit = β/(1+2βr))"
REF_ACC = "Gerstgrasser et al. 2024; Dey & Donoho 2024 (accumulate: π²/6 bound)"
REF_CUT = "Dohmatob et al. 2024 (A Tale of Tails), Thm. 2.1: E ≍ T^−(1−1/β) + k^−(β−1)"
REF_MIX = "Dohmatob et al. 2024 (A Tale of Tails), §3: mixing, plateau then (πT)^−(1−1/β)"
REF_GEN = "Dohmatob et al. 2024 (A Tale of Tails), iterative generations: k_n ≍ (T0/n)^(1/β)"


# ============================================================================ checks
def _int(name, v, lo, hi=10 ** 12):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or not math.isfinite(v) \
            or int(v) != v or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi:g}], got {v!r}")
    return int(v)


def _pos(name, v, lo=0.0, strict=False, hi=1e12):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(v) \
            or v > hi or (v <= lo if strict else v < lo):
        raise ValueError(f"{name} must be a finite number {'>' if strict else '>='} {lo:g} (and <= {hi:g}), got {v!r}")
    return float(v)


def check_beta(beta: float) -> float:
    """Zipf / spectrum exponent β > 1 (a summable tail)."""
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not math.isfinite(beta) \
            or not 1 < beta <= 20:
        raise ValueError(f"beta must be a finite number in (1, 20], got {beta!r}")
    return float(beta)


def check_pi(pi: float) -> float:
    if isinstance(pi, bool) or not isinstance(pi, (int, float, np.floating)) or not 0 <= pi <= 1:
        raise ValueError(f"pi (clean fraction) must be in [0, 1], got {pi!r}")
    return float(pi)


# ============================================================================ regression chains
def ols_chain_error(d: int, T: int, T0: int, n: int, sigma: float, sigma0: float) -> float:
    """E‖ŵ − w0‖²_Σ of downstream OLS on T samples after n OLS generations on T0 samples each (any Σ; the
    expectation does not depend on it): σ² d/(T−d−1) + n σ0² d/(T0−d−1). Needs T ≥ d+2 and, for n ≥ 1,
    T0 ≥ d+2 (the inverse-Wishart mean is infinite otherwise). [DFK24 Thm. 4.1; module docstring]"""
    d = _int("d", d, 1)
    n = _int("n", n, 0)
    T = _int("T", T, 1)
    sigma, sigma0 = _pos("sigma", sigma), _pos("sigma0", sigma0)
    if T < d + 2:
        raise ValueError(f"T must be >= d + 2 = {d + 2} for a finite OLS mean error, got T = {T}")
    out = sigma ** 2 * d / (T - d - 1)
    if n:
        T0 = _int("T0", T0, 1)
        if T0 < d + 2:
            raise ValueError(f"T0 must be >= d + 2 = {d + 2} for an OLS chain (finite inverse-Wishart mean), got T0 = {T0}")
        out += n * sigma0 ** 2 * d / (T0 - d - 1)
    return float(out)


def ols_chain_model_error(d: int, T0: int, n: int, sigma0: float) -> float:
    """E‖ŵ_n − w0‖²_Σ of the generation-n model itself: n σ0² d/(T0 − d − 1) (T0 ≥ d + 2)."""
    d, n, T0 = _int("d", d, 1), _int("n", n, 0), _int("T0", T0, 1)
    if T0 < d + 2:
        raise ValueError(f"T0 must be >= d + 2 = {d + 2} for an OLS chain, got T0 = {T0}")
    return float(n * _pos("sigma0", sigma0) ** 2 * d / (T0 - d - 1))


def overparam_chain_error(d: int, T0: int, n: int) -> float:
    """E‖ŵ_n − w0‖²/‖w0‖² of the noiseless min-norm chain, Σ = I, T0 < d: 1 − (T0/d)^n. [DFK24 §4]"""
    d, T0, n = _int("d", d, 2), _int("T0", T0, 1), _int("n", n, 0)
    if T0 >= d:
        raise ValueError(f"T0 must be < d = {d} (over-parameterised chain), got T0 = {T0}")
    return float(1.0 - (T0 / d) ** n)


def overparam_downstream_error(d: int, T0: int, T: int, n: int) -> float:
    """Noiseless min-norm downstream fit on T < d samples labelled by ŵ_n: 1 − (T/d)(T0/d)^n (relative)."""
    overparam_chain_error(d, T0, n)
    T = _int("T", T, 1)
    if T >= d:
        raise ValueError(f"T must be < d = {d} (over-parameterised downstream fit), got T = {T}")
    return float(1.0 - (T / d) * (T0 / d) ** n)


def _ols_unit(d, T0, sigma0):
    d, T0 = _int("d", d, 1), _int("T0", T0, 1)
    if T0 < d + 2:
        raise ValueError(f"T0 must be >= d + 2 = {d + 2} (fixed-design OLS with a finite mean), got T0 = {T0}")
    return _pos("sigma0", sigma0) ** 2 * d / (T0 - d - 1)


def replace_error(d: int, T0: int, n, sigma0: float):
    """Replace: E‖ŵ_n − w0‖²_Σ = n σ0² d/(T0 − d − 1) (fixed design per chain, averaged over it). [GSK24]"""
    return np.asarray(n, float) * _ols_unit(d, T0, sigma0)


def accumulate_error(d: int, T0: int, n, sigma0: float):
    """Accumulate: σ0² d/(T0 − d − 1) Σ_{j≤n} 1/j² (n array of ints >= 0). [GSK24; DD24]"""
    n = np.asarray(n)
    h2 = np.array([np.sum(1.0 / np.arange(1, int(m) + 1) ** 2) for m in n.reshape(-1)]).reshape(n.shape)
    return h2 * _ols_unit(d, T0, sigma0)


def accumulate_limit(d: int, T0: int, sigma0: float) -> float:
    """lim_n E_accumulate = (π²/6) σ0² d/(T0 − d − 1)."""
    return math.pi ** 2 / 6 * _ols_unit(d, T0, sigma0)


def power_spectrum(d: int, beta: float, r: float):
    """(λ_k = k^−β, task power λ_k w0_k² = k^−(1+2βr)), k = 1..d, float64 [d] each."""
    d, beta = _int("d", d, 1), _pos("beta", beta, 0.0, strict=True, hi=20)
    r = _pos("r", r, 0.0, strict=True, hi=10)
    k = np.arange(1, d + 1, dtype=float)
    return k ** -beta, k ** -(1 + 2 * beta * r)


def ridge_collapse_term(lam, T, ridge: float, c: float):
    """D = Σ_k c (1 − 2κ/(λ_k+κ)) + bias_DE(τ = c): the expected extra error of ridge trained on labels of a
    model whose error Δ has covariance cΣ⁻¹ (module docstring). Deterministic equivalent; T scalar or [K]."""
    lam = np.asarray(lam, float)
    T = np.atleast_1d(np.asarray(T, float))
    if c == 0:
        return np.zeros(T.shape)
    tau = np.full(lam.shape, float(c))
    _, bias = ridge_test_error(lam, tau, T, ridge, 0.0)
    kap = solve_kappa(lam, T, ridge)[:, None]
    return (tau[None] * (1.0 - 2.0 * kap / (lam[None] + kap))).sum(1) + bias


def ridge_chain_error(lam, tw, T, ridge, sigma: float, c: float):
    """Deterministic-equivalent E‖ŵ − w0‖²_Σ of ridge (λ = `ridge`) on T samples labelled by a model whose
    deviation from w0 has covariance cΣ⁻¹ (an OLS chain: c = nσ0²/(T0−d−1)), plus noise σ². `ridge` scalar or
    like T. Reuses random_features.theory.ridge_test_error / solve_kappa [BCP20 Eq. 4–5]. Returns [K]."""
    T = np.atleast_1d(np.asarray(T, float))
    ridge = np.broadcast_to(np.asarray(ridge, float), T.shape)
    if np.any(ridge <= 0):
        raise ValueError("ridge must be > 0 for the ridge deterministic equivalent")
    out = np.empty(T.shape)
    for i, (t, lr) in enumerate(zip(T, ridge)):   # one κ per (T, λ) pair: a few dozen points
        out[i] = ridge_test_error(lam, tw, t, lr, sigma ** 2)[1][0] + ridge_collapse_term(lam, t, lr, c)[0]
    return out


def critical_ridge_exponent(beta: float, r: float) -> float:
    """ℓ_crit = β/(1 + 2βr): λ = T^−ℓ_crit balances bias κ^{2r} and variance κ^{−1/β}/T [DFK24 §5]."""
    return beta / (1 + 2 * beta * r)


def clean_rate(beta: float, r: float) -> float:
    """E ≍ T^−2βr/(1+2βr) at λ = T^−ℓ_crit (r ≤ 1) [DFK24 §5; Caponnetto & De Vito 2007]."""
    return 2 * beta * r / (1 + 2 * beta * r)


def collapse_rate(beta: float, r: float) -> float:
    """Decay exponent of the collapse-dominated error at λ = T^−ℓ_crit: −ℓ_crit/β = −1/(1+2βr) (it grows)."""
    return -1.0 / (1 + 2 * beta * r)


def adaptive_ridge(T, c: float, sigma: float, beta: float, r: float):
    """λ = T_eff^−ℓ_crit, T_eff = (1/T + c/σ²)^−1: the collapse-aware ridge (c = nσ0²/(T0−d−1))."""
    return effective_T(T, c, sigma) ** -critical_ridge_exponent(beta, r)


def effective_T(T, c: float, sigma: float):
    """T_eff = (1/T + c/σ²)^−1: the clean sample size with the same noise-to-sample ratio."""
    return 1.0 / (1.0 / np.asarray(T, float) + c / sigma ** 2)


# ============================================================================ Zipf tails
def check_vocab(beta: float, T_max: float, vocab: int, factor: float = 10.0) -> None:
    """Refuse a vocabulary too small for the T-law: need V ≥ factor · T_max^(1/β) (else the finite-V tail
    bends the slope: the seen ranks reach V)."""
    need = factor * float(T_max) ** (1.0 / beta)
    if vocab < need:
        raise ValueError(f"vocab must be >= {factor:g}·T_max^(1/beta) = {need:.0f} (V >> T^(1/β), else the "
                         f"slope drifts), got vocab = {vocab}")


def _T(T):
    T = np.asarray(T, float)
    if np.any(T < 0) or np.any(~np.isfinite(T)):
        raise ValueError("T must be finite and >= 0")
    return T


def hutter_error(p, q, T):
    """Σ_i p_i (1 − q_i)^T: Hutter model trained on T samples of q, tested on p. T array -> like T."""
    p, q, T = np.asarray(p, float), np.asarray(q, float), _T(T)
    Tr = T.reshape(1, -1)
    miss = np.exp(Tr * np.log1p(-np.minimum(q, 1.0 - 1e-16))[:, None])
    miss = np.where(q[:, None] >= 1.0, (Tr == 0).astype(float), miss)           # a sure token: seen iff T > 0
    return (p[:, None] * miss).sum(0).reshape(T.shape)


def hutter_error_sd_bound(p, q, T):
    """Upper bound on the SD of one draw of the Hutter error Σ_i p_i 1{i unseen in T samples of q}:
    sqrt(Σ_i p_i² P_i(1 − P_i)), P_i = (1 − q_i)^T. Exact variance minus the covariances, which are ≤ 0
    ((1 − q_i − q_j)^T ≤ (1 − q_i)^T (1 − q_j)^T), so the bound is conservative. T array -> like T."""
    p, q, T = np.asarray(p, float), np.asarray(q, float), _T(T)
    P = np.exp(T.reshape(1, -1) * np.log1p(-np.minimum(q, 1.0 - 1e-16))[:, None])
    P = np.where(q[:, None] >= 1.0, (T.reshape(1, -1) == 0).astype(float), P)
    return np.sqrt((p[:, None] ** 2 * P * (1 - P)).sum(0)).reshape(T.shape)


def tail_cut_error(beta: float, T, k: int, vocab: int):
    """Exact E of the Hutter model trained on T samples of Zipf(β) cut at rank k (renormalised), tested on the
    uncut Zipf(β) law on `vocab` tokens: (Z_k/Z_V) Σ_{i≤k} q_i(1−q_i)^T + Σ_{i>k} p_i. k ≥ vocab: no cut.
    Reuses associative_memory.theory.expected_error_infinite_capacity (C23 Eq. 5). [DFYCK24 Thm. 2.1]"""
    beta = check_beta(beta)
    vocab = _int("vocab", vocab, 1)
    k = _int("k", k, 1)
    T = _T(T)
    k = min(k, vocab)
    w = np.arange(1, vocab + 1, dtype=float) ** -beta
    zk, zv = w[:k].sum(), w.sum()
    if k == 1:                          # q = δ_1: the only token is seen as soon as T >= 1
        head = (T == 0).astype(float) * (zk / zv)
    else:
        head = expected_error_infinite_capacity(k, beta, T) * (zk / zv)
    out = head + w[k:].sum() / zv
    return float(out) if out.ndim == 0 else out


def tail_cut_law(beta: float, T, k):
    """Asymptotic two-term law (V = ∞): Γ(1−1/β) ζ(β)^(−1/β) T^−(1−1/β)/β + k^−(β−1)/((β−1)ζ(β))."""
    beta = check_beta(beta)
    T, k = np.asarray(T, float), np.asarray(k, float)
    return (special.gamma(1 - 1 / beta) * special.zeta(beta) ** (-1 / beta) / beta * T ** -(1 - 1 / beta)
            + k ** -(beta - 1) / ((beta - 1) * special.zeta(beta)))


def cut_law(vocab: int, beta: float, k: int) -> np.ndarray:
    """q = Zipf(β) cut at rank k on `vocab` tokens (zeros beyond k), float64 [vocab]."""
    q = np.zeros(vocab)
    k = min(_int("k", k, 1), vocab)
    q[:k] = zipf_probs(k, beta)
    return q


def mix_error(beta: float, T, k: int, pi: float, vocab: int):
    """Exact E with a fraction π of clean samples: Σ p_i (1 − πp_i − (1−π)q_i)^T, q cut at k. π = 1: clean."""
    beta, pi = check_beta(beta), check_pi(pi)
    vocab = _int("vocab", vocab, 1)
    p = zipf_probs(vocab, beta)
    return hutter_error(p, pi * p + (1 - pi) * cut_law(vocab, beta, k), T)


def narrowed_error(beta: float, beta_prime: float, T, vocab: int):
    """Exact E when trained on Zipf(β') (tail narrowing, β' ≥ β), tested on Zipf(β): Σ p_i(1 − q_i)^T."""
    beta, beta_prime = check_beta(beta), check_beta(beta_prime)
    if beta_prime < beta:
        raise ValueError(f"beta_prime must be >= beta = {beta} (a narrowed tail), got {beta_prime}")
    vocab = _int("vocab", vocab, 1)
    return hutter_error(zipf_probs(vocab, beta), zipf_probs(vocab, beta_prime), T)


def mix_plateau_end(beta: float, k: int, pi: float) -> float:
    """T at which the mixed curve leaves the cut plateau: πT ≈ k^β (tail tokens start being seen)."""
    return float(k) ** beta / max(pi, 1e-300)


def _binom_expect(p: np.ndarray, T0: int, g: np.ndarray) -> np.ndarray:
    """Σ_c Bin(c; T0, p_i) g[c, j] for every token i -> [V, J], summing each token over a window of ±(12σ+12)
    around its mean (the mass outside is < 1e-30). Tokens are processed in blocks of similar p."""
    V = len(p)
    out = np.zeros((V, g.shape[1]))
    order = np.argsort(-p)
    edges = [0]
    while edges[-1] < V:   # geometric blocks in rank: similar p inside a block, few tokens in the wide head
        edges.append(min(V, max(edges[-1] + 1, 2 * edges[-1])))
    for a, b in zip(edges[:-1], edges[1:]):
        idx = order[a:b]
        pm, pl = p[idx].max(), p[idx].min()
        hi = min(T0, int(math.ceil(T0 * pm + 12 * math.sqrt(T0 * pm) + 12)))
        lo = max(0, int(math.floor(T0 * pl - 12 * math.sqrt(T0 * pl) - 12)))
        c = np.arange(lo, hi + 1)
        pmf = stats.binom.pmf(c[None, :], T0, p[idx][:, None])          # [B, W]
        out[idx] = pmf @ g[lo:hi + 1]
    return out


def generations_error(beta: float, T, T0: int, n: int, vocab: int):
    """Exact E_n(T): Hutter model on T samples of the generation-n law (each generation = the empirical law of
    T0 samples of the previous one; generation 0 = p), tested on p. Wright–Fisher count chain (module
    docstring); n = 0 is the clean law. Cost O(n T0² + V·window). T array -> like T."""
    p, U = _generations_unseen(beta, T, T0, n, vocab)
    return (p[:, None] * U).sum(0).reshape(np.shape(T))


def generations_error_sd_bound(beta: float, T, T0: int, n: int, vocab: int):
    """SD of one draw of the generation-n Hutter error in the diagonal form sqrt(Σ_i p_i² m_i(1 − m_i)),
    m_i = P(token i unseen) (exact marginals from the Wright–Fisher chain). The neglected cross-covariances of
    the unseen indicators are ≤ 0 given q, and the Wright–Fisher counts are negatively correlated, so this is
    the conservative diagonal (an SE floor for the pointwise checks, as `hutter_error_sd_bound`)."""
    p, U = _generations_unseen(beta, T, T0, n, vocab)
    return np.sqrt((p[:, None] ** 2 * U * (1 - U)).sum(0)).reshape(np.shape(T))


def _generations_unseen(beta, T, T0, n, vocab):
    """(p [V], P(token i unseen after T samples of generation n) [V, J])."""
    beta = check_beta(beta)
    vocab, T0, n = _int("vocab", vocab, 1), _int("T0", T0, 1, 20_000), _int("n", n, 0, 1000)
    T = _T(T).reshape(-1)
    p = zipf_probs(vocab, beta)
    if n == 0:
        return p, np.exp(T[None, :] * np.log1p(-np.minimum(p, 1.0 - 1e-16))[:, None])
    c = np.arange(T0 + 1, dtype=float)
    with np.errstate(divide="ignore"):
        g = np.exp(T.reshape(1, -1) * np.log1p(-np.minimum(c / T0, 1 - 1e-300))[:, None])   # f_T(c) [T0+1, J]
    g[-1] = 0.0                                                                       # c = T0: (1 − 1)^T = 0
    if T.size and np.any(T == 0):
        g[:, T.reshape(-1) == 0] = 1.0
    if n > 1:
        M = stats.binom.pmf(c[None, :], T0, c[:, None] / T0)                          # M[c, c']
        for _ in range(n - 1):
            g = M @ g
    return p, _binom_expect(p, T0, g)


def generations_floor_exponent(beta: float) -> float:
    """E_n(∞) ≍ (n/T0)^(1−1/β): decay exponent in n is −(1 − 1/β) (the floor grows with n)."""
    return -(1.0 - 1.0 / check_beta(beta))


def hutter_exponent(beta: float) -> float:
    """Clean Hutter law E ≍ T^−(1−1/β) [C23 Thm. 1; DFYCK24]."""
    return 1.0 - 1.0 / check_beta(beta)


def narrowed_exponent(beta: float, beta_prime: float) -> float:
    """E ≍ T^−(β−1)/β' when trained on Zipf(β') and tested on Zipf(β)."""
    return (check_beta(beta) - 1.0) / check_beta(beta_prime)


def cut_floor_exponent(beta: float) -> float:
    """Floor Σ_{i>k} p_i ≍ k^−(β−1) [DFYCK24 Thm. 2.1]."""
    return check_beta(beta) - 1.0
