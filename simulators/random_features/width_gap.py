"""rf.width_gap (issue 18 part 2): the approach to infinite width, 1/N early and N^-c late.

Bordelon, Atanasov & Pehlevan (BAP24, arXiv:2402.01092, abstract): early in training a network converges
to its infinite-width dynamics at rate 1/width, late in training at width^-c with c set by the task and the
architecture. In their random-feature model (ours: linear features φ = Fx/√N, F_ij ~ N(0, 1), x ~ N(0, Λ),
λ_k = k^-b, λ_k w_k² = k^-a, k ≤ M) with gradient flow on the population loss (P = ∞) from v = 0:

    K = FᵀF/N (E K = I),  θ_N(t) = (I − e^{−tKΛ}) w  (push-through identity),  residual r = e^{−tKΛ} w,
    L(t, N) = rᵀΛr,   L(t, ∞) = Σ_k λ_k w_k² e^{−2λ_k t}  (exact: the population flow, no simulation).

The gap g(t, N) = L(t, N) − L(t, ∞) (its feature average is what the paper plots) is measured here at an early and
a late time across widths N, and the crossover time between the two laws is read off the local exponent.

**Early (t ≲ 1 = 1/λ_1).** Expand in Δ = K − I (O(N^-½)): with f(x) = e^{−tx}, f[·,·] and f[·,·,·] its divided
differences at the λ's (Daleckii–Krein; B = ΔΛ):

    r = r0 + δ1 + δ2 + O(Δ³),  r0 = e^{−tΛ}w,  δ1_i = Σ_k f[λ_i,λ_k] Δ_ik λ_k w_k,
    δ2_i = Σ_{j,k} f[λ_i,λ_j,λ_k] Δ_ij λ_j Δ_jk λ_k w_k,
    g = 2 r0ᵀΛδ1 + (δ1ᵀΛδ1 + 2 r0ᵀΛδ2) + O(Δ³).

The linear term has mean 0 and size N^-½: it swamps the O(1/N) mean in a single feature draw (per-seed sd/mean
≈ 4–20 at t ≤ 1, default teacher). It is computed per draw and subtracted as a **control variate** (`control_variate`:
exactly zero-mean for any coefficients, since it is linear in Δ and E Δ = 0; it removes no part of the mean).
The quadratic term's mean follows from the Gaussian (Wishart) moments E[Δ_ij Δ_kl] = (δ_ik δ_jl + δ_il δ_jk)/N —
our derivation, exact at every t:

    E g = c1(t)/N + O(N^-2),
    c1(t) = Σ_i λ_i [Σ_k f[λ_i,λ_k]² λ_k² w_k² + f'(λ_i)² λ_i² w_i²]
          + 2 Σ_i r0_i λ_i [½ f''(λ_i) λ_i² w_i + Σ_j f[λ_i,λ_j,λ_i] λ_j λ_i w_i]     (`first_order_coefficient`).

Its t → 0 limit is the Taylor expansion E g = 2t²(Σλ³w² + tr Λ · Σλ²w²)/N + O(t³) (from E[KΛK] = Λ + (Λ + tr Λ·I)/N):
at order t² the gap is exactly ∝ 1/N, and terms in N^-2 enter only with t³ and higher, so the early exponent
tends to 1 as t → 0. The early row is held against 1 (the issue's statement); c1(t)/N is drawn and compared
pointwise. The existing deterministic-equivalent flow curve (`theory.gradient_flow_loss`, projection resolvent)
is NOT usable there: its O(1/N) part is not exact (the resolvent equivalent keeps the tr Λ·I/N term of E[KΛK]
but not the Λ/N term, and its Stieltjes smoothing error, ~1% of L, is larger than the early gap itself); the notes
report the DE gap next to c1/N at t_early.

**Late (t ≫ N^b).** The N-feature flow has reached its projection floor, g → L_∞(N) − L(t, ∞) with
L_∞(N) = κ Σ λw²/(λ+κ), Σ λ/(λ+κ) = N, ∝ N^-c with c = min(a − 1, b) (BAP24 Eq. 9; Bach 2023). The late row is
held against the slope, over the same N window, of the deterministic-equivalent gap
`gradient_flow_loss(N, t_late) − L(t_late, ∞)` (accurate there: the bulk, not the isolated top eigenvalues,
carries the late gap), and reports c.

**Crossover.** Between the two the local exponent (log-log slope of the seed-mean gap over the whole N window) rises
from 1 to the late slope; the crossover time t× is where it crosses the midpoint (1 + late slope)/2 (log-linear
interpolation in t), measured on the simulation and on the DE curve (scale: t× ~ N^b, when the N-th mode starts
to be learned).

Simulation: common random numbers across N (nested features: the N-feature model uses the first N rows of one F
drawn per seed at max(Ns), key (max(Ns), _KEY)); all seeds of a batch in one computation: the Gram FΛFᵀ is
computed once per seed, each N's Gram is its leading block, one batched eigh per width (over all seeds) gives
L(t, N) at every time (`model.flow_losses`); the control variate uses a rank-Q Gauss–Legendre form of f[λ_i, λ_j] and prefix sums over
feature rows (cost O(E·N·M·Q·T), against O(E·N·M²) per t for the M × M form of `claims.width_gap_control_variate`,
which the tests use as its reference). Float64 throughout.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from simulators._batch import grid
from simulators.harness.compare import Prediction, compare
from simulators.harness.fit import fit_power_law, window_slope
from simulators.harness.registry import Analysis, Experiment, register
from simulators.harness.report import save_figure

from . import model as mdl
from . import theory as th
from .width_gap_config import WidthGapConfig

TOL = 0.07
_KEY = 2_000_003          # extra instance key: these draws never share a stream with the other rf experiments
SEED_CHUNK = 64           # seeds per batch
QUAD_NODES = 24           # Gauss–Legendre nodes of the control variate's f[λ_i, λ_j] (exact to ~1e-12 at t·λ_1 ≤ 10)


def times(cfg: WidthGapConfig) -> np.ndarray:
    """The checkpoint times: a log grid of n_times in [t_min, t_max] with t_early and t_late added."""
    return np.unique(np.concatenate([np.geomspace(cfg.t_min, cfg.t_max, cfg.n_times), [cfg.t_early, cfg.t_late]]))


# ----------------------------------------------------------------------------- theory (numpy, float64)
def population_loss(lam, tw, t) -> np.ndarray:
    """L(t, ∞) = Σ_k λ_k w_k² e^{−2λ_k t} (exact population flow, BAP24 Eq. 6). tw = λw². Returns [T]."""
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    t = np.atleast_1d(np.asarray(t, float))
    return (tw[None] * np.exp(-2.0 * lam[None] * t[:, None])).sum(1)


def _phis(z):
    """φ1(z) = (e^z − 1)/z, φ2(z) = (e^z − 1 − z)/z², ψ(z) = (e^z(z − 1) + 1)/z² for z ≤ 0, stable (series near 0)."""
    z = np.asarray(z, float)
    small = np.abs(z) < 1e-3
    zs = np.where(small, -1.0, z)
    em1 = np.expm1(zs)
    inv = 1.0 / zs
    p1 = em1 * inv
    p2 = (p1 - 1.0) * inv
    ps = ((em1 + 1.0) * (zs - 1.0) + 1.0) * inv * inv
    if small.any():
        zz = z[small]
        p1[small] = 1 + zz * (1 / 2 + zz * (1 / 6 + zz / 24))
        p2[small] = 0.5 + zz * (1 / 6 + zz * (1 / 24 + zz / 120))
        ps[small] = 0.5 + zz * (1 / 3 + zz * (1 / 8 + zz / 30))
    return p1, p2, ps


def divided_differences(lam, t: float, rows=None):
    """f = e^{−t·}: (f1 [R, M] = f[λ_i, λ_j], f2 [R, M] = f[λ_i, λ_j, λ_i]) for the rows i in `rows` (a slice or
    index array; default all M), evaluated without cancellation.

    Hermite–Genocchi, with every exponent ≤ 0: for m = min(x, y), f[x, y] = −t ∫₀¹ e^{−t(sx + (1−s)y)} ds
    = −t e^{−tm} φ1(−t|x − y|); f[x, y, x] = t² ∫₀¹ (1 − v) e^{−t((1−v)x + vy)} dv = t² e^{−tx} φ2(−t(y − x)) for
    y ≥ x and t² e^{−ty} ψ(−t(x − y)) for y < x."""
    lam = np.asarray(lam, float)
    li, lj = lam[rows if rows is not None else slice(None)][:, None], lam[None, :]
    lo = np.minimum(li, lj)
    p1, _, _ = _phis(-t * np.abs(li - lj))
    f1 = -t * np.exp(-t * lo) * p1
    up = lj >= li
    zu = np.where(up, -t * (lj - li), -t * (li - lj))
    _, p2, ps = _phis(zu)
    f2 = t * t * np.where(up, np.exp(-t * li) * p2, np.exp(-t * lj) * ps)
    return f1, f2


def first_order_coefficient(lam, tw, t) -> np.ndarray:
    """c1(t): the exact 1/N coefficient of the feature-averaged gap, E[L(t, N)] − L(t, ∞) = c1(t)/N + O(N^-2)
    (module docstring; Wishart moments of K = FᵀF/N, F Gaussian). Cost O(M²) per t, in blocks of `block` rows
    (memory O(block·M)). Returns [T]."""
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    w = np.sqrt(tw / lam)
    M, block = len(lam), 1024
    out = []
    for tt in np.atleast_1d(np.asarray(t, float)):
        e = np.exp(-tt * lam)
        fp, fpp = -tt * e, tt * tt * e
        r0 = e * w
        rowsum1, rowsum2 = np.empty(M), np.empty(M)
        for i0 in range(0, M, block):
            f1, f2 = divided_differences(lam, tt, slice(i0, i0 + block))
            rowsum1[i0:i0 + block] = (f1 ** 2) @ (lam ** 2 * w ** 2)          # Σ_k f[λ_i,λ_k]² λ_k² w_k²
            rowsum2[i0:i0 + block] = f2 @ lam                                  # Σ_j f[λ_i,λ_j,λ_i] λ_j
        quad = (lam * rowsum1).sum() + (lam * fp ** 2 * lam ** 2 * w ** 2).sum()
        second = (r0 * lam * (0.5 * fpp * lam ** 2 * w + rowsum2 * lam * w)).sum()
        out.append(quad + 2 * second)
    return np.asarray(out)


def early_t2_coefficient(lam, tw) -> float:
    """lim_{t→0} c1(t)/t² = 2(Σ λ³w² + tr Λ · Σ λ²w²): the Taylor coefficient of E g at order t², from
    E[KΛK] = Λ + (Λ + tr Λ · I)/N (independent of `first_order_coefficient`; the tests compare them)."""
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    return float(2 * ((lam ** 2 * tw).sum() + lam.sum() * (lam * tw).sum()))


def early_t3_coefficients(lam, tw) -> tuple[float, float]:
    """(d1, d2): the exact order-t³ Taylor coefficients of the feature-averaged gap,
    E g = 2C t²/N + (d1/N + d2/N²) t³ + O(t⁴), 2C = `early_t2_coefficient`.

    The t³ term of L is −(4/3) vᵀ(KΛ)²K v, v = Λw; the Gaussian moments (pair counts over the rows of F and the
    6th moment E[(fᵀAf)(fᵀBf) ffᵀ] = (trA trB + 2tr AB) I + 2 trB·A + 2 trA·B + 4(AB + BA)) give
    E[KΛKΛK] = Λ²(1 + 3/N + 4/N²) + trΛ·Λ (2/N + 2/N²) + trΛ²·I (1/N + 1/N²) + (trΛ)²·I/N², hence
    d1 = −(4/3)(3 Σλ⁴w² + 2 trΛ Σλ³w² + trΛ² Σλ²w²),
    d2 = −(4/3)(4 Σλ⁴w² + 2 trΛ Σλ³w² + trΛ² Σλ²w² + (trΛ)² Σλ²w²).
    The N^-2 term first appears at t³, so the local exponent in N is 1 + d2 t/(2C N) + O(t²) → 1 as t → 0; d1 is
    also the t³ coefficient of c1(t) (a check of `first_order_coefficient` one order further; tested)."""
    lam, tw = np.asarray(lam, float), np.asarray(tw, float)
    s4, s3, s2 = (lam ** 3 * tw).sum(), (lam ** 2 * tw).sum(), (lam * tw).sum()
    tr, tr2 = lam.sum(), (lam ** 2).sum()
    d1 = -(4 / 3) * (3 * s4 + 2 * tr * s3 + tr2 * s2)
    d2 = -(4 / 3) * (4 * s4 + 2 * tr * s3 + tr2 * s2 + tr * tr * s2)
    return float(d1), float(d2)


def early_expansion(lam, tw, Ns, t: float) -> np.ndarray:
    """E g(t, N) through order t³, exact in N: 2C t²/N + (d1/N + d2/N²) t³ [len(Ns)] (small t only: the neglected
    O(t⁴) terms carry (trΛ·t)-sized factors)."""
    C2 = early_t2_coefficient(lam, tw)
    d1, d2 = early_t3_coefficients(lam, tw)
    N = np.asarray(Ns, float)
    return C2 * t ** 2 / N + (d1 / N + d2 / N ** 2) * t ** 3


def de_gap(lam, tw, Ns, t) -> np.ndarray:
    """Deterministic-equivalent gap `theory.gradient_flow_loss(N, t) − L(t, ∞)` [len(Ns), T] (accurate late;
    not at early times, see the module docstring)."""
    Lt = population_loss(lam, tw, t)
    return np.stack([th.gradient_flow_loss(lam, tw, float(N), t) - Lt for N in Ns])


# ----------------------------------------------------------------------------- simulation (torch, batched)
def control_variate(F: torch.Tensor, lam: torch.Tensor, w: torch.Tensor, t, Ns, nodes: int = QUAD_NODES):
    """Minus the linear term of the gap, for every prefix width N in Ns and every time in t, in one computation.

    C(t, N) = 2 Σ_ij u_i D_ij v_j Δ_ij (Δ = F_Nᵀ F_N/N − I, F_N = first N rows of F; u = Λw e^{−tΛ}, v = Λw,
    D_ij = −f[λ_i, λ_j] = t ∫₀¹ e^{−tsλ_i} e^{−t(1−s)λ_j} ds), the quantity of `claims.width_gap_control_variate`,
    with D in rank-`nodes` Gauss–Legendre form: C = 2t Σ_q ω_q (α_qᵀ Δ β_q), α_q = u e^{−t s_q Λ},
    β_q = v e^{−t(1−s_q)Λ}, αᵀΔβ = (1/N) Σ_{n<N} (f_n·α)(f_n·β) − α·β (prefix sums over rows n). Linear in Δ,
    so E C = 0 exactly whatever the quadrature error (which only costs variance reduction at t·λ_1 ≫ 10).
    Args: F [E, N_max, M], lam, w [M], t [T], Ns (widths ≤ N_max). Returns [E, len(Ns), T]."""
    dev, dt = F.device, F.dtype
    tt = torch.as_tensor(np.asarray(t, float), dtype=dt, device=dev)                     # [T]
    x, wq = np.polynomial.legendre.leggauss(nodes)
    s = torch.as_tensor((x + 1) / 2, dtype=dt, device=dev)                              # [Q] in (0, 1)
    om = torch.as_tensor(wq / 2, dtype=dt, device=dev)                                  # [Q], sums to 1
    v = lam * w
    u = v[None] * torch.exp(-tt[:, None] * lam[None])                                   # [T, M]
    alpha = u[:, None] * torch.exp(-(tt[:, None, None] * s[None, :, None]) * lam)       # [T, Q, M]
    beta = v * torch.exp(-(tt[:, None, None] * (1 - s)[None, :, None]) * lam)           # [T, Q, M]
    T, Q, M = alpha.shape
    FA = F @ alpha.reshape(T * Q, M).T                                                  # [E, N_max, T·Q]
    FB = F @ beta.reshape(T * Q, M).T
    idx = torch.as_tensor([int(n) - 1 for n in Ns], device=dev)
    csum = (FA * FB).cumsum(1).index_select(1, idx)                                     # [E, n_N, T·Q]
    Nt = torch.as_tensor([float(n) for n in Ns], dtype=dt, device=dev)
    form = csum / Nt[None, :, None] - (alpha * beta).sum(-1).reshape(T * Q)[None, None]  # αᵀΔβ
    form = form.reshape(F.shape[0], len(Ns), T, Q)
    return 2 * tt[None, None, :] * (form * om).sum(-1)


def simulate(F: torch.Tensor, lam: torch.Tensor, w: torch.Tensor, Ns, t, t_cv: float):
    """Gradient-flow population loss L(t, N) of the first-N-row models of F and the control variate; every seed in
    one computation (one batched eigh per width). Args: F [E, N_max, M] (N_max = max(Ns)), lam, w [M], Ns, t [T], t_cv (the
    control variate is applied at t ≤ t_cv, zero after). Returns (loss [E, n_N, T], cv [E, n_N, T])."""
    E, Nmax, M = F.shape
    dev, dt = F.device, F.dtype
    FL = F * lam
    S = FL @ F.transpose(1, 2)                                          # [E, N_max, N_max] = FΛFᵀ
    cf = FL @ w                                                         # [E, N_max] = FΛw
    y0 = (lam * w * w).sum()                                            # 0-d tensor: no host readback
    # one batched eigh per width (all seeds at once): the widths are the plan's, known on the host, so the loop
    # is over shapes, not instances (zero-padding every width to N_max would cost Σ N_max³ instead of Σ N³)
    L = torch.stack([mdl.flow_losses(S[:, :n, :n] / n, cf[:, :n] / math.sqrt(n), y0, t)[0] for n in Ns], 1)
    t = np.asarray(t, float)
    cv = torch.zeros_like(L)
    k = int((t <= t_cv).sum())
    if k:
        cv[:, :, :k] = control_variate(F, lam, w, t[:k], Ns)
    return L, cv


# ----------------------------------------------------------------------------- experiment
def _plan(cfg):
    chunks = [list(range(cfg.seeds))[i:i + SEED_CHUNK] for i in range(0, cfg.seeds, SEED_CHUNK)]
    return [grid(seed=ch, N=list(cfg.Ns)) for ch in chunks]


def _run(cfg, points, ctx):
    """One nested draw per seed at max(Ns) (keyed by the seed only, so batch-mates never change it); every width
    and time of those seeds in one computation; returns each point's L(t, N) and control variate over the times."""
    useeds = sorted({p["seed"] for p in points})
    Nmax = max(cfg.Ns)
    lam, w = mdl.latent_problem(cfg.M, cfg.a, cfg.b, dtype=ctx.dtype, device=ctx.device)
    F = mdl.draw_features(useeds, Nmax, cfg.M, dtype=ctx.dtype, device=ctx.device, keys=[(Nmax, _KEY)] * len(useeds))
    L, cv = simulate(F, lam, w, cfg.Ns, times(cfg), cfg.t_cv)
    L, cv = L.cpu(), cv.cpu()
    out = []
    for p in points:
        i, j = useeds.index(p["seed"]), list(cfg.Ns).index(p["N"])
        out.append({"loss": L[i, j].tolist(), "cv": cv[i, j].tolist()})
    return out


