"""Superposition sweep: the batched trainer vs the per-model loop of the paper's code vs an einsum baseline.

Same work for every provider: the sweep m in widths × γ in gammas × seeds (power law a = 1.2), `steps`
AdamW steps (warm-up + cosine schedule, per-width lr, the row-norm / weight-decay rule) at batch B over n
features. At "full" this is issue 8's workload: n = 1000, m ∈ {10, 15, 25, 39, 63, 100}, γ ∈ {−1, 0.1},
3 seeds (36 models), batch 2048.

- "python-loop": one model at a time (as the authors' script trains), dense data per model per step
  (x = Bernoulli(p)·U(0, 2) drawn as a [B, n] tensor), autograd, `torch.optim.AdamW(weight_decay=0)` plus
  the decay rule, the loss read back (`.item()`) every step.
- "einsum-buckets": the same-shape baseline a user writes in an afternoon (the TMS notebook's
  `n_instances` axis): per width, W [E_m, n, m] stacked over γ × seeds, dense data per seed shared by the
  instances of that seed, autograd through einsum, one `torch.optim.AdamW` with a param group per width.
- "batched-<backend>": `simulators.superposition.train`: sparse exact sampling shared per seed, fused
  hand-written gradients, width groups, `kernels.bmm_epilogue`; the dense products run over the samples
  with an active feature only (the rest in closed form, exactly), in chunks of <= 8 MiB on CPU.

All three start from the same initial parameters (Philox-keyed (seed, ROLE_INIT, m), as
`BatchedModel`); `loop_train(..., data="shared")` feeds the loop the batched trainer's own samples, which
`tests/test_benchmark_equivalence.py` uses to check that the comparison is of equal work.
Rows: the sweep ("superposition_sweep"), the hot step's fraction of the machine's limit ("..._limit"),
and cost growth vs instances R and width m ("..._growth_R", "..._growth_m").
Run: `python -m benchmarks.bench_superposition [tiny|full]`.
"""
from __future__ import annotations

import torch

from benchmarks._common import (bmm_time, copy_bandwidth, limit_fields, peak_memory_per_instance, time_fn,
                                write_rows)
from simulators.superposition import TrainSpec, theory, train
from simulators.superposition.model import (NORM_EPS, BatchedModel, chunk_plan, compact_rows, default_chunk_bytes,
                                            group_instances, learning_rates, lr_factor, stream_plan)
from simulators.superposition.sampler import draw_active

LAW = "power:1.2"
POINTS = {
    "tiny": dict(n=48, batch=32, widths=(4, 8), gammas=(-1.0, 0.1), seeds=2, steps=2),
    "full": dict(n=1000, batch=2048, widths=(10, 15, 25, 39, 63, 100), gammas=(-1.0, 0.1), seeds=3, steps=4),
}
GROWTH = {  # time per step vs instances R (fixed m) and vs width m (fixed R)
    "tiny": dict(n=32, batch=32, m=4, R=(1, 4), widths=(4, 8), R_m=4, steps=2),
    "full": dict(n=128, batch=128, m=8, R=(1, 4, 16, 64, 256, 1024), widths=(8, 16, 32, 64, 100), R_m=36, steps=3),
}


def instances(pt) -> list[dict]:
    return [dict(m=m, gamma=g, law=LAW, seed=s) for m in pt["widths"] for g in pt["gammas"] for s in range(pt["seeds"])]


def _init(inst, n, device, dtype=torch.float32):
    """The batched trainer's init of one instance: W [n, m], b [n] (BatchedModel's Philox draw, keyed (seed, m))."""
    mod = BatchedModel([inst], TrainSpec(n=n, batch=1, steps=1), device, torch.float64)
    return mod.W[0].to(device, dtype), mod.b[0].to(device, dtype)


def _decay_(W, lr, gamma):
    """The trainer's decoupled decay on W (rows = features): γ >= 0 multiplicative, γ < 0 row norm -> 1."""
    with torch.no_grad():
        if gamma >= 0:
            W.mul_(1 - lr * gamma)
        else:
            norm = W.norm(dim=-1, keepdim=True) + NORM_EPS
            W.add_(lr * gamma * (1 - 1 / norm) * W)


