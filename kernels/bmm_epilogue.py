"""Batched matmul with a fused epilogue: out[e] = act(a[e] @ b[e] + bias[e]) over independent instances.

Shapes: a [E, M, K], b [E, K, N], bias [E, N] (or None) -> out [E, M, N]. E is the instance axis
(the foundation issue writes it B). fp32 and fp64 inputs, accumulation in the input precision (fp32
for fp32, fp64 for fp64), any sizes (every edge is masked), any strides (transposes are free).

In this file, in order (Liger layering): the reference (definition of correctness), the autograd
Function for the Triton path (the kernel itself lives in `_bmm_epilogue_triton.py`, imported only when
that path runs, so `import kernels` never imports triton), and the public dispatcher.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._backend import resolve_backend

ACTIVATIONS = (None, "relu", "silu", "gelu", "tanh")
DTYPES = (torch.float32, torch.float64)


def _act(z: torch.Tensor, activation: str | None) -> torch.Tensor:
    if activation is None:
        return z
    if activation == "relu":
        return F.relu(z)
    if activation == "silu":
        return F.silu(z)
    if activation == "gelu":
        return F.gelu(z)  # exact (erf) form, as the kernel computes it
    return torch.tanh(z)


def _act_grad(z: torch.Tensor, activation: str | None) -> torch.Tensor:
    """d act / d z evaluated at the pre-activation z."""
    if activation == "relu":
        return (z > 0).to(z.dtype)
    if activation == "silu":
        s = torch.sigmoid(z)
        return s * (1 + z * (1 - s))
    if activation == "gelu":
        cdf = 0.5 * (1 + torch.erf(z / math.sqrt(2.0)))
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return cdf + z * pdf
    t = torch.tanh(z)
    return 1 - t * t


# --------------------------------------------------------------------------- reference
def bmm_epilogue_reference(a, b, bias=None, activation=None, out_dtype=None):
    """Plain PyTorch: act(a @ b + bias[:, None, :]). a [E, M, K], b [E, K, N], bias [E, N] -> [E, M, N].

    Why baddbmm and in-place activations: one pass over the [E, M, N] output instead of three; on the
    superposition training step (memory-bound, CPU) this cut 13-16 ms to 10.5 ms. In-place is used only
    when autograd does not need the pre-activation."""
    z = torch.bmm(a, b) if bias is None else torch.baddbmm(bias[:, None, :], a, b)
    if activation is None:
        out = z
    elif torch.is_grad_enabled() and (a.requires_grad or b.requires_grad or (bias is not None and bias.requires_grad)):
        out = _act(z, activation)
    else:
        out = _act_(z, activation)
    return out if out_dtype is None else out.to(out_dtype)


def _act_(z: torch.Tensor, activation: str) -> torch.Tensor:
    """In-place activation (no autograd)."""
    if activation == "relu":
        return z.relu_()
    if activation == "silu":
        return F.silu(z, inplace=True)
    if activation == "gelu":
        return F.gelu(z)
    return z.tanh_()


def _check(a, b, bias, activation, out_dtype):
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if a.dim() != 3 or b.dim() != 3:
        raise ValueError(f"a and b must be 3-D [E, M, K] and [E, K, N], got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"shape mismatch: a {tuple(a.shape)} @ b {tuple(b.shape)} needs a[E, M, K], b[E, K, N]")
    if a.dtype != b.dtype or a.dtype not in DTYPES:
        raise TypeError(f"a and b must share a dtype in {DTYPES}, got {a.dtype} and {b.dtype}")
    if a.device != b.device:
        raise ValueError(f"a and b must be on one device, got {a.device} and {b.device}")
    if bias is not None:
        if bias.shape != (a.shape[0], b.shape[2]):
            raise ValueError(f"bias must be [E, N] = {(a.shape[0], b.shape[2])}, got {tuple(bias.shape)}")
        if bias.dtype != a.dtype or bias.device != a.device:
            raise TypeError(f"bias must match a's dtype/device ({a.dtype}, {a.device}), got ({bias.dtype}, {bias.device})")
    if out_dtype is not None and not out_dtype.is_floating_point:
        raise TypeError(f"out_dtype must be a floating dtype, got {out_dtype}")


# --------------------------------------------------------------------------- triton path
class BmmEpilogueFunction(torch.autograd.Function):
    """Forward: one fused kernel launch (stores the pre-activation z when a backward will need it).
    Backward: g_z = g · act'(z); grad_a = g_z @ bᵀ and grad_b = aᵀ @ g_z reuse the same kernel on
    transposed views (no copies); grad_bias = Σ_M g_z."""

    @staticmethod
    def forward(ctx, a, b, bias, activation, out_dtype):
        from ._bmm_epilogue_triton import bmm_epilogue_triton

        need_pre = activation is not None and any(ctx.needs_input_grad[:3])
        out, pre = bmm_epilogue_triton(a, b, bias, activation, out_dtype, store_pre=need_pre)
        ctx.save_for_backward(a, b, pre if need_pre else None)
        ctx.activation, ctx.has_bias = activation, bias is not None
        return out

    @staticmethod
    def backward(ctx, g):
        from ._bmm_epilogue_triton import bmm_epilogue_triton

        a, b, pre = ctx.saved_tensors
        g = g.to(a.dtype)
        gz = g if ctx.activation is None else g * _act_grad(pre, ctx.activation)
        ga = gb = gbias = None
        if ctx.needs_input_grad[0]:
            ga = bmm_epilogue_triton(gz, b.transpose(1, 2), None, None, None)[0]
        if ctx.needs_input_grad[1]:
            gb = bmm_epilogue_triton(a.transpose(1, 2), gz, None, None, None)[0]
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gbias = gz.sum(1)
        return ga, gb, gbias, None, None


# --------------------------------------------------------------------------- dispatcher
def bmm_epilogue(a, b, bias=None, activation=None, out_dtype=None, *, backend=None):
    """act(a @ b + bias) for E independent instances, differentiable in a, b and bias.

    Args:
        a: [E, M, K]; b: [E, K, N]; bias: [E, N] or None (fp32 or fp64, all one dtype and device).
        activation: None | "relu" | "silu" | "gelu" (exact erf form) | "tanh".
        out_dtype: dtype of the result (default: a.dtype).
        backend: "reference" | "triton" | None (then $TOYSCALE_BACKEND, then auto: triton on CUDA).
    Returns:
        [E, M, N] tensor.
    """
    _check(a, b, bias, activation, out_dtype)
    if resolve_backend(backend, a.device) == "reference":
        return bmm_epilogue_reference(a, b, bias, activation, out_dtype)
    return BmmEpilogueFunction.apply(a, b, bias, activation, out_dtype)
