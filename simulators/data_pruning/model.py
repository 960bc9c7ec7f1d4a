"""Pruned teacher–student perceptron, batched: draw pools, prune, solve the max-margin problem exactly.

Shapes: E instances (seeds × grid points sharing one kept size P), N inputs, P kept examples.

Data (per instance, all draws through `simulators._rng` on the run's device):
  T ~ N(0, I_N) (direction uniform on the sphere; only T̂ matters), ê = the normalised part of a second
  N(0, I_N) vector orthogonal to T̂. Pool fields (t, u) of the α_tot·N pool examples ~ N(0, 1) i.i.d.; the probe
  field s = cos θ t + sin θ u; the rule keeps P = round(f·α_tot·N) examples (hard: smallest |s|, easy: largest,
  random: smallest of uniform keys), then each kept example gets x = t T̂ + u ê + Π⊥ g with g ~ N(0, I_N) and Π⊥
  the projector off span(T̂, ê). This is exactly x ~ N(0, I_N) conditioned on its (t, u); drawing g for the kept
  examples only saves the Philox draws of the pruned ones (the pool fields are keyed by (seed, α_tot) only, so
  every rule, f and θ prunes the same pool of a seed).
  Label y = sign(t); the solver sees the rows z = y x.

Max-margin solver (`max_margin`): min ½|w|² s.t. Z w ≥ 1, a batched primal–dual interior-point method
(Mehrotra predictor–corrector) with slack s = Zw − 1 and multipliers λ:
  Newton system reduced to the N×N normal matrix M = I + Zᵀ diag(λ/s) Z (one batched Cholesky per iteration,
  cost P·N² per instance), predictor and corrector solved with the same factor, one step length per instance.
Stopped when every instance has relative duality gap sᵀλ / ½|w|² ≤ tol, relative primal and dual residuals
≤ tol (checked every `check_every` iterations: one host sync per check, none inside an iteration); converged
instances are frozen (step 0). `kkt_report` recomputes the KKT conditions from (w, λ) alone.
"""
from __future__ import annotations

import math

import torch

from .. import _rng
from .._batch import ROLE_DATA, ROLE_NOISE, ROLE_TEACHER

RULE_ID = {"hard": 0, "easy": 1, "random": 2}


def kept_count(alpha_tot: float, f: float, N: int) -> tuple[int, int]:
    """(P_tot, P): pool size round(α_tot N) and kept size round(f P_tot) (at least 1)."""
    P_tot = max(1, int(round(alpha_tot * N)))
    return P_tot, max(1, int(round(f * P_tot)))


def _theta_key(theta_deg: float) -> int:
    return int(round(theta_deg * 1000))


def draw_teacher(seeds, N: int, *, device=None, dtype=torch.float64):
    """(T̂, ê): [E, N] unit teacher and unit probe-noise direction ⟂ T̂."""
    g = _rng.normal(seeds, ROLE_TEACHER, (2, N), device=device, dtype=torch.float64)
    T = g[:, 0] / g[:, 0].norm(dim=1, keepdim=True)
    e = g[:, 1] - (g[:, 1] * T).sum(1, keepdim=True) * T
    e = e / e.norm(dim=1, keepdim=True)
    return T.to(dtype), e.to(dtype)


def draw_pool_fields(seeds, P_tot: int, *, device=None, dtype=torch.float64):
    """[E, P_tot, 2] pool fields (t, u), keyed by (seed, P_tot): shared by every rule, f and θ of a seed."""
    keys = torch.full((len(seeds), 1), P_tot, dtype=torch.int64)
    return _rng.normal(seeds, ROLE_DATA, (P_tot, 2), keys=keys, device=device, dtype=dtype)


def select(tu: torch.Tensor, P: int, rules, thetas_deg, seeds, *, device=None) -> torch.Tensor:
    """[E, P] indices of the kept pool examples. rules: per-instance rule names; thetas: per-instance degrees."""
    E, P_tot, _ = tu.shape
    th = torch.tensor([math.radians(x) for x in thetas_deg], dtype=tu.dtype, device=tu.device)
    s = (torch.cos(th)[:, None] * tu[..., 0] + torch.sin(th)[:, None] * tu[..., 1]).abs()
    rid = torch.tensor([RULE_ID[r] for r in rules], device=tu.device)
    keys = torch.full((E, 1), P_tot, dtype=torch.int64)
    rnd = _rng.uniform(seeds, ROLE_NOISE, (P_tot,), keys=keys, device=device, dtype=tu.dtype)
    score = torch.where(rid[:, None] == 0, s, torch.where(rid[:, None] == 1, -s, rnd))   # keep the smallest
    return torch.topk(score, P, dim=1, largest=False, sorted=False).indices


