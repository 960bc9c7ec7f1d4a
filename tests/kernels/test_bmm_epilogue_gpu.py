"""bmm_epilogue on a CUDA device: the compiled, autotuned Triton kernel vs the reference, forward and backward.

These are the `gpu` tests (`pytest -m gpu`; `toyscale doctor` runs them). On a machine without CUDA they are
skipped by tests/conftest.py with the reason; with CUDA, conftest leaves TRITON_INTERPRET unset, and the
`compiled_triton` fixture FAILS (does not skip) if the interpreter is on anyway or the autotuner is not in use,
so these tests can only pass by testing the compiled kernel.

Reference: `bmm_epilogue_reference` evaluated in float64 on the same inputs (exact to ~1e-16), so each
precision mode is measured against the truth, not against another approximation. Error metric: relative RMS
error ||x − ref|| / ||ref|| over the whole output (or gradient).

Tolerances (inputs standard normal, K ≤ 200):
- fp64: 1e-12. fp64 accumulation error is ~ sqrt(K)·2^-53 ≈ 2e-15 relative; 1e-12 leaves 500x.
- fp32, TF32 off (kernel uses `input_precision="ieee"`): 2e-5. fp32 accumulation error ~ sqrt(K)·2^-24 ≈ 1e-6.
- fp32, TF32 on (kernel and cuBLAS both use TF32 tensor cores, 10-bit mantissa): 5e-3. Rounding each input
  to TF32 costs a relative error up to 2^-11 (truncation: 2^-10) per factor, ~6e-4..8e-4 relative RMS on a
  product sum of random terms; 5e-3 leaves >= 6x. The reference computed in TF32 by torch is checked against
  the same bound, so a tolerance that only the kernel needs would show.
Each tolerance is far below the O(1) error of any wrong variant (missing bias, wrong activation, a dropped
K-tile on a ragged edge, a transposed gradient), so the tests can fail.

Shape grid: E ∈ {1, 3, 64}, ragged M, N, K (1, 7, 63, 65, 129, 257 ...), K = 1 (the lottery's first layer)
and N = 1 (its output layer); activations and bias are rotated over the grid, and one shape runs all of them.
"""
import itertools

import pytest
import torch

from kernels import ACTIVATIONS, bmm_epilogue, bmm_epilogue_reference

pytestmark = pytest.mark.gpu

DEVICE = "cuda"   # the gpu tests run on CUDA; a CPU dry run of this file's logic may set it to "cpu"
TOL = {"fp64": 1e-12, "fp32": 2e-5, "fp32-tf32": 5e-3}
SHAPES = [  # (E, M, K, N)
    (1, 1, 1, 1), (1, 300, 200, 100), (3, 7, 65, 63), (3, 65, 7, 129), (3, 63, 129, 7),
    (3, 257, 1, 65),     # K = 1
    (3, 129, 65, 1),     # N = 1
    (64, 32, 16, 64), (1, 64, 64, 64),
]
MODES = ["fp64", "fp32", "fp32-tf32"]
COMBOS = list(itertools.product(ACTIVATIONS, (True, False)))


def rel_rms(x, ref) -> float:
    x, ref = x.detach().double(), ref.detach().double()
    den = ref.norm()
    return float((x - ref).norm() / den) if den > 0 else float((x - ref).norm())


@pytest.fixture
def compiled_triton():
    """Fail, not skip: on a CUDA machine the gpu tests must exercise the compiled, autotuned kernel."""
    from kernels._backend import interpreting, triton_available

    ok, why = triton_available()
    if not ok:
        pytest.fail(f"CUDA is present but {why}")
    if interpreting():
        pytest.fail("TRITON_INTERPRET is set on a CUDA machine: the gpu tests would test the interpreter; unset it")
    import triton

    import kernels._bmm_epilogue_triton as kt
    assert isinstance(kt._tuned, triton.runtime.Autotuner), "the autotuned kernel is not in use"
    return kt


@pytest.fixture
def tf32_mode():
    """Set torch's TF32 switch for one test and restore it (the kernel mirrors it: IEEE dot unless allowed)."""
    old = torch.backends.cuda.matmul.allow_tf32

    def set_(mode):
        torch.backends.cuda.matmul.allow_tf32 = mode == "fp32-tf32"
        return torch.float64 if mode == "fp64" else torch.float32
    yield set_
    torch.backends.cuda.matmul.allow_tf32 = old


