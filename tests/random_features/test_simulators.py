"""Simulator invariants (batched == single, determinism, masks) and smoke sim-vs-theory with negative controls."""
import math

import numpy as np
import pytest
import torch

import simulators.harness.registry as registry
from simulators.harness.compare import Prediction, compare
from simulators.harness.fit import fit_power_law
from simulators.harness.registry import RunContext, get_experiment
from simulators.random_features import model as mdl

CTX = RunContext(dtype=torch.float64)


@pytest.fixture(autouse=True)
def only_this_family(monkeypatch):
    """Load only this family's experiments (other families' modules may be mid-edit)."""
    monkeypatch.setattr(registry, "FAMILY_MODULES", ("simulators.random_features.experiments",))


def _subset_equals_batch(name, pick):
    exp = get_experiment(name)
    cfg = exp.config("smoke")
    batch = next(b for b in exp.plan(cfg) if len(b) >= 2)
    full = exp.run_batch(cfg, batch, CTX)
    one = exp.run_batch(cfg, [batch[pick]], CTX)
    return full[pick], one[0]


@pytest.mark.parametrize("name", ["rf.model_limited", "rf.data_limited", "rf.mrs_grid", "rf.variance_limited",
                                  "rf.time", "rf.compute_optimal", "plrf.phases"])
def test_random_features_batched_matches_single(name):
    full, one = _subset_equals_batch(name, 1)
    for k in full:
        np.testing.assert_allclose(np.asarray(full[k]), np.asarray(one[k]), rtol=1e-9, atol=1e-14)