def build_examples(seeds, N: int, P_tot: int, P: int, rules, thetas_deg, *, device=None, dtype=torch.float64):
    """(Z, T̂): Z [E, P, N] rows y·x of the kept examples, T̂ [E, N]."""
    E = len(seeds)
    T, e = draw_teacher(seeds, N, device=device, dtype=torch.float64)
    tu = draw_pool_fields(seeds, P_tot, device=device)
    idx = select(tu, P, rules, thetas_deg, seeds, device=device)
    kept = torch.gather(tu, 1, idx[..., None].expand(E, P, 2))                  # [E, P, 2]
    keys = torch.tensor([[P_tot, P, RULE_ID[r], _theta_key(t)] for r, t in zip(rules, thetas_deg)], dtype=torch.int64)
    g = _rng.normal(seeds, ROLE_DATA, (P, N), keys=keys, counter=1, device=device, dtype=torch.float64)
    g = g - (g @ T[:, :, None]) * T[:, None, :] - (g @ e[:, :, None]) * e[:, None, :]
    x = kept[..., 0:1] * T[:, None, :] + kept[..., 1:2] * e[:, None, :] + g
    y = torch.where(kept[..., 0] >= 0, 1.0, -1.0).to(x.dtype)
    return (y[..., None] * x).to(dtype), T.to(dtype)


def _max_step(v: torch.Tensor, dv: torch.Tensor) -> torch.Tensor:
    """[E] largest a in (0, 1] with v + a dv >= 0 (v > 0)."""
    ratio = torch.where(dv < 0, -v / dv, torch.full_like(v, math.inf))
    return ratio.amin(dim=1).clamp(max=1.0)


def polish(Z: torch.Tensor, s: torch.Tensor, lam: torch.Tensor, *, rounds: int = 4, tol: float = 1e-10):
    """Exact solution on the support set read off an interior-point iterate.

    Support vectors are the rows with λ > s (near the optimum λ_i s_i = μ → 0, so λ ≫ s on active rows and
    λ ≪ s elsewhere); candidates are the k = min(P, N) rows with the largest λ/(λ + s). On a set S the KKT system is
    the equality-constrained problem min ½|w|² s.t. Z_S w = 1: λ_S = (Z_S Z_Sᵀ)⁻¹ 1 (two refinement steps),
    w = Z_Sᵀ λ_S, so stationarity and complementarity hold to rounding by construction. A degenerate row (active
    with a near-zero multiplier, λ ≈ s) can be misread: `rounds` active-set corrections add candidates that w
    violates (Z_i w < 1 − tol) and drop rows with λ < 0, then re-solve. The caller accepts the result only if the
    full KKT check passes. Returns (w [E, N], lam_full [E, P])."""
    E, P, N = Z.shape
    k = min(P, N)
    score = lam / (lam + s)
    top, idx = torch.topk(score, k, dim=1)
    Zc = torch.gather(Z, 1, idx[..., None].expand(E, k, N))                    # [E, k, N] candidates
    Gc = torch.bmm(Zc, Zc.transpose(1, 2))
    m = (top > 0.5).to(Z.dtype)                                                  # [E, k] support mask
    for r in range(rounds + 1):
        G = Gc * m[:, :, None] * m[:, None, :] + torch.diag_embed(1.0 - m)      # masked rows: identity
        L, _ = torch.linalg.cholesky_ex(G)
        ls = torch.cholesky_solve(m[..., None], L)
        for _ in range(2):                                                       # iterative refinement
            ls = ls + torch.cholesky_solve(m[..., None] - torch.bmm(G, ls), L)
        ls = ls[..., 0] * m
        w = torch.bmm(Zc.transpose(1, 2), ls[..., None])[..., 0]
        if r == rounds:
            break
        Zw = torch.bmm(Zc, w[..., None])[..., 0]
        add = (m == 0) & (Zw < 1 - tol)                                          # violated candidates
        drop = (m == 1) & (ls < 0)                                               # negative multipliers
        if not bool((add | drop).any()):                                         # one sync per round; usually 0
            break
        m = torch.where(add, torch.ones_like(m), torch.where(drop, torch.zeros_like(m), m))
    lam_full = torch.zeros_like(lam).scatter(1, idx, ls)
    return w, lam_full


