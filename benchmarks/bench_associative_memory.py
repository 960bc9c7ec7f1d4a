"""Batched/streamed associative-memory scorer vs the per-trial implementation the paper's code would write.

Same work in both providers: R trials × C memory columns, exact population error over all N tokens.
- "per-trial-loop": `measure_error_per_trial` — Python loop over trials and columns, W (d×d) materialised,
  scores = (E W) Uᵀ (cost N·d² per column).
- "batched-streamed": `measure_error` — one batched computation over trials, E streamed in token blocks,
  scores reassociated as E (W Uᵀ) (cost N·d·M per column), via kernels.bmm_epilogue.
Rows report the median time, trial-columns per second and the speed-up ratio.
"""
from __future__ import annotations

import torch

from benchmarks._common import time_fn, write_rows
from simulators.associative_memory.model import measure_error, measure_error_per_trial, memory_weights, zipf_probs

POINTS = {"tiny": [dict(N=300, d=32, R=2, C=2)],
          "full": [dict(N=2000, d=128, R=8, C=4), dict(N=4000, d=512, R=8, C=4), dict(N=4000, d=1024, R=4, C=4)]}
PROVIDERS = ("per-trial-loop", "batched-streamed")
SCHEMES = ("pop^1", "pop^0.5", "pop_threshold", "pop^2")


def setup(point: dict, provider: str):
    """Return a zero-argument callable doing the work of `point` with `provider`."""
    N, d, R, C, M = point["N"], point["d"], point["R"], point["C"], 5
    p = zipf_probs(N, 2.0)
    q = torch.stack([memory_weights(s, p, d=d) for s in SCHEMES[:C]])[None].expand(R, -1, -1)
    seeds = list(range(R))
    if provider == "per-trial-loop":
        return lambda: measure_error_per_trial(q, p[None], seeds, d, M)
    return lambda: measure_error(q, p[None], seeds, d, M)


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {tuple(POINTS)}, got {size!r}")
    rows = []
    for point in POINTS[size]:
        times = {}
        for prov in PROVIDERS:
            t = time_fn(setup(point, prov), min_time=0.2 if size == "tiny" else 1.0, warmup=1)
            times[prov] = t["time_s"]
            rows.append({"benchmark": "associative_memory_scorer", "provider": prov, "config": point, **t,
                         "trial_columns_per_s": point["R"] * point["C"] / t["time_s"]})
        for r in rows[-len(PROVIDERS):]:
            r["speedup_vs_loop"] = times["per-trial-loop"] / r["time_s"]
    return rows


if __name__ == "__main__":
    import os
    import sys

    torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    out = run(sys.argv[1] if len(sys.argv) > 1 else "full")
    for r in out:
        print(r["config"], r["provider"], f"{r['time_s'] * 1e3:.1f} ms", f"x{r['speedup_vs_loop']:.2f}")
    print("written to", write_rows("associative_memory", out))
