"""Lottery: the training step is GPU-shaped (issue 13, §3), proved on CPU with the dispatch audit.

`assert_gpu_shaped` checks that the aten ops of a step are the same multiset for E and 8E nets (one batched
computation, no loop over nets) and that no op makes the host wait (.item(), nonzero, bool-mask indexing, ...).

What is audited:
- the fused engine (the default), eager (no torch.compile: a compiled graph hides its ops), on the device
  chunking `chunk_bytes=None` (one chunk per width bucket: what CUDA runs, `default_chunk_bytes`). On CPU the
  bucket is cut into cache-sized chunks instead; their number grows with E by design (a CPU cache optimisation,
  bounded to 4 MiB per chunk), so that path is not the device path and is not audited here;
- the autograd engine (kernels.bmm_epilogue reference + torch.optim.Adam);
- initialisation (`build_nets`): the random draws, which must come from simulators/_rng.py on the run's device
  in one call for all nets (issue 13 §1-2), not from one CPU generator per net.
Each audited call runs `train_adam` for 3 steps with a test-MSE checkpoint at the last step (geometric
checkpoints are allowed to log; no readback happens at them either).
"""
import dataclasses
import linecache

import torch

from simulators.harness.dispatch_audit import assert_gpu_shaped
from simulators.lottery.config import LotteryConfig
from simulators.lottery.model import build_nets, grids, train_adam

CFG = LotteryConfig(widths=(4, 16), seeds=2, steps=3, n_checkpoints=1, n_train=32, n_test=17, warmup_steps=1)


def _points(E):
    """E nets per width (two widths: two buckets)."""
    return [{"width": w, "seed": s} for w in CFG.widths for s in range(E)]


def _make_train(engine, activation="silu"):
    cfg = dataclasses.replace(CFG, activation=activation)

    def make(E):
        data = grids(cfg, dtype=torch.float64)
        nets = build_nets(cfg, _points(E), dtype=torch.float64, device="cpu", backend="reference")
        return lambda: train_adam(nets, cfg, data, engine=engine, use_compile=False, chunk_bytes=None)
    return make


def test_fused_training_step_is_one_batched_computation_without_host_syncs():
    small, large = assert_gpu_shaped(_make_train("fused"), E_small=2)
    assert small.n_ops > 50   # the step really ran through the audit (3 steps x 2 buckets)


def test_fused_step_relu_and_gelu_branches():
    for act in ("relu", "gelu"):
        assert_gpu_shaped(_make_train("fused", act), E_small=1)


def test_autograd_training_step_is_one_batched_computation_without_host_syncs():
    """torch.optim.Adam (foreach=False, not capturable) reads its step counter with .item() once per parameter
    and step. That counter lives on the CPU even for CUDA parameters (torch keeps `state["step"]` on the host
    unless capturable/fused), so it is a host-side read, not a device sync: allowed, exactly that many
    (4 parameters x 2 buckets x 3 steps), and nothing else."""
    n_params, n_buckets = 4, len(CFG.widths)
    small, _ = assert_gpu_shaped(
        _make_train("autograd"), E_small=2,
        allowed_syncs={"aten._local_scalar_dense.default": n_params * n_buckets * CFG.steps},
        reason="Adam's CPU-resident step counter, read once per parameter per step")
    assert any("bmm" in op for op in small.ops)
    lines = {where for _, _, where in small.syncs}       # "file:line (function)" of the issuing project line
    assert len(lines) == 1, small.summary()
    path, line = next(iter(lines)).split(" ")[0].rsplit(":", 1)
    assert "opt.step()" in linecache.getline(path, int(line)), small.summary()


def test_initialisation_draws_are_batched():
    """All nets' initial parameters in one batched draw on the run's device (no per-net generator loop)."""
    def make(E):
        return lambda: build_nets(CFG, _points(E), dtype=torch.float64, device="cpu", backend="reference")
    small, _ = assert_gpu_shaped(make, E_small=2, warmup=0)
    assert small.n_ops > 0


def test_audit_fails_when_an_item_or_a_loop_is_put_back(monkeypatch):
    """Negative controls on the real step: the fused Adam step with a per-step .item() readback, and with a
    per-net Python loop, must each fail the audit."""
    import pytest

    from simulators.lottery import model

    orig = model.adam_fused_step

    def with_item(*a, **k):
        out = orig(*a, **k)
        out[0].sum().item()
        return out

    def with_loop(x, y, theta, *rest, **k):
        for e in range(theta.shape[1]):          # one tiny op per net
            theta[:, e].sum()
        return orig(x, y, theta, *rest, **k)

    monkeypatch.setattr(model, "adam_fused_step", with_item)
    with pytest.raises(AssertionError, match="host-synchronising"):
        assert_gpu_shaped(_make_train("fused"), E_small=1)
    monkeypatch.setattr(model, "adam_fused_step", with_loop)
    with pytest.raises(AssertionError, match="not one batched computation"):
        assert_gpu_shaped(_make_train("fused"), E_small=1)
