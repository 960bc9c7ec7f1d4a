"""Batched simulators: random-feature regression (ridge, ridgeless, gradient flow, GD) and PLRF one-pass SGD.

Shapes: E instances (sizes × seeds × hyper-parameters), M latent dim, N features, P samples, T checkpoints.
Every instance owns its features and data, drawn from its own Philox stream keyed by (seed, role, size keys)
(`simulators._rng`, on the run's device, one call for all instances), so an instance's numbers never depend
on its batch-mates. Different sizes are
different batches (the experiments bucket by shape) or, for PLRF SGD, zero-padded columns (exact: padded
units get zero input and zero gradient). Losses are population losses in closed form:
linear features -> (w − θ)ᵀΛ(w − θ) with θ = Fᵀv/√N; ReLU / erf -> arc-cosine / arcsine kernels;
tanh (no closed form) -> a Monte-Carlo test set of `n_mc` latents.

Features: φ(x) = σ(F x)/√N, F_ij ~ N(0, 1), x ~ N(0, Λ), Λ = diag(k^-b); teacher y = wᵀx (+ noise).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

import kernels
from simulators import _rng
from simulators._batch import ROLE_DATA, ROLE_FEATURES, ROLE_NOISE, stacked_randn

ACTIVATIONS = ("linear", "relu", "erf", "tanh")
ROLE_TEST = 7   # Monte-Carlo test latents (tanh only)


def latent_problem(M: int, a: float, b: float, *, dtype=torch.float64, device=None):
    """λ [M] = k^-b and teacher w [M] = k^((b−a)/2) (so λ_k w_k² = k^-a); deterministic signs (the
    feature law is invariant under sign flips of latent coordinates, so signs do not matter)."""
    k = torch.arange(1, M + 1, dtype=torch.float64)
    lam, w = k ** (-b), k ** ((b - a) / 2)
    return lam.to(dtype=dtype, device=device), w.to(dtype=dtype, device=device)


def draw_features(seeds: Sequence[int], N: int, M: int, *, dtype, device, keys=None) -> torch.Tensor:
    """F [E, N, M], entries N(0, 1), instance e from generator (seeds[e], ROLE_FEATURES, *keys[e])."""
    return stacked_randn(seeds, ROLE_FEATURES, (N, M), dtype=dtype, device=device, keys=keys)


def draw_latents(seeds, P: int, lam: torch.Tensor, *, role=ROLE_DATA, keys=None) -> torch.Tensor:
    """X [E, P, M] = Z Λ^½ with Z standard normal from (seeds[e], role, *keys[e])."""
    Z = stacked_randn(seeds, role, (P, lam.shape[0]), dtype=lam.dtype, device=lam.device, keys=keys)
    return Z * lam.sqrt()


def featurize(X: torch.Tensor, F: torch.Tensor, activation: str = "linear", backend=None) -> torch.Tensor:
    """Φ [E, P, N] = σ(X Fᵀ)/√N through kernels.bmm_epilogue (fused ReLU/tanh; erf applied after)."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    fused = {"linear": None, "relu": "relu", "tanh": "tanh", "erf": None}[activation]
    Z = kernels.bmm_epilogue(X, F.transpose(1, 2), None, activation=fused, backend=backend)  # [E, P, N]
    if activation == "erf":
        Z = torch.erf(Z)
    return Z / math.sqrt(F.shape[1])


