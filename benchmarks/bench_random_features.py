"""Batched PLRF one-pass SGD (all instances in one computation) vs the per-model Python loop that the
papers' code writes (one model trained after another), same work: E models × R steps × batch B.

Providers: "python-loop" (E calls of the trainer with one instance each) and "batched" (one call with E
instances, through kernels.bmm_epilogue). Rows report model-steps/s and the speed-up ratio.
"""
from __future__ import annotations

import torch

from benchmarks._common import time_fn, write_rows
from simulators.random_features import model as mdl

POINTS = {"tiny": [dict(E=4, d=16, v=64, steps=64)],
          "full": [dict(E=16, d=64, v=256, steps=512), dict(E=64, d=64, v=256, steps=512),
                   dict(E=64, d=128, v=512, steps=256)]}


def setup(point, provider, device="cpu", dtype=torch.float64):
    E, d, v, R = point["E"], point["d"], point["v"], point["steps"]
    D, b = mdl.plrf_problem(v, 1.0, 0.7, dtype=dtype, device=device)
    seeds = list(range(E))
    W = mdl.plrf_features(seeds, [d] * E, v, dtype=dtype, device=device)
    cps = [0, R]
    if provider == "batched":
        return lambda: mdl.plrf_sgd(W, D, b, seeds, 0.3, 1, cps)
    return lambda: [mdl.plrf_sgd(W[e:e + 1], D, b, [e], 0.3, 1, cps) for e in range(E)]


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {sorted(POINTS)}, got {size!r}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for point in POINTS[size]:
        t = {}
        for provider in ("python-loop", "batched"):
            fn = setup(point, provider, device)
            r = time_fn(fn, min_time=0.2 if size == "tiny" else 1.0, max_reps=3 if size == "tiny" else 20)
            t[provider] = r["time_s"]
            rows.append({"benchmark": "random_features.plrf_sgd", "provider": provider, "config": point,
                         **r, "models_steps_per_s": point["E"] * point["steps"] / r["time_s"]})
        for r in rows[-2:]:
            r["speedup_vs_loop"] = t["python-loop"] / t["batched"]
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = run("full")
    for r in out:
        print(r["provider"], r["config"], f"{r['time_s'] * 1e3:.1f} ms", f"{r['models_steps_per_s']:.3g} model-steps/s",
              f"x{r['speedup_vs_loop']:.2f}")
    print(write_rows("random_features", out))
