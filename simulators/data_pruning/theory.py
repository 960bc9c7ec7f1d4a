"""Replica theory of the max-margin perceptron trained on a pruned Gaussian pool (Sorscher et al. 2022, App. A).

Setting (our notation). Inputs x ~ N(0, I_N), teacher direction T̂, labels y = sign(T̂·x). A probe
p̂ = cos θ T̂ + sin θ ê (ê ⟂ T̂) scores every example of a pool of α_tot·N by its probe field s = p̂·x; a rule keeps
a fraction f of the pool: keep-hard |s| < γ_h, keep-easy |s| > γ_e, random: an f-subset (distribution unchanged),
with the thresholds set by the kept fraction, P(|s| < γ_h) = f → γ_h = Φ⁻¹((1 + f)/2), P(|s| > γ_e) = f →
γ_e = Φ⁻¹(1 − f/2). The student is the max-margin direction on the α = f·α_tot·N kept examples.

Fields. With t = T̂·x and u = ê·x (independent N(0, 1) before pruning; s = cos θ t + sin θ u) a unit student
J = R T̂ + ρ ê + c J⊥, c = √(1 − R² − ρ²), has field λ = R t + ρ u + c w on an example, w ~ N(0, 1) independent of
(t, u) because pruning only looks at (t, u).

Saddle point. The Gardner volume of students with y·λ ≥ κ on every kept example, at fixed (R, ρ), has the RS
entropy ½ ln(1 − q) + (q − R² − ρ²)/(2(1 − q)) and energy α ⟨∫Dw ln H((κ − y(Rt + ρu) − √(q − R² − ρ²) w)/√(1 − q))⟩
over the kept (t, u). At the max-margin point the volume shrinks to one student (q → 1, ln H(x) → −x²/2 for
x → ∞) and the divergent 1/(1 − q) part must vanish:

    Ψ(R, ρ, κ) ≡ c² − α · E_kept E_w [ (κ − y(R t + ρ u) − c w)₊² ] = 0,                              (1)

    κ*(α) = max over (R, ρ) of the κ solving (1),  i.e.  ∂Ψ/∂R = ∂Ψ/∂ρ = 0 at κ*.                    (2)

The w-average is closed form: with a = κ − y(Rt + ρu) and x = a/c,
    g(a, c) ≡ E_w (a − c w)₊² = (a² + c²) Φ(x) + a c φ(x),   ∂g/∂a = 2(aΦ(x) + cφ(x)),   ∂g/∂c = 2cΦ(x).
Using the symmetry (t, u) → (−t, −u) of every rule we fold onto t ≥ 0 (y = +1):
    E_kept[F] = (2/f) ∫_0^∞ Dt ∫ Du 1[keep(cos θ t + sin θ u)] F(t, u)   (random rule: f → 1, α = f α_tot),
and the stationarity conditions of (2) are
    ∂Ψ/∂R = −2R + 2α E[(aΦ + cφ) t] + 2αR E[Φ(x)] = 0,     ∂Ψ/∂ρ = −2ρ + 2α E[(aΦ + cφ) u] + 2αρ E[Φ(x)] = 0.
At θ = 0 the keep rule ignores u, so ρ = 0 (any ρ only moves weight from c into noise) and one equation remains.
The generalisation error on the unpruned test distribution is ε = arccos(R)/π.

Limits (tests): R → 0 in (1) with f = 1 gives α_c(κ) = 1/∫Dz (κ − z)₊² (Gardner), α_c(0) = 2; f = 1 reproduces the
maximal-stability perceptron (Opper, Kinzel, Kleinz & Nehl 1990), α ε → 0.5005 as α → ∞.

Numerics. The t-integral uses composite Gauss–Legendre panels with breakpoints at the kept-set edges and around
t = κ/R, where the integrand turns on with width c/R (narrow at large α); the u-integral (θ > 0) Gauss–Legendre
panels over the kept u-interval(s) for each t, u clipped to |u| ≤ 9. We solve in angles, R = cos φ,
ρ = sin φ sin ψ, c = sin φ cos ψ (the domain R² + ρ² < 1 for free, and ε = φ/π directly at θ = 0). θ = 0: nested
brentq (κ from (1) at fixed φ; φ from ∂Ψ/∂R = 0, bracketed in (0, π/2)). θ > 0: Newton-type root finding of the
three equations (1)–(2) by continuation in α, geometric steps ≤ ×1.25 from the nearest solved α (the θ = 0
solution at small α seeds the path), every accepted solution checked to residual ≤ 1e-9.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize, special

REFERENCE = "Sorscher, Geirhos, Shekhar, Ganguli & Morcos 2022 (arXiv 2206.14486), App. A; replica saddle point here"
RULES = ("hard", "easy", "random")
U_MAX = 9.0
_GL_T = np.polynomial.legendre.leggauss(32)
_GL_U = np.polynomial.legendre.leggauss(48)


def _Phi(x):
    return special.ndtr(x)


def _phi(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def check_inputs(alpha_tot, f, rule, theta_deg) -> None:
    """One-line ValueError naming the first bad argument."""
    if isinstance(alpha_tot, bool) or not isinstance(alpha_tot, (int, float, np.floating, np.integer)) \
            or not (math.isfinite(alpha_tot) and 0 < alpha_tot <= 1e6):
        raise ValueError(f"alpha_tot must be a finite number in (0, 1e6], got {alpha_tot!r}")
    if isinstance(f, bool) or not isinstance(f, (int, float, np.floating, np.integer)) or not (0 < f <= 1):
        raise ValueError(f"f (kept fraction) must be in (0, 1], got {f!r}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if isinstance(theta_deg, bool) or not isinstance(theta_deg, (int, float, np.floating, np.integer)) \
            or not (0 <= theta_deg < 90):
        raise ValueError(f"theta_deg (probe angle) must be in [0, 90), got {theta_deg!r}")


def threshold(f: float, rule: str) -> float:
    """γ of the keep rule on |s| (hard: P(|s| < γ) = f; easy: P(|s| > γ) = f; random: unused, inf)."""
    if rule == "hard":
        return float(special.ndtri((1 + f) / 2)) if f < 1 else math.inf
    if rule == "easy":
        return float(special.ndtri(1 - f / 2)) if f < 1 else 0.0
    return math.inf


def gardner_capacity(kappa: float) -> float:
    """α_c(κ) = 1 / ∫Dz (κ − z)₊² = 1 / ((κ² + 1)Φ(κ) + κφ(κ))."""
    return 1.0 / ((kappa ** 2 + 1) * _Phi(kappa) + kappa * _phi(kappa))


def _panels(a: float, b: float, breaks, gl):
    """Gauss–Legendre nodes/weights on [a, b], split at the breakpoints inside it."""
    pts = sorted({a, b, *[x for x in breaks if a < x < b]})
    xs, ws = [], []
    x0, w0 = gl
    for lo, hi in zip(pts[:-1], pts[1:]):
        if hi - lo <= 0:
            continue
        xs.append(0.5 * (hi - lo) * x0 + 0.5 * (hi + lo))
        ws.append(0.5 * (hi - lo) * w0)
    return np.concatenate(xs), np.concatenate(ws)


class _Problem:
    """The kept distribution of (t ≥ 0, u) for one (f, rule, θ) and the moments that enter (1)–(2)."""

    def __init__(self, f: float, rule: str, theta_deg: float):
        self.f, self.rule, self.theta = f, rule, math.radians(theta_deg)
        self.gamma = threshold(f, rule)
        self.mass = 1.0 if (rule == "random" or f == 1) else f       # normalisation of the kept density
        self.planar = theta_deg > 0 and rule != "random" and f < 1

    def _t_nodes(self, kappa, R, spread):
        tmax = U_MAX if self.planar or self.rule != "hard" or self.f == 1 else min(self.gamma, U_MAX)
        tmin = self.gamma if (not self.planar and self.rule == "easy" and self.f < 1) else 0.0
        k = kappa / max(R, 1e-300)
        w = spread / max(R, 1e-300)
        br = [k + m * w for m in (-8, -4, -2, -1, 0, 1, 2, 4, 8, 16)] + [0.5, 1, 2, 3, 4, 6]
        if self.planar:
            br += [self.gamma / math.cos(self.theta)]
        t, wt = _panels(tmin, tmax, br, _GL_T)
        return t, wt * 2 * _phi(t) / self.mass

    def _u_nodes(self, t):
        """[T, U] nodes and weights (density φ(u) included) over the kept u for each t (planar case)."""
        st, ct = math.sin(self.theta), math.cos(self.theta)
        lo = (-self.gamma - ct * t) / st
        hi = (self.gamma - ct * t) / st
        x0, w0 = _GL_U
        if self.rule == "hard":
            ivs = [(np.clip(lo, -U_MAX, U_MAX), np.clip(hi, -U_MAX, U_MAX))]
        else:
            ivs = [(np.full_like(t, -U_MAX), np.clip(lo, -U_MAX, U_MAX)), (np.clip(hi, -U_MAX, U_MAX), np.full_like(t, U_MAX))]
        us, ws = [], []
        for a, b in ivs:
            half = 0.5 * (b - a)[:, None]
            u = half * x0[None, :] + (0.5 * (a + b))[:, None]
            us.append(u)
            ws.append(half * w0[None, :] * _phi(u))
        return np.concatenate(us, 1), np.concatenate(ws, 1)

    def moments(self, R, rho, c, kappa, alpha, need_grad=True):
        """(Ψ, ∂Ψ/∂R, ∂Ψ/∂ρ, ∂Ψ/∂κ) of eq. (1) at (R, ρ, c = √(1 − R² − ρ²), κ)."""
        if self.planar:
            t, wt = self._t_nodes(kappa, R, math.hypot(c, 3 * abs(rho)) + 1e-12)
            u, wu = self._u_nodes(t)
            W = wt[:, None] * wu
            T = np.broadcast_to(t[:, None], u.shape)
            a = kappa - R * T - rho * u
        else:
            t, W = self._t_nodes(kappa, R, c + 1e-12)
            T, u = t, 0.0
            a = kappa - R * t
        x = a / c
        Px, px = _Phi(x), _phi(x)
        g = (a * a + c * c) * Px + a * c * px
        m1 = a * Px + c * px
        Eg = float(np.sum(W * g))
        psi = c * c - alpha * Eg
        if not need_grad:
            return psi
        EP = float(np.sum(W * Px))
        dR = -2 * R + 2 * alpha * float(np.sum(W * m1 * T)) + 2 * alpha * R * EP
        dr = (-2 * rho + 2 * alpha * float(np.sum(W * m1 * u)) + 2 * alpha * rho * EP) if self.planar else 0.0
        dk = -2 * alpha * float(np.sum(W * m1))
        return psi, dR, dr, dk


def _angles(phi, psi):
    return math.cos(phi), math.sin(phi) * math.sin(psi), math.sin(phi) * math.cos(psi)


def _kappa_at(prob: _Problem, alpha, R, rho, c):
    """κ solving Ψ = 0 at fixed (R, ρ): Ψ decreases in κ; bracket from the teacher-side lower bound."""
    fn = lambda k: prob.moments(R, rho, c, k, alpha, need_grad=False)
    lo, hi = 0.0, 1.0
    while fn(hi) > 0:
        lo, hi = hi, 2 * hi
    if fn(lo) < 0:                      # possible only for negative κ (not for a separable pool)
        lo = -1.0
        while fn(lo) < 0:
            lo *= 2
    return optimize.brentq(fn, lo, hi, xtol=1e-15, rtol=1e-14, maxiter=200)


def _solve_planar0(prob: _Problem, alpha):
    """θ = 0 (or random / f = 1): ρ = 0; φ from ∂Ψ/∂R = 0 with κ(φ) from Ψ = 0. Returns (φ, κ)."""
    def h(phi):
        R, _, c = _angles(phi, 0.0)
        k = _kappa_at(prob, alpha, R, 0.0, c)
        return prob.moments(R, 0.0, c, k, alpha)[1]

    lo, hi = 1e-9, math.pi / 2 - 1e-9
    phi = optimize.brentq(h, lo, hi, xtol=1e-14, rtol=1e-13, maxiter=200)
    R, _, c = _angles(phi, 0.0)
    return phi, _kappa_at(prob, alpha, R, 0.0, c)


def _residual(prob, alpha, v):
    phi, psi, kappa = v
    R, rho, c = _angles(phi, psi)
    p, dR, dr, _ = prob.moments(R, rho, c, kappa, alpha)
    # stationarity in (R, ρ) itself: the angle derivatives carry a factor sin φ that would make φ = 0 (the
    # teacher, c = 0) a spurious root
    return np.array([p, dR, dr])


@lru_cache(maxsize=None)
def _path(f: float, rule: str, theta_deg: float):
    return {}


def solve(alpha: float, f: float, rule: str, theta_deg: float = 0.0) -> dict:
    """Saddle point at α = α_prune (kept examples per dimension): dict with R, rho, kappa, eps, residual."""
    prob = _Problem(f, rule, theta_deg)
    if not prob.planar:
        phi, kappa = _solve_planar0(prob, alpha)
        R, rho, c = _angles(phi, 0.0)
        res = abs(prob.moments(R, 0.0, c, kappa, alpha, need_grad=False))
        return {"R": R, "rho": 0.0, "kappa": kappa, "eps": phi / math.pi, "residual": res}
    path = _path(float(f), rule, float(theta_deg))
    if alpha in path:
        v = path[alpha]
    else:
        if path:
            a0 = min(path, key=lambda a: abs(math.log(a / alpha)))
            v0 = path[a0]
        else:
            a0 = min(alpha, 0.05)
            phi, kappa = _solve_planar0(_Problem(f, rule, 0.0), a0)
            v0 = np.array([phi, 0.0, kappa])
            v0 = _root(prob, a0, v0)
            path[a0] = v0
        la, lt = math.log(a0), math.log(alpha)
        step = math.copysign(math.log(1.25), lt - la)
        while la != lt:
            nxt = lt if abs(lt - la) <= abs(step) else la + step
            try:
                v0 = _root(prob, math.exp(nxt), v0)
            except RuntimeError:
                if abs(step) < 1e-6:
                    raise
                step /= 2                              # steep stretch of the path: shorter continuation step
                continue
            la = nxt
            path[math.exp(la)] = v0
            step = math.copysign(min(math.log(1.25), 2 * abs(step)), step)
        v = v0
    R, rho, c = _angles(v[0], v[1])
    res = float(np.max(np.abs(_residual(prob, alpha, v))))
    return {"R": R, "rho": rho, "kappa": float(v[2]), "eps": math.acos(R) / math.pi, "residual": res}


def _root(prob, alpha, v0):
    sol = optimize.root(lambda v: _residual(prob, alpha, v), v0, method="hybr", options={"xtol": 1e-13, "factor": 0.1})
    r = np.max(np.abs(_residual(prob, alpha, sol.x)))
    if not (r <= 1e-10 and 0 < sol.x[0] < math.pi / 2 and abs(sol.x[1]) < math.pi / 2):
        raise RuntimeError(f"saddle point not converged at alpha={alpha:.4g} (f={prob.f}, rule={prob.rule}, "
                           f"theta={math.degrees(prob.theta):.3g}): residual {r:.2e}")
    return sol.x


def pruned_error(alpha_tot: float, f: float, rule: str, theta_deg: float = 0.0) -> float:
    """Replica prediction of ε for a pool of α_tot·N examples pruned to fraction f by `rule` along a probe at
    angle θ (f = 1: unpruned). The student trains on α_prune = f·α_tot examples per dimension."""
    check_inputs(alpha_tot, f, rule, theta_deg)
    return float(solve(float(alpha_tot) * float(f), float(f), rule, float(theta_deg))["eps"])


def unpruned_error(alpha: float) -> float:
    """Maximal-stability perceptron ε(α) (f = 1)."""
    return pruned_error(alpha, 1.0, "random")


def frontier(alpha_tot: float, fs, rule: str = "hard", theta_deg: float = 0.0) -> tuple[float, float]:
    """(min over f in `fs` of ε, argmin f) at one α_tot."""
    errs = [pruned_error(alpha_tot, f, rule, theta_deg) for f in fs]
    i = int(np.argmin(errs))
    return float(errs[i]), float(fs[i])