def loop_train(pt, device, data: str = "dense", final_window: int = 0) -> list[float]:
    """The per-model loop. data="dense": own torch.rand stream per model (the paper's code); "shared": the
    batched trainer's exact samples for the model's (seed, law) stream. Returns the mean loss of each
    model over its last `final_window` steps (default: the trainer's rule max(100, steps // 20), capped)."""
    n, B, steps = pt["n"], pt["batch"], pt["steps"]
    p = torch.tensor(theory.frequencies(n, LAW), dtype=torch.float32, device=device)
    fw = min(final_window or max(100, steps // 20), steps)
    out = []
    for inst in instances(pt):
        W, b = (t.requires_grad_() for t in _init(inst, n, device))
        lr_w, lr_b = learning_rates(inst["m"], pt.get("lr", "large_run"))
        opt = torch.optim.AdamW([{"params": [W], "lr": lr_w}, {"params": [b], "lr": lr_b}], weight_decay=0.0)
        _, plan = stream_plan([inst], TrainSpec(n=n, batch=B, steps=steps), device)
        acc = 0.0
        for step in range(steps):
            mult = lr_factor(step, steps)
            for grp, lr in zip(opt.param_groups, (lr_w, lr_b)):
                grp["lr"] = lr * mult
            if data == "dense":
                x = (torch.rand(B, n, device=device) < p).float() * torch.rand(B, n, device=device) * 2
            else:
                x = draw_active(plan, step).dense(1, B, n)[0]
            loss = ((torch.relu(x @ W @ W.T + b) - x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            _decay_(W, lr_w * mult, inst["gamma"])
            opt.step()
            li = loss.item()                      # the host sync every step, as the paper's code does
            if step >= steps - fw:
                acc += li
        out.append(acc / fw)
    return out


def einsum_train(pt, device) -> list[float]:
    """The n_instances-einsum baseline (see module docstring). Returns per-instance final-window loss."""
    n, B, steps = pt["n"], pt["batch"], pt["steps"]
    p = torch.tensor(theory.frequencies(n, LAW), dtype=torch.float32, device=device)
    insts = instances(pt)
    fw = min(max(100, steps // 20), steps)
    groups, params = [], []
    for m in pt["widths"]:
        idx = [e for e, i in enumerate(insts) if i["m"] == m]
        Wb = [_init(insts[e], n, device) for e in idx]
        W = torch.stack([w for w, _ in Wb]).requires_grad_()                       # [E_m, n, m]
        b = torch.stack([bb for _, bb in Wb]).requires_grad_()                     # [E_m, n]
        seed_of = torch.tensor([insts[e]["seed"] for e in idx], device=device)
        gam = torch.tensor([insts[e]["gamma"] for e in idx], device=device)[:, None, None]
        groups.append((idx, W, b, seed_of, gam, learning_rates(m, pt.get("lr", "large_run"))))
        params += [{"params": [W], "lr": groups[-1][-1][0]}, {"params": [b], "lr": groups[-1][-1][1]}]
    opt = torch.optim.AdamW(params, weight_decay=0.0)
    acc = torch.zeros(len(insts), device=device)
    for step in range(steps):
        mult = lr_factor(step, steps)
        x = (torch.rand(pt["seeds"], B, n, device=device) < p).float() * torch.rand(pt["seeds"], B, n, device=device) * 2
        loss_tot = 0.0
        for k, (idx, W, b, seed_of, gam, (lr_w, lr_b)) in enumerate(groups):
            opt.param_groups[2 * k]["lr"], opt.param_groups[2 * k + 1]["lr"] = lr_w * mult, lr_b * mult
            xe = x[seed_of]                                                       # [E_m, B, n]
            h = torch.einsum("ebn,enm->ebm", xe, W)
            y = torch.relu(torch.einsum("ebm,enm->ebn", h, W) + b[:, None, :])
            le = ((y - xe) ** 2).mean((1, 2))                                      # [E_m]
            loss_tot = loss_tot + le.sum()
            if step >= steps - fw:
                acc[idx] += le.detach()
        opt.zero_grad()
        loss_tot.backward()
        with torch.no_grad():
            for idx, W, b, seed_of, gam, (lr_w, _) in groups:
                norm = W.norm(dim=-1, keepdim=True) + NORM_EPS
                W.mul_(1 + lr_w * mult * torch.where(gam >= 0, -gam, gam * (1 - 1 / norm)))
        opt.step()
    return (acc / fw).tolist()


def batched_train(pt, device, backend=None) -> list[float]:
    spec = TrainSpec(n=pt["n"], batch=pt["batch"], steps=pt["steps"], lr=pt.get("lr", "large_run"))
    return train(instances(pt), spec, device=device, backend=backend)[2].tolist()


def _compact_rows(pt, device) -> dict[int, int]:
    """Mean dense rows per instance (B_c) of each width group over the timed run's steps, as the trainer
    computes them: its own samples (regenerated at the same step counters), compacted to the samples
    with an active feature and split as `chunk_plan` splits them (reference backend)."""
    insts, n, B = instances(pt), pt["n"], pt["batch"]
    sidx, splan = stream_plan(insts, TrainSpec(n=n, batch=B, steps=pt["steps"]))
    groups = group_instances(insts, "by_m")
    tot = [0] * len(groups)
    for step in range(pt["steps"]):
        x = draw_active(splan, step)
        n_active = compact_rows(x, splan.n_streams, B)[1]
        for k, g in enumerate(groups):
            plan = chunk_plan(n_active[[sidx[e] for e in g]].tolist(), n, B, 4, 1, default_chunk_bytes(device))
            tot[k] += sum((j - i) * rows for i, j, rows in plan)
    return {int(insts[g[0]]["m"]): round(t / (pt["steps"] * len(g))) for t, g in zip(tot, groups)}


def _step_shapes(pt, device) -> list[tuple[int, int, int, int]]:
    """The batched step's three dense bmms per width group over its B_c compacted rows (`_compact_rows`):
    y = h Wᵀ, rᵀh (as hᵀr), (rW)ᵀ (as Wᵀrᵀ)."""
    Eg, n = len(pt["gammas"]) * pt["seeds"], pt["n"]
    rows = _compact_rows(pt, device)
    return [s for m in pt["widths"] for s in ((Eg, rows[m], m, n), (Eg, m, rows[m], n), (Eg, m, n, rows[m]))]


def _limit_row(pt, step_s, device) -> dict:
    """Fraction of the limit of one batched step. FLOPs: the three products over the compacted rows B_c
    that the step actually multiplies (samples with an active feature, ~65% of B at Σp = 1), not over B;
    the limit is `torch.bmm` at those shapes, one call per width group (the step issues one per chunk).
    Bytes: the dense output y [E, B_c, n] fp32 is written by the bmm epilogue, read by the norm, the
    bias-gradient sum and the two gradient bmms (5 passes; an upper bound on memory traffic, since a chunk's
    y of <= 8 MiB can stay in cache between passes), W [E, n, m] is read three times and written once by
    AdamW (with 4 moment reads/writes): ~5·E·B_c·n + 8·E·n·m words."""
    shapes = _step_shapes(pt, device)
    flops = sum(2.0 * e * a * k * c for e, a, k, c in shapes)
    ybytes = sum(4.0 * e * a * c for e, a, k, c in shapes[::3])                      # y [E_g, B_c, n] per group
    nm = sum(len(pt["gammas"]) * pt["seeds"] * pt["n"] * m for m in pt["widths"])
    bytes_moved = 5 * ybytes + 4.0 * 8 * nm
    peak_s = bmm_time(shapes, device=device, min_time=0.05 if pt["n"] < 100 else 0.2)
    return limit_fields(step_s, flops, bytes_moved, peak_s, copy_bandwidth(int(ybytes), device=device)["copy_gbytes_per_s"])


def _growth_rows(size, device) -> list[dict]:
    g = GROWTH[size]
    rows = []
    base = dict(n=g["n"], batch=g["batch"], gammas=(-1.0,), steps=g["steps"])
    sweeps = [("R", R, dict(base, widths=(g["m"],), seeds=R)) for R in g["R"]]
    sweeps += [("m", m, dict(base, widths=(m,), seeds=g["R_m"])) for m in g["widths"]]
    for axis, val, pt in sweeps:
        t = time_fn(lambda: batched_train(pt, device), min_time=0.0, warmup=1, max_reps=3)
        per = t["time_s"] / pt["steps"]
        R = pt["seeds"]
        rows.append({"benchmark": f"superposition_growth_{axis}", "provider": "batched-reference",
                     "config": {**pt, "R": R, "m": pt["widths"][0]}, **t, "time_per_step_s": per,
                     "models_steps_per_s": R / per, "time_per_instance_step_s": per / R,
                     **peak_memory_per_instance(lambda: batched_train(dict(pt, steps=1), device), R, device)})
    return rows


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {tuple(POINTS)}, got {size!r}")
    pt = POINTS[size]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    old = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)   # small ops on a shared 2-core box: 2 threads thrash (see experiments.py)
    try:
        growth = _growth_rows(size, device)      # first: small to large, so CPU peak-RSS deltas mean something
        providers = {"batched-reference": lambda: batched_train(pt, device, "reference")}
        if device.type == "cuda":
            providers["batched-triton"] = lambda: batched_train(pt, device, "triton")
        providers.update({"einsum-buckets": lambda: einsum_train(pt, device), "python-loop": lambda: loop_train(pt, device)})
        n_models = len(instances(pt))
        mem = {k: peak_memory_per_instance(f, n_models, device) for k, f in providers.items()}  # also warms up
        times = {k: time_fn(f, min_time=0.0 if size == "tiny" else 2.0, warmup=0,
                            max_reps=3 if size == "tiny" else 5) for k, f in providers.items()}
        lim = _limit_row(pt, times["batched-reference"]["time_s"] / pt["steps"], device)
    finally:
        torch.set_num_threads(old)
    rows = []
    for k, t in times.items():
        per_step = t["time_s"] / pt["steps"]
        rows.append({"benchmark": "superposition_sweep", "provider": k, "config": dict(pt, n_models=n_models),
                     **t, "time_per_sweep_step_s": per_step, "models_steps_per_s": n_models / per_step,
                     "speedup_vs_loop": times["python-loop"]["time_s"] / t["time_s"],
                     "speedup_vs_baseline": times["einsum-buckets"]["time_s"] / t["time_s"], **mem[k],
                     "threads": 1 if device.type == "cpu" else None})
    rows.append({"benchmark": "superposition_limit", "provider": "batched-reference",
                 "config": dict(pt, compact_rows=_compact_rows(pt, device)),
                 "time_s": times["batched-reference"]["time_s"] / pt["steps"], **lim})
    return rows + growth


if __name__ == "__main__":
    import sys

    out = run(sys.argv[1] if len(sys.argv) > 1 else "full")
    for r in out:
        print({k: v for k, v in r.items() if k != "config"})
    print(write_rows("bench_superposition", out))