def antithetic_features(F: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The antithetic partner of F given the data: F' = F(2QQᵀ − I), Q [E, M, P] an orthonormal basis of the
    span of the P latents X [E, P, M]. F' has the same N(0, 1) law as F (a reflection), the same training
    features X F'ᵀ = X Fᵀ, and flips the component of every feature orthogonal to the data, so the ridgeless
    predictor's deviation from its N = ∞ limit changes sign: (L(F) + L(F'))/2 − L(∞) = ‖θ_N − θ_∞‖²_Λ.
    Args: F [E, N, M], X [E, P, M]. Returns [E, N, M]."""
    Q, _ = torch.linalg.qr(X.transpose(1, 2))                          # [E, M, P]
    return 2 * (F @ Q) @ Q.transpose(1, 2) - F


def population_moments(F, lam, w, activation="linear", *, seeds=None, n_mc: int = 0, backend=None):
    """G = E[φφᵀ] [E, N, N], c = E[φ y] [E, N] for the noise-free teacher, in closed form.

    linear: G = FΛFᵀ/N, c = FΛw/√N.  relu: arc-cosine kernel (Cho & Saul 2009),
    E[relu(u)relu(v)] = s_u s_v (sin θ + (π − θ) cos θ)/(2π), E[relu(u) y] = Cov(u, y)/2.
    erf: E[erf(u)erf(v)] = (2/π) arcsin(2Σ_uv/√((1+2Σ_uu)(1+2Σ_vv))), E[erf(u) y] = Cov(u,y)·2/√(π(1+2Σ_uu)).
    tanh: Monte-Carlo over `n_mc` test latents drawn with (seeds[e], ROLE_TEST).
    """
    N = F.shape[1]
    FL = F * lam                                           # [E, N, M]
    S = kernels.bmm_epilogue(FL, F.transpose(1, 2), None, backend=backend)   # [E, N, N] = FΛFᵀ
    cu = torch.einsum("enm,m->en", FL, w)                  # Cov(u_i, y) [E, N]
    if activation == "linear":
        return S / N, cu / math.sqrt(N)
    if activation == "relu":
        s = S.diagonal(dim1=1, dim2=2).clamp_min(1e-300).sqrt()             # [E, N]
        ss = s[:, :, None] * s[:, None, :]
        cos = (S / ss).clamp(-1.0, 1.0)
        th = torch.arccos(cos)
        G = ss * (torch.sin(th) + (math.pi - th) * cos) / (2 * math.pi)
        return G / N, 0.5 * cu / math.sqrt(N)
    if activation == "erf":
        d = 1 + 2 * S.diagonal(dim1=1, dim2=2)                              # [E, N]
        G = (2 / math.pi) * torch.arcsin((2 * S / (d[:, :, None] * d[:, None, :]).sqrt()).clamp(-1, 1))
        return G / N, cu * 2 / torch.sqrt(math.pi * d) / math.sqrt(N)
    if activation == "tanh":
        if n_mc < 1 or seeds is None:
            raise ValueError("tanh features have no closed-form kernel: pass seeds and n_mc >= 1")
        Xt = draw_latents(seeds, n_mc, lam, role=ROLE_TEST)                 # [E, n_mc, M]
        Pt = featurize(Xt, F, "tanh", backend)                              # [E, n_mc, N] (already /√N)
        yt = Xt @ w                                                         # [E, n_mc]
        return Pt.transpose(1, 2) @ Pt / n_mc, torch.einsum("epn,ep->en", Pt, yt) / n_mc
    raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")


def quad_loss(v, G, c, y0) -> torch.Tensor:
    """Population loss E[(vᵀφ − y)²] = y0 − 2vᵀc + vᵀGv, per instance [E] (v [E, N] or [E, T, N])."""
    if v.dim() == 2:
        return y0 - 2 * (v * c).sum(-1) + torch.einsum("en,enm,em->e", v, G, v)
    return y0 - 2 * torch.einsum("etn,en->et", v, c) + torch.einsum("etn,enm,etm->et", v, G, v)


def latent_loss(theta, lam, w) -> torch.Tensor:
    """(w − θ)ᵀΛ(w − θ) for latent-space weights θ [E, M] or [E, T, M] (no cancellation)."""
    return ((w - theta) ** 2 * lam).sum(-1)


def ridge_solve(Phi, y, ridge: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Batched ridge: argmin (1/P)|Φv − y|² + ridge|v|²; ridge = 0 gives the min-norm interpolant.

    Φ [E, P, N], y [E, P] -> v [E, N]; ridge a number or [E]. Uses the smaller Gram A (N×N if P >= N, else
    P×P) through its eigendecomposition A = U diag(λ) Uᵀ, v from 1/(λ + P·ridge). Ridgeless, the Gram is
    singular when the features have rank < min(N, P) (N > M: the plateau) and nearly singular at the
    interpolation peak N = P; there the directions with λ <= max(N, P)·eps·λ_max are treated as null space
    (the pseudo-inverse convention of numpy.linalg.pinv), so v is the min-norm interpolant to the dtype's
    resolution and the peak is reported as that interpolant's (large, finite) loss. An LU solve here crashed
    at N = P = 256 with 2 threads (an exactly zero pivot, issue 15.1); this path has no pivots and no host sync.
    """
    E, P, N = Phi.shape
    r = torch.as_tensor(ridge, dtype=Phi.dtype, device=Phi.device).reshape(-1, 1) * P         # [E or 1, 1]
    if P >= N:
        A = Phi.transpose(1, 2) @ Phi                                                      # [E, N, N]
        b = Phi.transpose(1, 2) @ y[..., None]                                             # [E, N, 1]
    else:
        A = Phi @ Phi.transpose(1, 2)                                                      # [E, P, P]
        b = y[..., None]                                                                   # [E, P, 1]
    lam, U = torch.linalg.eigh(A)                                                          # [E, k], [E, k, k]
    cut = lam[:, -1:].clamp_min(0) * (max(P, N) * torch.finfo(Phi.dtype).eps)              # [E, 1]
    d = lam + r                                                                            # [E, k]
    keep = (d > cut) & (d > 0)
    inv = torch.where(keep, 1.0 / torch.where(keep, d, torch.ones_like(d)), torch.zeros_like(d))
    z = U @ (inv[..., None] * (U.transpose(1, 2) @ b))                                     # [E, k, 1]
    return z[..., 0] if P >= N else (Phi.transpose(1, 2) @ z)[..., 0]


