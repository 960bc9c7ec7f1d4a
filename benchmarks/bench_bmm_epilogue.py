"""bmm_epilogue: Triton kernel vs the PyTorch reference (forward, fused bias+activation).

On CUDA both providers are timed with `triton.testing.do_bench` (median, 20/80% quantiles) and reported
in GFLOP/s. On CPU the Triton kernel can only run in the interpreter, which measures nothing: the row
says "needs a GPU" and only the reference is timed (that is also the same-run bmm peak other benchmarks
compare against).
"""
from __future__ import annotations

import torch

from kernels import bmm_epilogue
from kernels._backend import triton_available

from ._common import time_fn, write_rows

POINTS = {"tiny": [(4, 32, 32, 32)], "full": [(64, 256, 256, 256), (256, 128, 64, 128), (16, 1024, 1024, 1024)]}


def setup(point, provider, device, dtype=torch.float32):
    E, M, K, N = point
    a = torch.randn(E, M, K, device=device, dtype=dtype)
    b = torch.randn(E, K, N, device=device, dtype=dtype)
    bias = torch.randn(E, N, device=device, dtype=dtype)
    return lambda: bmm_epilogue(a, b, bias, "relu", backend=provider)


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {list(POINTS)}, got {size!r}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for point in POINTS[size]:
        E, M, K, N = point
        flops = 2.0 * E * M * N * K
        for provider in ("reference", "triton"):
            row = {"benchmark": "bmm_epilogue", "provider": provider,
                   "config": {"E": E, "M": M, "K": K, "N": N, "activation": "relu", "dtype": "float32"}}
            if provider == "triton" and (device != "cuda" or not triton_available()[0]):
                rows.append({**row, "status": "needs a GPU (the CPU interpreter is not timed)"})
                continue
            fn = setup(point, provider, device)
            if device == "cuda":
                from triton.testing import do_bench

                med, lo, hi = do_bench(fn, quantiles=[0.5, 0.2, 0.8])
                t = {"time_s": med / 1e3, "time_q20_s": lo / 1e3, "time_q80_s": hi / 1e3}
            else:
                t = time_fn(fn, min_time=0.05 if size == "tiny" else 0.5)
            rows.append({**row, **t, "gflops": flops / t["time_s"] / 1e9, "status": "ok"})
    return rows


if __name__ == "__main__":
    rows = run()
    for r in rows:
        print(r)
    print(write_rows("bmm_epilogue", rows))
