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


def rss_bytes() -> int:
    """Current resident set size of this process (CPU), from /proc/self/statm; 0 where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def peak_memory_per_instance(fn: Callable[[], object], n_instances: int, device=None) -> dict:
    """Run `fn` once and report the peak memory it needed, per instance.

    CUDA: max allocated during the call (peak stats reset first) minus what was allocated before.
    CPU: the process's peak RSS after the call minus its current RSS before it. ru_maxrss only grows, so
    when an earlier call had already set a higher peak this over-states the need (an upper bound); run
    the largest workloads last. Returns {"peak_mem_bytes", "peak_mem_per_instance_bytes", "peak_mem_kind"}.
    """
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(dev).startswith("cuda") and torch.cuda.is_available():
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        need, kind = torch.cuda.max_memory_allocated() - base, "cuda max allocated"
    else:
        base = rss_bytes()
        fn()
        need, kind = max(peak_memory_bytes("cpu") - base, 0), "cpu peak RSS - RSS before (upper bound)"
    return {"peak_mem_bytes": int(need), "peak_mem_per_instance_bytes": int(need) / max(n_instances, 1),
            "peak_mem_kind": kind}


def bmm_time(shapes: list[tuple[int, int, int, int]], dtype=torch.float32, device=None, min_time: float = 0.2) -> float:
    """Same-run seconds that plain `torch.bmm` takes for the list of (E, M, K, N) products: the machine's
    limit for a step whose matmuls have these shapes (its peak FLOP/s = their FLOPs / this time)."""
    total = 0.0
    for (E, M, K, N) in shapes:
        g = bmm_peak(E, M, K, N, dtype=dtype, device=device, min_time=min_time)["bmm_peak_gflops"]
        total += 2.0 * E * M * K * N / (g * 1e9)
    return total


def limit_fields(step_s: float, flops: float, bytes_moved: float, peak_s: float, copy_gbytes_per_s: float) -> dict:
    """Fraction of the machine's limit for one step (all inputs from the same run).

    flops: useful FLOPs of the step's matmuls; bytes_moved: an estimate of the bytes the step must read and
    write (stated per benchmark); peak_s: `bmm_time` at the step's shapes; copy_gbytes_per_s: `copy_bandwidth`
    of a buffer of the step's size. The step is called memory-bound when its arithmetic intensity
    (flops / bytes) is below the machine balance (bmm peak FLOP/s / copy bytes/s) measured here."""
    peak_gflops = flops / peak_s / 1e9 if peak_s > 0 else float("nan")
    intensity = flops / bytes_moved if bytes_moved else float("inf")
    balance = peak_gflops / copy_gbytes_per_s if copy_gbytes_per_s else float("inf")
    return {"gflops": flops / step_s / 1e9, "bmm_peak_gflops": peak_gflops,
            "fraction_of_peak": peak_s / step_s if peak_s > 0 else None,
            "gbytes_per_s": bytes_moved / step_s / 1e9, "copy_gbytes_per_s": copy_gbytes_per_s,
            "fraction_of_copy_bw": bytes_moved / step_s / 1e9 / copy_gbytes_per_s if copy_gbytes_per_s else None,
            "arith_intensity": intensity, "machine_balance": balance,
            "bound": "memory" if intensity < balance else "compute"}
