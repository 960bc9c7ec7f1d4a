"""Superposition sweep: the batched trainer vs the per-model loop the paper's code writes.

Same work for both providers: the sweep m in widths × seeds (γ = −1, power law a = 1.2) for `steps`
optimiser steps at batch B over n features.

- "python-loop": one model at a time (as the authors' script trains), dense data per model per step
  (x = Bernoulli(p)·U(0, 2) drawn as a [B, n] tensor), autograd, `torch.optim.AdamW(weight_decay=0)` plus
  the row-norm decay rule, and the loss read back (`.item()`) every step.
- "batched-<backend>": `simulators.superposition.train`: all models in one computation per step, sparse
  exact sampling shared per seed, fused hand-written gradients, width groups.

Reported: seconds per sweep-step, model-steps/s, and the ratio loop / batched (target >= 4× on CPU).
Run: `python -m benchmarks.bench_superposition` (appends to benchmarks/results/).
"""
from __future__ import annotations

import math
import time

import torch

from benchmarks._common import time_fn, write_rows
from simulators.superposition import TrainSpec, theory, train

POINTS = {
    "tiny": dict(n=32, batch=16, widths=(4, 8), seeds=2, steps=2),
    "full": dict(n=512, batch=256, widths=(4, 8, 16, 32, 64), seeds=3, steps=20),
}


def _instances(pt):
    return [dict(m=m, gamma=-1.0, law="power:1.2", seed=s) for m in pt["widths"] for s in range(pt["seeds"])]


def setup_loop(pt, device):
    """The per-model loop: returns a callable that trains every model of the sweep for `steps` steps."""
    n, B = pt["n"], pt["batch"]
    p = torch.tensor(theory.frequencies(n, "power:1.2"), dtype=torch.float32, device=device)

    def run():
        for inst in _instances(pt):
            m = inst["m"]
            g = torch.Generator(device="cpu").manual_seed(inst["seed"])
            W = (torch.randn(n, m, generator=g) / math.sqrt(m)).to(device).requires_grad_()
            b = torch.randn(n, generator=g).to(device).requires_grad_()
            lr_w, lr_b = 0.02 * (8 / m) ** 0.25, 2 / m
            opt = torch.optim.AdamW([{"params": [W], "lr": lr_w}, {"params": [b], "lr": lr_b}], weight_decay=0.0)
            for _ in range(pt["steps"]):
                x = (torch.rand(B, n, device=device) < p).float() * torch.rand(B, n, device=device) * 2
                y = torch.relu(x @ W @ W.T + b)
                loss = ((y - x) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                with torch.no_grad():
                    norm = W.norm(dim=1, keepdim=True).clamp_min(1e-30)
                    W.add_(lr_w * inst["gamma"] * (1 - 1 / norm) * W)
                opt.step()
                loss.item()
    return run


def setup_batched(pt, device, backend):
    spec = TrainSpec(n=pt["n"], batch=pt["batch"], steps=pt["steps"])
    insts = _instances(pt)
    return lambda: train(insts, spec, device=device, backend=backend)


def _cpu_time(fn, reps: int) -> float:
    """CPU seconds of this thread per call (wall time on the shared 2-core box is inflated ~3-4x by other
    processes; thread CPU time is not, so the ratio is reported both ways)."""
    t0 = time.thread_time()
    for _ in range(reps):
        fn()
    return (time.thread_time() - t0) / reps


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {tuple(POINTS)}, got {size!r}")
    pt = POINTS[size]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    old = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)   # small ops on a shared 2-core box: 2 threads thrash (see experiments.py)
    try:
        providers = {"python-loop": setup_loop(pt, device), "batched-reference": setup_batched(pt, device, "reference")}
        if device.type == "cuda":
            providers["batched-triton"] = setup_batched(pt, device, "triton")
        min_time = 0.0 if size == "tiny" else 3.0
        times = {k: time_fn(f, min_time=min_time, warmup=0 if size == "tiny" else 1, max_reps=3 if size == "tiny" else 20)
                 for k, f in providers.items()}
        cpu = {k: _cpu_time(f, reps=1 if size == "tiny" else 3) for k, f in providers.items()}
    finally:
        torch.set_num_threads(old)
    n_models = len(pt["widths"]) * pt["seeds"]
    rows = []
    for k, t in times.items():
        per_step = t["time_s"] / pt["steps"]
        rows.append({"benchmark": "superposition_sweep", "provider": k, "config": dict(pt, n_models=n_models),
                     **t, "time_per_sweep_step_s": per_step, "models_steps_per_s": n_models / per_step,
                     "speedup_vs_loop": times["python-loop"]["time_s"] / t["time_s"],
                     "cpu_time_s": cpu[k], "speedup_vs_loop_cpu": cpu["python-loop"] / cpu[k],
                     "threads": 1 if device.type == "cpu" else None})
    return rows


if __name__ == "__main__":
    out = run("full")
    for r in out:
        print(f"{r['provider']:>18}: {r['time_per_sweep_step_s'] * 1e3:8.1f} ms/sweep-step  "
              f"{r['models_steps_per_s']:8.0f} model-steps/s  speedup {r['speedup_vs_loop']:.2f}x (wall), "
              f"{r['speedup_vs_loop_cpu']:.2f}x (thread CPU time)")
    print(write_rows("bench_superposition", out))
