"""Simulator invariants of the lottery family: batched == single, fused == autograd, init, determinism."""
import dataclasses
import math

import pytest
import torch

from simulators.lottery.config import LotteryConfig
from simulators.lottery.model import (TwoLayerNets, build_nets, grids, loss_and_grad, train_adam)

ACTS = ("silu", "tanh", "gelu", "relu")


def _train(cfg, points, dtype=torch.float64, **kw):
    nets = build_nets(cfg, points, dtype=dtype, device="cpu")
    traj = train_adam(nets, cfg, grids(cfg, dtype=dtype), **kw)
    return nets, traj


def _params_of(nets, width, seed):
    net = next(n for n in nets if n.width == width)
    e = net.seeds.index(seed)
    return torch.cat([net.w[e], net.b[e], net.v[e], net.c[e:e + 1]]).detach()


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)], ids=["f64", "f32"])
def test_lottery_batched_matches_single(dtype, rtol):
    """Net (width 8, seed 2) trained inside a batch of 2 widths × 3 seeds equals the net trained alone."""
    cfg = LotteryConfig(widths=(3, 8), seeds=3, steps=80, n_checkpoints=2, n_test=64)
    pts = [{"width": n, "seed": s} for n in cfg.widths for s in range(cfg.seeds)]
    batch, tb = _train(cfg, pts, dtype, use_compile=False)
    alone, ta = _train(cfg, [{"width": 8, "seed": 2}], dtype, use_compile=False)
    pb, pa = _params_of(batch, 8, 2), _params_of(alone, 8, 2)
    assert torch.allclose(pb, pa, rtol=rtol, atol=rtol * pa.abs().max()), (pb - pa).abs().max()
    k = [n.width for n in batch].index(8)
    assert torch.allclose(tb.test_mse[-1][k][2], ta.test_mse[-1][0][0], rtol=100 * rtol)
    # and the run moved the parameters (the comparison is not of two untrained nets)
    init = _params_of([TwoLayerNets(8, [2], "silu", dtype=dtype)], 8, 2)
    assert (pa - init).abs().max() > 1e-3