def _gaps(cfg, records):
    """Records -> (Ns [X], t [T], gap [S, X, T] with the control variate added where applied, raw gap [S, X, T])."""
    Ns = sorted({r.point["N"] for r in records})
    ss = sorted({r.point["seed"] for r in records})
    t = times(cfg)
    lam, tw = th.spectrum(cfg.M, cfg.b), th.task_power(cfg.M, cfg.a)
    Lt = population_loss(lam, tw, t)
    raw = np.full((len(ss), len(Ns), len(t)), np.nan)
    cv = np.zeros_like(raw)
    for r in records:
        i, j = ss.index(r.point["seed"]), Ns.index(r.point["N"])
        raw[i, j] = np.asarray(r.metrics["loss"], float) - Lt
        cv[i, j] = r.metrics["cv"]
    return np.asarray(Ns, float), t, raw + cv, raw


def _slope(x, y):
    """Decay exponent of y vs x by log-log least squares (NaN unless every y > 0)."""
    y = np.asarray(y, float)
    if not np.all(y > 0):
        return float("nan")
    return float(-np.polyfit(np.log(x), np.log(y), 1)[0])


def crossover_time(t, slopes, level) -> float:
    """First time at which the local exponent crosses `level` upwards (log-linear interpolation); NaN if none."""
    t, s = np.asarray(t, float), np.asarray(slopes, float)
    for k in range(1, len(t)):
        if np.isfinite(s[k - 1]) and np.isfinite(s[k]) and s[k - 1] < level <= s[k]:
            f = (level - s[k - 1]) / (s[k] - s[k - 1])
            return float(np.exp(np.log(t[k - 1]) + f * (np.log(t[k]) - np.log(t[k - 1]))))
    return float("nan")