def _kkt_ok(Z, w, lam, tol):
    Zw = torch.bmm(Z, w[..., None])[..., 0]
    feas = (1 - Zw.amin(1)) <= tol
    dual = lam.amin(1) >= -tol * lam.abs().amax(1)
    finite = torch.isfinite(w).all(1) & torch.isfinite(lam).all(1)
    return feas & dual & finite


def max_margin(Z: torch.Tensor, *, tol: float = 1e-10, polish_gap: float = 1e-8, max_iter: int = 100,
               check_every: int = 2):
    """Batched hard-margin SVM without bias: w* = argmin ½|w|² s.t. Z w ≥ 1. Z: [E, P, N] (float64 advised).

    Interior-point iterations (module docstring) until an instance's relative duality gap is ≤ `polish_gap`,
    then `polish` on its support set; the polished (w, λ) is accepted once it passes the KKT check at `tol`
    (feasibility 1 − min Zw ≤ tol, λ ≥ −tol·max λ), and the instance is frozen. The normal-equations IPM alone
    stalls near gap 1e-14 (its N×N matrix reaches condition ~1/μ and the λ update amplifies the error), hence
    the polish. Returns (w [E, N], lam [E, P], info: iterations, converged [E] bool, gap [E] (IPM gap when
    polished)."""
    E, P, N = Z.shape
    dev, dt = Z.device, Z.dtype
    w = torch.zeros(E, N, dtype=dt, device=dev)
    s = torch.ones(E, P, dtype=dt, device=dev)
    lam = torch.ones(E, P, dtype=dt, device=dev)
    w_out, lam_out = w.clone(), lam.clone()
    eye = torch.eye(N, dtype=dt, device=dev)
    Zt = Z.transpose(1, 2)
    frozen = torch.zeros(E, dtype=torch.bool, device=dev)
    gap_at = torch.full((E,), math.inf, dtype=dt, device=dev)
    it = 0
    for it in range(1, max_iter + 1):
        Zw = torch.bmm(Z, w[..., None])[..., 0]
        rd = w - torch.bmm(Zt, lam[..., None])[..., 0]
        rp = Zw - s - 1.0
        gap = (s * lam).sum(1) / (0.5 * (w * w).sum(1)).clamp(min=1e-300)
        if it % check_every == 0:
            try_now = (~frozen) & (gap <= polish_gap)
            # polish (a batched pass over all instances) once most open instances are ready: the IPM takes
            # them from gap 1e-8 to below 1e-12 in ~2 iterations, so waiting costs little and saves passes
            n_open, n_ready = int((~frozen).sum()), int(try_now.sum())
            if n_ready and (2 * n_ready >= n_open or it + check_every > max_iter):
                wp, lp = polish(Z, s, lam, tol=tol)
                ok = try_now & _kkt_ok(Z, wp, lp, tol)
                w_out = torch.where(ok[:, None], wp, w_out)
                lam_out = torch.where(ok[:, None], lp, lam_out)
                gap_at = torch.where(ok, gap, gap_at)
                frozen = frozen | ok
            if bool(frozen.all()):
                break
        mu = (s * lam).sum(1) / P
        D = lam / s
        M = eye + torch.bmm(Zt * D[:, None, :], Z)
        L, _ = torch.linalg.cholesky_ex(M)

        def direction(rc):
            rhs = -rd - torch.bmm(Zt, (D * rp + rc / s)[..., None])[..., 0]
            dw = torch.cholesky_solve(rhs[..., None], L)[..., 0]
            ZdW = torch.bmm(Z, dw[..., None])[..., 0]
            dlam = -D * (ZdW + rp) - rc / s
            return dw, ZdW + rp, dlam

        dw, ds, dlam = direction(s * lam)                                        # predictor
        a = torch.minimum(_max_step(s, ds), _max_step(lam, dlam))
        mu_aff = ((s + a[:, None] * ds) * (lam + a[:, None] * dlam)).sum(1) / P
        sigma = (mu_aff / mu) ** 3
        dw, ds, dlam = direction(s * lam + ds * dlam - (sigma * mu)[:, None])     # corrector
        a = 0.99 * torch.minimum(_max_step(s, ds), _max_step(lam, dlam))
        # frozen instances keep their values (their M may be singular); an instance whose gap is already at the
        # IPM's floor (1e-14) stops moving too: past it the normal equations only add rounding noise (or NaN)
        keep = (frozen | (gap < 1e-14) | ~torch.isfinite(a))[:, None]
        w = torch.where(keep, w, w + a[:, None] * dw)
        s = torch.where(keep, s, s + a[:, None] * ds)
        lam = torch.where(keep, lam, lam + a[:, None] * dlam)
    w_out = torch.where(frozen[:, None], w_out, w)          # unconverged: the last interior-point iterate (flagged)
    lam_out = torch.where(frozen[:, None], lam_out, lam)
    return w_out, lam_out, {"iterations": it, "converged": frozen, "gap": gap_at}


