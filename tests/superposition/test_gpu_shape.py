"""The superposition training step is GPU-shaped (issue 13, part 3): on the static (device) path one
steady-state step (the step's Philox draw, sampler, fused forward/backward of every group, AdamW) dispatches
the same aten ops for E and 8E instances, and none that makes the host wait. Negative controls show the
audit catches a per-instance loop, a per-step .item() and the compacting CPU path's syncs (nonzero, .tolist(), .item())."""
import pytest
import torch

from simulators.harness.dispatch_audit import assert_gpu_shaped
from simulators.superposition import model as M
from simulators.superposition.sampler import draw_padded

SPEC = M.TrainSpec(n=24, batch=32, steps=1000, warmup="exp17", adam_eps=1e-10)


def _instances(E):
    """E instances of one width, alternating strong/weak decay, seeds 0..E−1 (so E data streams)."""
    return [dict(m=4, gamma=(-1.0 if e % 2 == 0 else 0.3), law="power:1.2", seed=e) for e in range(E)]


def _factory(static=True, step_fn=None):
    def make_step(E):
        tr = M.Trainer(_instances(E), SPEC, dtype=torch.float32, backend="reference", static=static)
        state = {"t": 0}

        def step():
            state["t"] += 1
            return (step_fn or M.Trainer.step)(tr, state["t"])
        return step
    return make_step


def test_static_training_step_is_one_batched_computation_without_host_syncs():
    small, large = assert_gpu_shaped(_factory(), E_small=2, warmup=2, steps=2)
    assert small.n_ops == large.n_ops > 100 and small.n_syncs == 0


def _per_instance_loop_step(tr, t):
    """The step with the fused loss and gradients computed one instance at a time (a loop over instances
    put back): its op count grows with E."""
    x = draw_padded(tr.plan, t, tr.dtype)
    for model, ist in zip(tr.models, tr.streams):
        for e in range(model.W.shape[0]):
            M._fused_loss_grads_static(model.W[e:e + 1], model.b[e:e + 1], model.mask[e:e + 1], x, ist[e:e + 1],
                                       tr.spec.batch, tr.rows, tr.backend)
    return M.Trainer.step(tr, t)


def test_audit_catches_a_per_instance_loop():
    with pytest.raises(AssertionError, match="op counts per step differ"):
        assert_gpu_shaped(_factory(step_fn=_per_instance_loop_step), E_small=2, warmup=1, steps=1)


def test_audit_catches_an_item_per_step():
    def item_step(tr, t):
        loss = M.Trainer.step(tr, t)
        float(loss.sum().item())                          # a per-step readback of the loss
        return loss
    with pytest.raises(AssertionError, match="host-synchronising"):
        assert_gpu_shaped(_factory(step_fn=item_step), E_small=2, warmup=1, steps=1)


def test_compacting_cpu_path_is_not_gpu_shaped():
    """The CPU path compacts with data-dependent shapes (nonzero, .tolist() for the chunk plan): by design it
    is not the device path, and the audit says so."""
    with pytest.raises(AssertionError, match="host-synchronising|op counts per step differ"):
        assert_gpu_shaped(_factory(static=False), E_small=2, warmup=1, steps=1)


def test_draw_is_one_call_for_all_streams():
    """The padded draw alone: same ops for 2 and 16 streams."""
    def make(E):
        insts = _instances(E)
        sidx, plan = M.stream_plan(insts, SPEC)
        state = {"t": 0}

        def step():
            state["t"] += 1
            return draw_padded(plan, state["t"])
        return step
    assert_gpu_shaped(make, E_small=2)
