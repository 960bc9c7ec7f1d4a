"""Superposition training over HETEROGENEOUS instances with chunk boundaries that split them (issue 14.4).

`_fused_loss_grads` processes a parameter group in chunks of consecutive instances (`chunk_plan`); each chunk
gets its own compact row count B_c = the most active samples among ITS instances' streams. Here one run holds
9 instances with different widths m (3, 5, 7: masked padding in the "pad" group, lr_W and lr_b per width),
frequency laws (power:1.2, exp:4, power:2.0: different streams, different active-sample counts, hence a
different B_c per chunk), decays γ (−1, 0.1, 0) and seeds, and CHUNK_BYTES_CPU is cut so that each chunk holds
2 instances of the densest stream (ragged last chunk). Every instance's final W, b and loss must equal the
instance trained ALONE (one instance, one chunk, its own B_c), in fp64 to 1e-12 relative: the arithmetic is
the same per instance, only padding rows/columns (exact zeros) and the reduction order differ.

A chunk that reads another chunk's parameters, stream index or mask (e.g. a slice taken from 0 instead of its
start), or a B_c taken from the wrong chunk while a chunk holds more active samples, moves an instance by O(1)."""
import functools

import pytest
import torch

from simulators.superposition import model as M

INSTANCES = [dict(m=m, gamma=g, law=l, seed=s) for m, g, l, s in [
    (3, -1.0, "power:1.2", 0), (7, 0.1, "exp:4", 1), (5, 0.0, "power:2.0", 2),
    (7, -1.0, "power:2.0", 0), (3, 0.1, "power:1.2", 3), (5, -1.0, "exp:4", 0),
    (5, 0.1, "power:1.2", 1), (3, 0.0, "exp:4", 2), (7, -1.0, "power:1.2", 2)]]
SPEC = M.TrainSpec(n=24, batch=32, steps=30)


def _chunk_bytes():
    return 2 * SPEC.batch * SPEC.n * 8          # two instances of fully active rows (B_c <= B), fp64


@functools.lru_cache(maxsize=None)
def _alone(i):
    """Instance i trained alone (shared by both groupings)."""
    return M.train([INSTANCES[i]], SPEC, dtype=torch.float64)


@pytest.fixture(scope="module", params=["pad", "by_m"])
def batched(request):
    mp = pytest.MonkeyPatch()
    mp.setattr(M, "CHUNK_BYTES_CPU", _chunk_bytes())
    seen = []
    real = M.chunk_plan

    def spy(*a, **k):
        plan = real(*a, **k)
        seen.append(plan)
        return plan

    mp.setattr(M, "chunk_plan", spy)
    try:
        out = M.train(INSTANCES, SPEC, dtype=torch.float64, grouping=request.param)
    finally:
        mp.undo()
    return request.param, out, seen


def test_chunks_split_the_heterogeneous_group(batched):
    """The training really ran in several chunks per group, chunks of several instances whose compact row
    counts B_c differ (the laws' active-sample counts differ)."""
    grouping, _, plans = batched
    assert plans and sum(len(p) >= 2 for p in plans) >= len(plans) // 2
    assert any(j - i >= 2 for p in plans for i, j, _ in p)
    assert len({bc for p in plans for _, _, bc in p}) > 1
    if grouping == "pad":
        assert all(len(p) == 5 for p in plans)           # 9 instances, 2 per chunk, ragged last (B_c <= B)


@pytest.mark.parametrize("i", range(len(INSTANCES)))
def test_each_instance_of_a_chunked_heterogeneous_batch_equals_the_instance_alone(batched, i):
    _, (mods, groups, loss, _), _ = batched
    gi = next(k for k, g in enumerate(groups) if i in g)
    row = groups[gi].index(i)
    m = INSTANCES[i]["m"]
    smods, _, sloss, _ = _alone(i)
    torch.testing.assert_close(mods[gi].W[row, :, :m], smods[0].W[0], rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(mods[gi].b[row], smods[0].b[0], rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(loss[i], sloss[0], rtol=1e-12, atol=1e-14)
    assert torch.all(mods[gi].W[row, :, m:] == 0)
    W0 = M.BatchedModel([INSTANCES[i]], SPEC, "cpu", torch.float64).W[0]
    assert float((smods[0].W[0] - W0).abs().max()) > 1e-3                  # the instance trained