def _analyze(cfg, records):
    an = Analysis()
    Ns, t, gap, raw = _gaps(cfg, records)
    lam, tw = th.spectrum(cfg.M, cfg.b), th.task_power(cfg.M, cfg.a)
    ie, il = int(np.argmin(np.abs(t - cfg.t_early))), int(np.argmin(np.abs(t - cfg.t_late)))
    de = de_gap(lam, tw, Ns, t)                                         # [X, T]
    c1 = first_order_coefficient(lam, tw, [cfg.t_early])[0]

    # early row: vs 1 (the statement); the exact first-order curve c1/N is drawn and compared pointwise
    ye = gap[:, :, ie]
    fit_e = fit_power_law(Ns, ye, window="all", agg="mean")
    pred_e = Prediction(1.0, "early time: finite-width gap ∝ 1/N",
                        (f"t = {cfg.t_early:g} ≲ 1/λ_1", "feature average (control variate removes the zero-mean "
                         "linear term)"), "BAP24 abstract; exact here: E g = 2t²(Σλ³w² + trΛ·Σλ²w²)/N + O(t³)")
    an.rows.append(compare(fit_e, pred_e, quantity=f"gap L(t,N) − L(t,∞) at t = {cfg.t_early:g} (early)", axis="N",
                           tolerance=TOL, theory_curve=(Ns, c1 / Ns),
                           note="seed aggregate = mean (the theory is an expectation); theory curve: exact "
                                "first-order c1(t)/N; verdict vs 1"))
    # late row: vs the DE gap's slope over the same window
    yl = gap[:, :, il]
    fit_l = fit_power_law(Ns, yl, window="all", agg="mean")
    ws_l = window_slope(Ns, de[:, il], fit_l.window)
    pred_l = Prediction(cfg.c_theory, "late time: gap → projection floor L_∞(N) ∝ N^-min(a−1, b)",
                        (f"a={cfg.a:g}, b={cfg.b:g}", f"t = {cfg.t_late:g} ≫ N^b"), "BAP24 abstract and Eq. 9; Bach23")
    an.rows.append(compare(fit_l, pred_l, quantity=f"gap L(t,N) − L(t,∞) at t = {cfg.t_late:g} (late)", axis="N",
                           tolerance=TOL, theory_window_slope=ws_l, theory_curve=(Ns, de[:, il]),
                           note="seed aggregate = mean; theory curve: deterministic-equivalent flow "
                                "(theory.gradient_flow_loss) minus the exact L(t,∞)"))
    # local exponent vs time and the crossover
    mean = np.nanmean(gap, 0)                                           # [X, T]
    sim_s = np.array([_slope(Ns, mean[:, k]) for k in range(len(t))])
    de_s = np.array([_slope(Ns, de[:, k]) for k in range(len(t))])
    level = 0.5 * (1.0 + ws_l)
    tx_sim, tx_de = crossover_time(t, sim_s, level), crossover_time(t, de_s, level)
    an.tables["local_exponent"] = [{"t": float(a), "sim": float(b), "de": float(c), "control_variate": "yes" if a <= cfg.t_cv else "no"}
                                   for a, b, c in zip(t, sim_s, de_s)]
    an.tables["crossover"] = [{"level": level, "t_cross_sim": tx_sim, "t_cross_de": tx_de,
                               "ratio": tx_sim / tx_de if tx_de > 0 else float("nan"),
                               "N_min^b": float(Ns[0] ** cfg.b), "N_max^b": float(Ns[-1] ** cfg.b)}]
    # pointwise
    me, ml = np.nanmean(ye, 0), np.nanmean(yl, 0)
    an.tables["pointwise"] = (
        [{"curve": f"early t={cfg.t_early:g} vs c1/N", "x": float(n), "sim": float(s), "theory": float(c1 / n),
          "ratio": float(s * n / c1)} for n, s in zip(Ns, me)]
        + [{"curve": f"early t={cfg.t_early:g} vs DE", "x": float(n), "sim": float(s), "theory": float(d),
            "ratio": float(s / d)} for n, s, d in zip(Ns, me, de[:, ie])]
        + [{"curve": f"late t={cfg.t_late:g} vs DE", "x": float(n), "sim": float(s), "theory": float(d),
            "ratio": float(s / d)} for n, s, d in zip(Ns, ml, de[:, il])])
    se = np.nanstd(ye, 0, ddof=1) / np.sqrt(ye.shape[0])
    ex = early_expansion(lam, tw, Ns, cfg.t_early)
    ex_slope = window_slope(Ns, ex, fit_e.window) if np.all(ex > 0) else float("nan")
    sd_raw = np.nanstd(raw[:, -1, ie], ddof=1) / abs(np.nanmean(raw[:, -1, ie]))
    sd_cv = np.nanstd(ye[:, -1], ddof=1) / abs(np.nanmean(ye[:, -1]))
    an.notes += [
        f"early (t = {cfg.t_early:g}): mean gap / (c1/N) = " + ", ".join(f"{s * n / c1:.3f}" for n, s in zip(Ns, me))
        + f" (each ± {np.nanmedian(se / me):.3f} s.e.; c1/N is exact to O(N^-2)); the DE curve gives "
        + ", ".join(f"{d * n / c1:.3f}" for n, d in zip(Ns, de[:, ie])) + " × c1/N there (not used early).",
        f"control variate at t = {cfg.t_early:g}, N = {Ns[-1]:g}: per-seed sd/mean {sd_raw:.1f} raw -> {sd_cv:.2f}; "
        f"{int((ye <= 0).sum())}/{ye.size} per-seed early gaps ≤ 0 (dropped by the log fit's aggregate; 0 expected).",
        f"late (t = {cfg.t_late:g}): median |mean/DE − 1| = {np.median(np.abs(ml / de[:, il] - 1)):.3f}; "
        f"asymptotic c = min(a − 1, b) = {cfg.c_theory:g}, DE slope over the window {ws_l:.3f}.",
        f"crossover (local exponent over N = {Ns[0]:g}..{Ns[-1]:g} crossing {level:.3f} = (1 + late slope)/2): "
        f"simulation t× = {tx_sim:.3g}, DE t× = {tx_de:.3g} (N^b spans {Ns[0] ** cfg.b:.3g}..{Ns[-1] ** cfg.b:.3g}).",
    ]
    return an