def test_plrf_sgd_batched_matches_single_and_padding_is_exact():
    D, b = mdl.plrf_problem(128, 1.0, 0.7)
    W = mdl.plrf_features([0, 1, 0], [16, 32, 32], 128, dtype=torch.float64, device="cpu")
    S = mdl.plrf_sgd(W, D, b, [0, 1, 0], 0.3, 1, [0, 5, 50])
    W1 = mdl.plrf_features([0], [16], 128, dtype=torch.float64, device="cpu")      # unpadded, alone
    S1 = mdl.plrf_sgd(W1, D, b, [0], 0.3, 1, [0, 5, 50])
    torch.testing.assert_close(S[0], S1[0], rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(S[1:2], mdl.plrf_sgd(W[1:2], D, b, [1], 0.3, 1, [0, 5, 50]), rtol=1e-10, atol=1e-14)


def test_same_seed_same_numbers():
    exp = get_experiment("rf.model_limited")
    cfg = exp.config("smoke")
    b = exp.plan(cfg)[0]
    assert exp.run_batch(cfg, b, CTX) == exp.run_batch(cfg, b, CTX)


def test_ridge_solve_batched_equals_per_instance_lstsq():
    g = torch.Generator().manual_seed(0)
    for P, N in [(12, 5), (5, 12)]:
        Phi = torch.randn(3, P, N, generator=g, dtype=torch.float64)
        y = torch.randn(3, P, generator=g, dtype=torch.float64)
        v = mdl.ridge_solve(Phi, y)
        for e in range(3):
            torch.testing.assert_close(v[e], torch.linalg.pinv(Phi[e]) @ y[e], rtol=1e-8, atol=1e-10)


def test_tanh_features_run():
    lam, w = mdl.latent_problem(64, 2.0, 1.5)
    F = mdl.draw_features([0, 1], 8, 64, dtype=torch.float64, device="cpu")
    G, c = mdl.population_moments(F, lam, w, "tanh", seeds=[0, 1], n_mc=4000)
    L = mdl.projection_loss(G, c, float((lam * w * w).sum()))
    assert torch.all(L > 0) and torch.all(L < float((lam * w * w).sum()))


def _stat_check(row, shift):
    """Tolerance from the statistics: 3 bootstrap sd + 0.03 finite-window allowance."""
    tol = 3 * (row.ci95[1] - row.ci95[0]) / 3.92 + 0.03
    target = row.theory_window_slope + shift
    return abs(row.measured_exponent - target) <= tol, tol


@pytest.mark.slow
def test_model_and_time_exponents_match_theory_curve_slope():
    """Measured exponent vs the theory curve's slope over the fit window, |Δ| <= 3 sd + 0.03 (a = 2, b = 1.5).
    Measured: rf.model_limited (linear, M = 2560, 6 seeds) 1.062 vs window slope 1.028, bootstrap sd 0.040;
    rf.time (24 seeds; the smoke scale's 2 seeds gave a bootstrap sd of 0.009 that could not be trusted and a
    pass by 0.002) 0.558 vs 0.538, sd 0.015. Nearest plausible wrong theories, applied as the same shift of the
    window slope as of the asymptote: the model exponent min(a, b) or b instead of min(a − 1, b) (+0.5: z ≈ 13;
    min(a − 1, 2b) is the same number at this point, caught in test_theory.py), the time exponent (a − 1)/(2b)
    instead of (a − 1)/b (−0.333: z ≈ 22); both must be rejected by the same rule."""
    overrides = {"rf.model_limited": dict(M=2560, Ns=(32, 45, 64, 91, 128, 181, 256), seeds=6, activations=("linear",)),
                 "rf.time": dict(seeds=24)}
    wrong_shift = {"rf.model_limited": 1.5 - 1.0, "rf.time": 1.0 / 3.0 - 2.0 / 3.0}
    for name in ("rf.model_limited", "rf.time"):
        exp = get_experiment(name)
        cfg = exp.config("smoke", overrides[name])
        recs = []
        from simulators.harness.registry import Record
        for batch in exp.plan(cfg):
            for p, m in zip(batch, exp.run_batch(cfg, batch, CTX)):
                recs.append(Record(key="", point=p, metrics=m))
        row = exp.analyze(cfg, recs).rows[0]
        ok, tol = _stat_check(row, 0.0)
        assert ok, (name, row.measured_exponent, row.theory_window_slope, tol)
        sd = (row.ci95[1] - row.ci95[0]) / 3.92
        assert abs(wrong_shift[name]) / sd >= 6, (name, sd)       # the stated power holds at this run's sd
        assert not _stat_check(row, wrong_shift[name])[0]


@pytest.mark.slow
def test_end_to_end_runner_smoke(tmp_path):
    from simulators.harness import run_experiment
    res = run_experiment("plrf.loss_curves", "smoke", out=tmp_path / "lc", device="cpu")
    rows = res.report["rows"]
    assert len(rows) == 2 and all(r["theory_window_slope"] is not None for r in rows)
    res = run_experiment("plrf.phases", "smoke", out=tmp_path / "ph", device="cpu")
    assert any(f.endswith("plrf_phase_diagram.png") for f in res.figures)


def test_plrf_volterra_closed_form_equals_recursion_and_refuses_unstable_lr():
    D, b = mdl.plrf_problem(256, 1.0, 0.35)
    W = mdl.plrf_features([0, 1, 2], [16, 40, 64], 256, dtype=torch.float64, device="cpu")   # padded to 64
    lam, rho, pinf = mdl.plrf_volterra_inputs(W, D, b, [16, 40, 64])
    cps = [0, 1, 7, 100, 3000]
    for lr, B in ((0.3, 1), (0.1, 3)):
        torch.testing.assert_close(mdl.plrf_volterra_eig(lam, rho, pinf, lr, B, cps),
                                   mdl.plrf_volterra(lam, rho, pinf, lr, B, cps), rtol=1e-10, atol=0)
    # negative control: a different batch size is not the same curve
    assert not torch.allclose(mdl.plrf_volterra_eig(lam, rho, pinf, 0.1, 2, cps),
                              mdl.plrf_volterra(lam, rho, pinf, 0.1, 3, cps), rtol=1e-3)
    with pytest.raises(ValueError, match="stability"):
        mdl.plrf_volterra_eig(lam, rho, pinf, 2.0 / lam.max().item(), 1, cps)


def test_plrf_nested_features_are_prefixes_and_match_explicit_features():
    """Nested columns: a prefix for every d, equal to explicit features built from them, seeds differ. Their
    variance over n = 256·64 = 16384 entries has sd sqrt(2/n) = 0.011, so the 0.05 band is 4.5 sd; the
    nearest wrong variants, columns already scaled by 1/√d (variance 1/64) or a Box-Muller radius √(−ln u)
    (variance ½), miss by z ≈ 89 and 45."""
    D, b = mdl.plrf_problem(256, 1.0, 0.7)
    G = mdl.plrf_nested_columns(3, 64, 256)
    assert torch.equal(mdl.plrf_nested_columns(3, 20, 256), G[:, :20])                 # same numbers for every d
    assert abs(G.var().item() - 1) < 0.05
    seeds, ds = [3, 3, 5], [20, 64, 64]
    W = torch.zeros(3, 256, 64, dtype=torch.float64)
    for e, (s, d) in enumerate(zip(seeds, ds)):
        W[e, :, :d] = mdl.plrf_nested_columns(s, d, 256) / math.sqrt(d)
    got = mdl.plrf_nested_volterra_inputs(seeds, ds, D, b)
    want = mdl.plrf_volterra_inputs(W, D, b, ds)
    for g_, w_ in zip(got, want):
        torch.testing.assert_close(g_, w_, rtol=1e-9, atol=1e-13)
    assert not torch.allclose(got[0][1], got[0][2])                                    # seeds differ
