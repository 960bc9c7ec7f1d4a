"""Lottery fused Adam over HETEROGENEOUS instances with chunk boundaries that split them (issue 14.4).

One `train_adam` call holds three width buckets (N = 3, 4, 6), each of 5 seeds (so every net starts from
different parameters), and a `chunk_bytes` that cuts every bucket into chunks of several nets with a ragged
last chunk: N = 6 -> (0,2)(2,4)(4,5), N = 4 -> (0,3)(3,5), N = 3 -> (0,4)(4,5). Every net's final parameters,
its test MSE at every checkpoint and its train MSE must equal the same net trained ALONE (one bucket, one
instance, one chunk), to fp64 rounding (rtol 1e-12: the per-net arithmetic is the same, only the reduction
layout differs). A chunk that reads another chunk's parameters or optimiser state (e.g. its slice taken from
0 instead of its start), a chunk written back to the wrong place, or a bucket mixed with another width would
move the affected nets by O(1) (different seeds start ~0.5 apart), far above the tolerance.

The learning rate, schedule and betas are per config in this family (`LotteryConfig.lr`; lottery.recipe runs
each recipe as its own sweep), so per-instance heterogeneity here is the parameters (seed) and the width."""
import pytest
import torch

from simulators.lottery import LotteryConfig
from simulators.lottery.model import build_nets, chunk_plan, grids, train_adam

CFG = LotteryConfig(widths=(3, 4, 6), seeds=5, steps=25, n_checkpoints=3, n_test=48, n_train=40)
CHUNK = 2 * 6 * CFG.n_train * 8          # two nets of the widest bucket (fp64 [E_c, N, T] buffer)


def _train(points, chunk_bytes):
    nets = build_nets(CFG, points, dtype=torch.float64, device="cpu")
    traj = train_adam(nets, CFG, grids(CFG, dtype=torch.float64), use_compile=False, chunk_bytes=chunk_bytes)
    return nets, traj


@pytest.fixture(scope="module")
def batched():
    pts = [{"width": n, "seed": s} for n in CFG.widths for s in range(CFG.seeds)]
    return _train(pts, CHUNK)


def test_chunks_split_every_bucket_with_several_nets_per_chunk():
    plans = {n: chunk_plan(CFG.seeds, n, CFG.n_train, 8, CHUNK) for n in CFG.widths}
    assert plans == {3: [(0, 4), (4, 5)], 4: [(0, 3), (3, 5)], 6: [(0, 2), (2, 4), (4, 5)]}


@pytest.mark.parametrize("width", CFG.widths)
@pytest.mark.parametrize("seed", range(CFG.seeds))
def test_each_net_of_a_chunked_heterogeneous_batch_equals_the_net_alone(batched, width, seed):
    nets, traj = batched
    k = [n.width for n in nets].index(width)
    e = nets[k].seeds.index(seed)
    alone, ta = _train([{"width": width, "seed": seed}], None)
    init = build_nets(CFG, [{"width": width, "seed": seed}], dtype=torch.float64, device="cpu")[0]
    for name in ("w", "b", "v", "c"):
        got, ref = getattr(nets[k], name)[e], getattr(alone[0], name)[0]
        torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)
    moved = max(float((getattr(alone[0], p)[0] - getattr(init, p)[0]).detach().abs().max()) for p in "wbv")
    assert moved > 1e-3                                                      # the net trained
    assert traj.steps == ta.steps and len(traj.test_mse) == 3
    for tb, tal in zip(traj.test_mse, ta.test_mse):
        torch.testing.assert_close(tb[k][e], tal[0][0], rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(traj.train_mse[k][e], ta.train_mse[0][0], rtol=1e-12, atol=1e-15)


def test_batch_mates_really_differ(batched):
    """The comparison is not of identical instances: within every chunk the nets hold different parameters."""
    nets, _ = batched
    for net in nets:
        for i, j in chunk_plan(CFG.seeds, net.width, CFG.n_train, 8, CHUNK):
            if j - i > 1:
                assert float((net.w[i] - net.w[i + 1]).detach().abs().min()) > 0
