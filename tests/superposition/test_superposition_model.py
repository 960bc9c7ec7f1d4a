"""Simulator invariants of the superposition family: sampler statistics, the decay rules, fused gradients
vs autograd, batched == single, masked padding, bad config."""
import math

import numpy as np
import pytest
import torch

from simulators.superposition import SuperpositionConfig, model as M, theory as T
from simulators.superposition.config import WARMUP_RULES
from simulators.superposition.sampler import draw_active, draw_padded, padded_dense


def _batch(insts, n, B, density=0.0, step=0, dtype=torch.float64):
    """(stream index per instance, ActiveBatch of step `step`) for instances, as the trainer draws them."""
    sidx, plan = M.stream_plan(insts, M.TrainSpec(n=n, batch=B, steps=1, density=density))
    return sidx, plan, draw_active(plan, step, dtype)


# --------------------------------------------------------------------------- decay rules
def _model(instances, n=16, dtype=torch.float64):
    return M.BatchedModel(instances, M.TrainSpec(n=n, batch=8, steps=10), "cpu", dtype)


def test_negative_decay_pulls_row_norms_to_one_and_never_diverges():
    """γ < 0 alone (zero gradient): every row norm moves monotonically to the rule's fixed point, from above and
    below: ‖W_i‖ + 1e-8 = 1 (the authors' adamw.py adds its eps to the norm)."""
    mod = _model([dict(m=4, gamma=-1.0, law="power:1.2", seed=0)])
    scales = torch.logspace(-2, 2, 16, dtype=torch.float64)
    mod.W[0] = mod.W[0] / torch.linalg.vector_norm(mod.W[0], dim=1, keepdim=True) * scales[:, None]
    zero_W, zero_b = torch.zeros_like(mod.W), torch.zeros_like(mod.b)
    fixed = 1.0 - M.NORM_EPS
    prev = torch.abs(scales - fixed)
    for _ in range(400):
        M.adamw_step(mod, zero_W, zero_b, lr_mult=25.0)       # lr·|γ| = 0.5 per step at m = 4 (lr_W ≈ 0.024)
        norms = torch.linalg.vector_norm(mod.W[0], dim=1)
        assert torch.all(torch.isfinite(norms)) and float(norms.max()) <= 100.0
        dev = torch.abs(norms - fixed)
        assert torch.all(dev <= prev + 1e-14)
        prev = dev
    assert float(prev.max()) < 1e-6
    # the wrong rule (multiply by 1 + lr|γ|) would have grown the largest row by (1.5)^400


def test_positive_decay_is_multiplicative():
    mod = _model([dict(m=4, gamma=0.5, law="power:1.2", seed=0)])
    W0 = mod.W.clone()
    M.adamw_step(mod, torch.zeros_like(mod.W), torch.zeros_like(mod.b), lr_mult=1.0)
    lr = M.learning_rates(4, "large_run")[0]
    torch.testing.assert_close(mod.W, W0 * (1 - lr * 0.5), rtol=1e-14, atol=0)


# --------------------------------------------------------------------------- gradients, batching
INSTANCES = [dict(m=m, gamma=g, law=l, seed=s) for m in (3, 5) for g in (-1.0, 0.1)
             for l in ("power:1.2", "exp:4") for s in (0, 1)]


