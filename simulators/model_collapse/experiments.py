"""Registered experiments of the model-collapse family: collapse.ols_generations, collapse.ridge_scaling,
collapse.overparam, collapse.replace_vs_accumulate, tails.cut, tails.mix, tails.generations.

Every measured exponent is a `fit_power_law` fit (agg = "mean": the theory is an expectation; bootstrap over
seeds) of simulated errors; theory enters only as the prediction, the theory-curve slope over the same window
(the verdict target) and the pointwise expectations of the tables (z = (mean − exact)/SE over seeds).
A seed is the bootstrap unit: its value is the mean of its `reps` chains (regression) or one chain (tails).
Regression chains run in the run's dtype (default float64); tail probabilities and CDFs are always float64.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..harness.compare import Prediction, compare
from ..harness.fit import fit_power_law, window_slope
from ..harness.registry import Analysis, Experiment, register
from . import model, theory
from .config import (OLSGenConfig, OverparamConfig, ReplaceConfig, RidgeScalingConfig, TailCutConfig, TailGenConfig,
                     TailMixConfig)

Z_MAX = 3.0   # pointwise check: |mean − exact| ≤ 3 SE at every exact point


# ============================================================================ shared helpers
def _seed_batches(cfg, make_points, per_batch: int = 8):
    """Batches of whole seeds (a seed's chains run together), `per_batch` seeds per batch."""
    seeds = list(range(cfg.seeds))
    return [[p for s in seeds[i:i + per_batch] for p in make_points(s)] for i in range(0, len(seeds), per_batch)]


def _seed_reps(cfg, seeds):
    """Chains of the given seeds: (seed list, rep list), reps chains per seed, and the [S, reps] mean view."""
    S = [s for s in seeds for _ in range(cfg.reps)]
    R = [r for _ in seeds for r in range(cfg.reps)]
    return S, R


def _matrix(records, cfg, match, xs, xkey, metric="error"):
    y = np.full((cfg.seeds, len(xs)), np.nan)
    col = {x: i for i, x in enumerate(xs)}
    for r in records:
        if match(r.point) and r.point[xkey] in col:
            y[r.point["seed"], col[r.point[xkey]]] = r.metrics[metric]
    return y


def _pointwise(table, label, xs, y, exact, xname="x", exact_kind="exact", sd_bound=None):
    """Append one table row per point (mean, SE over seeds, exact, z) and return max |z|.

    sd_bound: an upper bound on one seed's SD (tails: `theory.hutter_error_sd_bound`); the SE used is
    max(sample SE, sd_bound/√S), so a point where every seed happens to give the same value (a rare miss
    unobserved, sample SE = 0) is judged by the law's own spread instead of an infinite z."""
    m = np.nanmean(y, 0)
    S = np.sum(np.isfinite(y), 0)
    se = np.nanstd(y, 0, ddof=1) / np.sqrt(S)
    if sd_bound is not None:
        se = np.maximum(se, np.asarray(sd_bound, float) / np.sqrt(S))
    se = np.maximum(se, 1e-12 * np.abs(np.asarray(exact, float)))          # float64 summation rounding
    zmax = 0.0
    for x, mm, s, e in zip(xs, m, se, exact):
        z = (mm - e) / s if s > 0 else (0.0 if abs(mm - e) <= 1e-12 * max(abs(e), 1e-300) else math.inf)
        zmax = max(zmax, abs(z))
        table.append({"curve": label, xname: float(x), "mean": float(mm), "se": float(s), exact_kind: float(e),
                      "rel_diff": float(mm / e - 1) if e else float("nan"), "z": float(z)})
    return zmax


def _row(x, y, curve, pred, quantity, axis, tol, window="auto", note="", boot_tol=False):
    """One exponent row. boot_tol (curves that are not exact, i.e. the ridge deterministic equivalent): the
    tolerance is max(tol, 2 × the bootstrap SE of the fitted exponent), stated in the note."""
    x = np.asarray(x, float)
    fit = fit_power_law(x, y, window=window, agg="mean")
    ws = window_slope(x, curve, fit.window)
    if boot_tol and 2 * fit.stderr > tol:
        note = (note + "; " if note else "") + f"tolerance 2 × bootstrap SE = {2 * fit.stderr:.3f} (> {tol:g})"
        tol = 2 * fit.stderr
    note = (f"window rule: {fit.window_rule}; kept [{fit.window[0]:.4g}, {fit.window[1]:.4g}] ({fit.n_points} "
            f"points); asymptotic exponent {pred.value:.3f}" + (f"; {note}" if note else ""))
    return compare(fit, pred, quantity=quantity, axis=axis, tolerance=tol, theory_window_slope=ws,
                   theory_curve=(x, curve), note=note)


def _zsummary(name, zmax, npts, kind="exact expectation"):
    ok = "all within" if zmax <= Z_MAX else "NOT all within"
    return f"{name}: {npts} points vs the {kind}: {ok} {Z_MAX:g} SE (max |z| = {zmax:.2f})"


def _spectrum(kind: str, d: int, beta: float):
    lam = np.ones(d) if kind == "isotropic" else np.arange(1, d + 1, dtype=float) ** -beta
    return torch.tensor(lam), torch.tensor(np.ones(d) / np.sqrt(d))


# ============================================================================ collapse.ols_generations
def plan_ols(cfg: OLSGenConfig):
    return _seed_batches(cfg, lambda s: [{"spectrum": sp, "n": n, "seed": s} for sp in cfg.spectra
                                         for n in range(cfg.n_max + 1)])


def run_ols(cfg: OLSGenConfig, points, ctx):
    seeds = sorted({p["seed"] for p in points})
    S, R = _seed_reps(cfg, seeds)
    res = {}
    for tag, sp in enumerate(("isotropic", "power"), start=10):
        if sp not in {p["spectrum"] for p in points}:
            continue
        lam, w0 = _spectrum(sp, cfg.d, cfg.beta)
        e = model.ols_chain_errors(S, R, d=cfg.d, T0=cfg.T0, T=cfg.T, n_max=cfg.n_max, sigma=cfg.sigma,
                                   sigma0=cfg.sigma0, lam=lam, w0=w0, tag=tag, device=ctx.device, dtype=ctx.dtype)
        res[sp] = e.reshape(len(seeds), cfg.reps, -1).mean(1).cpu().numpy()
    return [{"error": float(res[p["spectrum"]][seeds.index(p["seed"]), p["n"]])} for p in points]


def analyze_ols(cfg: OLSGenConfig, records):
    rows, table, notes = [], [], []
    ns = list(range(cfg.n_max + 1))
    x = np.arange(1, cfg.n_max + 1, dtype=float)
    for sp in cfg.spectra:
        y = _matrix(records, cfg, lambda p: p["spectrum"] == sp, ns, "n")
        exact = np.array([theory.ols_chain_error(cfg.d, cfg.T, cfg.T0, n, cfg.sigma, cfg.sigma0) for n in ns])
        zmax = _pointwise(table, sp, ns, y, exact, "n")
        pred = Prediction(-1.0, regime="OLS chain (linear growth in n)",
                          assumptions=("Gaussian design", f"T0 = {cfg.T0} >= d + 2"), reference=theory.REF_OLS)
        slope = np.polyfit(ns, np.nanmean(y, 0), 1)[0]
        unit = cfg.sigma0 ** 2 * cfg.d / (cfg.T0 - cfg.d - 1)
        rows.append(_row(x, y[:, 1:], exact[1:], pred, f"downstream OLS error ({sp} Σ)", "generations n",
                         cfg.tolerance, note=f"linear slope dE/dn measured {slope:.4f}, exact σ0²d/(T0−d−1) = {unit:.4f}"))
        notes.append(_zsummary(f"{sp} Σ", zmax, len(ns)))
    notes.append("Exact expectation: E = σ²d/(T−d−1) + nσ0²d/(T0−d−1) for any Σ (inverse-Wishart mean; the cross "
                 "terms vanish). Exponent rows: error vs n for n ≥ 1 (decay rate −1 = linear growth asymptotically; "
                 "verdict target: the exact curve's slope over the fit window).")
    return Analysis(rows=rows, notes=notes, tables={"error_vs_n": table})


register(Experiment(
    name="collapse.ols_generations",
    description="model collapse (Dohmatob et al. 2024): downstream OLS error vs generations n, isotropic and power-law Σ",
    config_cls=OLSGenConfig,
    scales={"smoke": {"n_max": 6, "seeds": 8, "reps": 8, "spectra": ("isotropic",), "tolerance": 0.15},
            "default": {},
            "paper": {"d": 64, "T0": 128, "T": 256, "n_max": 32, "seeds": 64, "reps": 64}},
    plan=plan_ols, run_batch=run_ols, analyze=analyze_ols, default_dtype=torch.float64,
    predictions="E(n) = σ²d/(T−d−1) + nσ0²d/(T0−d−1): linear in n (exponent −1)",
))


# ============================================================================ collapse.overparam
def plan_over(cfg: OverparamConfig):
    return _seed_batches(cfg, lambda s: [{"T0": t, "n": n, "seed": s} for t in cfg.T0_values
                                         for n in (0, *cfg.n_values)])


def run_over(cfg: OverparamConfig, points, ctx):
    seeds = sorted({p["seed"] for p in points})
    S, R = _seed_reps(cfg, seeds)
    res = {}
    for t in sorted({p["T0"] for p in points}):
        e, nrm = model.overparam_chain_errors(S, R, d=cfg.d, T0=t, n_max=max(cfg.n_values), device=ctx.device,
                                              dtype=ctx.dtype, return_norm=True)
        res[t] = [x.reshape(len(seeds), cfg.reps, -1).mean(1).cpu().numpy() for x in (e, nrm)]
    return [{"error": float(res[p["T0"]][0][seeds.index(p["seed"]), p["n"]]),
             "retained": float(res[p["T0"]][1][seeds.index(p["seed"]), p["n"]])} for p in points]


def analyze_over(cfg: OverparamConfig, records):
    rows, table, notes = [], [], []
    T0s = list(cfg.T0_values)[::-1]                            # increasing d/T0
    x = cfg.d / np.array(T0s, float)
    zall = 0.0
    for n in cfg.n_values:
        err = _matrix(records, cfg, lambda p: p["n"] == n, T0s, "T0")
        exact = np.array([theory.overparam_chain_error(cfg.d, t, n) for t in T0s])
        ret = _matrix(records, cfg, lambda p: p["n"] == n, T0s, "T0", "retained")
        zall = max(zall, _pointwise(table, f"error, n = {n}", T0s, err, exact, "T0"))
        zall = max(zall, _pointwise(table, f"retained norm, n = {n}", T0s, ret, 1.0 - exact, "T0"))
        pred = Prediction(float(n), regime="noiseless min-norm chain, T0 < d",
                          assumptions=("Σ = I", "random T0-dim row spaces"), reference=theory.REF_OVER)
        rows.append(_row(x, ret, 1.0 - exact, pred, f"retained norm ‖ŵ_n‖²/‖w0‖² (n = {n})", "d/T0",
                         cfg.tolerance, window="all"))
    notes.append(_zsummary("relative error 1 − (T0/d)^n and retained norm (T0/d)^n", zall,
                           2 * len(T0s) * len(cfg.n_values)))
    notes.append("Exact: E‖ŵ_n − w0‖²/‖w0‖² = 1 − (T0/d)^n and E‖ŵ_n‖²/‖w0‖² = (T0/d)^n (each generation projects "
                 "on a uniformly random T0-dim subspace); (T0/d)^n = (d/T0)^−n is a pure power law with exponent n. "
                 "The exponent rows fit the retained norm (positive in every chain; 1 − error is not).")
    return Analysis(rows=rows, notes=notes, tables={"error_vs_T0": table})


register(Experiment(
    name="collapse.overparam",
    description="model collapse: noiseless min-norm chain, T0 < d: 1 − E = (T0/d)^n (exponential collapse in n)",
    config_cls=OverparamConfig,
    scales={"smoke": {"d": 16, "T0_values": (4, 6, 8, 12), "n_values": (1, 2), "seeds": 8, "reps": 8,
                      "tolerance": 0.15},
            "default": {},
            "paper": {"d": 256, "T0_values": (32, 64, 96, 128, 192), "n_values": (1, 2, 4, 8), "seeds": 64, "reps": 64}},
    plan=plan_over, run_batch=run_over, analyze=analyze_over, default_dtype=torch.float64,
    predictions="retained fraction (T0/d)^n: exponent n in d/T0",
))


# ============================================================================ collapse.replace_vs_accumulate
def plan_rep(cfg: ReplaceConfig):
    return _seed_batches(cfg, lambda s: [{"scheme": sc, "n": n, "seed": s} for sc in ("replace", "accumulate")
                                         for n in cfg.n_values()])


def run_rep(cfg: ReplaceConfig, points, ctx):
    seeds = sorted({p["seed"] for p in points})
    S, R = _seed_reps(cfg, seeds)
    rep, acc = model.replace_accumulate_errors(S, R, d=cfg.d, T0=cfg.T0, n_max=cfg.n_max, sigma0=cfg.sigma0,
                                               device=ctx.device, dtype=ctx.dtype)
    res = {sc: e.reshape(len(seeds), cfg.reps, -1).mean(1).cpu().numpy() for sc, e in (("replace", rep), ("accumulate", acc))}
    return [{"error": float(res[p["scheme"]][seeds.index(p["seed"]), p["n"] - 1])} for p in points]


def analyze_rep(cfg: ReplaceConfig, records):
    rows, table, notes = [], [], []
    ns = list(cfg.n_values())
    x = np.array(ns, float)
    for sc, f, pv in (("replace", theory.replace_error, -1.0), ("accumulate", theory.accumulate_error, 0.0)):
        y = _matrix(records, cfg, lambda p: p["scheme"] == sc, ns, "n")
        exact = f(cfg.d, cfg.T0, np.array(ns), cfg.sigma0)
        z = _pointwise(table, sc, ns, y, exact, "n")
        pred = Prediction(pv, regime=f"{sc} (fixed design, fresh noise)", reference=theory.REF_ACC,
                          assumptions=("Σ = I", "OLS every round"))
        rows.append(_row(x, y, exact, pred, f"error after n rounds ({sc})", "rounds n", cfg.tolerance, window="all"))
        notes.append(_zsummary(sc, z, len(ns)))
    lim = theory.accumulate_limit(cfg.d, cfg.T0, cfg.sigma0)
    acc = np.nanmean(_matrix(records, cfg, lambda p: p["scheme"] == "accumulate", ns, "n"), 0)
    notes.append(f"Accumulate limit (π²/6)σ0²d/(T0−d−1) = {lim:.4f}; exact at n = {ns[-1]}: "
                 f"{theory.accumulate_error(cfg.d, cfg.T0, ns[-1], cfg.sigma0):.4f}; simulated {acc[-1]:.4f}. "
                 f"Replace grows linearly: exact {theory.replace_error(cfg.d, cfg.T0, ns[-1], cfg.sigma0):.3f} at n = {ns[-1]}.")
    return Analysis(rows=rows, notes=notes, tables={"error_vs_n": table})


register(Experiment(
    name="collapse.replace_vs_accumulate",
    description="model collapse: replace data (linear growth) vs accumulate all generations (bounded by π²/6)",
    config_cls=ReplaceConfig,
    scales={"smoke": {"n_max": 8, "seeds": 8, "reps": 8, "tolerance": 0.15},
            "default": {},
            "paper": {"d": 64, "T0": 128, "n_max": 256, "seeds": 64, "reps": 64}},
    plan=plan_rep, run_batch=run_rep, analyze=analyze_rep, default_dtype=torch.float64,
    predictions="replace: n σ0²d/(T0−d−1) (exponent −1); accumulate → (π²/6)σ0²d/(T0−d−1) (exponent → 0)",
))


# ============================================================================ collapse.ridge_scaling
SCHEDULES = ("clean", "adaptive")


def _ridge_grid(cfg: RidgeScalingConfig) -> np.ndarray:
    """λ [J, N, S] per size, generation and schedule."""
    ell = theory.critical_ridge_exponent(cfg.beta, cfg.r)
    out = np.empty((len(cfg.T_values), len(cfg.n_values), 2))
    for j, T in enumerate(cfg.T_values):
        for i, n in enumerate(cfg.n_values):
            out[j, i] = (T ** -ell, theory.adaptive_ridge(T, _c(cfg, n), cfg.sigma, cfg.beta, cfg.r))
    return out


def _c(cfg, n):
    return n * cfg.sigma0 ** 2 / (cfg.T0 - cfg.d - 1)


def plan_ridge(cfg: RidgeScalingConfig):
    return _seed_batches(cfg, lambda s: [{"n": n, "T": T, "schedule": sc, "seed": s} for n in cfg.n_values
                                         for T in cfg.T_values for sc in SCHEDULES], per_batch=4)


def run_ridge(cfg: RidgeScalingConfig, points, ctx):
    seeds = sorted({p["seed"] for p in points})
    S, R = _seed_reps(cfg, seeds)
    lam, tw = theory.power_spectrum(cfg.d, cfg.beta, cfg.r)
    e = model.ridge_chain_errors(S, R, d=cfg.d, T0=cfg.T0, n_values=cfg.n_values, T_values=cfg.T_values,
                                 ridges=torch.tensor(_ridge_grid(cfg)), sigma=cfg.sigma, sigma0=cfg.sigma0,
                                 lam=torch.tensor(lam), w0=torch.tensor(np.sqrt(tw / lam)), device=ctx.device,
                                 dtype=ctx.dtype)
    e = e.reshape(len(seeds), cfg.reps, *e.shape[1:]).mean(1).cpu().numpy()          # [S, J, N, 2]
    J, N = {T: j for j, T in enumerate(cfg.T_values)}, {n: i for i, n in enumerate(cfg.n_values)}
    return [{"error": float(e[seeds.index(p["seed"]), J[p["T"]], N[p["n"]], SCHEDULES.index(p["schedule"])])}
            for p in points]


def ridge_curve(cfg: RidgeScalingConfig, n: int, schedule: str) -> np.ndarray:
    """Deterministic-equivalent E(T) for generation n and a ridge schedule, at cfg.T_values."""
    lam, tw = theory.power_spectrum(cfg.d, cfg.beta, cfg.r)
    lr = _ridge_grid(cfg)[:, list(cfg.n_values).index(n), SCHEDULES.index(schedule)]
    return theory.ridge_chain_error(lam, tw, cfg.T_values, lr, cfg.sigma, _c(cfg, n))


def analyze_ridge(cfg: RidgeScalingConfig, records):
    rows, table, notes = [], [], []
    Ts = list(cfg.T_values)
    x = np.array(Ts, float)
    fast, grow = theory.clean_rate(cfg.beta, cfg.r), theory.collapse_rate(cfg.beta, cfg.r)
    ref, worst = theory.REF_RIDGE, 0.0
    for n in cfg.n_values:
        for sc in SCHEDULES:
            if n == 0 and sc == "adaptive":
                continue                                  # identical to the clean schedule at n = 0
            y = _matrix(records, cfg, lambda p: p["n"] == n and p["schedule"] == sc, Ts, "T")
            de = ridge_curve(cfg, n, sc)
            _pointwise(table, f"n = {n}, {sc} λ", Ts, y, de, "T", "deterministic_equivalent")
            m = np.nanmean(y, 0)
            se = np.nanstd(y, 0, ddof=1) / np.sqrt(np.sum(np.isfinite(y), 0))
            worst = max(worst, float(np.max((np.abs(m - de) - Z_MAX * se) / de)))    # beyond 3 SE, relative
            if n == 0:
                rows.append(_row(x, y, de, Prediction(fast, regime="clean, λ = T^−ℓ_crit", reference=ref),
                                 "ridge error (n = 0)", "T samples", cfg.tolerance, boot_tol=True))
            elif sc == "clean" and n == max(cfg.n_values):
                rows.append(_row(x, y, de, Prediction(grow, regime="collapse-dominated, λ = T^−ℓ_crit", reference=ref),
                                 f"ridge error (n = {n}, clean λ)", "T samples", cfg.tolerance,
                                 window="last_decades:1", note="negative exponent: the error grows with T",
                                 boot_tol=True))
            elif sc == "adaptive" and n == min(k for k in cfg.n_values if k > 0):
                xe = theory.effective_T(x, _c(cfg, n), cfg.sigma)
                rows.append(_row(xe, y, de, Prediction(fast, regime="adaptive λ = T_eff^−ℓ_crit", reference=ref),
                                 f"ridge error (n = {n}, adaptive λ)", "effective T_eff = (1/T + c_n/σ²)^−1",
                                 cfg.tolerance, note=f"T_eff ∈ [{xe[0]:.3g}, {xe[-1]:.3g}]", boot_tol=True))
    ell = theory.critical_ridge_exponent(cfg.beta, cfg.r)
    notes.append(f"ℓ_crit = β/(1+2βr) = {ell:.4f}; clean rate 2βr/(1+2βr) = {fast:.4f}; collapse-dominated rate "
                 f"−1/(1+2βr) = {grow:.4f}; c_n = nσ0²/(T0−d−1).")
    notes.append(f"Pointwise vs the ridge deterministic equivalent (random_features.theory.ridge_test_error; not exact "
                 f"at finite d, so the check is |mean − DE| ≤ 3 SE + de_rel_tol·DE): largest excess beyond 3 SE = "
                 f"{max(worst, 0.0):.3f} of DE (de_rel_tol = {cfg.de_rel_tol}): "
                 f"{'within' if worst <= cfg.de_rel_tol else 'OUTSIDE'} the allowance. z per point in the table.")
    lo = [r for r in table if r["curve"] == f"n = {max(cfg.n_values)}, adaptive λ"][-1]["mean"]
    hi = [r for r in table if r["curve"] == f"n = {max(cfg.n_values)}, clean λ"][-1]["mean"]
    notes.append(f"At T = {Ts[-1]}, n = {max(cfg.n_values)}: adaptive λ error {lo:.4g} vs clean-schedule λ {hi:.4g}.")
    return Analysis(rows=rows, notes=notes, tables={"error_vs_T": table})


register(Experiment(
    name="collapse.ridge_scaling",
    description="model collapse: ridge error vs T under a power-law spectrum after n generations, clean vs adaptive λ",
    config_cls=RidgeScalingConfig,
    scales={"smoke": {"d": 32, "T0": 128, "n_values": (0, 1, 4), "T_values": (16, 32, 64, 128, 256), "seeds": 4,
                      "reps": 2, "tolerance": 0.3, "de_rel_tol": 0.3},
            "default": {},
            "paper": {"d": 512, "T0": 2048, "n_values": (0, 1, 4, 16), "T_values": tuple(2 ** k for k in range(4, 16)),
                      "seeds": 64, "reps": 16}},
    plan=plan_ridge, run_batch=run_ridge, analyze=analyze_ridge, default_dtype=torch.float64,
    predictions="clean: 2βr/(1+2βr) (2/3); collapsed at λ=T^−ℓ_crit: −1/(1+2βr) (grows); adaptive: 2/3 in T_eff",
))


# ============================================================================ tails
def _zipf(cfg):
    return theory.zipf_probs(cfg.vocab, cfg.beta)


def plan_cut(cfg: TailCutConfig):
    laws = [("cut", k) for k in cfg.k_values] + ([("narrow", 0)] if cfg.beta_prime else [])
    return _seed_batches(cfg, lambda s: [{"law": lw, "k": k, "T": T, "seed": s} for lw, k in laws
                                         for T in cfg.T_values], per_batch=8)


def _cut_q(cfg, law, k):
    if law == "narrow":
        return torch.tensor(theory.zipf_probs(cfg.vocab, cfg.beta_prime))
    return torch.tensor(theory.cut_law(cfg.vocab, cfg.beta, k if k else cfg.vocab))


def run_cut(cfg: TailCutConfig, points, ctx):
    seeds = sorted({p["seed"] for p in points})
    p = torch.tensor(_zipf(cfg))
    J = {T: j for j, T in enumerate(cfg.T_values)}
    res = {}
    for law, k in sorted({(q["law"], q["k"]) for q in points}):
        # one uniform stream per seed shared by every law (common random numbers; part 0)
        res[law, k] = model.tail_stream_errors(seeds, [0] * len(seeds), q=_cut_q(cfg, law, k), p=p,
                                               T_values=cfg.T_values, tag=20, device=ctx.device).cpu().numpy()
    return [{"error": float(res[q["law"], q["k"]][seeds.index(q["seed"]), J[q["T"]]])} for q in points]


def analyze_cut(cfg: TailCutConfig, records):
    rows, table, notes = [], [], []
    Ts = list(cfg.T_values)
    x = np.array(Ts, float)
    zall, npts = 0.0, 0
    floors = []
    for k in cfg.k_values:
        y = _matrix(records, cfg, lambda p: p["law"] == "cut" and p["k"] == k, Ts, "T")
        exact = theory.tail_cut_error(cfg.beta, x, k if k else cfg.vocab, cfg.vocab)
        sd = theory.hutter_error_sd_bound(_zipf(cfg), _cut_q(cfg, "cut", k).numpy(), x)
        zall = max(zall, _pointwise(table, f"cut k = {k or 'none'}", Ts, y, exact, "T", sd_bound=sd))
        npts += len(Ts)
        if k == 0:
            rows.append(_row(x, y, exact, Prediction(theory.hutter_exponent(cfg.beta), regime="no cut",
                                                     reference=theory.REF_CUT), "error (no cut)", "T samples",
                             cfg.tolerance))
        else:
            floors.append((k, y[:, -1], exact[-1]))
    ks = np.array([k for k, _, _ in floors], float)
    yk = np.stack([v for _, v, _ in floors], 1)
    ek = np.array([e for _, _, e in floors])
    rows.append(_row(ks, yk, ek, Prediction(theory.cut_floor_exponent(cfg.beta), regime=f"T = {Ts[-1]} (floor)",
                                            reference=theory.REF_CUT), f"error at T = {Ts[-1]} vs cut k",
                     "cut rank k", cfg.tolerance))
    if cfg.beta_prime:
        y = _matrix(records, cfg, lambda p: p["law"] == "narrow", Ts, "T")
        exact = theory.narrowed_error(cfg.beta, cfg.beta_prime, x, cfg.vocab)
        sd = theory.hutter_error_sd_bound(_zipf(cfg), _cut_q(cfg, "narrow", 0).numpy(), x)
        zall = max(zall, _pointwise(table, f"narrowed β' = {cfg.beta_prime:g}", Ts, y, exact, "T", sd_bound=sd))
        npts += len(Ts)
        rows.append(_row(x, y, exact, Prediction(theory.narrowed_exponent(cfg.beta, cfg.beta_prime),
                                                 regime=f"tail narrowed to β' = {cfg.beta_prime:g}",
                                                 reference=theory.REF_CUT),
                         f"error (trained on Zipf({cfg.beta_prime:g}))", "T samples", cfg.tolerance))
    notes.append(_zsummary("cut / narrowed curves", zall, npts))
    notes.append("Exact: Σ_i p_i(1 − q_i)^T with q the cut (renormalised) or narrowed law; law E ≍ T^−(1−1/β) + "
                 "k^−(β−1): the floor row fits the error at the largest T against k. All laws share one uniform "
                 "stream per seed (common random numbers).")
    return Analysis(rows=rows, notes=notes, tables={"error_vs_T": table})


_TAIL_SMOKE = {"vocab": 5000, "T_values": tuple(2 ** k for k in range(4, 13)), "seeds": 8, "tolerance": 0.15}

register(Experiment(
    name="tails.cut",
    description="tails (Dohmatob et al. 2024): Hutter model on Zipf data cut at rank k / narrowed; loss of scaling",
    config_cls=TailCutConfig,
    scales={"smoke": {**_TAIL_SMOKE, "k_values": (0, 4, 8, 16, 32)}, "default": {},
            "paper": {"vocab": 10 ** 6, "T_values": tuple(2 ** k for k in range(4, 22)), "seeds": 128}},
    plan=plan_cut, run_batch=run_cut, analyze=analyze_cut, default_dtype=torch.float64,
    predictions="no cut: 1−1/β (0.5); floor vs k: β−1 (1); narrowed: (β−1)/β' (1/3)",
))


def plan_mix(cfg: TailMixConfig):
    return _seed_batches(cfg, lambda s: [{"pi": pi, "T": T, "seed": s} for pi in cfg.pi_values
                                         for T in cfg.T_values], per_batch=8)


def run_mix(cfg: TailMixConfig, points, ctx):
    seeds = sorted({p["seed"] for p in points})
    pis = sorted({p["pi"] for p in points})
    e = model.mixed_stream_errors(seeds, [0] * len(seeds), p=torch.tensor(_zipf(cfg)),
                                  q=torch.tensor(theory.cut_law(cfg.vocab, cfg.beta, cfg.k)), pis=pis,
                                  T_values=cfg.T_values, tag=21, device=ctx.device).cpu().numpy()
    J = {T: j for j, T in enumerate(cfg.T_values)}
    return [{"error": float(e[seeds.index(p["seed"]), pis.index(p["pi"]), J[p["T"]]])} for p in points]


def analyze_mix(cfg: TailMixConfig, records):
    rows, table, notes = [], [], []
    Ts = list(cfg.T_values)
    x = np.array(Ts, float)
    zall = 0.0
    for pi in cfg.pi_values:
        y = _matrix(records, cfg, lambda p: p["pi"] == pi, Ts, "T")
        exact = theory.mix_error(cfg.beta, x, cfg.k, pi, cfg.vocab)
        p = _zipf(cfg)
        sd = theory.hutter_error_sd_bound(p, pi * p + (1 - pi) * theory.cut_law(cfg.vocab, cfg.beta, cfg.k), x)
        zall = max(zall, _pointwise(table, f"π = {pi:g}", Ts, y, exact, "T", sd_bound=sd))
        if pi > 0:
            t_end = theory.mix_plateau_end(cfg.beta, cfg.k, pi)
            rows.append(_row(x, y, exact, Prediction(theory.hutter_exponent(cfg.beta), regime=f"π = {pi:g}: recovery",
                                                     reference=theory.REF_MIX),
                             f"error (π = {pi:g} clean)", "T samples", cfg.tolerance, window="last_decades:1",
                             note=f"plateau ends near πT ≈ k^β: T ≈ {t_end:.3g}"))
    plateau = float(np.sum(_zipf(cfg)[cfg.k:]))
    notes.append(_zsummary("mixed curves", zall, len(Ts) * len(cfg.pi_values)))
    notes.append(f"Exact: Σ p_i(1 − πp_i − (1−π)q_i)^T, q cut at k = {cfg.k}; plateau Σ_{{i>k}} p_i = {plateau:.4g} "
                 f"until πT ≈ k^β, then the clean decline ≍ (πT)^−(1−1/β); π = 1 is the clean law, π = 0 the pure cut. "
                 "Fit over the last decade (the recovery). Coins and both streams are shared by every π.")
    return Analysis(rows=rows, notes=notes, tables={"error_vs_T": table})


register(Experiment(
    name="tails.mix",
    description="tails: a fraction π of clean data mixed with cut synthetic data: plateau, then recovery",
    config_cls=TailMixConfig,
    scales={"smoke": {**_TAIL_SMOKE, "k": 4, "pi_values": (0.0, 0.1, 1.0)}, "default": {},
            "paper": {"vocab": 10 ** 6, "T_values": tuple(2 ** k for k in range(4, 22)), "seeds": 128,
                      "pi_values": (0.0, 0.001, 0.01, 0.1, 1.0)}},
    plan=plan_mix, run_batch=run_mix, analyze=analyze_mix, default_dtype=torch.float64,
    predictions="recovery after the plateau: 1−1/β (0.5)",
))


def plan_gen(cfg: TailGenConfig):
    return _seed_batches(cfg, lambda s: [{"n": n, "T": T, "seed": s} for n in cfg.n_values
                                         for T in cfg.T_values], per_batch=8)


def run_gen(cfg: TailGenConfig, points, ctx):
    seeds = sorted({p["seed"] for p in points})
    ns = sorted({p["n"] for p in points})
    e = model.generations_errors(seeds, [0] * len(seeds), p=torch.tensor(_zipf(cfg)), T0=cfg.T0, n_values=ns,
                                 T_values=cfg.T_values, tag=22, device=ctx.device).cpu().numpy()
    J = {T: j for j, T in enumerate(cfg.T_values)}
    return [{"error": float(e[seeds.index(p["seed"]), ns.index(p["n"]), J[p["T"]]])} for p in points]


def analyze_gen(cfg: TailGenConfig, records):
    rows, table, notes = [], [], []
    Ts = list(cfg.T_values)
    x = np.array(Ts, float)
    zall, ends = 0.0, []
    for n in cfg.n_values:
        y = _matrix(records, cfg, lambda p: p["n"] == n, Ts, "T")
        exact = theory.generations_error(cfg.beta, x, cfg.T0, n, cfg.vocab)
        sd = theory.generations_error_sd_bound(cfg.beta, x, cfg.T0, n, cfg.vocab)
        zall = max(zall, _pointwise(table, f"n = {n}", Ts, y, exact, "T", sd_bound=sd))
        if n == 0:
            rows.append(_row(x, y, exact, Prediction(theory.hutter_exponent(cfg.beta), regime="clean (n = 0)",
                                                     reference=theory.REF_GEN), "error (n = 0)", "T samples",
                             cfg.tolerance))
        else:
            ends.append((n, y[:, -1], exact[-1]))
    xn = np.array([n for n, _, _ in ends], float)
    rows.append(_row(xn, np.stack([v for _, v, _ in ends], 1), np.array([e for _, _, e in ends]),
                     Prediction(theory.generations_floor_exponent(cfg.beta), regime=f"T = {Ts[-1]}, T0 = {cfg.T0}",
                                reference=theory.REF_GEN),
                     f"error at T = {Ts[-1]} vs generations n", "generations n", cfg.tolerance,
                     note="negative exponent: the floor (n/T0)^(1−1/β) grows with n"))
    notes.append(_zsummary("generation curves", zall, len(Ts) * len(cfg.n_values)))
    notes.append("Exact: Wright–Fisher count chain per token (theory.generations_error); the effective cut after n "
                 "generations is k_n ≍ (T0/n)^(1/β), so the error floor grows as (n/T0)^(1−1/β).")
    return Analysis(rows=rows, notes=notes, tables={"error_vs_T": table})


register(Experiment(
    name="tails.generations",
    description="tails: Hutter model trained on generation-n synthetic data (each generation = empirical law of T0 samples)",
    config_cls=TailGenConfig,
    scales={"smoke": {**_TAIL_SMOKE, "T0": 200, "n_values": (0, 1, 2, 4)}, "default": {},
            "paper": {"vocab": 10 ** 6, "T0": 4000, "T_values": tuple(2 ** k for k in range(4, 22)), "seeds": 128,
                      "n_values": (0, 1, 2, 4, 8, 16, 32, 64)}},
    plan=plan_gen, run_batch=run_gen, analyze=analyze_gen, default_dtype=torch.float64,
    predictions="clean: 1−1/β (0.5); floor vs n: −(1−1/β) (grows as (n/T0)^(1−1/β))",
))