def kkt_report(Z: torch.Tensor, w: torch.Tensor, lam: torch.Tensor) -> dict:
    """KKT conditions of min ½|w|² s.t. Zw ≥ 1 from (w, λ) alone, relative to |w|: [E] tensors.
    feasibility: max(0, 1 − min Zw); stationarity: |w − Zᵀλ₊|/|w|; complementarity: Σ λ₊ |Zw − 1| / |w|²;
    negative λ mass: Σ λ₋ / Σ|λ|."""
    Zw = torch.bmm(Z, w[..., None])[..., 0]
    lp = lam.clamp(min=0)
    wn2 = (w * w).sum(1)
    return {"feasibility": (1 - Zw.amin(1)).clamp(min=0),
            "stationarity": (w - torch.bmm(Z.transpose(1, 2), lp[..., None])[..., 0]).norm(dim=1) / wn2.sqrt(),
            "complementarity": (lp * (Zw - 1).abs()).sum(1) / wn2,
            "negative_lambda": lam.clamp(max=0).abs().sum(1) / lam.abs().sum(1)}


def overlap_error(w: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(R, ε = arccos(R)/π) of students w [E, N] against unit teachers T̂ [E, N]."""
    R = (w * T).sum(1) / w.norm(dim=1)
    return R, torch.arccos(R.clamp(-1, 1)) / math.pi


def solve_instances(seeds, N: int, alpha_tot: float, f: float, rules, thetas_deg, *, device=None,
                    tol: float = 1e-10, chunk_bytes: int | None = 64 << 20) -> dict:
    """One batch: instances e = (seeds[e], rules[e], thetas_deg[e]) at a common (α_tot, f) (so a common P).
    Returns per-instance tensors (CPU, float64): eps, R, kappa (= 1/|w|), iterations, gap, kkt residuals."""
    from .._batch import chunk_ranges

    P_tot, P = kept_count(alpha_tot, f, N)
    E = len(seeds)
    out: dict[str, list] = {}
    per = 8 * (P * N * 3 + N * N * 2)
    for a, b in chunk_ranges(E, per, chunk_bytes if (device is None or torch.device(device).type == "cpu") else None):
        Z, T = build_examples(list(seeds[a:b]), N, P_tot, P, list(rules[a:b]), list(thetas_deg[a:b]), device=device)
        w, lam, info = max_margin(Z, tol=tol)
        R, eps = overlap_error(w, T)
        k = kkt_report(Z, w, lam)
        rows = {"eps": eps, "R": R, "kappa": 1.0 / w.norm(dim=1), "gap": info["gap"],
                "converged": info["converged"], "iterations": torch.full((b - a,), info["iterations"]),
                **{f"kkt_{n}": v for n, v in k.items()}}
        for n, v in rows.items():
            out.setdefault(n, []).append(v.detach().cpu())
    return {n: torch.cat(v) for n, v in out.items()}


def reference_max_margin(Z) -> "np.ndarray":
    """Exact per-instance max-margin w for one instance Z [P, N] by least-distance programming
    (Lawson & Hanson ch. 23): min |w| s.t. Zw ≥ 1 ⇔ NNLS min_{u≥0} |[Zᵀ; 1ᵀ] u − e_{N+1}|, w = −r[:N]/r[N]."""
    import numpy as np
    from scipy.optimize import nnls

    Zn = np.asarray(Z, dtype=np.float64)
    P, N = Zn.shape
    A = np.vstack([Zn.T, np.ones((1, P))])
    b = np.zeros(N + 1)
    b[N] = 1.0
    u, _ = nnls(A, b, maxiter=50 * (N + P))
    r = A @ u - b
    if abs(r[N]) < 1e-300:
        raise ValueError("infeasible: the examples are not linearly separable through the origin")
    return -r[:N] / r[N]
