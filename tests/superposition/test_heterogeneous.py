"""Superposition AdamW over HETEROGENEOUS instances (issue 14.4): widths m (hence per-instance lr_W, lr_b and
column masks), seeds and decay γ >= 0 all differ; every instance's batched step must equal torch.optim.AdamW
(decoupled decay = γ on W, none on b) run on that instance alone. Catches a missing bias correction, a lr or γ
read from another instance, and decay applied to b (each changes W by >> the fp64 tolerance)."""
import torch

from simulators.superposition import model as M

INSTANCES = [{"m": 3, "seed": 0, "gamma": 0.0}, {"m": 7, "seed": 1, "gamma": 0.3},
             {"m": 5, "seed": 2, "gamma": 0.05}, {"m": 7, "seed": 3, "gamma": 1.0}]


def test_adamw_step_matches_torch_adamw_per_instance():
    n, steps, lr_mult = 16, 6, 0.7
    model = M.BatchedModel(INSTANCES, M.TrainSpec(n=n, batch=8, steps=steps), "cpu", torch.float64)
    W0, b0 = model.W.clone(), model.b.clone()
    g = torch.Generator().manual_seed(0)
    grads = [(torch.randn(model.W.shape, generator=g, dtype=torch.float64) * model.mask[:, None, :],
              torch.randn(model.b.shape, generator=g, dtype=torch.float64)) for _ in range(steps)]
    for dW, db in grads:
        M.adamw_step(model, dW, db, lr_mult)
    for e, inst in enumerate(INSTANCES):
        m = inst["m"]
        W = W0[e, :, :m].clone().requires_grad_(True)
        b = b0[e].clone().requires_grad_(True)
        opt = torch.optim.AdamW([{"params": [W], "lr": float(model.lr_W[e]) * lr_mult, "weight_decay": inst["gamma"]},
                                 {"params": [b], "lr": float(model.lr_b[e]) * lr_mult, "weight_decay": 0.0}],
                                betas=(0.9, 0.999), eps=1e-8)
        for dW, db in grads:
            W.grad, b.grad = dW[e, :, :m].clone(), db[e].clone()
            opt.step()
        torch.testing.assert_close(model.W[e, :, :m], W.detach(), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(model.b[e], b.detach(), rtol=1e-10, atol=1e-12)
        assert model.W[e, :, m:].abs().max() == 0 if m < model.W.shape[2] else True
    assert not torch.allclose(model.lr_W[0], model.lr_W[1])               # the lrs really differ
