"""Shared benchmark plumbing: timing, environment stamp, results files.

Contract for every `benchmarks/bench_<thing>.py`: a function `run(size: str = "full") -> list[dict]`
(`size` in {"tiny", "full"}; "tiny" runs in seconds and is what the test suite executes, never
asserting a speed) returning one flat dict per measured point, and a `__main__` that prints the rows
and appends them with `write_rows`. Rows carry: "benchmark", "provider", "config" (dict), "time_s"
(median seconds per call), work-normalised rates (e.g. "models_steps_per_s", "gflops"), ratios.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def env_info() -> dict:
    """Device, versions and timestamp stamped on every row."""
    from simulators.harness.env import environment

    return environment(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def device_slug(device: str) -> str:
    """"cpu (x86_64, 2 threads)" -> "cpu"; "NVIDIA H100 80GB HBM3" -> "NVIDIA_H100_80GB_HBM3"."""
    return re.sub(r"[^A-Za-z0-9]+", "_", device.split(" (")[0]).strip("_")


def time_fn(fn: Callable[[], object], *, min_time: float = 0.5, warmup: int = 1, max_reps: int = 1000) -> dict:
    """Median wall time per call of `fn` (synchronising CUDA), with the 20/80% quantiles.

    On CUDA, `triton.testing.do_bench` is the better tool for kernels; this helper times whole training
    steps, host work included, identically on CPU and GPU."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    sync()
    times = []
    t_start = time.perf_counter()
    while len(times) < max_reps and (time.perf_counter() - t_start < min_time or len(times) < 3):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=5) if len(times) >= 5 else [min(times)] * 4
    return {"time_s": statistics.median(times), "time_q20_s": q[0], "time_q80_s": q[3], "reps": len(times)}


def write_rows(name: str, rows: list[dict]) -> Path:
    """Append rows (stamped with env_info) to benchmarks/results/<date>-<device>-<name>.jsonl."""
    info = env_info()
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{_dt.date.today().isoformat()}-{device_slug(info['device'])}-{name}.jsonl"
    with path.open("a") as f:
        for r in rows:
            f.write(json.dumps({**r, "env": info}) + "\n")
    return path


# ----------------------------------------------------------------------------- machine limits
def bmm_peak(E: int, M: int, K: int, N: int, dtype=torch.float32, device=None, min_time: float = 0.3) -> dict:
    """Same-run `torch.bmm` throughput at these shapes: the "physical limit" a family's hot step is held to."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    a = torch.randn(E, M, K, dtype=dtype, device=device)
    b = torch.randn(E, K, N, dtype=dtype, device=device)
    t = time_fn(lambda: torch.bmm(a, b), min_time=min_time)
    return {"bmm_peak_gflops": 2.0 * E * M * K * N / t["time_s"] / 1e9, "bmm_peak_shape": [E, M, K, N]}


def copy_bandwidth(n_bytes: int, device=None, min_time: float = 0.3) -> dict:
    """Same-run `copy_` bandwidth (read + write bytes per second) for memory-bound steps."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    n = max(int(n_bytes) // 4, 1)
    src = torch.randn(n, device=device)
    dst = torch.empty_like(src)
    t = time_fn(lambda: dst.copy_(src), min_time=min_time)
    return {"copy_gbytes_per_s": 2.0 * n * 4 / t["time_s"] / 1e9}


def peak_memory_bytes(device=None) -> int:
    """CUDA max allocated on GPU; the process's peak RSS on CPU (Linux ru_maxrss is in KiB)."""
    if (device or ("cuda" if torch.cuda.is_available() else "cpu")) != "cpu" and torch.cuda.is_available():
        return int(torch.cuda.max_memory_allocated())
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