@pytest.mark.parametrize("grouping", ["by_m", "pad"])
def test_fused_gradients_match_autograd(grouping):
    n, B = 20, 16
    sidx, plan, x = _batch(INSTANCES, n, B)
    skeys = range(plan.n_streams)
    for g in M.group_instances(INSTANCES, grouping):
        insts = [INSTANCES[e] for e in g]
        mod = _model(insts, n=n)
        ist = torch.tensor([sidx[e] for e in g])
        loss, dW, db = M._fused_loss_grads(mod.W.clone(), mod.b.clone(), mod.mask, x, ist, B, "reference")
        W, b = mod.W.clone().requires_grad_(), mod.b.clone().requires_grad_()
        ref = M.loss_autograd(W, b, mod.mask, x.dense(len(skeys), B, n)[ist])
        ref.sum().backward()
        torch.testing.assert_close(loss, ref.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(dW, W.grad, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(db, b.grad, rtol=1e-12, atol=1e-14)
        assert torch.all(dW * (1 - mod.mask[:, None, :]) == 0)


def _hand_batch(case):
    """Two streams, B = 6 samples, n = 5 features. mixed: stream 0 active in samples {1, 4}, stream 1 in
    {0, 2, 3} (B_c = 3 < B, and stream 0's instances get a padding row); all_active: stream 0 active in every
    sample (B_c = B); empty: no active entry at all (B_c = 1, a padding row)."""
    B, n = 6, 5
    entries = {"mixed": [(0, 1, 0, 0.7), (0, 1, 3, 1.5), (0, 4, 2, 0.3), (1, 0, 1, 1.9), (1, 2, 4, 0.2), (1, 3, 0, 1.1)],
               "all_active": [(0, s, s % n, 0.25 + 0.3 * s) for s in range(B)] + [(1, 2, 1, 1.3)],
               "empty": []}[case]
    cols = list(zip(*entries)) if entries else [()] * 4
    st, sa, fe = (torch.tensor(c, dtype=torch.long) for c in cols[:3])
    return M.ActiveBatch(st, sa, fe, torch.tensor(cols[3], dtype=torch.float64)), B, n


def test_compact_rows_number_each_streams_active_samples_in_order():
    x, B, _ = _hand_batch("mixed")
    row, n_active = M.compact_rows(x, 2, B)
    assert row.tolist() == [0, 0, 1, 0, 1, 2] and n_active.tolist() == [2, 3]
    x, B, _ = _hand_batch("all_active")
    row, n_active = M.compact_rows(x, 2, B)
    assert row.tolist() == [0, 1, 2, 3, 4, 5, 0] and n_active.tolist() == [6, 1]


def test_chunk_plan_rows_and_chunk_lengths():
    assert M.chunk_plan([2, 3, 3, 2], n=5, batch=6, itemsize=8) == [(0, 4, 3)]
    assert M.chunk_plan([0, 0], n=5, batch=6, itemsize=8) == [(0, 2, 1)]                       # at least 1 row
    assert M.chunk_plan([2, 5, 3], n=5, batch=6, itemsize=8, row_multiple=4) == [(0, 3, 6)]   # capped at B
    # 2 instances of 3 rows x 5 features x 8 bytes fit in 250 bytes; each chunk takes its own largest count
    assert M.chunk_plan([3, 1, 2, 2, 1], n=5, batch=6, itemsize=8, chunk_bytes=250) == [(0, 2, 3), (2, 4, 2), (4, 5, 1)]


@pytest.mark.parametrize("case", ["mixed", "all_active", "empty"])
@pytest.mark.parametrize("opts", [{}, {"chunk_bytes": 1}, {"row_multiple": 4}], ids=["one_chunk", "per_instance", "rounded"])
def test_fused_gradients_match_autograd_with_inactive_samples(case, opts):
    """Samples with no active feature are skipped by the dense products and added in closed form
    ((B − B_c)‖ReLU(b)‖² to the loss, (B − B_c) ReLU(b) to db): exact, to fp64 rounding, whether some
    samples are empty (B_c < B, padding rows), none is (B_c = B) or all are."""
    x, B, n = _hand_batch(case)
    insts = [dict(m=m, gamma=-1.0, law="power:1.2", seed=s) for m, s in ((3, 0), (2, 1), (3, 2), (2, 3))]
    ist = torch.tensor([0, 1, 1, 0])
    mod = _model(insts, n=n)
    mod.b[:, ::2] = mod.b[:, ::2].abs() + 0.1                         # both ReLU regimes in every instance
    mod.b[:, 1::2] = -mod.b[:, 1::2].abs() - 0.1
    _, n_active = M.compact_rows(x, 2, B)
    plan = M.chunk_plan(n_active[ist].tolist(), n, B, 8, opts.get("row_multiple", 1), opts.get("chunk_bytes"))
    rows = {"mixed": 3, "all_active": B, "empty": 1}[case]
    assert max(r for _, _, r in plan) == (min(B, 4) if "row_multiple" in opts and rows < 4 else rows)
    assert (len(plan) == 4) == ("chunk_bytes" in opts)
    loss, dW, db = M._fused_loss_grads(mod.W.clone(), mod.b.clone(), mod.mask, x, ist, B, "reference", **opts)
    W, b = mod.W.clone().requires_grad_(), mod.b.clone().requires_grad_()
    ref = M.loss_autograd(W, b, mod.mask, x.dense(2, B, n)[ist])
    ref.sum().backward()
    torch.testing.assert_close(loss, ref.detach(), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(dW, W.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(db, b.grad, rtol=1e-12, atol=1e-14)
    assert torch.all(dW * (1 - mod.mask[:, None, :]) == 0)


def test_every_sample_active_at_full_density_matches_autograd():
    """density = 1 makes p_1 = 1: every sample is active, nothing is skipped (B_c = B), via the real sampler."""
    n, B = 12, 16
    insts = INSTANCES[:4]
    sidx, plan, x = _batch(insts, n, B, density=1.0)
    skeys = range(plan.n_streams)
    assert M.compact_rows(x, len(skeys), B)[1].tolist() == [B] * len(skeys)
    mod = _model(insts, n=n)
    ist = torch.tensor(sidx)
    loss, dW, db = M._fused_loss_grads(mod.W.clone(), mod.b.clone(), mod.mask, x, ist, B, "reference")
    W, b = mod.W.clone().requires_grad_(), mod.b.clone().requires_grad_()
    M.loss_autograd(W, b, mod.mask, x.dense(len(skeys), B, n)[ist]).sum().backward()
    torch.testing.assert_close(dW, W.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(db, b.grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("grouping", ["by_m", "pad"])
def test_superposition_batched_matches_single(grouping):
    """Instance i trained in a batch of mixed widths, decays, laws and seeds = instance i trained alone."""
    spec = M.TrainSpec(n=24, batch=32, steps=40)
    mods, groups, loss, _ = M.train(INSTANCES, spec, dtype=torch.float64, grouping=grouping)
    for i in (0, 5, len(INSTANCES) - 1):
        gi = next(k for k, g in enumerate(groups) if i in g)
        row = groups[gi].index(i)
        m = INSTANCES[i]["m"]
        smods, _, sloss, _ = M.train([INSTANCES[i]], spec, dtype=torch.float64)
        torch.testing.assert_close(mods[gi].W[row, :, :m], smods[0].W[0], rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(mods[gi].b[row], smods[0].b[0], rtol=1e-9, atol=1e-11)
        torch.testing.assert_close(loss[i], sloss[0], rtol=1e-9, atol=1e-12)
        assert torch.all(mods[gi].W[row, :, m:] == 0)                      # padded columns stay exactly zero


def test_same_seed_same_numbers_and_seed_changes_them():
    spec = M.TrainSpec(n=16, batch=16, steps=10)
    a = M.simulate(INSTANCES[:2], spec)
    b = M.simulate(INSTANCES[:2], spec)
    assert a == b
    c = M.simulate([dict(INSTANCES[0], seed=9)], spec)
    assert c[0]["loss"] != a[0]["loss"]


@pytest.mark.parametrize("rule,steps,warm", [("toyscale", 1000, 100), ("exp17", 1000, 50), ("exp10", 3000, 2000),
                                             ("exp10", 1000, 0)])
def test_schedule_warmup_and_cosine_floor(rule, steps, warm):
    """Every rule: linear warm-up to 1 over its warm-up steps (none for exp-10 at <= 2000 steps), then a
    monotone cosine to exactly 0.05 at the last step."""
    assert M.warmup_steps(steps, rule) == warm
    f = [M.lr_factor(s, steps, rule) for s in range(steps)]
    if warm:
        assert f[0] == pytest.approx(1 / warm) and f[warm - 1] == pytest.approx(1.0)
    else:
        assert 0.99 < f[0] < 1.0
    top = max(warm - 1, 0)
    assert f[-1] == pytest.approx(0.05, abs=1e-15) and min(f[top:]) >= 0.05 - 1e-12
    assert all(a >= b - 1e-12 for a, b in zip(f[top:], f[top + 1:]))
    assert WARMUP_RULES == M.WARMUP_RULES


def test_measure_geometry_on_known_frames():
    """Orthonormal rows: overlap 0, D_i = 1; two antipodal unit rows in 1-D: cos² = 1, D = ½. (The Welch bound
    attained by simplex / harmonic tight frames is checked in test_superposition_theory.py.)"""
    W = torch.zeros(1, 6, 4, dtype=torch.float64)
    W[0, :4] = torch.eye(4)
    g = M.measure_geometry(W, torch.ones(1, 4))[0]
    assert g["n_represented"] == 4 and g["frac_half"] == pytest.approx(4 / 6) and g["frac_strong"] == 0
    assert g["overlap_msq"] == pytest.approx(0.0, abs=1e-15) and g["dim_mean"] == pytest.approx(1.0)
    # two antipodal unit rows in 1-D: cos² = 1, D = 1/2 (Elhage: a pair sharing one dimension)
    W2 = torch.tensor([[[1.0], [-1.0]]], dtype=torch.float64)
    g2 = M.measure_geometry(W2, torch.ones(1, 1))[0]
    assert g2["overlap_msq"] == pytest.approx(1.0) and g2["dim_mean"] == pytest.approx(0.5)


@pytest.mark.parametrize("field,value", [("n", 4), ("widths", (8, 4)), ("widths", (4, 600)), ("gammas", ()),
                                         ("laws", ("zipf:1",)), ("laws", ("power:x",)), ("density", 1.5),
                                         ("batch", 0), ("steps", 0), ("lr", "fast"), ("grouping", "loop"),
                                         ("fit_min_m", 1000), ("seeds", 0), ("tolerance", -1.0),
                                         ("warmup", "cosine"), ("adam_eps", 0.0), ("adam_eps", 1.0)])
def test_bad_config_raises_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field.rstrip("s") if field in ("laws",) else field):
        SuperpositionConfig(**{field: value})


def test_fused_gradients_on_triton_backend_match_reference(triton_interpreter):
    """The CUDA path's kernels (run here in the Triton interpreter) give the reference loss and gradients."""
    n, B = 12, 8
    insts = INSTANCES[:4]
    sidx, plan, x = _batch(insts, n, B)
    skeys = range(plan.n_streams)
    mod = _model(insts, n=n)
    ist = torch.tensor(sidx)
    ref = M._fused_loss_grads(mod.W.clone(), mod.b.clone(), mod.mask, x, ist, B, "reference")
    tri = M._fused_loss_grads(mod.W.clone(), mod.b.clone(), mod.mask, x, ist, B, "triton")
    # unrounded compact rows (Triton rounds B_c up to 64 = all 8 rows here), one instance per chunk
    assert int(M.compact_rows(x, len(skeys), B)[1].max()) < B
    tri_c = M._fused_loss_grads(mod.W.clone(), mod.b.clone(), mod.mask, x, ist, B, "triton", row_multiple=1,
                                chunk_bytes=1)
    for r, t, tc in zip(ref, tri, tri_c):
        torch.testing.assert_close(t, r, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(tc, r, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- static-shape (device) path
def test_static_fused_gradients_match_autograd_and_flag_overflow():
    """The device path's padded layout (unused slots with value 0, duplicate clamped indices) gives the
    autograd loss and gradients; a row count below a stream's active samples raises the overflow flag."""
    n, B = 20, 16
    sidx, plan = M.stream_plan(INSTANCES, M.TrainSpec(n=n, batch=B, steps=1))
    xp = draw_padded(plan, 3)
    assert bool((~xp.valid).any()) and bool(xp.valid.any())
    x_dense = padded_dense(xp, B, n)
    Bc = M.rows_static(plan, "reference", "cpu")
    n_active = (x_dense != 0).any(2).sum(1)
    assert int(n_active.max()) <= Bc <= B
    for g in M.group_instances(INSTANCES, "by_m"):
        mod = _model([INSTANCES[e] for e in g], n=n)
        ist = torch.tensor([sidx[e] for e in g])
        loss, dW, db, over = M._fused_loss_grads_static(mod.W.clone(), mod.b.clone(), mod.mask, xp, ist, B, Bc,
                                                        "reference")
        assert not bool(over)
        W, b = mod.W.clone().requires_grad_(), mod.b.clone().requires_grad_()
        ref = M.loss_autograd(W, b, mod.mask, x_dense[ist])
        ref.sum().backward()
        torch.testing.assert_close(loss, ref.detach(), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(dW, W.grad, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(db, b.grad, rtol=1e-12, atol=1e-14)
        small = int(n_active[ist].max()) - 1
        assert bool(M._fused_loss_grads_static(mod.W.clone(), mod.b.clone(), mod.mask, xp, ist, B, small,
                                               "reference")[3])


def test_static_and_compacting_paths_train_the_same_numbers(monkeypatch):
    """Whole runs agree (fp64) between the static (device) path and the compacting (CPU) path; a raised
    overflow flag (forced by a 1-row bound) makes the run redo itself on the exact path: same numbers."""
    spec = M.TrainSpec(n=24, batch=32, steps=30)
    a = M.train(INSTANCES, spec, dtype=torch.float64, static=False)
    b = M.train(INSTANCES, spec, dtype=torch.float64, static=True)
    torch.testing.assert_close(a[2], b[2], rtol=1e-12, atol=1e-15)
    for ma, mb in zip(a[0], b[0]):
        torch.testing.assert_close(ma.W, mb.W, rtol=1e-10, atol=1e-13)
    monkeypatch.setattr(M, "rows_static", lambda plan, backend, device: 1)
    tr = M.Trainer(INSTANCES, spec, dtype=torch.float64, static=True)
    tr.step(0)
    assert bool(tr.overflow)
    c = M.train(INSTANCES, spec, dtype=torch.float64, static=True)
    torch.testing.assert_close(a[2], c[2], rtol=0, atol=0)