@pytest.mark.parametrize("act", ACTS)
def test_lottery_fused_gradient_matches_autograd(act):
    """The hand-written gradient equals autograd through TwoLayerNets (kernels.bmm_epilogue), float64."""
    net = TwoLayerNets(7, [0, 5], act, dtype=torch.float64)
    x = torch.linspace(-2, 2, 33, dtype=torch.float64)
    y = x * x
    loss = ((net(x) - y) ** 2).mean(1)
    loss.sum().backward()
    theta = torch.stack([net.w, net.b, net.v]).detach()
    l2, g, gc = loss_and_grad(x, y, theta, net.c.detach(), act)
    torch.testing.assert_close(l2, loss.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g, torch.stack([net.w.grad, net.b.grad, net.v.grad]), rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(gc, net.c.grad, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("schedule,warmup", [("cosine", 0), ("constant", 5)])
def test_lottery_fused_trainer_matches_torch_adam(schedule, warmup):
    """Fused Adam (hand gradient + update) equals torch.optim.Adam + autograd over 40 steps (float64)."""
    cfg = LotteryConfig(widths=(2, 5), seeds=2, steps=40, lr=1e-2, schedule=schedule, warmup_steps=warmup,
                        n_checkpoints=2, n_test=50, activation="tanh")
    pts = [{"width": n, "seed": s} for n in cfg.widths for s in range(cfg.seeds)]
    fa, _ = _train(cfg, pts, engine="fused", use_compile=False)
    au, _ = _train(cfg, pts, engine="autograd")
    for a, b in zip(fa, au):
        for k in ("w", "b", "v", "c"):
            torch.testing.assert_close(getattr(a, k), getattr(b, k), rtol=1e-9, atol=1e-12)


def test_lottery_init_is_nn_linear_default_and_deterministic():
    """w, b ~ U(-1, 1); v, c ~ U(±1/√N); same (seed, N) gives the same numbers in any batch and dtype.
    Moments over n = 3·400 = 1200 entries of w: sd of the mean sqrt(1/3)/√n = 0.0167 (band 0.1 = 6 sd), sd of
    mean(w²) sqrt(1/5 − 1/9)/√n = 0.0086 (band 0.05 = 5.8 sd). Nearest wrong variants: U(0, 1) (mean ½: z = 30),
    unit-variance U(±√3) (E w² = 1: z = 78; its max also breaks |w| <= 1), U(±1/√N) for w (E w² = 1/1200:
    z = 39); the max checks catch a range shrunk by > 5% (for n = 1200 draws P(max|w| < 0.95) = 0.95¹²⁰⁰)."""
    N = 400
    a = TwoLayerNets(N, [0, 1, 2], "silu", dtype=torch.float64).requires_grad_(False)
    assert a.w.abs().max() <= 1 and a.b.abs().max() <= 1 and a.w.abs().max() > 0.95
    assert a.v.abs().max() <= 1 / math.sqrt(N) and a.v.abs().max() > 0.95 / math.sqrt(N)
    assert abs(float(a.w.mean())) < 0.1 and abs(float((a.w ** 2).mean()) - 1 / 3) < 0.05   # U(-1,1): var 1/3
    b = TwoLayerNets(N, [2], "silu", dtype=torch.float32)
    torch.testing.assert_close(b.w[0], a.w[2].float())
    assert not torch.equal(a.w[0], a.w[1])


def test_lottery_forward_triton_matches_reference(triton_interpreter):
    """The model's forward through the Triton bmm_epilogue (interpreter) equals the reference path."""
    ref = TwoLayerNets(5, [0, 1], "silu", dtype=torch.float32, backend="reference")
    tri = TwoLayerNets(5, [0, 1], "silu", dtype=torch.float32, backend="triton")
    x = torch.linspace(-2, 2, 9)
    torch.testing.assert_close(tri(x), ref(x), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_lottery_compiled_step_matches_eager():
    """torch.compile of the fused step gives the eager numbers (float64, 30 steps)."""
    cfg = LotteryConfig(widths=(3, 16), seeds=2, steps=30, n_checkpoints=2, n_test=40)
    pts = [{"width": n, "seed": s} for n in cfg.widths for s in range(cfg.seeds)]
    c, tc = _train(cfg, pts, use_compile=True)
    e, te = _train(cfg, pts, use_compile=False)
    assert tc.engine == "fused-compiled" and te.engine == "fused"
    for a, b in zip(c, e):
        torch.testing.assert_close(a.w, b.w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("steps,n", [(5000, 1), (5000, 10), (7, 3), (1, 1)])
def test_lottery_checkpoints_end_at_the_last_step(steps, n):
    from simulators.lottery.model import checkpoint_steps

    c = checkpoint_steps(steps, n)
    assert c[-1] == steps and len(c) <= n and c == sorted(set(c))


def test_lottery_chunk_plan_covers_instances_in_order():
    """chunk_plan: consecutive (start, stop) ranges covering 0..E, at most chunk_bytes each (at least one
    instance), a ragged last chunk, one chunk for None; bad sizes raise naming the parameter."""
    from simulators.lottery.model import chunk_plan

    assert chunk_plan(5, 3, 10, 8, 2 * 3 * 10 * 8) == [(0, 2), (2, 4), (4, 5)]
    assert chunk_plan(5, 3, 10, 8, 1) == [(i, i + 1) for i in range(5)]      # below one instance: one each
    assert chunk_plan(5, 3, 10, 8, None) == [(0, 5)]
    assert chunk_plan(5, 3, 10, 8, 10 ** 9) == [(0, 5)]
    with pytest.raises(ValueError, match="chunk_bytes"):
        chunk_plan(5, 3, 10, 8, 0)
    with pytest.raises(ValueError, match="E must be"):
        chunk_plan(0, 3, 10, 8, None)


@pytest.mark.parametrize("per_chunk", [1, 2], ids=["one-instance-chunks", "ragged-last-chunk"])
def test_lottery_chunked_step_matches_unchunked(per_chunk):
    """Training in chunks of instances (1 per chunk; 2 per chunk with a ragged last chunk of 5 seeds) gives the
    one-chunk numbers: parameters, test and train MSE, float64."""
    cfg = LotteryConfig(widths=(3, 8), seeds=5, steps=30, n_checkpoints=2, n_test=40, n_train=64)
    pts = [{"width": n, "seed": s} for n in cfg.widths for s in range(cfg.seeds)]
    whole, tw = _train(cfg, pts, use_compile=False, chunk_bytes=None)
    bytes_ = per_chunk * 8 * cfg.n_train * 8            # per_chunk instances of the widest bucket (N = 8, fp64)
    parts, tp = _train(cfg, pts, use_compile=False, chunk_bytes=bytes_)
    for a, b in zip(parts, whole):
        for k in ("w", "b", "v", "c"):
            torch.testing.assert_close(getattr(a, k), getattr(b, k), rtol=1e-12, atol=1e-14)
    for a, b in zip(tp.test_mse[-1] + tp.train_mse, tw.test_mse[-1] + tw.train_mse):
        assert a.shape == (cfg.seeds,)
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)
    assert (parts[1].w - TwoLayerNets(8, range(5), "silu", dtype=torch.float64).w).abs().max() > 1e-3


def test_lottery_train_chunking_splits_buckets():
    """The CPU default really chunks a bucket whose [E, N, T] buffer exceeds CHUNK_BYTES_CPU (so the chunked
    path is the one the experiments run), and leaves a small bucket whole."""
    from simulators.lottery.model import CHUNK_BYTES_CPU, chunk_plan, default_chunk_bytes

    assert default_chunk_bytes("cpu") == CHUNK_BYTES_CPU and default_chunk_bytes("meta") is None
    assert len(chunk_plan(128, 512, 1024, 4, default_chunk_bytes("cpu"))) == 64
    assert len(chunk_plan(128, 8, 1024, 4, default_chunk_bytes("cpu"))) == 1