def crossover_figure(cfg, records, analysis, outdir):
    """Two panels: the gap vs N at t_early and t_late (simulation mean ± s.e., c1/N and DE curves), and the
    local exponent vs t (simulation, DE) with the crossover level and times."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    Ns, t, gap, _ = _gaps(cfg, records)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for row, tt, col in ((analysis.rows[0], cfg.t_early, "C0"), (analysis.rows[1], cfg.t_late, "C1")):
        k = int(np.argmin(np.abs(t - tt)))
        y = gap[:, :, k]
        ax1.errorbar(Ns, np.nanmean(y, 0), np.nanstd(y, 0, ddof=1) / np.sqrt(y.shape[0]), fmt="o", color=col,
                     label=f"sim t={tt:g}: slope {row.measured_exponent:.3f}")
        ax1.loglog(row.plot["theory_x"], row.plot["theory_y"], "-", color=col, lw=1,
                   label="c1(t)/N (exact 1st order)" if tt == cfg.t_early else "DE flow − L(t,∞)")
    ax1.set_xscale("log"); ax1.set_yscale("log")
    ax1.set_xlabel("N"); ax1.set_ylabel("L(t,N) − L(t,∞)"); ax1.legend(fontsize=7)
    le = analysis.tables["local_exponent"]
    ax2.semilogx([r["t"] for r in le], [r["sim"] for r in le], "o-", label="simulation (seed mean)")
    ax2.semilogx([r["t"] for r in le], [r["de"] for r in le], "k-", lw=1,
                 label="DE curve (its O(1/N) part is not exact early)")
    cr = analysis.tables["crossover"][0]
    ax2.axhline(1.0, color="C0", ls=":", lw=1, label="1 (early, exact as t → 0)")
    ax2.axhline(cfg.c_theory, color="C1", ls=":", lw=1, label=f"c = min(a−1, b) = {cfg.c_theory:g}")
    ax2.axhline(cr["level"], color="gray", ls="--", lw=1)
    for x in (cr["t_cross_sim"], cr["t_cross_de"]):
        if math.isfinite(x):
            ax2.axvline(x, color="gray", lw=0.8)
    ax2.set_xlabel("t"); ax2.set_ylabel("local exponent of the gap vs N")
    ax2.set_title(f"crossover t× sim {cr['t_cross_sim']:.3g}, DE {cr['t_cross_de']:.3g}", fontsize=8)
    ax2.legend(fontsize=7)
    fig.suptitle(f"rf.width_gap: a={cfg.a:g}, b={cfg.b:g}, M={cfg.M}, {gap.shape[0]} seeds", fontsize=9)
    return [save_figure(fig, Path(outdir) / "rf_width_gap.png")]


def _bytes(cfg):
    """Peak bytes of one seed's batch share (a point may need its whole seed's draw): F, FΛ [N_max, M]; S, one
    width's Gram and eigenvectors [N_max, N_max] x3; decays [T, N_max]; the losses [n_N, T]; control-variate
    projections FA, FB, products [N_max, T_cv·Q] x3 (float64)."""
    Nmax, nN, T = max(cfg.Ns), len(cfg.Ns), len(times(cfg))
    Tcv = int((times(cfg) <= cfg.t_cv).sum())
    return 8 * (2 * Nmax * cfg.M + 3 * Nmax * Nmax + 2 * T * Nmax + 2 * nN * T + 3 * Nmax * Tcv * QUAD_NODES)


register(Experiment(
    name="rf.width_gap",
    description="Approach to infinite width (Bordelon, Atanasov & Pehlevan): gap L(t,N) − L(t,∞) ∝ 1/N early, "
                "∝ N^-c late (c = min(a−1, b)), and the crossover time",
    config_cls=WidthGapConfig,
    scales={"smoke": dict(M=640, Ns=(16, 23, 32, 45, 64), n_times=13, seeds=64),
            "default": {},
            "paper": dict(M=20480, Ns=(64, 91, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048), t_max=1e7,
                          t_late=1e6, n_times=36, seeds=1024)},
    plan=_plan, run_batch=_run, analyze=_analyze, figures=crossover_figure,
    predictions="gap ∝ N^-1 early, ∝ N^-min(a−1,b) late; crossover t× ~ N^b",
    default_dtype=torch.float64, instance_bytes=_bytes))
