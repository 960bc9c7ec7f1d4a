"""Triton kernel for `bmm_epilogue`. Imported only when the Triton path runs (it imports triton at top).

Grid: (ceil(M/BM), ceil(N/BN), E); each program computes one [BM, BN] output tile of one instance,
accumulating over K in fp32 (fp64 for fp64 inputs), then applies bias and activation in registers and
stores once: the pre-activation never round-trips through memory unless the backward needs it
(`STORE_PRE`). Every edge (M, N, K) is masked, so sizes need not be multiples of the block.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ._backend import interpreting

_ACT_CODES = {None: 0, "relu": 1, "silu": 2, "gelu": 3, "tanh": 4}


@triton.jit
def _bmm_epilogue_kernel(
    # pointers
    a_ptr, b_ptr, bias_ptr, out_ptr, pre_ptr,
    # sizes
    M, N, K,
    # strides
    s_ae, s_am, s_ak,
    s_be, s_bk, s_bn,
    s_biase, s_biasn,
    s_oe, s_om, s_on,
    s_pe, s_pm, s_pn,
    # meta
    HAS_BIAS: tl.constexpr, ACT: tl.constexpr, STORE_PRE: tl.constexpr, FP64: tl.constexpr,
    IEEE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    # --- tile coordinates -------------------------------------------------------------------
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_e = tl.program_id(2).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + pid_e * s_ae + offs_m[:, None] * s_am + offs_k[None, :] * s_ak
    b_ptrs = b_ptr + pid_e * s_be + offs_k[:, None] * s_bk + offs_n[None, :] * s_bn
    # --- main loop over K (masked on every edge) ------------------------------------------------
    if FP64:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float64)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        k_ok = (k0 + offs_k) < K
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & k_ok[None, :], other=0.0)
        b = tl.load(b_ptrs, mask=k_ok[:, None] & (offs_n[None, :] < N), other=0.0)
        if IEEE:
            acc += tl.dot(a, b, input_precision="ieee")
        else:
            acc += tl.dot(a, b)
        a_ptrs += BLOCK_K * s_ak
        b_ptrs += BLOCK_K * s_bk
    # --- epilogue: bias, activation, store ------------------------------------------------------
    n_ok = offs_n < N
    if HAS_BIAS:
        bias = tl.load(bias_ptr + pid_e * s_biase + offs_n * s_biasn, mask=n_ok, other=0.0)
        acc += bias[None, :]
    mask = (offs_m[:, None] < M) & n_ok[None, :]
    if STORE_PRE:
        tl.store(pre_ptr + pid_e * s_pe + offs_m[:, None] * s_pm + offs_n[None, :] * s_pn, acc, mask=mask)
    if ACT == 1:
        acc = tl.maximum(acc, 0.0)
    elif ACT == 2:
        acc = acc * tl.sigmoid(acc)
    elif ACT == 3:
        acc = 0.5 * acc * (1.0 + tl.erf(acc * 0.7071067811865476))
    elif ACT == 4:
        acc = 2.0 * tl.sigmoid(2.0 * acc) - 1.0  # tanh without libdevice (fails in the interpreter)
    o_ptrs = out_ptr + pid_e * s_oe + offs_m[:, None] * s_om + offs_n[None, :] * s_on
    tl.store(o_ptrs, acc.to(out_ptr.dtype.element_ty), mask=mask)


def _autotune_configs() -> list:
    """Configs for CUDA (no driver access here). The interpreter gets one fixed large-block config in
    `_launch`: it runs programs serially, so fewer, larger tiles are faster and autotuning measures nothing."""
    cfgs = []
    for bm, bn, bk, w, s in [(128, 128, 32, 8, 3), (128, 64, 32, 4, 4), (64, 128, 32, 4, 4), (64, 64, 32, 4, 4),
                             (32, 64, 32, 4, 4), (64, 32, 32, 4, 4), (32, 32, 32, 4, 2), (16, 64, 32, 4, 2)]:
        cfgs.append(triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}, num_warps=w, num_stages=s))
    return cfgs


_tuned = None if interpreting() else triton.autotune(
    configs=_autotune_configs(), key=["M", "N", "K", "HAS_BIAS", "ACT", "FP64"])(_bmm_epilogue_kernel)

_INTERPRET_BLOCKS = {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}


def bmm_epilogue_triton(a, b, bias=None, activation=None, out_dtype=None, store_pre=False):
    """Launch the fused kernel. a [E, M, K], b [E, K, N], bias [E, N] | None -> (out [E, M, N], pre | None).

    `pre` (the pre-activation a@b+bias in a's dtype) is returned only when `store_pre` is set (backward).
    Shapes/dtypes are validated by the dispatcher `bmm_epilogue`; this checks the Triton-specific needs.
    """
    if a.device.type != "cuda" and not interpreting():
        raise RuntimeError(f"the Triton kernel needs CUDA tensors, got {a.device} (set TRITON_INTERPRET=1 on CPU)")
    E, M, K = a.shape
    N = b.shape[2]
    out = torch.empty((E, M, N), device=a.device, dtype=out_dtype or a.dtype)
    pre = torch.empty((E, M, N), device=a.device, dtype=a.dtype) if store_pre else out
    if E == 0 or M == 0 or N == 0:
        return out, (pre if store_pre else None)
    if K == 0:  # empty reduction: the kernel's loop would not run; keep semantics identical to torch
        z = torch.zeros((E, M, N), device=a.device, dtype=a.dtype) + (bias[:, None, :] if bias is not None else 0)
        from .bmm_epilogue import _act

        out.copy_(_act(z, activation))
        return out, (z if store_pre else None)
    bias_arg = bias if bias is not None else a  # dummy pointer, never read (HAS_BIAS=False)
    s_bias = (bias.stride(0), bias.stride(1)) if bias is not None else (0, 0)
    fp64 = a.dtype == torch.float64
    ieee = fp64 or not torch.backends.cuda.matmul.allow_tf32  # mirror torch: no TF32 unless allowed
    args = (a, b, bias_arg, out, pre, M, N, K, *a.stride(), *b.stride(), *s_bias, *out.stride(), *pre.stride())
    meta = dict(HAS_BIAS=bias is not None, ACT=_ACT_CODES[activation], STORE_PRE=store_pre, FP64=fp64, IEEE=ieee)

    def grid(m):
        return (triton.cdiv(M, m["BLOCK_M"]), triton.cdiv(N, m["BLOCK_N"]), E)

    if _tuned is None:
        _bmm_epilogue_kernel[grid](*args, **meta, **_INTERPRET_BLOCKS)
    else:
        _tuned[grid](*args, **meta)
    return out, (pre if store_pre else None)
