"""Batched PLRF paths with HETEROGENEOUS instances (issue 14.4): each instance its own seed, width d (zero
padding), learning rate, and the step chunks splitting the run; every batched result equals the same
instance computed alone. An instance reading another's parameters (an offset slice from 0, a broadcast lr, a
shared data stream) changes its numbers by O(1), far above the fp64 tolerance used here (1e-10 relative)."""
import numpy as np
import pytest
import torch

from simulators.random_features import model as mdl

V, ALPHA, BETA, B = 64, 0.8, 0.6, 2
SEEDS = [3, 11, 3, 7, 5]
DS = [8, 16, 12, 4, 16]
LRS = [0.05, 0.02, 0.08, 0.1, 0.03]
CPS = [0, 1, 5, 17, 40]


def _problem():
    return mdl.plrf_problem(V, ALPHA, BETA)


def test_plrf_features_do_not_depend_on_batch_mates():
    """Instance e's W (first d_e columns, zero after) is the same drawn alone or among other widths/seeds."""
    W = mdl.plrf_features(SEEDS, DS, V, dtype=torch.float64, device="cpu")
    for e, (s, d) in enumerate(zip(SEEDS, DS)):
        alone = mdl.plrf_features([s], [d], V, dtype=torch.float64, device="cpu")[0]
        torch.testing.assert_close(W[e, :, :d], alone, rtol=0, atol=0)
        assert W[e, :, d:].abs().max() == 0 if d < max(DS) else True
    assert (W[0, :, :8] - W[2, :, :8]).abs().max() > 0.1          # same seed, other d: other stream


@pytest.mark.parametrize("chunk", [3, 7, 64], ids=["chunks-of-3", "chunks-of-7", "one-chunk"])
def test_plrf_sgd_heterogeneous_batch_equals_each_instance_alone(chunk):
    """Per-instance lr [E], widths d_e (padded to d_max), seeds (two instances share seed 3, hence a data
    stream); step chunks of 3 and 7 split the run between checkpoints. Each row equals the instance run alone
    with the default chunk."""
    D, b = _problem()
    W = mdl.plrf_features(SEEDS, DS, V, dtype=torch.float64, device="cpu")
    P = mdl.plrf_sgd(W, D, b, SEEDS, torch.tensor(LRS, dtype=torch.float64), B, CPS, chunk=chunk)
    for e in range(len(SEEDS)):
        alone = mdl.plrf_sgd(W[e:e + 1, :, :DS[e]], D, b, [SEEDS[e]], LRS[e], B, CPS)
        torch.testing.assert_close(P[e], alone[0], rtol=1e-10, atol=1e-14)
    assert (P[1, -1] - P[4, -1]).abs() > 1e-6 * P[1, -1]              # instances really differ


def test_volterra_eig_heterogeneous_groups_equal_the_recursion_per_instance():
    """`plrf_volterra_eig` groups instances by their number of nonzero eigenvalues; with mixed widths and
    per-instance lr each instance must equal the step-by-step recursion run on that instance alone."""
    D, b = _problem()
    W = mdl.plrf_features(SEEDS, DS, V, dtype=torch.float64, device="cpu")
    lam, rho, pinf = mdl.plrf_volterra_inputs(W, D, b, DS)
    lr = torch.tensor(LRS, dtype=torch.float64)
    fast = mdl.plrf_volterra_eig(lam, rho, pinf, lr, B, CPS)
    for e, d in enumerate(DS):
        rec = mdl.plrf_volterra(lam[e:e + 1, :d], rho[e:e + 1, :d], pinf[e:e + 1], LRS[e], B, CPS)[0]
        np.testing.assert_allclose(fast[e].numpy(), rec.numpy(), rtol=1e-9)
        l1, r1, p1 = mdl.plrf_volterra_inputs(W[e:e + 1, :, :d], D, b, [d])
        torch.testing.assert_close(lam[e, :d], l1[0], rtol=1e-10, atol=1e-14)
        torch.testing.assert_close(pinf[e], p1[0], rtol=1e-10, atol=1e-14)