def projection_loss(G, c, y0) -> torch.Tensor:
    """P = ∞ best predictor in the span of the features: L_∞ = y0 − cᵀG⁻¹c, per instance [E] (Cholesky)."""
    Lc = torch.linalg.cholesky(G)
    z = torch.cholesky_solve(c[..., None], Lc)[..., 0]
    return y0 - (c * z).sum(-1)


def flow_losses(G, c, y0, times, lr: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient flow dv/dt = −(Gv − c) from v = 0 on the population loss (P = ∞), solved exactly through
    G = U diag(g) Uᵀ: L(t) = L_∞ + Σ_j (a_j²/g_j) e^(−2 g_j t), a = Uᵀc (no time stepping, no cancellation
    in the decaying part). With `lr`, discrete GD v <- v − lr(Gv − c): e^(−2gt) -> (1 − lr g)^(2t).
    Args: G [E, N, N], c [E, N], y0 scalar, times [T]. Returns (L [E, T], L_∞ [E])."""
    g, U = torch.linalg.eigh(G)
    g = g.clamp_min(1e-300)
    a2g = (U.transpose(1, 2) @ c[..., None])[..., 0] ** 2 / g            # [E, N]
    L_inf = y0 - a2g.sum(-1)
    t = torch.as_tensor(times, dtype=G.dtype, device=G.device)
    if lr is None:
        dec = torch.exp(-2.0 * g[:, None, :] * t[None, :, None])          # [E, T, N]
    else:
        if lr * float(g.max()) >= 2:
            raise ValueError(f"GD lr={lr} exceeds the stability bound 2/g_max = {2 / float(g.max()):.3g}")
        dec = (1 - lr * g[:, None, :]) ** (2 * t[None, :, None])
    return L_inf[:, None] + (a2g[:, None, :] * dec).sum(-1), L_inf


def gd_reference(G, c, y0, steps: int, lr: float) -> torch.Tensor:
    """Explicit time-stepped GD (the definition `flow_losses(lr=...)` must match); returns L [E, steps+1]."""
    v = torch.zeros_like(c)
    out = [quad_loss(v, G, c, y0)]
    for _ in range(steps):
        v = v - lr * (torch.einsum("enm,em->en", G, v) - c)
        out.append(quad_loss(v, G, c, y0))
    return torch.stack(out, 1)


# ----------------------------------------------------------------------------- PLRF (Paquette et al.)
def plrf_problem(v: int, alpha: float, beta: float, *, dtype=torch.float64, device=None):
    """D = diag(j^-2α) [v] and target b_j = j^-β [v]."""
    j = torch.arange(1, v + 1, dtype=torch.float64)
    return (j ** (-2 * alpha)).to(dtype=dtype, device=device), (j ** (-beta)).to(dtype=dtype, device=device)


def plrf_features(seeds, ds: Sequence[int], v: int, *, dtype, device) -> torch.Tensor:
    """W [E, v, d_max], W_ij ~ N(0, 1/d_e) in the first d_e columns, zeros after (padding). One draw for all
    instances: instance e's column j is its Philox elements j·v .. (j+1)·v − 1 of (seeds[e], ROLE_FEATURES,
    d_e), so its numbers do not depend on d_max (its batch-mates)."""
    if len(seeds) != len(ds):
        raise ValueError(f"plrf_features: {len(seeds)} seeds but {len(ds)} widths d")
    dmax = max(ds)
    d = torch.as_tensor(list(ds), dtype=torch.int64, device=device)
    G = stacked_randn(seeds, ROLE_FEATURES, (dmax, v), dtype=dtype, device=device, keys=d[:, None])  # [E, d_max, v]
    keep = torch.arange(dmax, device=device)[None, :] < d[:, None]                      # [E, d_max]
    scale = torch.where(keep, 1.0 / d.to(torch.float64).sqrt()[:, None], torch.zeros((), dtype=torch.float64,
                                                                                     device=device))
    return G.mul_(scale.to(dtype)[:, :, None]).transpose(1, 2).contiguous()             # [E, v, d_max]


def plrf_loss(theta, W, D, b) -> torch.Tensor:
    """P(θ) = ½ (Wθ − b)ᵀ D (Wθ − b), per instance [E]."""
    r = torch.einsum("evd,ed->ev", W, theta) - b
    return 0.5 * (r * r * D).sum(-1)


def plrf_sgd(W, D, b, seeds, lr, B: int, checkpoints: Sequence[int], *, chunk: int = 256, backend=None):
    """One-pass SGD, constant lr γ, batch B (sum over the batch, PPXP24 Eq. 3), θ_0 = 0, all E at once.

    θ <- θ − γ Σ_i z_i (z_iᵀθ − x_iᵀb), z_i = Wᵀx_i, x_i ~ N(0, D) fresh each step. The batch of step t of
    instance e is drawn from (seeds[e], ROLE_DATA) at counter t (counter-based: it does not depend on `chunk`
    or on earlier steps): instances sharing a seed share the stream (common random numbers across d; a
    batch-mate never changes it). Returns P at `checkpoints` [E, T].
    """
    E, v, dmax = W.shape
    theta = torch.zeros(E, dmax, dtype=W.dtype, device=W.device)
    lr = torch.as_tensor(lr, dtype=W.dtype, device=W.device).reshape(-1, 1)
    cps = sorted(set(int(c) for c in checkpoints))
    out, ci, sD = [], 0, D.sqrt()
    R = cps[-1]
    useeds = sorted(set(int(s) for s in seeds))          # instances sharing a seed share its stream: draw once
    key = _rng.derive_key(useeds, ROLE_DATA, device=W.device)                     # once, on the device
    inv = torch.tensor([useeds.index(int(s)) for s in seeds], device=W.device)
    for start in range(0, R, chunk):
        n = min(chunk, R - start)
        Xc = _rng.normal_from_key(key, (B, v), counter=start, steps=n, dtype=W.dtype).mul_(sD)  # [U, n, B, v]
        if len(useeds) < E:
            Xc = Xc.index_select(0, inv)                                          # [E, n, B, v]
        Zc = kernels.bmm_epilogue(Xc.reshape(E, n * B, v), W, None, backend=backend).reshape(E, n, B, dmax)
        Yc = Xc @ b                                                               # [E, n, B]
        for i in range(n):
            while ci < len(cps) and cps[ci] == start + i:
                out.append(plrf_loss(theta, W, D, b)); ci += 1
            z = Zc[:, i]                                                          # [E, B, d]
            res = torch.einsum("ebd,ed->eb", z, theta) - Yc[:, i]
            theta = theta - lr * torch.einsum("ebd,eb->ed", z, res)
    while ci < len(cps):
        out.append(plrf_loss(theta, W, D, b)); ci += 1
    return torch.stack(out, 1)


def plrf_volterra_inputs(W, D, b, ds: Sequence[int]):
    """Per instance: eigenvalues λ_j of K = WᵀDW, ρ_j = (u_jᵀθ*)², P_∞ = ½(bᵀDb − cᵀK⁻¹c), c = WᵀDb.
    Zero-padded to [E, d_max] (padded λ = ρ = 0 contribute nothing). One batched eigh per distinct size d
    (the sizes are the plan's, known on the host): no loop over instances."""
    E, v, dmax = W.shape
    lam = torch.zeros(E, dmax, dtype=W.dtype, device=W.device)
    rho = torch.zeros_like(lam)
    pinf = torch.zeros(E, dtype=W.dtype, device=W.device)
    bDb = (b * b * D).sum()
    for d in sorted(set(int(x) for x in ds)):
        idx = torch.tensor([e for e, x in enumerate(ds) if int(x) == d], device=W.device)
        We = W.index_select(0, idx)[:, :, :d]                                   # [E_d, v, d]
        K = We.transpose(1, 2) @ (We * D[:, None])                              # [E_d, d, d]
        c = We.transpose(1, 2) @ (D * b)                                        # [E_d, d]
        g, U = torch.linalg.eigh(K)
        uc = (U.transpose(1, 2) @ c[..., None])[..., 0]
        lam[idx, :d], rho[idx, :d] = g, (uc / g) ** 2
        pinf[idx] = 0.5 * (bDb - (uc ** 2 / g).sum(-1))
    return lam, rho, pinf


def plrf_volterra(lam, rho, pinf, lr, B: int, checkpoints: Sequence[int]) -> torch.Tensor:
    """Exact expected one-pass-SGD loss given the features, PPXP24 Eq. 7 (discrete Volterra equation):
    q_j = 1 − 2γBλ_j + γ²B(B+1)λ_j², s_j(0) = ρ_j, P_r = P_∞ + ½Σ_j λ_j s_j(r),
    s_j(r+1) = q_j s_j(r) + 2γ²Bλ_j P_r. Batched over E; returns P at `checkpoints` [E, T]."""
    lr = torch.as_tensor(lr, dtype=lam.dtype, device=lam.device).reshape(-1, 1)
    q = 1 - 2 * lr * B * lam + lr ** 2 * B * (B + 1) * lam ** 2
    f = 2 * lr ** 2 * B * lam
    s = rho.clone()
    cps = sorted(set(int(c) for c in checkpoints))
    out, ci = [], 0
    for r in range(cps[-1] + 1):
        P = pinf + 0.5 * (lam * s).sum(-1)
        if r == cps[ci]:
            out.append(P); ci += 1
            if ci == len(cps):
                break
        s = q * s + f * P[:, None]
    return torch.stack(out, 1)


NESTED_BLOCK = 32          # columns per generator call of the nested PLRF features
_NESTED_KEY = 1_000_003    # extra key: nested blocks never share a stream with `plrf_features`


def plrf_nested_columns(seed: int, d: int, v: int) -> torch.Tensor:
    """The first d columns [v, d] (float64, CPU, unit variance) of seed's nested feature matrix: column
    block k (NESTED_BLOCK columns) comes from generator (seed, ROLE_FEATURES, _NESTED_KEY, k), so the
    first d columns are the same for every d' ≥ d (common random numbers across sizes)."""
    nb = -(-d // NESTED_BLOCK)
    blocks = stacked_randn([seed] * nb, ROLE_FEATURES, (v, NESTED_BLOCK), dtype=torch.float64,
                           keys=[(_NESTED_KEY, k) for k in range(nb)])
    return blocks.permute(1, 0, 2).reshape(v, nb * NESTED_BLOCK)[:, :d]


def plrf_nested_volterra_inputs(seeds, ds: Sequence[int], D, b):
    """`plrf_volterra_inputs` for nested features: instance (s, d) has W = G_s[:, :d]/√d with G_s seed s's
    nested matrix (`plrf_nested_columns`), i.e. a model family that grows by adding features, as in practice.
    Marginally each W is the PLRF law W_ij ~ N(0, 1/d); across d the draws are coupled, which removes the
    draw-to-draw jitter of the compute-optimal argmin over d. One K = GᵀDG per seed, K_d = K[:d, :d]/d,
    c_d = (GᵀDb)[:d]/√d. Returns (λ [E, d_max], ρ [E, d_max], P_∞ [E]), zero-padded."""
    dev, dt = D.device, D.dtype
    v, dmax = D.shape[0], max(ds)
    lam = torch.zeros(len(ds), dmax, dtype=dt, device=dev)
    rho, pinf = torch.zeros_like(lam), torch.zeros(len(ds), dtype=dt, device=dev)
    Gs = {}
    for s in sorted(set(seeds)):
        dm = max(d for s_, d in zip(seeds, ds) if s_ == s)
        G = plrf_nested_columns(s, dm, v).to(dtype=dt, device=dev)
        Gs[s] = (G.T @ (G * D[:, None]), G.T @ (D * b))
    for e, (s, d) in enumerate(zip(seeds, ds)):
        K, c = Gs[s][0][:d, :d] / d, Gs[s][1][:d] / math.sqrt(d)
        g, U = torch.linalg.eigh(K)
        uc = U.T @ c
        lam[e, :d], rho[e, :d] = g, (uc / g) ** 2
        pinf[e] = 0.5 * ((b * b * D).sum() - (uc ** 2 / g).sum())
    return lam, rho, pinf


def plrf_volterra_eig(lam, rho, pinf, lr, B: int, checkpoints: Sequence[int]) -> torch.Tensor:
    """The same exact expected loss as `plrf_volterra` (PPXP24 Eq. 7), in closed form at any step r.

    The recursion is affine in s: s(r+1) = A s(r) + 2γ²Bλ P_∞ with A = diag(q) + γ²B λλᵀ (symmetric), so with
    I − A = M = diag(2γBλ − γ²B(B+1)λ²) − γ²B λλᵀ = U diag(e) Uᵀ and the fixed point s* = M⁻¹ 2γ²Bλ P_∞:
    P_r = P_∞ + ½λᵀs* + ½ Σ_k (Uᵀλ)_k (1 − e_k)^r (Uᵀ(s(0) − s*))_k. One eigh per instance instead of
    r_max steps (agrees with the recursion to ~1e-12 relative, tested). q_j > 0 gives e_k < 1; e_k > 0 is
    stability (raises otherwise). Instances are grouped by their number of nonzero λ (trailing zero
    padding is cut, so a d = 16 instance costs a 16 × 16 eigh, not d_max × d_max). Returns [E, T]."""
    E = lam.shape[0]
    lr = torch.as_tensor(lr, dtype=lam.dtype, device=lam.device).reshape(-1, 1).expand(E, 1)
    r = torch.as_tensor(sorted(set(int(c) for c in checkpoints)), dtype=lam.dtype, device=lam.device)
    out = torch.empty(E, len(r), dtype=lam.dtype, device=lam.device)
    n = (lam != 0).sum(-1)
    for k in sorted(set(n.tolist())):
        idx = torch.nonzero(n == k).squeeze(-1)
        L = lam[idx]
        w = k if bool((L[:, :k] != 0).all()) else lam.shape[1]    # trailing padding -> cut; else keep
        out[idx] = _volterra_eig_block(L[:, :w], rho[idx, :w], pinf[idx], lr[idx], B, r)
    return out


def _volterra_eig_block(lam, rho, pinf, lr, B, r):
    g = 2 * lr * B * lam - lr ** 2 * B * (B + 1) * lam ** 2
    g = torch.where(lam == 0, torch.full_like(g, 0.5), g)            # padded modes: e = ½, zero weight
    M = torch.diag_embed(g) - (lr ** 2 * B)[..., None] * lam[:, :, None] * lam[:, None, :]
    e, U = torch.linalg.eigh(M)
    if bool((e <= 0).any()) or bool((e >= 1).any()):
        raise ValueError("plrf_volterra_eig: lr is above the stability bound (an eigenvalue of I − A is outside (0, 1))")
    Ut = U.transpose(1, 2)
    sstar = (U @ ((Ut @ (2 * lr ** 2 * B * lam * pinf[:, None])[..., None]).squeeze(-1) / e)[..., None]).squeeze(-1)
    w = (Ut @ lam[..., None]).squeeze(-1) * (Ut @ (rho - sstar)[..., None]).squeeze(-1)      # [E, d]
    decay = torch.exp(r[None, :, None] * torch.log1p(-e)[:, None, :])                        # [E, T, d]
    return pinf[:, None] + 0.5 * (lam * sstar).sum(-1)[:, None] + 0.5 * (decay @ w[..., None]).squeeze(-1)


def log_checkpoints(R: int, n: int) -> list[int]:
    """About n log-spaced integer steps in [0, R] (0 included)."""
    return sorted(set([0] + np.unique(np.geomspace(1, R, n).round().astype(int)).tolist()))
