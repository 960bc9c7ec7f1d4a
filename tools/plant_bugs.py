"""Plant one plausible one-line bug at a time in a scratch copy and check that the tests catch it (issue 14.8).

    python tools/plant_bugs.py [--only SUBSTR] [--list] [--keep] [--timeout S]

A scratch copy of the committed tree is made with `git worktree add --detach /tmp/plant_wt HEAD` (reused if
present, reset to HEAD); each plant replaces one exact line fragment (it must occur exactly once, else the plant
is reported STALE), runs only the tests named for it (a few seconds each), and restores the file. A plant is
CAUGHT only when pytest exits 1 (a test failed); exit codes 2-5 (collection or usage error, nothing collected)
mean the plant's test selection is stale and count as BROKEN, a timeout as MISSED; both are failures of the run. Run it under the CPU lock on a shared machine:
`flock /tmp/cpu.lock .venv/bin/python tools/plant_bugs.py`. The hypothesis seed is fixed (TOYSCALE_HYPOTHESIS_SEED=1)
so a score is reproducible. The working tree of the repository is never touched.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = Path("/tmp/plant_wt")


@dataclass(frozen=True)
class Plant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]          # pytest node ids / files, with an optional "-k expr" as one item


H = "tests/harness/"
AMT = "tests/associative_memory/test_theory.py"
RFT = "tests/random_features/test_theory.py"
SPT = "tests/superposition/test_superposition_theory.py"
RNG = "tests/test_rng.py"
DPT = "tests/data_pruning/test_theory.py"
MCT = "tests/model_collapse/test_theory.py"
FCT = "tests/harness/test_fieldcheck.py"

PLANTS = [
    # ------------------------------------------------------------------ harness: verdict margins (controls.py)
    Plant("margin SE from the full CI width (no 2·1.96)", "simulators/harness/controls.py",
          "return (hi - lo) / (2 * 1.96)", "return (hi - lo) / 2", (H + "test_controls.py",)),
    Plant("margin ignores the window slope", "simulators/harness/controls.py",
          'return r["theory_window_slope"] if r["theory_window_slope"] is not None else r["theory_exponent"]',
          'return r["theory_exponent"]', (H + "test_controls.py",)),
    Plant("require_pass ignores the verdict flag", "simulators/harness/controls.py",
          'if not (r["pass"] and z >= k):', "if not (z >= k):", (H + "test_controls.py",)),
    Plant("shifted theory moves the exponent but not the window slope", "simulators/harness/controls.py",
          'kw["theory_window_slope"] = kw["theory_window_slope"] + delta', 'kw["theory_window_slope"] = kw["theory_window_slope"]',
          (H + "test_controls.py",)),
    # ------------------------------------------------------------------ harness: store creation (interrupted sweeps)
    Plant("store creation races: os.replace overwrites a store another process made", "simulators/harness/store_check.py",
          "            os.link(tmp, path)\n", "            os.replace(tmp, path)\n", (H + "test_store_tableless.py",)),
    Plant("an 'empty' store may hold rows", "simulators/harness/store_check.py",
          "                or conn.execute(f\"SELECT 1 FROM {t} LIMIT 1\").fetchone() is not None):", "                ):",
          (H + "test_store_tableless.py",)),
    Plant("an 'empty' store may hold any object", "simulators/harness/store_check.py",
          "        if tbl not in _COLUMNS or not", "        if False and not", (H + "test_store_tableless.py",)),
    # ------------------------------------------------------------------ harness: fit, CI, window, verdict
    Plant("CI level 90% (q = 1 − ci)", "simulators/harness/fit.py",
          "q = (1 - ci) / 2", "q = (1 - ci)", (H + "test_stats_ci.py",)),
    Plant("default ci 0.90", "simulators/harness/fit.py",
          "ci: float = 0.95,", "ci: float = 0.90,", (H + "test_stats_ci.py",)),
    Plant("default ci 0.99", "simulators/harness/fit.py",
          "ci: float = 0.95,", "ci: float = 0.99,", (H + "test_stats_ci.py",)),
    Plant("bootstrap resamples half the seeds", "simulators/harness/fit.py",
          "idx = rng.integers(0, S, size=(n_boot, S))", "idx = rng.integers(0, S, size=(n_boot, S // 2))",
          (H + "test_stats_ci.py",)),
    Plant("bootstrap never draws the last seed", "simulators/harness/fit.py",
          "idx = rng.integers(0, S, size=(n_boot, S))", "idx = rng.integers(0, S - 1, size=(n_boot, S))",
          (H + "test_stats_ci.py",)),
    Plant("bootstrap permutes seeds (no replacement)", "simulators/harness/fit.py",
          "idx = rng.integers(0, S, size=(n_boot, S))",
          "idx = np.argsort(rng.random((n_boot, S)), axis=1)", (H + "test_stats_ci.py",)),
    Plant("one-seed interval uses the normal quantile", "simulators/harness/fit.py",
          "t = stats.t.ppf(1 - (1 - ci) / 2, dof)", "t = stats.norm.ppf(1 - (1 - ci) / 2)",
          (H + "test_stats_ci.py",)),
    Plant("one-seed dof n − 1", "simulators/harness/fit.py",
          "dof = max(n - 2, 1)", "dof = max(n - 1, 1)", (H + "test_stats_ci.py",)),
    Plant("geometric mean -> median of logs", "simulators/harness/fit.py",
          "return np.exp(np.nanmean(np.log(y), axis=0))", "return np.exp(np.nanmedian(np.log(y), axis=0))",
          (H + "test_stats_ci.py", H + "test_fit.py")),
    Plant("auto window rel_tol 0.5", "simulators/harness/fit.py",
          "rel_tol: float = 0.3", "rel_tol: float = 0.5", (H + "test_verdict.py",)),
    Plant("auto window abs_tol 0.05", "simulators/harness/fit.py",
          "abs_tol: float = 0.1", "abs_tol: float = 0.05", (H + "test_verdict.py",)),
    Plant("auto window stops on the nearer end", "simulators/harness/fit.py",
          "if max(dl, dr) <= tol:", "if min(dl, dr) <= tol:", (H + "test_verdict.py", H + "test_fit.py")),
    Plant("window_slope excludes the upper bound", "simulators/harness/fit.py",
          "(x <= window[1] * (1 + 1e-12)) & (c > 0)", "(x < window[1]) & (c > 0)", (H + "test_verdict.py",)),
    Plant("verdict at 2·tolerance", "simulators/harness/compare.py",
          "passed = bool(err <= tolerance)", "passed = bool(err <= 2 * tolerance)", (H + "test_verdict.py",)),
    Plant("verdict with strict <", "simulators/harness/compare.py",
          "passed = bool(err <= tolerance)", "passed = bool(err < 0.999 * tolerance)", (H + "test_verdict.py",)),
    Plant("window slope ignored", "simulators/harness/compare.py",
          "target = theory if theory_window_slope is None else float(theory_window_slope)", "target = theory",
          (H + "test_verdict.py",)),
    Plant("window slope averaged with the asymptote", "simulators/harness/compare.py",
          "target = theory if theory_window_slope is None else float(theory_window_slope)",
          "target = theory if theory_window_slope is None else 0.5 * (theory + float(theory_window_slope))",
          (H + "test_verdict.py",)),
    # ------------------------------------------------------------------ associative-memory theory
    Plant("T-law off by one (T+1)", "simulators/associative_memory/theory.py",
          "np.exp(T.reshape(1, -1) * np.log1p(-p)[:, None])", "np.exp((T.reshape(1, -1) + 1) * np.log1p(-p)[:, None])",
          (AMT, "-k", "decreases_in_T or far_out")),
    Plant("data exponent 1 − 1/(2a)", "simulators/associative_memory/theory.py",
          "return 1.0 - 1.0 / a", "return 1.0 - 1.0 / (2 * a)", (AMT, "-k", "far_out")),
    Plant("power exponent (a−1)/(ρa)", "simulators/associative_memory/theory.py",
          "return (a - 1) / (2 * rho * a)", "return (a - 1) / (rho * a)", (AMT, "-k", "tail_mass")),
    Plant("threshold exponent a", "simulators/associative_memory/theory.py",
          "return a - 1.0\n", "return a\n", (AMT, "-k", "tail_mass")),
    Plant("learned small-lr exponent uses ρ = ½", "simulators/associative_memory/theory.py",
          'return predicted_exponent_dim(a, "power", 1.0)', 'return predicted_exponent_dim(a, "power", 0.5)', (AMT, "-k", "tail_mass")),
    Plant("learned sign-Adam exponent = q = p law", "simulators/associative_memory/theory.py",
          'return predicted_exponent_dim(a, "threshold")', 'return predicted_exponent_dim(a, "power", 1.0)', (AMT, "-k", "tail_mass")),
    Plant("asymptote ζ^(+1/a)", "simulators/associative_memory/theory.py",
          "special.zeta(a) ** (-1 / a) / a", "special.zeta(a) ** (1 / a) / a", (AMT, "-k", "asymptote")),
    Plant("dense capacity N^k", "simulators/associative_memory/theory.py",
          "return N ** (k - 1) / (dfact * z * z)", "return N ** k / (dfact * z * z)", (AMT, "-k", "dense")),
    # ------------------------------------------------------------------ random-features / PLRF theory
    Plant("model exponent min(a−1, 2b)", "simulators/random_features/theory.py",
          "    return min(a - 1.0, b)\n", "    return min(a - 1.0, 2.0 * b)\n", (RFT, "-k", "far_out or consistent")),
    Plant("data exponent min(a−1, b)", "simulators/random_features/theory.py",
          "    return min(a - 1.0, 2.0 * b)\n", "    return min(a - 1.0, b)\n", (RFT, "-k", "far_out")),
    Plant("time exponent (a−1)/(2b)", "simulators/random_features/theory.py",
          "    return (a - 1.0) / b\n", "    return (a - 1.0) / (2.0 * b)\n", (RFT, "-k", "far_out")),
    Plant("compute-optimal denominator a−1+m", "simulators/random_features/theory.py",
          "den = a - 1.0 + b * m", "den = a - 1.0 + m", (RFT, "-k", "consistent")),
    Plant("inverse-Wishart N − P", "simulators/random_features/theory.py",
          "return float(theta @ theta * tr_perp / (N - P - 1))", "return float(theta @ theta * tr_perp / (N - P))",
          (RFT, "-k", "exactly")),
    Plant("least-squares excess P − N", "simulators/random_features/theory.py",
          "return projection_loss(lam, tw, fixed)[0] * fixed / (x - fixed - 1)",
          "return projection_loss(lam, tw, fixed)[0] * fixed / (x - fixed)", (RFT, "-k", "exactly")),
    Plant("variance-limited N-law N − P", "simulators/random_features/theory.py",
          "return fixed * k * (tw / (lam + k)).sum() / (x - fixed - 1)",
          "return fixed * k * (tw / (lam + k)).sum() / (x - fixed)", (RFT, "-k", "exactly")),
    Plant("projection loss κ²", "simulators/random_features/theory.py",
          "return kap[:, 0] * (tw[None] / (lam[None] + kap)).sum(1)",
          "return kap[:, 0] ** 2 * (tw[None] / (lam[None] + kap)).sum(1)", (RFT, "-k", "far_out or projection")),
    Plant("IVa ξ denominator sign", "simulators/random_features/theory.py",
          "den = 2 * b - a - 2 * a * b", "den = 2 * b + a - 2 * a * b", (RFT, "-k", "boundary or hand_checked")),
    Plant("IVa|IVb line at 0.3", "simulators/random_features/theory.py",
          "ALPHA_IV = 1 - 1 / math.sqrt(2)", "ALPHA_IV = 0.3", (RFT, "-k", "boundary or hand_checked or argmin")),
    Plant("α = ¼ boundary owned by Ic", "simulators/random_features/theory.py",
          "    if alpha < 0.25:\n", "    if alpha <= 0.25:\n", (RFT, "-k", "boundary")),
    Plant("Ia|II boundary owned by Ia", "simulators/random_features/theory.py",
          "    if 2 * beta < 1:\n", "    if 2 * beta <= 1:\n", (RFT, "-k", "boundary")),
    # ------------------------------------------------------------------ models and scorers
    Plant("Volterra noise B² (not B(B+1))", "simulators/random_features/model.py",
          "q = 1 - 2 * lr * B * lam + lr ** 2 * B * (B + 1) * lam ** 2",
          "q = 1 - 2 * lr * B * lam + lr ** 2 * B * B * lam ** 2", (RFT, "-k", "first_step")),
    Plant("Volterra forcing without B", "simulators/random_features/model.py",
          "f = 2 * lr ** 2 * B * lam", "f = 2 * lr ** 2 * lam", (RFT, "-k", "first_step or averaged_sgd")),
    Plant("Volterra loss without ½", "simulators/random_features/model.py",
          "P = pinf + 0.5 * (lam * s).sum(-1)", "P = pinf + (lam * s).sum(-1)", (RFT, "-k", "first_step")),
    Plant("infinite-capacity error counts seen tokens", "simulators/associative_memory/model.py",
          "return ((counts == 0).to(p.dtype) * p).sum(-1)", "return ((counts <= 1).to(p.dtype) * p).sum(-1)",
          (AMT, "-k", "monte_carlo")),
    Plant("superposition weak loss drops p²", "simulators/superposition/theory.py",
          "var = E_V2 * p - p ** 2", "var = E_V2 * p", (SPT,)),
    Plant("weak exponent a", "simulators/superposition/theory.py",
          'return Prediction(a - 1.0, regime="weak superposition (γ > 0)"',
          'return Prediction(a, regime="weak superposition (γ > 0)"', (SPT,)),
    Plant("Welch bound m·k", "simulators/superposition/theory.py",
          "return np.maximum(k - m, 0.0) / (m * (k - 1.0))", "return np.maximum(k - m, 0.0) / (m * k)", (SPT,)),
    Plant("strong exponent 2a − 1", "simulators/superposition/theory.py",
          'return Prediction(2.0 * (a - 1.0), regime="strong superposition, steep power law: α = 2(a − 1)"',
          'return Prediction(2.0 * a - 1.0, regime="strong superposition, steep power law: α = 2(a − 1)"', (SPT,)),
    # ------------------------------------------------------------------ kernels and optimisers
    Plant("reference gelu tanh-approximate", "kernels/bmm_epilogue.py",
          "return F.gelu(z)  # exact (erf) form, as the kernel computes it",
          "return F.gelu(z, approximate='tanh')", ("tests/kernels/test_bmm_epilogue.py", "-k", "activations")),
    Plant("reference silu grad without z-term", "kernels/bmm_epilogue.py",
          "return s * (1 + z * (1 - s))", "return s * (1 + z * s)",
          ("tests/kernels/test_bmm_epilogue.py", "-k", "inplace_nograd or activations")),
    Plant("kernel gelu constant 1/2", "kernels/_bmm_epilogue_triton.py",
          "acc = 0.5 * acc * (1.0 + tl.erf(acc * 0.7071067811865476))", "acc = 0.5 * acc * (1.0 + tl.erf(acc * 0.5))",
          ("tests/kernels/test_bmm_epilogue.py", "-k", "activations")),
    Plant("superposition AdamW v without bias correction", "simulators/superposition/model.py",
          "denom = (v / (1 - b2 ** t)).sqrt_().add_(eps)", "denom = v.sqrt().add_(eps)",
          ("tests/superposition/test_heterogeneous.py",)),
    Plant("superposition AdamW decays b too", "simulators/superposition/model.py",
          "for p, gr, m, v, lr in ((W, dW, mW, vW, lrW), (b, db, mb, vb, lrb)):",
          "for p, gr, m, v, lr in ((W, dW, mW, vW, lrW), (b.mul_(1 - lrb * model.gamma[:, None]), db, mb, vb, lrb)):",
          ("tests/superposition/test_heterogeneous.py",)),
    Plant("superposition negative decay sign", "simulators/superposition/model.py",
          "W.mul_(1.0 + lrW * torch.where(g >= 0, -g, g * (1.0 - 1.0 / (norm + NORM_EPS))))",
          "W.mul_(1.0 + lrW * torch.where(g >= 0, -g, -g * (1.0 - 1.0 / (norm + NORM_EPS))))",
          ("tests/superposition/test_superposition_model.py", "-k", "decay")),
    Plant("lottery approximation exponent 2/d", "simulators/lottery/theory.py",
          "return Prediction(4.0 / d,", "return Prediction(2.0 / d,", ("tests/lottery/test_lottery_theory.py",)),
    Plant("synthetic window slope over all sizes, not the fit window", "simulators/synthetic.py",
          "theory_window_slope=window_slope(x, curve, fit.window)",
          "theory_window_slope=window_slope(x, curve, (x[0], x[-1]))", ("tests/test_e2e_verdicts.py",)),
    Plant("synthetic noise σ doubled", "simulators/synthetic.py",
          "loss = cfg.prefactor * x ** (-cfg.exponent) * np.exp(cfg.noise * eps) + cfg.floor",
          "loss = cfg.prefactor * x ** (-cfg.exponent) * np.exp(2 * cfg.noise * eps) + cfg.floor",
          ("tests/test_e2e_verdicts.py", "tests/harness/test_sweep_resume.py")),
    Plant("lottery Adam second moment (1 − β1)", "simulators/lottery/model.py",
          "s = beta2 * s + (1 - beta2) * gt * gt", "s = beta2 * s + (1 - beta1) * gt * gt",
          ("tests/lottery/test_lottery_model.py", "-k", "torch_adam")),
    # ------------------------------------------------------------------ counter-based RNG (simulators/_rng.py)
    Plant("Philox multiplier M0 with two digits swapped", "simulators/_rng.py",
          "PHILOX_M0 = 0xD2511F53", "PHILOX_M0 = 0xD2511F35", (RNG, "-k", "known_answers")),
    Plant("Philox key schedule bumps k1 by W0", "simulators/_rng.py",
          "k1 = (k1 + PHILOX_W1) & M32", "k1 = (k1 + PHILOX_W0) & M32", (RNG, "-k", "known_answers")),
    Plant("Box-Muller cos and sin swapped", "simulators/_rng.py",
          "return c.mul_(r), s.mul_(r)", "return s.mul_(r), c.mul_(r)", (RNG, "-k", "box_muller")),
    Plant("sin sign flips on odd quarter turns", "simulators/_rng.py",
          "sign_s = 1 - 2 * (qm >> 1)", "sign_s = 1 - 2 * (qm & 1)", (RNG, "-k", "box_muller")),
    Plant("counter words swapped (block <-> step)", "simulators/_rng.py",
          "_philox_words(b & M32, b >> 32, t_lo, t_hi, k0, k1, mulhilo=mulhilo)",
          "_philox_words(t_lo, t_hi, b & M32, b >> 32, k0, k1, mulhilo=mulhilo)", (RNG, "-k", "documented_mapping")),
    Plant("uniform without the half-ulp offset (can be 0)", "simulators/_rng.py",
          "return m.to(torch.float64).add_(0.5).mul_(2.0 ** -52)", "return m.to(torch.float64).mul_(2.0 ** -52)",
          (RNG, "-k", "documented_mapping")),
    Plant("native C Philox: key bump k1 by W0", "simulators/_rng_native.py",
          "if (r) { k0 += W0; k1 += W1; }", "if (r) { k0 += W0; k1 += W0; }", (RNG, "-k", "native")),
    Plant("native C Box-Muller: cos and sin swapped", "simulators/_rng_native.py",
          "xs[i] = cc * rr; ys[i] = ss * rr;", "xs[i] = ss * rr; ys[i] = cc * rr;", (RNG, "-k", "native")),
    # ------------------------------------------------------------------ data pruning: theory and model
    Plant("Gardner capacity without the +1", "simulators/data_pruning/theory.py",
          "return 1.0 / ((kappa ** 2 + 1) * _Phi(kappa) + kappa * _phi(kappa))",
          "return 1.0 / (kappa ** 2 * _Phi(kappa) + kappa * _phi(kappa))", (DPT,)),
    Plant("keep-hard threshold one-sided (Φ⁻¹(f))", "simulators/data_pruning/theory.py",
          "return float(special.ndtri((1 + f) / 2)) if f < 1 else math.inf",
          "return float(special.ndtri(f)) if f < 1 else math.inf", (DPT,)),
    Plant("pruning pool size α(N − 1)", "simulators/data_pruning/model.py",
          "P_tot = max(1, int(round(alpha_tot * N)))", "P_tot = max(1, int(round(alpha_tot * (N - 1))))",
          ("tests/data_pruning/test_model.py",)),
    Plant("probe direction cos/sin swapped", "simulators/data_pruning/model.py",
          "torch.cos(th)[:, None] * tu[..., 0] + torch.sin(th)[:, None] * tu[..., 1]",
          "torch.sin(th)[:, None] * tu[..., 0] + torch.cos(th)[:, None] * tu[..., 1]",
          ("tests/data_pruning/test_model.py",)),
    # ------------------------------------------------------------------ model collapse theory
    Plant("OLS downstream error T − d (not T − d − 1)", "simulators/model_collapse/theory.py",
          "out = sigma ** 2 * d / (T - d - 1)", "out = sigma ** 2 * d / (T - d)", (MCT, "-k", "ols")),
    Plant("accumulate sums 1/j (not 1/j²)", "simulators/model_collapse/theory.py",
          "h2 = np.array([np.sum(1.0 / np.arange(1, int(m) + 1) ** 2)",
          "h2 = np.array([np.sum(1.0 / np.arange(1, int(m) + 1) ** 1)", (MCT, "-k", "accumulate")),
    Plant("min-norm chain keeps (T0/d)^(n+1)", "simulators/model_collapse/theory.py",
          "return float(1.0 - (T0 / d) ** n)", "return float(1.0 - (T0 / d) ** (n + 1))", (MCT, "-k", "overparam")),
    Plant("tail-cut mass starts one rank late", "simulators/model_collapse/theory.py",
          "out = head + w[k:].sum() / zv", "out = head + w[k + 1:].sum() / zv", (MCT, "-k", "tail")),
    Plant("Hopfield self-coupling kept (diagonal not removed)", "simulators/associative_memory/hopfield.py",
          "[..., 0] / N - (P / N) * s", "[..., 0] / N", ("tests/associative_memory/test_model.py", "-k", "hopfield")),
    Plant("pruning error from the unnormalised overlap", "simulators/data_pruning/model.py",
          "R = (w * T).sum(1) / w.norm(dim=1)", "R = (w * T).sum(1)", ("tests/data_pruning/test_model.py",)),
    # ------------------------------------------------------------------ the Monte-Carlo tests' own power (issue 14.3)
    Plant("MC power: pruning pool 10% larger than α·N", "simulators/data_pruning/model.py",
          "P_tot = max(1, int(round(alpha_tot * N)))", "P_tot = max(1, int(round(1.1 * alpha_tot * N)))",
          ("tests/data_pruning/test_model.py", "-k", "small_scale")),
    Plant("MC power: Hopfield self-coupling kept", "simulators/associative_memory/hopfield.py",
          "[..., 0] / N - (P / N) * s", "[..., 0] / N",
          ("tests/associative_memory/test_model.py", "-k", "hopfield_retrieves")),
    Plant("MC power: population threshold at d/16", "simulators/associative_memory/model.py",
          "q[: _n_stored(d, c, len(p))] = 1.0", "q[: _n_stored(d, 2 * c, len(p))] = 1.0",
          ("tests/associative_memory/test_model.py", "-k", "threshold_dim")),
    Plant("exact check: equivalent's Volterra step with B² noise", "simulators/random_features/model.py",
          "g = 2 * lr * B * lam - lr ** 2 * B * (B + 1) * lam ** 2", "g = 2 * lr * B * lam - lr ** 2 * B * B * lam ** 2",
          (RFT, "-k", "exact_up_to")),
    # ------------------------------------------------------------------ dispatch audit and field checks
    Plant("audit: boolean-mask index not flagged", "simulators/harness/dispatch_audit.py",
          "if isinstance(ix, torch.Tensor) and ix.dtype in (torch.bool, torch.uint8):",
          "if isinstance(ix, torch.Tensor) and ix.dtype == torch.uint8:", (H + "test_dispatch_audit.py",)),
    Plant("audit: copy_ direction reversed", "simulators/harness/dispatch_audit.py",
          "if isinstance(src, torch.Tensor) and not _is_cpu(src.device) and _is_cpu(dst.device):",
          "if isinstance(src, torch.Tensor) and _is_cpu(src.device) and not _is_cpu(dst.device):",
          (H + "test_dispatch_audit.py",)),
    Plant("audit: .item() not flagged", "simulators/harness/dispatch_audit.py",
          "    if _DATA_DEPENDENT in tags:\n", "    if False:\n", (H + "test_dispatch_audit.py",)),
    Plant("fieldcheck: bool accepted as int", "simulators/harness/fieldcheck.py",
          "return isinstance(v, numbers.Integral) and not isinstance(v, bool)",
          "return isinstance(v, numbers.Integral)", (FCT,)),
    Plant("fieldcheck: open lower bound admits lo", "simulators/harness/fieldcheck.py",
          "if lo is not None and (v < lo or (lo_open and v == lo)):", "if lo is not None and v < lo:", (FCT,)),
    Plant("fieldcheck: non-finite number accepted", "simulators/harness/fieldcheck.py",
          "if not _is_num(v) or not math.isfinite(v):", "if not _is_num(v):", (FCT,)),
]


def _scratch() -> Path:
    if not (SCRATCH / ".git").exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(SCRATCH), "HEAD"], check=True,
                       capture_output=True)
    else:
        subprocess.run(["git", "-C", str(SCRATCH), "checkout", "--detach", "-q", "-f",
                        subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                       text=True).stdout.strip()], check=True)
    return SCRATCH


def run(plants, timeout: int, keep: bool) -> int:
    wt = _scratch()
    env = dict(os.environ, TOYSCALE_HYPOTHESIS_SEED="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONDONTWRITEBYTECODE="1",
               TOYSCALE_CACHE_DIR=str(SCRATCH) + "_cache")      # planted native builds stay out of the user's cache
    caught = missed = stale = 0
    for i, pl in enumerate(plants, 1):
        f = wt / pl.path
        src = f.read_text()
        if src.count(pl.old) != 1:
            print(f"[{i:2d}] STALE   {pl.name}: fragment found {src.count(pl.old)} times in {pl.path}", flush=True)
            stale += 1
            continue
        f.write_text(src.replace(pl.old, pl.new))
        t0 = time.time()
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *pl.tests],
                               cwd=wt, env=env, capture_output=True, text=True, timeout=timeout)
            rc = r.returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        finally:
            f.write_text(src)
        ok = rc == 1                  # pytest: 1 = tests failed; 2-5 (collection/usage error, nothing collected)
        broken = rc not in (0, 1, "timeout")  # mean the plant's test selection is stale, not that it caught
        caught += ok
        missed += not ok
        print(f"[{i:2d}] {'CAUGHT' if ok else 'BROKEN' if broken else 'MISSED'}  {pl.name}  ({pl.path}; rc={rc}, {time.time() - t0:.0f} s)",
              flush=True)
    total = caught + missed
    print(f"\ncaught {caught}/{total} ({100 * caught / max(total, 1):.0f}%), missed {missed}, stale {stale}")
    if not keep:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(wt)], capture_output=True)
    return 0 if missed == 0 and stale == 0 else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="run the plants whose name or file path contains this substring")
    ap.add_argument("--list", action="store_true", help="list the plants and exit")
    ap.add_argument("--keep", action="store_true", help="keep the scratch worktree afterwards")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per plant (a timeout counts as missed)")
    a = ap.parse_args(argv)
    plants = [p for p in PLANTS if a.only in p.name or a.only in p.path]
    if a.list:
        for p in plants:
            print(f"{p.name:45s} {p.path:45s} {' '.join(p.tests)}")
        return 0
    return run(plants, a.timeout, a.keep)


if __name__ == "__main__":
    sys.exit(main())
