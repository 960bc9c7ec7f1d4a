"""Batched simulators: batched == per-chain, determinism, shapes, and the configs' bad-input refusals."""
import math

import numpy as np
import pytest
import torch

from simulators.associative_memory.theory import zipf_probs
from simulators.model_collapse import config as C
from simulators.model_collapse import model, theory

LAM = torch.arange(1, 7, dtype=torch.float64) ** -2.0
W0 = torch.ones(6, dtype=torch.float64)
SEEDS, REPS = [0, 0, 1, 5], [0, 1, 0, 2]


def _per_chain(fn, **kw):
    outs = [fn([s], [r], **kw) for s, r in zip(SEEDS, REPS)]
    if isinstance(outs[0], tuple):
        return tuple(torch.cat(x) for x in zip(*outs))
    return torch.cat(outs)


def _same(a, b):
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("fn, kw", [
    (model.ols_chain_errors, dict(d=6, T0=12, T=10, n_max=3, sigma=0.5, sigma0=1.0, lam=LAM, w0=W0)),
    (model.overparam_chain_errors, dict(d=10, T0=4, n_max=3, return_norm=True)),
    (model.replace_accumulate_errors, dict(d=4, T0=9, n_max=5, sigma0=1.0)),
    (model.ridge_chain_errors, dict(d=6, T0=12, n_values=[0, 2], T_values=[4, 8, 16], sigma=0.5, sigma0=1.0, lam=LAM,
                                    w0=W0, ridges=torch.full((3, 2, 2), 0.1, dtype=torch.float64))),
], ids=["ols", "overparam", "replace_accumulate", "ridge"])
def test_regression_batched_matches_per_chain(fn, kw):
    """Chain i simulated inside a batch equals chain i simulated alone (per-chain keys, no shared draws)."""
    _same(fn(SEEDS, REPS, **kw), _per_chain(fn, **kw))


def test_tails_batched_matches_per_chain():
    p = torch.tensor(zipf_probs(300, 2.0))
    q = torch.tensor(theory.cut_law(300, 2.0, 5))
    kw = dict(q=q, p=p, T_values=[4, 16, 64], tag=7)
    _same(model.tail_stream_errors(SEEDS, REPS, **kw), _per_chain(model.tail_stream_errors, **kw))
    kw = dict(p=p, q=q, pis=[0.0, 0.3, 1.0], T_values=[4, 16, 64], tag=8)
    _same(model.mixed_stream_errors(SEEDS, REPS, **kw), _per_chain(model.mixed_stream_errors, **kw))
    kw = dict(p=p, T0=50, n_values=[0, 2], T_values=[4, 16, 64], tag=9)
    _same(model.generations_errors(SEEDS, REPS, **kw), _per_chain(model.generations_errors, **kw))


def test_chunked_draws_equal_one_call(monkeypatch):
    """The CPU split of large draws (model._CPU_MAX_BLOCKS) changes no number."""
    kw = dict(d=6, T0=12, T=10, n_max=2, sigma=0.5, sigma0=1.0, lam=LAM, w0=W0)
    whole = model.ols_chain_errors(SEEDS, REPS, **kw)
    monkeypatch.setattr(model, "_CPU_MAX_BLOCKS", 7)
    _same(whole, model.ols_chain_errors(SEEDS, REPS, **kw))


def test_chain_invariants():
    """n = 0 of the OLS chain is clean OLS (same for every n_max); min-norm chain error is 0 at n = 0 and the
    retained norm never grows; replace and accumulate agree at round 1 (same data)."""
    a = model.ols_chain_errors([3], [0], d=6, T0=12, T=10, n_max=1, sigma=0.5, sigma0=1.0, lam=LAM, w0=W0)
    b = model.ols_chain_errors([3], [0], d=6, T0=12, T=10, n_max=4, sigma=0.5, sigma0=1.0, lam=LAM, w0=W0)
    torch.testing.assert_close(a[:, :2], b[:, :2])
    e, nrm = model.overparam_chain_errors([1, 2], [0, 0], d=10, T0=4, n_max=4, return_norm=True)
    assert torch.all(e[:, 0] == 0) and torch.all(nrm[:, 1:] <= nrm[:, :-1] + 1e-12)
    rep, acc = model.replace_accumulate_errors([4], [0], d=4, T0=9, n_max=3, sigma0=1.0)
    torch.testing.assert_close(rep[:, 0], acc[:, 0])


def test_sample_tokens_never_draws_zero_mass_tokens():
    q = torch.tensor([[0.5, 0.0, 0.0, 0.5, 0.0]], dtype=torch.float64)
    u = torch.tensor([[1e-16, 0.25, 0.5, 0.5 + 1e-16, 0.75, 1 - 1e-16]], dtype=torch.float64)
    tok = model.sample_tokens(model._cdf(q), u)
    assert set(tok.flatten().tolist()) <= {0, 3}


# ============================================================================ configs: bad input, one line
@pytest.mark.parametrize("cls, kw, match", [
    (C.OLSGenConfig, dict(d=16, T0=17), "T0 must be an integer in \\[18"),
    (C.OLSGenConfig, dict(T=5), "T must be"),
    (C.OLSGenConfig, dict(sigma0=float("inf")), "sigma0"),
    (C.OLSGenConfig, dict(spectra=("gaussian",)), "spectra"),
    (C.OLSGenConfig, dict(seeds=1.5), "seeds"),
    (C.OLSGenConfig, dict(seeds="8"), "seeds"),
    (C.OLSGenConfig, dict(n_max=10 ** 9), "n_max"),
    (C.OLSGenConfig, dict(beta=1.0), "beta"),
    (C.OverparamConfig, dict(d=16, T0_values=(4, 8, 16)), "T0_values"),
    (C.ReplaceConfig, dict(d=8, T0=9), "T0"),
    (C.RidgeScalingConfig, dict(r=0.0), "r must be"),
    (C.RidgeScalingConfig, dict(n_values=(1, 2)), "n_values must start at 0"),
    (C.RidgeScalingConfig, dict(T0=20, d=64), "T0"),
    (C.TailCutConfig, dict(beta=1.0), "beta"),
    (C.TailCutConfig, dict(beta=0.5), "beta"),
    (C.TailCutConfig, dict(k_values=(0, -1, 4, 8, 16)), "k_values"),
    (C.TailCutConfig, dict(vocab=100), "vocab must be >= 10·T_max"),
    (C.TailCutConfig, dict(beta_prime=1.5), "beta_prime"),
    (C.TailMixConfig, dict(pi_values=(0.0, 1.5)), "pi_values"),
    (C.TailMixConfig, dict(pi_values=(-0.1, 0.5)), "pi_values"),
    (C.TailMixConfig, dict(k=0), "k must be"),
    (C.TailMixConfig, dict(T_values=(1, 2, float("nan"), 8)), "T_values"),
    (C.TailGenConfig, dict(T0=10 ** 8), "T0"),
    (C.TailGenConfig, dict(tolerance=-1), "tolerance"),
])
def test_config_refuses_bad_input_with_one_line(cls, kw, match):
    with pytest.raises(ValueError, match=match) as ei:
        cls(**kw)
    assert "\n" not in str(ei.value)


def test_default_configs_are_valid():
    for cls in (C.OLSGenConfig, C.OverparamConfig, C.ReplaceConfig, C.RidgeScalingConfig, C.TailCutConfig,
                C.TailMixConfig, C.TailGenConfig):
        cls()
