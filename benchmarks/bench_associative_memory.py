"""Associative memory: batched/streamed scorer vs the per-trial loop of the paper's code vs a batched
naive baseline, on issue 8's workload at "full": 64 trials × 8 dimensions d ≤ 128, N = 10⁴ tokens, Zipf(2)
population weights (closed-form build q = p), exact population error over all N tokens.

Providers (same numbers, same embeddings — `measure_error_per_trial` is the oracle of the model tests; every
provider draws the embeddings through simulators/_rng.py, Philox4x32-10 keyed by (seed, d): the loop draws one
trial per call, the batched providers all trials of a chunk in one call, the same numbers):
- "per-trial-loop": `measure_error_per_trial` — Python loop over trials, W (d×d) materialised, E W Uᵀ.
- "batched-naive": the afternoon baseline: all trials at once with `torch.bmm`, W [R, d, d] materialised,
  scores = (E W) Uᵀ (N·d² per trial; E [R, N, d] held whole).
- "batched-streamed": `measure_error` — batched over trials in ~32 MiB chunks of E (each drawn once, read by
  both passes), scores reassociated as E (W Uᵀ) (N·d·M per trial), via kernels.bmm_epilogue.
All providers draw the same embeddings; that RNG cost is paid by each of them and bounds every ratio between
them (on CPU, Philox in torch int64 ops costs far more per number than the former torch.randn stream).
Plus "associative_memory_limit": the streamed scorer's two bmms vs the same-run bmm peak at their shapes.
"""
from __future__ import annotations

import torch

from benchmarks._common import (bmm_time, copy_bandwidth, limit_fields, peak_memory_per_instance, time_fn,
                                write_rows)
from simulators.associative_memory.model import (input_embeddings, labels, measure_error, measure_error_per_trial,
                                                 memory_weights, output_embeddings, zipf_probs)

POINTS = {"tiny": dict(N=300, dims=(8, 32), R=2),
          "full": dict(N=10_000, dims=(4, 8, 16, 24, 32, 48, 64, 128), R=64)}
M = 5   # labels


def _q(pt):
    p = zipf_probs(pt["N"], 2.0)
    return memory_weights("pop^1", p)[None, None].expand(pt["R"], 1, -1), p[None]     # [R, 1, N], [1, N]


def naive_batched(q, p, seeds, d, M):
    """All R trials in one bmm chain, W materialised: errors [R, 1]."""
    R, _, N = q.shape
    f = labels(N, M)
    E = input_embeddings(seeds, d, N)                                               # [R, N, d]
    U = output_embeddings(seeds, d, M)                                              # [R, M, d]
    W = torch.bmm((E * q[:, 0, :, None].float()).transpose(1, 2), U[:, f])          # [R, d, d]
    pred = torch.bmm(torch.bmm(E, W), U.transpose(1, 2)).argmax(-1)                 # [R, N]
    return ((pred != f).double() * p.double()).sum(-1, keepdim=True)


def setup(pt: dict, provider: str):
    q, p = _q(pt)
    seeds = list(range(pt["R"]))
    fn = {"per-trial-loop": measure_error_per_trial, "batched-naive": naive_batched, "batched-streamed": measure_error}[provider]
    return lambda: [fn(q, p, seeds, d, M) for d in pt["dims"]]


def _limit(pt, step_s):
    """The streamed scorer per d: build W Uᵀ ([R, d, N] × [R, N, M]) and score ([R, N, d] × [R, d, M]). Thin
    outputs (M = 5 columns): it streams E (R·N·d fp32 words, read twice) — memory-bound."""
    R, N = pt["R"], pt["N"]
    shapes = [s for d in pt["dims"] for s in ((R, d, N, M), (R, N, d, M))]
    flops = sum(2.0 * e * a * k * c for e, a, k, c in shapes)
    bytes_moved = sum(4.0 * 2 * R * N * d for d in pt["dims"])
    return limit_fields(step_s, flops, bytes_moved, bmm_time(shapes, min_time=0.05),
                        copy_bandwidth(4 * R * N * max(pt["dims"]))["copy_gbytes_per_s"])


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {tuple(POINTS)}, got {size!r}")
    pt = POINTS[size]
    rows, times = [], {}
    for prov in ("batched-streamed", "batched-naive", "per-trial-loop"):
        fn = setup(pt, prov)
        mem = peak_memory_per_instance(fn, pt["R"])             # doubles as warm-up
        t = time_fn(fn, min_time=0.0, warmup=0, max_reps=3)
        times[prov] = t["time_s"]
        rows.append({"benchmark": "associative_memory_scorer", "provider": prov, "config": pt, **t,
                     "models_steps_per_s": pt["R"] * len(pt["dims"]) / t["time_s"], **mem})
    for r in rows:
        r["speedup_vs_loop"] = times["per-trial-loop"] / r["time_s"]
        r["speedup_vs_baseline"] = times["batched-naive"] / r["time_s"]
    rows.append({"benchmark": "associative_memory_limit", "provider": "batched-streamed", "config": pt,
                 "time_s": times["batched-streamed"], **_limit(pt, times["batched-streamed"])})
    return rows


if __name__ == "__main__":
    import sys

    out = run(sys.argv[1] if len(sys.argv) > 1 else "full")
    for r in out:
        print({k: v for k, v in r.items() if k != "config"})
    print("written to", write_rows("associative_memory", out))
