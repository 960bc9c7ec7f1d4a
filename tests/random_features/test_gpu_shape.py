"""Random features, PLRF and synthetic: every step is GPU-shaped (issue 13, §3), proved on CPU with the dispatch audit.

`assert_gpu_shaped(make, E)` checks that the aten ops of one call are the same multiset for E and 8E
instances (one batched computation, no loop over instances; extra instances are extra seeds at the same
sizes, as a sweep adds them) and that no op makes the host wait, except a stated number.

Audited (the model-level computation of each experiment's `run_batch`, up to the final readback of the
metrics, which is one copy per batch):
- rf scoring at P = ∞ (rf.model_limited, rf.time, rf.compute_optimal): feature draw, population moments
  (linear / relu / erf closed forms; tanh through a Monte-Carlo test set), projection loss, gradient flow;
- rf regression (rf.data_limited, rf.mrs_grid, rf.variance_limited): latent and feature draws, featurize,
  ridge solve, antithetic features;
- PLRF one-pass SGD (plrf.loss_curves): feature draw and the SGD steps with their per-chunk data draws, over
  two chunks; the Volterra recursion; the Volterra inputs and the closed-form evaluator (plrf.phases);
- synthetic.power_law: the noise draw (run_batch).
Allowed host syncs, each stated: the torch.linalg factorisations (eigh, cholesky) synchronise a CUDA device
for their error check — one per factorisation per batch (not per step), a fixed number independent of E.
"""
import pytest
import torch

from simulators.harness.dispatch_audit import assert_gpu_shaped
from simulators.harness.registry import RunContext
from simulators.random_features import model as mdl

M, DT = 64, torch.float64
LINALG = "aten._linalg_eigh.default"
CHECK = "aten._linalg_check_errors.default"


def _seeds(E):
    return list(range(E))


@pytest.mark.parametrize("activation", ["linear", "relu", "erf", "tanh"])
def test_rf_projection_scoring(activation):
    """rf.model_limited: F, (G, c), L_∞ = y0 − cᵀG⁻¹c; one Cholesky (its error check syncs on CUDA)."""
    N = 8

    def make(E):
        seeds = _seeds(E)
        lam, w = mdl.latent_problem(M, 2.0, 1.5, dtype=DT)
        y0 = float((lam * w * w).sum())

        def step():
            F = mdl.draw_features(seeds, N, M, dtype=DT, device="cpu", keys=[(N,)] * len(seeds))
            G, c = mdl.population_moments(F, lam, w, activation, seeds=seeds, n_mc=4 * N, backend="reference")
            return mdl.projection_loss(G, c, y0)
        return step
    assert_gpu_shaped(make, E_small=2, allowed_syncs={CHECK: 1}, reason="one Cholesky's error check per batch")


def test_rf_gradient_flow_scoring():
    """rf.time / rf.compute_optimal: F, (G, c), the exact gradient-flow curve through one eigh."""
    N = 8

    def make(E):
        seeds = _seeds(E)
        lam, w = mdl.latent_problem(M, 2.0, 1.5, dtype=DT)
        y0 = float((lam * w * w).sum())

        def step():
            F = mdl.draw_features(seeds, N, M, dtype=DT, device="cpu", keys=[(N,)] * len(seeds))
            G, c = mdl.population_moments(F, lam, w, backend="reference")
            return mdl.flow_losses(G, c, y0, [1.0, 10.0, 100.0])
        return step
    assert_gpu_shaped(make, E_small=2, allowed_syncs={LINALG: 1}, reason="one eigh per batch")


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_rf_regression_scoring(activation):
    """rf.data_limited / rf.mrs_grid / rf.variance_limited: X, F, Φ, ridge solve (one eigh), antithetic F'."""
    N, P = 8, 6

    def make(E):
        seeds = _seeds(E)
        lam, w = mdl.latent_problem(M, 2.0, 1.5, dtype=DT)

        def step():
            X = mdl.draw_latents(seeds, P, lam, keys=[(P,)] * len(seeds))
            F = mdl.draw_features(seeds, N, M, dtype=DT, device="cpu", keys=[(N,)] * len(seeds))
            Fa = mdl.antithetic_features(F, X)
            Phi = mdl.featurize(X, F, activation, "reference")
            v = mdl.ridge_solve(Phi, X @ w, 1e-3)
            return mdl.latent_loss(torch.einsum("enm,en->em", F, v) / N ** 0.5, lam, w), Fa
        return step
    assert_gpu_shaped(make, E_small=2, allowed_syncs={LINALG: 1}, reason="one eigh (ridge solve) per batch")


