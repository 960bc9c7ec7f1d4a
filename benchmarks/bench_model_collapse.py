"""Model collapse: the batched OLS chain (all chains as one batched Cholesky solve per generation) vs a per-chain
Python loop calling the same simulator on one chain at a time (the papers' per-run style), same numbers.

Workload ("full"): E = 256 chains of collapse.ols_generations' default shape (d = 8, T0 = 32, T = 32, n = 16
generations, power-law Σ), fp64 on CPU. Both providers draw the same Philox numbers (per-chain keys), so the
per-chain errors are identical (tests/model_collapse/test_model.py); the loop pays the per-call overhead of the
RNG, the solves and the small matmuls E times per generation. Rate: chains·generations per second.
"""
from __future__ import annotations

import torch

from benchmarks._common import peak_memory_per_instance, time_fn, write_rows
from simulators.model_collapse.model import ols_chain_errors

POINTS = {"tiny": dict(E=4, d=4, T0=8, T=8, n=3), "full": dict(E=256, d=8, T0=32, T=32, n=16)}


def setup(pt: dict, provider: str):
    lam = torch.arange(1, pt["d"] + 1, dtype=torch.float64) ** -2.0
    w0 = torch.ones(pt["d"], dtype=torch.float64)
    kw = dict(d=pt["d"], T0=pt["T0"], T=pt["T"], n_max=pt["n"], sigma=0.5, sigma0=1.0, lam=lam, w0=w0)
    seeds, reps = [0] * pt["E"], list(range(pt["E"]))
    if provider == "batched":
        return lambda: ols_chain_errors(seeds, reps, **kw)
    if provider == "per-chain-loop":
        return lambda: torch.cat([ols_chain_errors([s], [r], **kw) for s, r in zip(seeds, reps)])
    raise ValueError(f"provider must be 'batched' or 'per-chain-loop', got {provider!r}")


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {tuple(POINTS)}, got {size!r}")
    pt = POINTS[size]
    rows, times = [], {}
    for prov in ("batched", "per-chain-loop"):
        fn = setup(pt, prov)
        mem = peak_memory_per_instance(fn, pt["E"])              # doubles as warm-up
        t = time_fn(fn, min_time=0.0, warmup=0, max_reps=3 if size == "tiny" else 5)
        times[prov] = t["time_s"]
        rows.append({"benchmark": "model_collapse_ols_chain", "provider": prov, "config": pt, **t,
                     "models_steps_per_s": pt["E"] * pt["n"] / t["time_s"], **mem})
    for r in rows:
        r["speedup_vs_loop"] = times["per-chain-loop"] / r["time_s"]
    return rows


if __name__ == "__main__":
    import sys

    out = run(sys.argv[1] if len(sys.argv) > 1 else "full")
    for r in out:
        print({k: v for k, v in r.items() if k != "config"})
    print("written to", write_rows("model_collapse", out))
