"""The dispatch audit must pass a batched step and FAIL the two ways a step stops being GPU-shaped:
a Python loop over instances (op count ∝ E) and a host readback (.item(), nonzero, bool-mask indexing,
data-dependent shapes). Each negative control below is the positive step with exactly one of those put
back."""
import pytest
import torch

from simulators.harness.dispatch_audit import AuditResult, assert_gpu_shaped, audit, host_sync_reason

D, B = 8, 16


def _state(E, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(E, D, D, generator=g).requires_grad_()
    x = torch.randn(E, B, D, generator=g)
    y = torch.randn(E, B, D, generator=g)
    return W, x, y


def _batched_step(W, x, y, lr=0.1):
    loss = ((torch.bmm(x, W) - y) ** 2).mean(dim=(1, 2))  # [E]
    loss.sum().backward()
    with torch.no_grad():
        W -= lr * W.grad
        W.grad = None
    return loss.detach()


def make_batched(E):
    W, x, y = _state(E)
    return lambda: _batched_step(W, x, y)


def make_looped(E):
    W, x, y = _state(E)

    def step():
        losses = torch.stack([((x[e] @ W[e] - y[e]) ** 2).mean() for e in range(E)])  # per-instance loop
        losses.sum().backward()
        with torch.no_grad():
            W.sub_(0.1 * W.grad)
            W.grad = None
        return losses.detach()
    return step


def make_item(E):
    W, x, y = _state(E)

    def step():
        loss = _batched_step(W, x, y)
        return loss.sum().item()  # per-step readback
    return step


def test_batched_step_passes_and_counts_backward_ops():
    small, large = assert_gpu_shaped(make_batched, E_small=2)
    assert small.n_ops == large.n_ops > 0
    assert small.n_syncs == 0
    assert any("bmm" in op for op in small.ops)
    # backward ops are dispatched below autograd and must be seen: bmm forward + the grad of W (x needs none)
    assert small.counts["aten.bmm.default"] == 2


def test_per_instance_loop_fails():
    with pytest.raises(AssertionError, match="not one batched computation"):
        assert_gpu_shaped(make_looped, E_small=2)


def test_item_fails_and_names_the_line():
    with pytest.raises(AssertionError, match=r"_local_scalar_dense.*test_dispatch_audit.py"):
        assert_gpu_shaped(make_item, E_small=2)


def test_item_allowed_when_bounded_and_stated():
    small, _ = assert_gpu_shaped(make_item, E_small=2, allowed_syncs={"aten._local_scalar_dense.default": 1},
                                 reason="one logged scalar per step (test)")
    assert small.n_syncs == 1
    with pytest.raises(AssertionError, match="host-synchronising"):
        assert_gpu_shaped(make_item, E_small=2, steps=2, allowed_syncs={"aten._local_scalar_dense.default": 0},
                          reason="none really allowed")
    with pytest.raises(ValueError, match="reason"):
        assert_gpu_shaped(make_item, E_small=2, allowed_syncs=1)


@pytest.mark.parametrize("name, fn", [
    ("nonzero", lambda t: torch.nonzero(t > 0)),
    ("masked_select", lambda t: torch.masked_select(t, t > 0)),
    ("bool mask index", lambda t: t[t > 0]),
    ("bool mask assign", lambda t: t.clone().index_put_((t > 0,), torch.tensor(0.0))),
    ("unique", lambda t: torch.unique(t)),
    ("if tensor", lambda t: 1 if (t.sum() > 0) else 0),
    ("float()", lambda t: float(t.sum())),
    ("equal", lambda t: torch.equal(t, t)),
    ("repeat_interleave(Tensor)", lambda t: torch.repeat_interleave(torch.tensor([1, 2]))),
    ("bincount", lambda t: torch.bincount(torch.tensor([0, 1, 1]))),
    ("linalg.cholesky", lambda t: torch.linalg.cholesky(t[:4, :4] @ t[:4, :4].T + torch.eye(4))),
    ("linalg.solve", lambda t: torch.linalg.solve(t[:4, :4] @ t[:4, :4].T + torch.eye(4), t[:4, :1])),
    ("linalg.eigh", lambda t: torch.linalg.eigh(t[:4, :4] @ t[:4, :4].T)),
    ("linalg.svd", lambda t: torch.linalg.svd(t)),
])
def test_host_syncs_are_flagged(name, fn):
    res = audit(fn, torch.randn(4, 5))
    assert res.n_syncs >= 1, f"{name} not flagged:\n{res.summary()}"


@pytest.mark.parametrize("name, fn", [
    ("gather by int index", lambda t: t[torch.tensor([0, 2])]),
    ("where 3-arg", lambda t: torch.where(t > 0, t, 0.0)),
    ("masked_fill", lambda t: t.masked_fill(t > 0, 0.0)),
    ("nonzero_static", lambda t: torch.nonzero_static(t > 0, size=20)),
    ("repeat_interleave with output_size", lambda t: torch.repeat_interleave(torch.tensor([1, 2]), output_size=3)),
    ("cpu -> cpu copy", lambda t: t.to("cpu", copy=True)),
    ("linalg.cholesky_ex", lambda t: torch.linalg.cholesky_ex(t[:4, :4] @ t[:4, :4].T + torch.eye(4))),
    ("linalg.qr", lambda t: torch.linalg.qr(t)),
])
def test_static_ops_are_not_flagged(name, fn):
    res = audit(fn, torch.randn(4, 5))
    assert res.n_ops >= 1 and res.n_syncs == 0, f"{name} wrongly flagged:\n{res.summary()}"


def test_device_to_cpu_copy_is_flagged():
    """Classified without running (no GPU here): a meta tensor stands in for a device tensor."""
    dev = torch.empty(3, device="meta")
    aten = torch.ops.aten
    assert host_sync_reason(aten._to_copy.default, (dev,), {"device": torch.device("cpu")})
    assert host_sync_reason(aten.copy_.default, (torch.empty(3), dev), {})
    assert host_sync_reason(aten._to_copy.default, (torch.empty(3),), {"device": torch.device("cpu")}) is None
    assert host_sync_reason(aten.copy_.default, (dev, torch.empty(3)), {}) is None


def test_audit_returns_value_and_bad_sizes():
    res = audit(lambda a: a + 1, torch.ones(2))
    assert isinstance(res, AuditResult) and torch.equal(res.value, torch.full((2,), 2.0))
    assert res.ops == ["aten.add.Tensor"]
    with pytest.raises(ValueError, match="E_small"):
        assert_gpu_shaped(make_batched, E_small=4, E_large=4)


def test_peak_bytes_counts_live_storages_exactly():
    """Views keep their storage alive; a freed storage no longer counts; the peak is the max over time."""
    from simulators.harness.dispatch_audit import peak_bytes

    def f():
        a = torch.empty(1000, 1000, dtype=torch.float64)       # 8 MB
        b = torch.empty(500, 1000, dtype=torch.float64)        # 4 MB
        v = a[:10]
        del a
        torch.empty(250, 1000, dtype=torch.float64)            # 2 MB, freed at once: a alive via v -> 14 MB
        del v
        d = torch.empty(1500, 1000, dtype=torch.float64)       # a freed: 4 + 12 = 16 MB
        return b, d
    peak, _ = peak_bytes(f)
    assert peak == 16_000_000
    peak2, _ = peak_bytes(lambda: [torch.empty(10, dtype=torch.float32) for _ in range(3)])
    assert peak2 == 120


def test_data_dependent_ops_are_classified_without_their_output():
    """`host_sync_reason` classifies from the op alone when the output is unknown (out=None, as documented):
    .item() (_local_scalar_dense), equal and allclose carry PyTorch's data_dependent_output tag and are host
    syncs before any Python value exists; an elementwise op on the same tensors is not."""
    aten, t = torch.ops.aten, torch.ones(3)
    for op, args in ((aten._local_scalar_dense.default, (t[:1],)), (aten.item.default, (t[:1],)),
                     (aten.equal.default, (t, t)), (aten.allclose.default, (t, t))):
        assert host_sync_reason(op, args, {}) is not None, op
    assert host_sync_reason(aten.add.Tensor, (t, t), {}) is None