def _plrf(E, v=32, ds=(4, 8)):
    """E seeds at each of the sizes ds (as plrf.loss_curves plans: instances share a seed across d)."""
    seeds = [s for _ in ds for s in _seeds(E)]
    dd = [d for d in ds for _ in range(E)]
    D, b = mdl.plrf_problem(v, 1.0, 0.7, dtype=DT)
    return seeds, dd, D, b


def test_plrf_sgd_steps_and_data_draws():
    """plrf_sgd over 2 chunks of 4 steps: per-chunk data draw + 8 SGD steps + 3 checkpoints; no sync at all."""
    def make(E):
        seeds, ds, D, b = _plrf(E)
        W = mdl.plrf_features(seeds, ds, D.shape[0], dtype=DT, device="cpu")
        return lambda: mdl.plrf_sgd(W, D, b, seeds, 0.05, 3, [0, 4, 8], chunk=4, backend="reference")
    small, _ = assert_gpu_shaped(make, E_small=2)
    assert small.counts["aten.bmm.default"] >= 2   # the two chunks' features went through the batched matmul


def test_plrf_feature_draw():
    def make(E):
        seeds, ds, D, _ = _plrf(E)
        return lambda: mdl.plrf_features(seeds, ds, D.shape[0], dtype=DT, device="cpu")
    small, _ = assert_gpu_shaped(make, E_small=2, warmup=0)
    assert small.n_ops > 0


def test_plrf_volterra_recursion():
    def make(E):
        seeds, ds, D, b = _plrf(E)
        dmax = max(ds)
        lam = torch.rand(len(ds), dmax, dtype=DT) * 0.5
        rho = torch.rand(len(ds), dmax, dtype=DT)
        return lambda: mdl.plrf_volterra(lam, rho, torch.ones(len(ds), dtype=DT), 0.05, 3, [0, 5, 20])
    assert_gpu_shaped(make, E_small=2)


def test_plrf_volterra_inputs():
    """plrf.loss_curves: eigenvalues of K = WᵀDW per instance; a loop over the distinct sizes d is fine (fixed
    by the plan), one over instances is not."""
    def make(E):
        seeds, ds, D, b = _plrf(E)
        W = mdl.plrf_features(seeds, ds, D.shape[0], dtype=DT, device="cpu")
        return lambda: mdl.plrf_volterra_inputs(W, D, b, ds)
    assert_gpu_shaped(make, E_small=2, allowed_syncs={LINALG: 2}, reason="one eigh per distinct size d (2)")


def test_plrf_volterra_closed_form():
    """plrf.phases: the closed-form Volterra evaluator, instances grouped by size without reading sizes back."""
    def make(E):
        seeds, ds, D, b = _plrf(E)
        lam, rho, pinf = mdl.plrf_nested_volterra_inputs(seeds, ds, D, b)
        return lambda: mdl.plrf_volterra_eig(lam, rho, pinf, 0.02, 3, [0, 5, 20])
    n_d = 2   # distinct sizes: each is one group, with one eigh, one grouping (nonzero on the [E] size counts),
    #           one padding check and the two-sided stability check (raises on a too-large lr) read on the host
    assert_gpu_shaped(make, E_small=2, allowed_syncs={LINALG: n_d, "aten.nonzero.default": n_d,
                                                      "aten._local_scalar_dense.default": 3 * n_d},
                      reason="a closed-form evaluator run once per batch (not a training step): per distinct size d, "
                             "its eigh, the grouping of instances by size and the lr stability check")


def test_synthetic_noise_draw():
    """synthetic.power_law's run_batch, up to its metrics: one batched draw, then one readback of the batch."""
    from simulators import synthetic

    cfg = synthetic.SyntheticConfig(n_sizes=4, seeds=16)
    ctx = RunContext()

    def make(E):
        points = [p for batch in synthetic.plan(cfg)[:E] for p in batch]
        return lambda: synthetic.run_batch(cfg, points, ctx)
    small, _ = assert_gpu_shaped(make, E_small=1, E_large=8, warmup=0)
    assert small.n_ops > 0, "synthetic draws no torch ops: its noise is not drawn through simulators/_rng.py"
