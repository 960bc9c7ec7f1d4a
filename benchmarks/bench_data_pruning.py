"""Data pruning: the batched exact max-margin solver vs a per-instance loop of the exact reference solver.

Workload ("full"): batches of the default `pruning.keep_hard_vs_easy` sweep — N = 200, 30 seeds × {keep-hard,
keep-easy} at f = 0.5, α_tot ∈ {2, 6.5} (P = 200 and 650 kept examples, 60 instances per batch), float64.
Providers (same Z, same answers: ε agrees to 1e-9, checked in every run):
- "batched-ipm": `model.max_margin` — all instances as one Mehrotra interior-point computation with the
  support-set polish and KKT check (the path the experiments run).
- "per-instance-nnls": `model.reference_max_margin` in a Python loop — scipy's Lawson–Hanson NNLS on the
  least-distance-programming form, one instance at a time (the test suite's exact reference).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from benchmarks._common import time_fn, write_rows
from simulators.data_pruning import model

POINTS = {"tiny": dict(N=30, seeds=3, f=0.5, alpha_tot=(2.0, 4.0)),
          "full": dict(N=200, seeds=30, f=0.5, alpha_tot=(2.0, 6.5))}


def _batch(pt, a):
    E = 2 * pt["seeds"]
    seeds = list(range(pt["seeds"])) * 2
    rules = ["hard"] * pt["seeds"] + ["easy"] * pt["seeds"]
    P_tot, P = model.kept_count(a, pt["f"], pt["N"])
    Z, T = model.build_examples(seeds, pt["N"], P_tot, P, rules, [0.0] * E)
    return Z, T, P


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {tuple(POINTS)}, got {size!r}")
    pt = POINTS[size]
    rows = []
    for a in pt["alpha_tot"]:
        Z, T, P = _batch(pt, a)
        E = Z.shape[0]
        cfg = {**pt, "alpha_tot": a, "P": P, "E": E}
        ipm = lambda: model.max_margin(Z)
        loop = lambda: [model.reference_max_margin(Z[e].numpy()) for e in range(E)]
        w, _, info = ipm()
        wr = np.stack(loop())
        R = (w * T).sum(1) / w.norm(dim=1)
        Rr = (torch.from_numpy(wr) * T).sum(1) / torch.from_numpy(wr).norm(dim=1)
        agree = float((torch.arccos(R.clamp(-1, 1)) - torch.arccos(Rr.clamp(-1, 1))).abs().max() / math.pi)
        if not (bool(info["converged"].all()) and agree < 1e-9):
            raise RuntimeError(f"solvers disagree at alpha_tot={a}: max |Δε| = {agree:.2e}")
        times = {}
        for prov, fn in (("batched-ipm", ipm), ("per-instance-nnls", loop)):
            t = time_fn(fn, min_time=0.0, warmup=0, max_reps=2 if size == "full" else 3)
            times[prov] = t["time_s"]
            rows.append({"benchmark": "data_pruning_max_margin", "provider": prov, "config": cfg, **t,
                         "instances_per_s": E / t["time_s"], "max_abs_eps_diff": agree,
                         "ipm_iterations": int(info["iterations"])})
        for r in rows[-2:]:
            r["speedup_vs_loop"] = times["per-instance-nnls"] / r["time_s"]
    return rows


if __name__ == "__main__":
    import sys

    out = run(sys.argv[1] if len(sys.argv) > 1 else "full")
    for r in out:
        print({k: v for k, v in r.items() if k != "config"}, r["config"])
    print("written to", write_rows("data_pruning", out))