def check(E, M, K, N, mode, activation, with_bias, set_mode, seed=0):
    dtype = set_mode(mode)
    g = torch.Generator(device=DEVICE).manual_seed(seed)
    a = torch.randn(E, M, K, generator=g, device=DEVICE, dtype=dtype, requires_grad=True)
    b = torch.randn(E, K, N, generator=g, device=DEVICE, dtype=dtype, requires_grad=True)
    bias = torch.randn(E, N, generator=g, device=DEVICE, dtype=dtype, requires_grad=True) if with_bias else None
    ins = [t for t in (a, b, bias) if t is not None]
    gout = torch.randn(E, M, N, generator=g, device=DEVICE, dtype=dtype)
    out = bmm_epilogue(a, b, bias, activation, backend="triton")
    grads = torch.autograd.grad(out, ins, gout)
    ins64 = [t.detach().double().requires_grad_() for t in ins]
    ref = bmm_epilogue_reference(ins64[0], ins64[1], ins64[2] if with_bias else None, activation)
    ref_grads = torch.autograd.grad(ref, ins64, gout.double())
    tol = TOL[mode]
    what = f"{mode} E={E} M={M} K={K} N={N} act={activation} bias={with_bias}"
    assert out.dtype == dtype and out.shape == (E, M, N)
    errs = {"forward": rel_rms(out, ref)}
    errs.update({n: rel_rms(x, r) for n, x, r in zip(("grad_a", "grad_b", "grad_bias"), grads, ref_grads)})
    bad = {k: v for k, v in errs.items() if not v <= tol}
    assert not bad, f"{what}: rel RMS error over {tol:g}: {bad}"
    if mode == "fp32-tf32":   # torch's own TF32 matmul meets the same bound (the bound is TF32's, not the kernel's)
        ref32 = bmm_epilogue_reference(*[t.detach() for t in ins[:2]], ins[2].detach() if with_bias else None,
                                       activation)
        assert rel_rms(ref32, ref) <= tol, f"{what}: torch TF32 reference error {rel_rms(ref32, ref):.2e} > {tol:g}"
    return errs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES, ids=[f"E{e}-M{m}-K{k}-N{n}" for e, m, k, n in SHAPES])
def test_compiled_kernel_matches_reference_shapes(compiled_triton, tf32_mode, shape, mode):
    i = SHAPES.index(shape) + MODES.index(mode)
    act, with_bias = COMBOS[i % len(COMBOS)]
    check(*shape, mode, act, with_bias, tf32_mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("activation,with_bias", COMBOS, ids=[f"{a}-{'bias' if b else 'nobias'}" for a, b in COMBOS])
def test_compiled_kernel_matches_reference_activations(compiled_triton, tf32_mode, activation, with_bias, mode):
    check(3, 65, 129, 63, mode, activation, with_bias, tf32_mode)


def test_compiled_kernel_transposed_views_and_out_dtype(compiled_triton, tf32_mode):
    """Non-contiguous inputs (transposed views: the backward's own layout) and a narrower output dtype."""
    tf32_mode("fp32")
    g = torch.Generator(device=DEVICE).manual_seed(3)
    a = torch.randn(2, 40, 33, generator=g, device=DEVICE).transpose(1, 2)      # [2, 33, 40], stride-1 on M
    b = torch.randn(2, 17, 40, generator=g, device=DEVICE).transpose(1, 2)      # [2, 40, 17]
    out = bmm_epilogue(a, b, None, "silu", out_dtype=torch.float16, backend="triton")
    ref = bmm_epilogue_reference(a.double(), b.double(), None, "silu")
    assert out.dtype == torch.float16 and rel_rms(out, ref) <= 1e-3   # fp16 rounding: 2^-11 relative


def test_tolerance_can_fail(compiled_triton, tf32_mode):
    """Negative control: the same comparison flags a wrong activation (the kernel's relu vs a silu reference)."""
    tf32_mode("fp32-tf32")
    g = torch.Generator(device=DEVICE).manual_seed(4)
    a, b = torch.randn(3, 65, 33, generator=g, device=DEVICE), torch.randn(3, 33, 31, generator=g, device=DEVICE)
    out = bmm_epilogue(a, b, None, "relu", backend="triton")
    assert rel_rms(out, bmm_epilogue_reference(a.double(), b.double(), None, "silu")) > 10 * TOL["fp32-tf32"]
