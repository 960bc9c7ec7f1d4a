"""bmm_epilogue: Triton kernel (in the interpreter) vs the PyTorch reference, forward and gradients."""
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kernels import ACTIVATIONS, bmm_epilogue, bmm_epilogue_reference, resolve_backend

# One tolerance table (relative RMS error), NT `_DEFAULT_TOLERANCE` style. fp32 allows for accumulation
# order and TF32-free GPU dot; fp64 is near machine precision.
RTOL = {torch.float32: 2e-5, torch.float64: 1e-12}


def rel_rms(x, ref, scale=None):
    """FLA get_err_ratio: ||x - ref|| / ||ref|| (0 when both are zero). With `scale`, the denominator is
    max(||ref||, ||scale||): see `compare_fwd_bwd` for the gradients' natural scale."""
    x, ref = x.detach().double(), ref.detach().double()
    den, err = ref.norm(), (x - ref).norm()
    if scale is not None:
        den = torch.maximum(den, scale.detach().double().norm())
    return float(err / den) if den > 0 else float(err)


def assert_close_verbose(x, ref, tol, what, scale=None):
    r = rel_rms(x, ref, scale)
    if not r <= tol:
        diff = (x.double() - ref.double()).abs()
        idx = tuple(int(i) for i in torch.nonzero(diff == diff.max())[0])
        raise AssertionError(f"{what}: rel RMS error {r:.3e} > {tol:.1e}; max abs diff {diff.max():.3e} at {idx} "
                             f"(got {x[idx].item():.6g}, want {ref[idx].item():.6g})")


