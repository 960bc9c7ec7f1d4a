"""Closed-form theory for random-feature regression and power-law random features (PLRF).

One notation (issue 4): latent spectrum λ_k = k^(-b), k = 1..M; teacher with task power
λ_k w_k² = k^(-a) (a > 1); N features, P samples, t gradient-flow time, C = N·t. PLRF (Paquette et al.)
maps onto it through b = 2α, a = 2α + 2β (`plrf_to_ab`).

Every function is pure float math on numpy arrays (float64; spectra span many decades) and raises
`ValueError` naming the violated condition outside its regime. References:
  [BCP20]  Bordelon, Canatar & Pehlevan, ICML 2020 ("Spectrum dependent learning curves"), Eq. 4–5.
  [MRS22]  Maloney, Roberts & Sully, arXiv:2210.16859, §3–4 (Eq. 1.3–1.5 and 4.x).
  [BDKLS21] Bahri, Dyer, Kaplan, Lee & Sharma, arXiv:2102.06701 (variance- vs resolution-limited).
  [BAP24]  Bordelon, Atanasov & Pehlevan, ICML 2024, arXiv:2402.01092, §3–4 (Eq. 6–10).
  [PPXP24] Paquette, Paquette, Xiao & Pennington, NeurIPS 2024, arXiv:2405.15074, Eq. 7–11, Table 2.
  [Bach23] Bach, "High-dimensional analysis of double descent for linear regression with random
           projections", SIMODS 2024 (the projection equivalent).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from simulators.harness.compare import Prediction


# ----------------------------------------------------------------------------- spectra
def check_ab(a: float, b: float) -> None:
    """Refuse the (a, b) outside the model: the task power must be summable and the spectrum decay."""
    if not a > 1:
        raise ValueError(f"a must be > 1 (summable task power λ_k w_k² = k^-a), got a={a}")
    if not b > 0:
        raise ValueError(f"b must be > 0 (decaying spectrum λ_k = k^-b), got b={b}")


def spectrum(M: int, b: float) -> np.ndarray:
    """λ_k = k^(-b), k = 1..M, float64 [M]."""
    if int(M) < 1:
        raise ValueError(f"M must be >= 1, got {M}")
    if not b > 0:
        raise ValueError(f"b must be > 0, got {b}")
    return np.arange(1, int(M) + 1, dtype=np.float64) ** (-float(b))


def task_power(M: int, a: float) -> np.ndarray:
    """λ_k w_k² = k^(-a), float64 [M] (the teacher's weight on mode k)."""
    if not a > 1:
        raise ValueError(f"a must be > 1, got {a}")
    return np.arange(1, int(M) + 1, dtype=np.float64) ** (-float(a))


def solve_kappa(lam: np.ndarray, n, ridge: float = 0.0, iters: int = 200) -> np.ndarray:
    """Renormalised ridge κ(n): κ − ridge = (κ/n) Σ_k λ_k/(λ_k+κ)  [BCP20 Eq. 4; Bach23 for n = N].

    Ridgeless (ridge = 0): Σ_k λ_k/(λ_k+κ) = n, which needs n < M (else κ = 0: everything is resolved).
    Solved by bisection in log κ (the left side minus right side is monotone), vectorised over n.

    Args: lam [M] spectrum; n scalar or [K] sample/feature counts (> 0); ridge >= 0.
    Returns: κ, shape of n.
    """
    lam = np.asarray(lam, np.float64)
    n = np.atleast_1d(np.asarray(n, np.float64))
    if np.any(n <= 0):
        raise ValueError(f"n must be > 0, got {n}")
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    lo = np.full(n.shape, math.log(1e-40))
    hi = np.full(n.shape, math.log(max(1e4, 10 * lam.sum() + 10 * ridge)))
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        k = np.exp(mid)[:, None]
        g = 1.0 - ridge / k[:, 0] - (lam[None, :] / (lam[None, :] + k)).sum(1) / n
        up = g > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    kap = np.exp(0.5 * (lo + hi))
    if ridge == 0:
        kap = np.where(n >= len(lam), 0.0, kap)
    return kap


# ----------------------------------------------------------------------------- ridge / projection / MRS
def ridge_test_error(lam, tw, P, ridge: float = 0.0, noise: float = 0.0):
    """Ridge deterministic equivalent [BCP20 Eq. 4–5] for regression on the latents with P samples.

    E_test = [κ² Σ_k λ_k w_k²/(λ_k+κ)² + σ²] / (1 − df2/P),  df2 = Σ_k λ_k²/(λ_k+κ)².
    Args: lam [M]; tw = λ_k w_k² [M]; P scalar or [K]; ridge μ (objective (1/P)|Xθ−y|² + μ|θ|²); noise σ².
    Returns: (E_test, excess) arrays like P; excess = E_test − σ² is the population loss of the estimator.
    """
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    P = np.atleast_1d(np.asarray(P, float))
    if ridge == 0 and np.any(P >= len(lam)):
        raise ValueError("ridgeless theory needs P < M (the interpolation regime); use ridge > 0 or a larger M")
    kap = solve_kappa(lam, P, ridge)[:, None]
    df2 = (lam[None] ** 2 / (lam[None] + kap) ** 2).sum(1)
    bias = (kap[:, 0] ** 2) * (tw[None] / (lam[None] + kap) ** 2).sum(1)
    e = (bias + noise) / (1.0 - df2 / P)
    return e, e - noise


def projection_loss(lam, tw, N):
    """Random-feature projection at P = ∞ [Bach23 Thm; MRS22 §4]: Σ_k λ_k/(λ_k+κ) = N,
    L_∞(N) = κ Σ_k λ_k w_k²/(λ_k+κ). Linear features; N < M (N >= M resolves everything: L = 0)."""
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    N = np.atleast_1d(np.asarray(N, float))
    kap = solve_kappa(lam, N)[:, None]
    return kap[:, 0] * (tw[None] / (lam[None] + kap)).sum(1)


def mrs_loss(lam, tw, N, P):
    """Ridgeless linear random features at finite (N, P), noise-free, averaged over features and data.

    MRS22 (Eq. 1.5 / §4) give L ≈ L_n · max(N, P)/|N − P|, n = min(N, P), L_n = n κ(n), for the isotropic
    teacher (a = b). For a general teacher (any a, b) we use the two exact conditional laws of this module:

      N < P − 1:  L = L_∞(N) · (P − 1)/(P − N − 1)          (Gaussian-design least squares, the projection
                  residual acting as independent noise; exact given F, L_∞ from `projection_loss`);
      P < N − 1:  L = E(P) + P κ_P Σ_k λ_k w_k²/(λ_k + κ_P) / (N − P − 1)   (E(P) = ridgeless excess on the
                  latents, `ridge_test_error`; the variance term is `variance_limited_excess(axis="N")`, the
                  data average of the exact `variance_excess_given_data`).

    For a = b both reduce to MRS22's n κ(n) · max(N,P)/|N − P| up to the −1 finite-size shifts
    (P κ_P Σλ/(λ+κ_P) = P² κ_P and E(P) = P κ_P there). For a ≠ b the MRS base E(P)·N/(N − P) has the wrong
    variance prefactor (E(P)·P vs P κ_P Σλw²/(λ+κ_P)), which is why it is not used. The mean diverges for
    |N − P| ≤ 1 (raises there: the double-descent peak). Arrays N, P broadcast.
    """
    N, P = np.broadcast_arrays(np.asarray(N, float), np.asarray(P, float))
    if np.any(np.abs(N - P) <= 1):
        raise ValueError("mrs_loss needs |N − P| > 1: the mean loss diverges at the double-descent peak N = P "
                         "(inverse-Wishart mean of the N − P − 1 or P − N − 1 law)")
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    out = np.empty(N.shape)
    for idx in np.ndindex(N.shape):
        n, p = N[idx], P[idx]
        if n < p:
            out[idx] = projection_loss(lam, tw, n)[0] * (p - 1) / (p - n - 1)
        else:
            base = ridge_test_error(lam, tw, p)[1][0]
            out[idx] = base + variance_limited_excess(lam, tw, "N", int(p), [n])[0]
    return out


# ----------------------------------------------------------------------------- gradient flow (BAP24)
def _kappa_complex(lam, N: float, mu: np.ndarray, k_start: complex) -> np.ndarray:
    """κ(μ) for complex ridge μ: κ − μ = (κ/N) Σ_k λ_k/(λ_k+κ), Newton with continuation along μ
    (each point starts from the previous root, so the physical branch is followed)."""
    out = np.empty(len(mu), complex)
    k = complex(k_start)
    for i, m in enumerate(mu):
        for _ in range(60):
            r = lam / (lam + k)
            step = (k - m - k * r.sum() / N) / (1 - (r * r).sum() / N)
            k -= step
            if abs(step) <= 1e-13 * abs(k):
                break
        out[i] = k
    return out


def flow_spectral_measure(lam, tw, N: float, nx: int = 600, eta: float = 0.02):
    """Deterministic equivalent of the measure ν = Σ_j (a_j²) δ(g − g_j) of the feature Gram G = FΛFᵀ/N
    weighted by the target, a = Uᵀc (c = FΛw/√N): cᵀ(G + μ)⁻¹c ≈ h(μ) = Σ_k λ_k² w_k²/(λ_k + κ(μ)),
    κ(μ) − μ = (κ/N)Σλ/(λ+κ) [Bach23; BAP24 §3 (the same resolvent)]. The density is recovered by
    Stieltjes inversion, ν(x) = |Im h(−x(1 + iη))|/π on a log grid of nx points (η: relative smoothing).
    Returns (x [nx], density [nx])."""
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    x = np.geomspace(1e-6 * lam[-1], 4 * lam.max(), nx)[::-1]     # descending: continuation
    k0 = float(solve_kappa(lam, N)[0])
    kk = _kappa_complex(lam, N, -x * (1 + 1j * eta), k0 + 4 * lam.max() + 1e-3j)
    h = (tw[None] * lam[None] / (lam[None] + kk[:, None])).sum(1)
    return x[::-1], (np.abs(h.imag) / np.pi)[::-1]


def gradient_flow_loss(lam, tw, N, t, lr: float | None = None, nx: int = 600):
    """Population loss of gradient flow on N linear features at P = ∞ (φ = Fx/√N, F_ij ~ N(0, 1)),
    averaged over F [BAP24 §3–4, P = ∞ case]:

        L(t) = L_∞(N) + ∫ ν(g) e^(−2gt)/g dg,

    ν from `flow_spectral_measure`; it starts at L(0) = wᵀΛw and ends at the projection floor L_∞(N).
    N = None or ∞: the exact Σ_k λ_k w_k² e^(−2λ_k t) [BAP24 Eq. 6]. With `lr`, discrete GD from v = 0:
    e^(−2gt) -> (1 − lr g)^(2t). The isolated top eigenvalues fluctuate at O(N^-½) (not in the equivalent):
    expect a few % at t ≲ 1. Args: t [T] >= 0. Returns [T].
    """
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    t = np.atleast_1d(np.asarray(t, float))
    if np.any(t < 0):
        raise ValueError("t must be >= 0")
    if lr is not None and not 0 < lr < 2.0 / (1.5 * lam.max()):
        raise ValueError(f"GD lr must be in (0, 2/(1.5 λ_max)) (stability with margin for the top feature "
                         f"eigenvalue), got {lr}")
    if N is None or not math.isfinite(N):
        g, nu = lam, tw * lam
        L_inf = 0.0
        dec = np.exp(-2.0 * g[None] * t[:, None]) if lr is None else (1 - lr * g[None]) ** (2 * t[:, None])
        return (nu[None] / g[None] * dec).sum(1)
    if N >= len(lam):
        raise ValueError(f"finite-N gradient-flow theory needs N < M, got N={N}, M={len(lam)}")
    x, dens = flow_spectral_measure(lam, tw, N, nx)
    L_inf = projection_loss(lam, tw, N)[0]
    dec = np.exp(-2.0 * x[None] * t[:, None]) if lr is None else (1 - lr * x[None]) ** (2 * t[:, None])
    S = np.trapezoid(dens[None] * dec / x[None], x, axis=1)
    # normalise the recovered mass to the exact total h(0) = Σ λ_k² w_k²/(λ_k+κ) (Stieltjes smoothing loses ~1%)
    h0 = (tw * lam / (lam + solve_kappa(lam, N)[0])).sum()
    S *= h0 / np.trapezoid(dens / x, x)
    return L_inf + S


# ----------------------------------------------------------------------------- exponents
def exponent_model(a: float, b: float) -> float:
    """L ∝ N^(-min(a−1, b)) at P = ∞ [MRS22 Eq. 1.3; BDKLS21 resolution-limited; BAP24 Eq. 9]."""
    check_ab(a, b)
    return min(a - 1.0, b)


def exponent_data(a: float, b: float) -> float:
    """L ∝ P^(-min(a−1, 2b)), ridgeless, N = ∞ [BCP20 §4; BAP24 Eq. 9 (saturation at 2b)]."""
    check_ab(a, b)
    return min(a - 1.0, 2.0 * b)


def exponent_time(a: float, b: float) -> float:
    """L ∝ t^(-(a−1)/b), gradient flow, N = P = ∞ [BAP24 Eq. 8]."""
    check_ab(a, b)
    return (a - 1.0) / b


def compute_optimal_exponents(a: float, b: float) -> dict:
    """C = N·t, P = ∞, m = min(a−1, b) [BAP24 §4.1, Eq. 10]: N* ∝ C^(a−1)/(a−1+bm), t* ∝ C^(bm/(a−1+bm)),
    L* ∝ C^(−m(a−1)/(a−1+bm)). Returns growth exponents {"N": , "t": , "L": decay rate}."""
    check_ab(a, b)
    m = min(a - 1.0, b)
    den = a - 1.0 + b * m
    return {"N": (a - 1.0) / den, "t": b * m / den, "L": m * (a - 1.0) / den}


def variance_limited_exponent() -> float:
    """Excess loss over its infinite-size limit ∝ 1/P (fixed N) and ∝ 1/N (fixed P) [BDKLS21 §2.1]."""
    return 1.0


def variance_excess_given_data(X, w, lam, N: int) -> float:
    """E_F[L(N, P)] − L(∞, P) for ridgeless regression on N linear Gaussian features, GIVEN the data X [P, M]
    (our derivation, exact; the variance-limited 1/N law of BDKLS21 §2.1 with its prefactor):

        = ‖θ_∞‖² · tr(Λ Π⊥) / (N − P − 1),   θ_∞ = Xᵀ(XXᵀ)⁻¹y (min-norm on the latents), Π⊥ = I − Π_X.

    Proof sketch: with Xᵀ = QR, G = FQ and F_⊥ = F(I − QQᵀ) are independent; the min-norm predictor is
    θ_N = θ_∞ + Π⊥ F_⊥ᵀ G (GᵀG)⁻¹ u, u = R⁻ᵀy (‖u‖ = ‖θ_∞‖): given G the deviation is N(0, uᵀ(GᵀG)⁻¹u · Π⊥),
    and E[(GᵀG)⁻¹] = I/(N − P − 1) (inverse-Wishart mean). The per-draw excess has a
    zero-mean term −2(w − θ_∞)ᵀΛ(θ_N − θ_∞) of size N^-½ that dominates the N^-1 mean: measure the mean.
    Args: X [P, M] latents (x ~ N(0, Λ)), w [M] teacher, lam [M]; N > P + 1. Returns a float.
    """
    X, w, lam = (np.asarray(z, float) for z in (X, w, lam))
    P = X.shape[0]
    if not N > P + 1:
        raise ValueError(f"variance-limited excess in N needs N > P + 1 (inverse-Wishart mean), got N={N}, P={P}")
    Q, _ = np.linalg.qr(X.T)                                   # [M, P]
    theta = Q @ (Q.T @ w)                                      # min-norm interpolant = projection of w
    tr_perp = lam.sum() - ((Q ** 2) * lam[:, None]).sum()
    return float(theta @ theta * tr_perp / (N - P - 1))


def variance_limited_excess(lam, tw, axis: str, fixed: int, sizes):
    """Expected excess loss over the infinite-size limit in the variance-limited regime, linear features:

    axis "N" (P = fixed samples, ridgeless, N > P + 1):  P κ_P Σ_k λ_k w_k²/(λ_k + κ_P) / (N − P − 1),
        κ_P from Σ λ/(λ+κ) = P: the exact feature average of `variance_excess_given_data` with the data part
        replaced by its deterministic equivalent ‖θ_∞‖² ≈ Σ w²λ/(λ+κ), tr(ΛΠ⊥) ≈ Pκ [BCP20 Eq. 4; Bach23].
        For a = b (MRS) it equals MRS22's E(P)·P/(N − P); for a ≠ b MRS's base E(P) is not the prefactor.
    axis "P" (N = fixed features, P > N + 1):  L_∞(N) · N/(P − N − 1): Gaussian-design least squares with
        the projection residual as independent noise (exact given F), L_∞(N) from `projection_loss`.
    Both ∝ size^-1 asymptotically [BDKLS21 §2.1]. Returns [K] for sizes [K].
    """
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    x = np.atleast_1d(np.asarray(sizes, float))
    if axis not in ("N", "P"):
        raise ValueError(f"axis must be 'N' or 'P', got {axis!r}")
    if np.any(x <= fixed + 1):
        raise ValueError(f"variance-limited excess needs size > fixed + 1 = {fixed + 1}, got {x.min():g}")
    if axis == "N":
        if fixed >= len(lam):
            raise ValueError(f"axis N needs P < M, got P={fixed}, M={len(lam)}")
        k = float(solve_kappa(lam, fixed)[0])
        return fixed * k * (tw / (lam + k)).sum() / (x - fixed - 1)
    return projection_loss(lam, tw, fixed)[0] * fixed / (x - fixed - 1)


# ----------------------------------------------------------------------------- PLRF (PPXP24)
def check_plrf(alpha: float, beta: float) -> None:
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    if not 2 * alpha + 2 * beta > 1:
        raise ValueError(f"PLRF needs 2α + 2β > 1 (finite loss at d = ∞), got 2α+2β = {2 * alpha + 2 * beta:g}")


def plrf_to_ab(alpha: float, beta: float) -> tuple[float, float]:
    """x ~ N(0, diag(j^-2α)), b_j = j^-β  ->  (a, b) = (2α + 2β, 2α): λ_j b_j² = j^-(2α+2β)."""
    check_plrf(alpha, beta)
    return 2 * alpha + 2 * beta, 2 * alpha


ALPHA_IV = 1 - 1 / math.sqrt(2)      # IVa | IVb boundary: 2α² − 4α + 1 = 0 (see `plrf_compute_optimal`)


def plrf_phase(alpha: float, beta: float) -> str:
    """Phase of (α, β) in the PPXP24 diagram (their Fig. 2). Boundaries belong to the higher phase in this
    order: 2β = 1 -> the II/IV/Ic side, β = α -> III, α = ½ -> above the high-dimensional line, α = ¼ -> IV,
    α = 1 − 1/√2 -> IVb.

    Above the high-dimensional line (2α ≥ 1): Ia: 2β < 1;  II: ½ ≤ β < α;  III: β ≥ α.
    Below it (2α < 1): Ib: 2β < 1 (PPXP24 prove it for α > ¼ and conjecture it below; we take it for all
    α < ½);  Ic: 2β ≥ 1, α < ¼;  IVa: 2β ≥ 1, ¼ ≤ α < 1 − 1/√2;  IVb: 2β ≥ 1, 1 − 1/√2 ≤ α < ½.
    The IVa | IVb line α = 1 − 1/√2 ≈ 0.293 is where the SGD-noise term at fixed compute stops depending on d
    (derivation in `plrf_compute_optimal`).
    """
    check_plrf(alpha, beta)
    if 2 * beta < 1:
        return "Ia" if 2 * alpha >= 1 else "Ib"
    if 2 * alpha >= 1:
        return "III" if beta >= alpha else "II"
    if alpha < 0.25:
        return "Ic"
    return "IVa" if alpha < ALPHA_IV else "IVb"


PLRF_PHASES = ("Ia", "Ib", "Ic", "II", "III", "IVa", "IVb")


def plrf_compute_optimal(alpha: float, beta: float) -> dict:
    """Compute-optimal exponents d* ∝ f^ξ, P* ∝ f^(−η) of one-pass SGD on the PLRF (f = flops = d·r·B), in
    every phase. Returns {"phase", "xi", "loss", "source"}.

    Above the high-dimensional line, as stated in PPXP24 (Sec. 3, Table 2):
      Ia: ξ = 1/(2α+1), η = (2α+2β−1)/(2α+1);  II: ξ = β/(α+β), η = (2α+2β−1)/(2(α+β));
      III: ξ = ½, η = 1 − 1/(4α).
    Below it (2α < 1) the table's formulas could not be retrieved here, so these are DERIVED (source
    "derived") from the same loss decomposition the paper uses, P ≈ F_pp + F_0 + N + (F_ac), in effective
    time τ = γ r with the learning rate at its stability scale γ ∝ 1/tr K ∝ d^(2α−1) (v ∝ d, as PPXP24
    take v/d fixed below the line), and with s = 2α + 2β − 1:
      F_pp(τ) ≍ τ^(−s/(2α))                       (signal in the top d modes, eigenvalues j^−2α)
      F_0(d)  ≍ d^(−min(2α, s))                   (the capacity floor; F_ac is of the same order for 2α < 1)
      N(τ,d)  ≍ γ Σ_j λ_j² e^(−2τλ_j) ≍ d^(2α−1) τ^(−(4α−1)/(2α))   for α > ¼ (SGD noise; for α < ¼ the sum
              is dominated by j ≈ d and N is of the order of F_0).
    Minimising over d at fixed f = r·d = τ d^(2−2α):
      Ib  (2β < 1): F_pp = F_0 at τ = d^(2α), r = d:  ξ = ½, η = s/2  (the noise stays ≤ F_0).
      Ic  (2β ≥ 1, α < ¼): F_pp = F_0 = d^(−2α):  ξ = s/(2(3α + 2β − 1 − 2αβ)), η = 2αξ.
      IVb (2β ≥ 1, α ≥ 1 − 1/√2): at fixed f, N ∝ d^(−(2α²−4α+1)/α) grows with d, and N = F_0 at τ = d^(2α):
          ξ = ½, η = α.
      IVa (2β ≥ 1, ¼ ≤ α < 1 − 1/√2): N falls with d at fixed f, and F_pp = N at τ = d^(α(1−2α)/(β−α)):
          ξ = (β−α)/(2β − α − 2αβ), η = s(1−2α)/(2(2β − α − 2αβ)).
    Checks (tests): η is continuous across every boundary of the plane, ξ across every boundary except
    IVa | IVb (there N is flat in d at fixed f, so the argmin jumps while the loss exponent is continuous),
    and the below-line values reduce to the above-line ones at α = ½.
    """
    ph = plrf_phase(alpha, beta)
    a, b = alpha, beta
    s = 2 * a + 2 * b - 1
    if ph == "Ia":
        xi, eta = 1 / (2 * a + 1), s / (2 * a + 1)
    elif ph == "II":
        xi, eta = b / (a + b), s / (2 * (a + b))
    elif ph == "III":
        xi, eta = 0.5, 1 - 1 / (4 * a)
    elif ph == "Ib":
        xi, eta = 0.5, s / 2
    elif ph == "Ic":
        xi = s / (2 * (3 * a + 2 * b - 1 - 2 * a * b))
        eta = 2 * a * xi
    elif ph == "IVa":
        den = 2 * b - a - 2 * a * b
        xi, eta = (b - a) / den, s * (1 - 2 * a) / (2 * den)
    else:  # IVb
        xi, eta = 0.5, a
    source = "PPXP24 Table 2" if ph in ("Ia", "II", "III") else "derived (PPXP24 decomposition, γ ∝ d^(2α−1))"
    return {"phase": ph, "xi": xi, "loss": eta, "source": source}


from .config import plrf_lr_bound  # noqa: E402,F401  (numpy-only, beside the configs that validate lr with it)


def volterra_kernel_norm(lam, lr: float, B: int) -> float:
    """Σ_j γλ_j/(2 − γ(B+1)λ_j): the constant-lr floor is P_∞/(1 − norm) [PPXP24 Eq. 10]."""
    lam = np.asarray(lam, float)
    return float(np.sum(lr * lam / (2 - lr * (B + 1) * lam)))


def plrf_resolvent_m(z, lam_bar, d: int, iters: int = 500):
    """Deterministic equivalent m(z) of PPXP24 Eq. 11: m + (1/d) Σ_j λ̄_j m/(λ̄_j m − z) = 1.

    With W ∈ R^{v×d}, W_ij ~ N(0, 1/d), K = WᵀDW: (1/d) tr (K − z)^(-1) ≈ −m(z)/z (checked against Monte
    Carlo in the tests). Solved by damped fixed-point iteration m <- 1/(1 + (1/d) Σ λ̄/(λ̄ m − z)),
    valid for z off the positive real axis (z < 0 or Im z ≠ 0).
    """
    lam_bar = np.asarray(lam_bar, float)
    z = np.asarray(z, complex)
    if np.any((z.imag == 0) & (z.real >= 0)):
        raise ValueError("plrf_resolvent_m needs z off [0, ∞) (z < 0 or Im z != 0)")
    m = np.ones_like(z)
    for _ in range(iters):
        new = 1.0 / (1.0 + (lam_bar[None] / (lam_bar[None] * m[..., None] - z[..., None])).sum(-1) / d)
        m = 0.5 * m + 0.5 * new
    return m


# ----------------------------------------------------------------------------- predictions
def prediction(kind: str, a: float, b: float) -> Prediction:
    """Prediction objects for the report rows (kind in model, data, time, variance, N*, t*, L*)."""
    refs = {
        "model": (exponent_model, "resolution-limited in N, P = ∞", "MRS22 Eq. 1.3; BAP24 Eq. 9"),
        "data": (exponent_data, "resolution-limited in P, N = ∞, ridgeless", "BCP20 §4; BAP24 Eq. 9"),
        "time": (exponent_time, "gradient flow, N = P = ∞", "BAP24 Eq. 8"),
    }
    if kind in refs:
        fn, regime, ref = refs[kind]
        return Prediction(fn(a, b), regime, (f"a={a:g}, b={b:g}", "M >> sizes"), ref)
    if kind == "variance":
        return Prediction(1.0, "variance-limited", ("excess over the infinite-size limit",), "BDKLS21 §2.1")
    co = compute_optimal_exponents(a, b)
    key = {"N*": "N", "t*": "t", "L*": "L"}[kind]
    val = co[key] if key == "L" else -co[key]   # growth exponents are negative decay rates
    return Prediction(val, "compute-optimal, C = N·t, P = ∞", (f"a={a:g}, b={b:g}",), "BAP24 Eq. 10")


# ----------------------------------------------------------------------------- PLRF deterministic equivalent
def _plrf_newton(m: np.ndarray, zz: complex, lam_bar: np.ndarray, ds: np.ndarray, act: np.ndarray) -> None:
    """Newton on m[act] (in place) for f(m) = m + (1/d) Σ λ̄m/(λ̄m − z) − 1 = 0 at z = zz. With
    u_j = 1/(λ̄_j m − z): f(m) = m + (v + z Σu)/d − 1, f'(m) = 1 − (z/d) Σ λ̄u²; converged d's drop out.
    Steps that would leave the physical half-plane are halved (without it, the path jumped to a near-real
    root inside the bulk at d = 215, α = 0.7, and lost 97% of the eigenvalue mass)."""
    v = len(lam_bar)
    for _ in range(60):
        if len(act) == 0:
            return
        mm, dd = m[act], ds[act]
        u = 1.0 / (lam_bar[None] * mm[:, None] - zz)                      # [n_active, v]
        f = mm + (v + zz * u.sum(1)) / dd - 1
        fp = 1 - zz * (lam_bar[None] * u * u).sum(1) / dd
        step = f / fp
        for _ in range(30):                     # stay in the physical half-plane Im(−m/z) > 0: halve the step
            out = ((step - mm) / zz).imag < 0   # (the mirror root sits on its edge in the spectral gaps)
            if not out.any():
                break
            step = np.where(out, 0.5 * step, step)
        m[act] = mm - step
        act = act[np.abs(step) > 1e-11 * np.abs(m[act])]


def _plrf_m_path(z: np.ndarray, lam_bar: np.ndarray, ds: np.ndarray) -> np.ndarray:
    """m(z) of PPXP24 Eq. 11 for every d in ds along a path z[0], z[1], ... (|z| decreasing), Newton with
    continuation: each point starts from the previous root. Where the spectrum has gaps (between the
    separated top eigenvalues) Im m is O(η) and Newton can land on the mirror root, whose s = −m/z has
    Im s < 0; such roots are conjugated and polished, which puts them back on the physical branch
    (Im s > 0: s is a Stieltjes transform; `_plrf_m_grid` checks it everywhere). [X, len(ds)]"""
    out = np.empty((len(z), len(ds)), complex)
    m = np.ones(len(ds), complex)
    every = np.arange(len(ds))
    for i, zz in enumerate(z):
        _plrf_newton(m, zz, lam_bar, ds, every)
        bad = np.nonzero((-m / zz).imag < 0)[0]
        if len(bad):
            m[bad] = m[bad].conj()
            _plrf_newton(m, zz, lam_bar, ds, bad)
        out[i] = m
    return out


@functools.lru_cache(maxsize=8)
def _plrf_m_grid(alpha: float, v: int, ds: tuple, nx: int, eta: float):
    """m(z) of PPXP24 Eq. 11 on z = x(1 + iη), x on a log grid covering the spectrum of K for every d in ds
    (from 0.1·d_max^(−2α) to 2((1 + d_min^(−½))² + Σ_j λ̄_j/d_min), above the top eigenvalue). It depends on
    α only (not β), so it is cached and shared by the (α, β) points of one α. Returns (x [nx], m [nx, n_d])."""
    d_arr = np.asarray(ds, float)
    lb = np.arange(1, v + 1, dtype=float) ** (-2 * alpha)
    top = 2 * ((1 + d_arr.min() ** -0.5) ** 2 + lb.sum() / d_arr.min())
    x = np.geomspace(0.1 * d_arr.max() ** (-2 * alpha), top, nx)
    z = (x * (1 + 1j * eta))[::-1]
    m = _plrf_m_path(z, lb, d_arr)[::-1]
    s = -m / z[::-1, None]                              # (1/d) tr(K − z)⁻¹: a Stieltjes transform, Im s > 0
    if not np.all(np.isfinite(m)) or np.any(s.imag < -1e-2 * np.abs(s)):   # a few gap points polish to −1e-3
        raise RuntimeError(f"plrf m(z): Newton continuation left the physical branch (α={alpha}, v={v}); "
                           "try another nx or eta")
    return x, m


def plrf_spectral_equivalent(alpha: float, beta: float, v: int, ds, nx: int = 4000, eta: float = 1e-3):
    """W-free deterministic equivalent of the spectrum and the initial weights that drive the PLRF Volterra
    equation [PPXP24 Eq. 7 and 11; §4], for K = WᵀDW, W_ij ~ N(0, 1/d), as d deterministic modes per d:

      eigenvalue counts  n(x) dx ≈ (d/π) Im s(x + i0), s(z) = (1/d) tr(K − z)⁻¹ ≈ −m(z)/z;
      forcing measure    ν(x) dx ≈ (1/π) Im h(x + i0), h(z) = cᵀ(K − z)⁻¹c ≈ Σ_j λ̄_j b_j² · m λ̄_j/(m λ̄_j − z)
                         (c = WᵀDb; exact identity D^½W(K − z)⁻¹WᵀD^½ = I + z(D^½WWᵀD^½ − z)⁻¹ and the
                         anisotropic law (D^½WWᵀD^½ − z)⁻¹ ≈ (m(z)D − z)⁻¹); ρ-mass density ν(x)/x².
    m is solved at z = x(1 + iη) on a log grid of nx points (η = 1e-3: narrower than the top eigenvalues'
    bumps, of relative width ~ d^(−½); at η = 1e-4 the Newton path lost the physical branch in the bulk at some
    d), but both densities are then read with real x: n = −d Im m/(πx) and h(x) = Σ λ̄b²·mλ̄/(mλ̄ − x). Reading
    them at z instead adds the Lorentzian tail of the whole bulk, d·η/(πx), a floor worth ~2 spurious modes
    above the bulk at d = 4096 (its second mode came out 0.71 instead of 0.25). The span kept is where the
    density beats 10× that floor, and the eigenvalue mass must come out within 5% of d (else RuntimeError).
    Modes are quantiles, as in the authors' code: the counting function from the top, renormalised to d, is
    cut at the integers; mode k sits at the crossing of k − ½ (log-interpolated) and carries the ρ-mass
    between the crossings of k − 1 and k, renormalised to the exact total Σ_k x_k ρ_k = h(0) = cᵀK⁻¹c (its
    projection equivalent). Accuracy (checked against the mean over feature draws): top and bottom
    eigenvalues within a few % at d = 64–512; the loss curves of plrf.phases within 1.9–4.3% (median over
    (d, r)) of the 12-seed geometric mean at v = 4096; modes stay clean at v = 16384, d = 4096 (~90 s per α).
    Returns, per d: (x [d] descending eigenvalues, ρ [d], P_∞).
    """
    check_plrf(alpha, beta)
    ds = tuple(int(d) for d in ds)
    if max(ds) >= v:
        raise ValueError(f"the PLRF equivalent needs d < v, got max d = {max(ds)}, v = {v}")
    j = np.arange(1, v + 1, dtype=float)
    lb, b2 = j ** (-2 * alpha), j ** (-2 * beta)
    x, m = _plrf_m_grid(float(alpha), int(v), ds, int(nx), float(eta))
    z = x * (1 + 1j * eta)
    xd, lx = x[::-1], np.log(x[::-1])
    out = []
    for k, d in enumerate(ds):
        mk = m[:, k]
        dens = d * np.maximum(-mk.imag, 0.0) / (np.pi * x)
        # keep the span where the density beats 10× the smoothing's Lorentzian floor d·η/(πx); the ρ density
        # (an [nx, v] sum) is only evaluated there: it is zero outside, so this saves work, not accuracy
        ok = np.nonzero(dens > 10 * d * eta / (np.pi * x))[0]
        lo, hi = max(ok[0] - 5, 0), ok[-1] + 6
        keep = np.zeros(len(x), bool)
        keep[lo:hi] = True
        ms, xs = mk[lo:hi, None], x[lo:hi, None]
        h = (lb * b2 * (ms * lb) / (ms * lb - xs)).sum(1)
        rdens = np.zeros(len(x))
        rdens[lo:hi] = np.abs(h.imag) / np.pi / x[lo:hi] ** 2
        dens = np.where(keep, dens, 0.0)
        dx = -np.diff(xd)                                                  # descending grid, trapezoid
        ncum = np.concatenate([[0.0], np.cumsum(0.5 * (dens[::-1][1:] + dens[::-1][:-1]) * dx)])
        rcum = np.concatenate([[0.0], np.cumsum(0.5 * (rdens[::-1][1:] + rdens[::-1][:-1]) * dx)])
        if abs(ncum[-1] / d - 1) > 0.05:                                   # a lost branch loses mass
            raise RuntimeError(f"plrf equivalent: eigenvalue mass {ncum[-1]:.1f} at d = {d} (α={alpha}, v={v}), "
                               "expected d: the m(z) path left the physical branch; try another nx or eta")
        ncum *= d / ncum[-1]
        xk = np.exp(np.interp(np.arange(d) + 0.5, ncum, lx))
        rk = np.diff(np.interp(np.arange(d + 1), ncum, rcum))
        kap = float(solve_kappa(lb, d)[0])
        h0 = float((lb * b2 * lb / (lb + kap)).sum())                     # h(0) = cᵀK⁻¹c (projection equivalent)
        rk = rk * h0 / (rk * xk).sum()
        out.append((xk, rk, 0.5 * float((lb * b2).sum() - h0)))
    return out


def plrf_loss_equivalent(alpha: float, beta: float, v: int, ds, lr, B: int, checkpoints, **kw) -> np.ndarray:
    """W-free expected one-pass SGD loss P(r) [PPXP24 Eq. 7 with the deterministic modes of
    `plrf_spectral_equivalent`], in closed form at the checkpoints (`model.plrf_volterra_eig`: the same
    recursion s(r+1) = q s(r) + 2γ²Bλ P_r, P_r = P_∞ + ½ Σ λ s(r), s(0) = ρ). lr: a scalar or one per d.
    Raises if lr is above the stability bound of the equivalent spectrum. Returns [len(ds), len(checkpoints)]."""
    import torch

    from .model import plrf_volterra_eig

    ds = list(ds)
    spec = plrf_spectral_equivalent(alpha, beta, v, ds, **kw)
    lam = torch.zeros(len(ds), max(ds), dtype=torch.float64)
    rho = torch.zeros_like(lam)
    for k, (xk, rk, _) in enumerate(spec):
        lam[k, :len(xk)], rho[k, :len(xk)] = torch.from_numpy(xk), torch.from_numpy(rk)
    pinf = torch.tensor([sp[2] for sp in spec], dtype=torch.float64)
    lr = torch.as_tensor(lr, dtype=torch.float64).reshape(-1).expand(len(ds)).clone()
    try:
        return plrf_volterra_eig(lam, rho, pinf, lr, B, checkpoints).numpy()
    except ValueError as err:
        raise ValueError(f"lr={lr.tolist()} is above the stability bound of the equivalent spectrum "
                         f"(α={alpha}, v={v}, ds={ds})") from err