def compare_fwd_bwd(E, M, K, N, dtype, activation, with_bias, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(E, M, K, generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(E, K, N, generator=g, dtype=dtype, requires_grad=True)
    bias = torch.randn(E, N, generator=g, dtype=dtype, requires_grad=True) if with_bias else None
    inputs = [t for t in (a, b, bias) if t is not None]
    out = bmm_epilogue(a, b, bias, activation, backend="triton")
    ref = bmm_epilogue_reference(a, b, bias, activation)
    gout = torch.randn(ref.shape, generator=g, dtype=dtype)
    grads = torch.autograd.grad(out, inputs, gout)
    ref_grads = torch.autograd.grad(ref, inputs, gout)
    tol = RTOL[dtype]
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert_close_verbose(out, ref, tol, "forward")
    # Gradients are measured against their natural scale too: the gradient a unit-slope activation would give
    # (gout bᵀ, aᵀ gout, Σ gout). Where act'(z) nearly vanishes (GELU's root z ≈ −0.752) a gradient is tiny and
    # its relative error is the fp32 rounding of z amplified by act''/act' (found at E=M=N=1, K=36, gelu: 3.6e-2
    # relative, 1.4e-8 of the natural scale); a wrong derivative is still an O(1) error of that scale.
    with torch.no_grad():
        natural = (gout @ b.transpose(1, 2), a.transpose(1, 2) @ gout, gout.sum(1))
    for name, gr, rg, sc in zip(("grad_a", "grad_b", "grad_bias"), grads, ref_grads, natural):
        assert_close_verbose(gr, rg, tol, name, scale=sc)


SHAPES = [(1, 1, 1, 1), (3, 7, 65, 63), (1, 65, 7, 129), (3, 63, 129, 7), (2, 129, 1, 65)]


@pytest.mark.parametrize("E,M,K,N", SHAPES, ids=[f"E{e}-M{m}-K{k}-N{n}" for e, m, k, n in SHAPES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["fp32", "fp64"])
def test_bmm_triton_matches_reference_shapes(triton_interpreter, E, M, K, N, dtype):
    compare_fwd_bwd(E, M, K, N, dtype, "relu", with_bias=True)


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=[str(a) for a in ACTIVATIONS])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
def test_bmm_triton_matches_reference_activations(triton_interpreter, activation, with_bias):
    compare_fwd_bwd(2, 17, 33, 19, torch.float32, activation, with_bias)
    compare_fwd_bwd(1, 9, 5, 11, torch.float64, activation, with_bias)


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(E=st.integers(1, 3), M=st.integers(1, 70), K=st.integers(1, 70), N=st.integers(1, 70),
       act=st.sampled_from(ACTIVATIONS), bias=st.booleans(), dtype=st.sampled_from([torch.float32, torch.float64]))
@example(E=1, M=1, K=36, N=1, act="gelu", bias=False, dtype=torch.float32)   # single output near GELU's act' root
def test_bmm_triton_matches_reference_hypothesis(triton_interpreter, E, M, K, N, act, bias, dtype):
    compare_fwd_bwd(E, M, K, N, dtype, act, bias)


def test_bmm_triton_transposed_views_and_out_dtype(triton_interpreter):
    """Non-contiguous inputs (the backward's transposes) and a narrower out_dtype."""
    a = torch.randn(2, 40, 30, dtype=torch.float64).transpose(1, 2)   # [2, 30, 40] strided
    b = torch.randn(2, 50, 40, dtype=torch.float64).transpose(1, 2)   # [2, 40, 50] strided
    out = bmm_epilogue(a, b, None, "silu", out_dtype=torch.float32, backend="triton")
    ref = bmm_epilogue_reference(a, b, None, "silu", out_dtype=torch.float32)
    assert out.dtype == torch.float32
    assert_close_verbose(out, ref, 1e-6, "strided forward")


def test_kernel_check_can_fail(triton_interpreter):
    """The comparison is sharp: a reference that differs by one ulp-scale bias shift is caught."""
    with pytest.raises(AssertionError, match="rel RMS error"):
        x = torch.randn(3, 5, dtype=torch.float64)
        assert_close_verbose(x + 1e-6, x, RTOL[torch.float64], "planted")


# ------------------------------------------------------------------------- dispatch and validation
def test_reference_is_default_on_cpu(monkeypatch):
    monkeypatch.delenv("TOYSCALE_BACKEND", raising=False)
    assert resolve_backend(None, "cpu") == "reference"


def test_env_var_selects_backend_and_unknown_names_are_refused(monkeypatch):
    monkeypatch.setenv("TOYSCALE_BACKEND", "reference")
    assert resolve_backend(None, "cpu") == "reference"
    monkeypatch.setenv("TOYSCALE_BACKEND", "cuda-magic")
    with pytest.raises(ValueError, match="TOYSCALE_BACKEND must be one of reference, triton"):
        resolve_backend(None, "cpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        resolve_backend("fast", "cpu")


def test_triton_on_cpu_without_interpreter_is_an_error(monkeypatch, triton_interpreter):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        resolve_backend("triton", "cpu")


def test_triton_missing_is_an_error_not_a_fallback(monkeypatch):
    import kernels._backend as kb

    monkeypatch.setattr(kb, "triton_available", lambda: (False, "triton is not importable (test)"))
    with pytest.raises(RuntimeError, match="triton is not importable"):
        resolve_backend("triton", "cpu")
    assert resolve_backend(None, "cpu") == "reference"


@pytest.mark.parametrize("bad,match", [
    (dict(a=torch.randn(2, 3), b=torch.randn(2, 3, 4)), "must be 3-D"),
    (dict(a=torch.randn(2, 3, 5), b=torch.randn(2, 4, 4)), "shape mismatch"),
    (dict(a=torch.randn(2, 3, 4), b=torch.randn(2, 4, 4, dtype=torch.float64)), "share a dtype"),
    (dict(a=torch.randn(2, 3, 4), b=torch.randn(2, 4, 5), bias=torch.randn(2, 4)), "bias must be"),
    (dict(a=torch.randn(2, 3, 4), b=torch.randn(2, 4, 5), activation="swish"), "activation must be one of"),
])
def test_bad_inputs_are_refused_with_the_reason(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        bmm_epilogue(**bad, backend="reference")


@pytest.mark.gpu
def test_bmm_triton_matches_reference_on_cuda():
    a = torch.randn(4, 300, 200, device="cuda", dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 200, 100, device="cuda", dtype=torch.float64, requires_grad=True)
    out = bmm_epilogue(a, b, None, "gelu", backend="triton")
    assert_close_verbose(out, bmm_epilogue_reference(a, b, None, "gelu"), 1e-12, "cuda forward")


@pytest.mark.parametrize("activation", ACTIVATIONS, ids=[str(a) for a in ACTIVATIONS])
def test_reference_inplace_nograd_path_matches_autograd_path(activation):
    """The reference uses baddbmm + in-place activations when no gradient is needed: same numbers."""
    g = torch.Generator().manual_seed(1)
    a, b, bias = torch.randn(2, 5, 7, generator=g), torch.randn(2, 7, 3, generator=g), torch.randn(2, 3, generator=g)
    with torch.no_grad():
        fast = bmm_epilogue_reference(a, b, bias, activation)
    slow = bmm_epilogue_reference(a.clone().requires_grad_(), b, bias, activation).detach()
    assert torch.equal(fast, slow)
    assert torch.allclose(fast, F_act(torch.bmm(a, b) + bias[:, None, :], activation), atol=1e-6)


def F_act(z, activation):
    import torch.nn.functional as F

    return {None: z, "relu": F.relu(z), "silu": F.silu(z), "gelu": F.gelu(z), "tanh": torch.tanh(z)}[activation]
