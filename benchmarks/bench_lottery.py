"""Lottery-ticket sweep: the batched trainer vs the per-network loop a researcher would write.

Same work for every provider: `steps` full-batch Adam steps (cosine lr, P = 128 grid points) of every
(width, seed) net of the sweep; "full" = widths 8…1024 × 64 seeds = 512 nets (the lottery.silu widths).
Providers:
  python-loop             one nn.Sequential(Linear(1, N), SiLU, Linear(N, 1)) + torch.optim.Adam per net
  batched-autograd        TwoLayerNets buckets (kernels.bmm_epilogue) + autograd + one torch Adam
  batched-fused           hand-written gradient + Adam, eager
  batched-fused-compiled  the same under torch.compile (what lottery.* runs at default scale)
Rows: time per step of the whole sweep, net-steps/s, and the ratio python-loop / provider.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from benchmarks._common import time_fn, write_rows
from simulators.lottery.config import LotteryConfig
from simulators.lottery.model import build_nets, grids, lr_factor, train_adam

SIZES = {
    "tiny": dict(widths=(4, 16), seeds=4, steps=3),
    "full": dict(widths=(8, 16, 32, 64, 128, 256, 512, 1024), seeds=64, steps=10),
}


def _loop_trainer(cfg: LotteryConfig, data, dtype):
    """What the paper's code would do: a list of independent nn.Modules, each with its own optimiser."""
    models, opts = [], []
    for n in cfg.widths:
        for s in range(cfg.seeds):
            torch.manual_seed(1000 * n + s)
            m = nn.Sequential(nn.Linear(1, n), nn.SiLU(), nn.Linear(n, 1)).to(dtype)
            models.append(m)
            opts.append(torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2)))
    x, y = data["x_train"][:, None], data["y_train"][:, None]

    def run():
        for step in range(cfg.steps):
            lr = cfg.lr * lr_factor(step, cfg.steps, cfg.warmup_steps, cfg.schedule)
            for m, o in zip(models, opts):
                for g in o.param_groups:
                    g["lr"] = lr
                o.zero_grad(set_to_none=True)
                ((m(x) - y) ** 2).mean().backward()
                o.step()
    return run


def _batched_trainer(cfg: LotteryConfig, data, dtype, engine, use_compile):
    pts = [{"width": n, "seed": s} for n in cfg.widths for s in range(cfg.seeds)]

    def run():
        nets = build_nets(cfg, pts, dtype=dtype, device=data["x_train"].device)
        train_adam(nets, cfg, data, engine=engine, use_compile=use_compile)
    return run


def run(size: str = "full") -> list[dict]:
    if size not in SIZES:
        raise ValueError(f"size must be one of {tuple(SIZES)}, got {size!r}")
    torch.manual_seed(0)
    cfg = LotteryConfig(**SIZES[size], n_checkpoints=1, n_test=128)
    dtype = torch.float32
    data = grids(cfg, dtype=dtype)
    n_nets = len(cfg.widths) * cfg.seeds
    providers = {"python-loop": _loop_trainer(cfg, data, dtype),
                 "batched-autograd": _batched_trainer(cfg, data, dtype, "autograd", False),
                 "batched-fused": _batched_trainer(cfg, data, dtype, "fused", False)}
    if size == "full":   # compiling costs 10–30 s once; "tiny" runs in the test suite and skips it
        providers["batched-fused-compiled"] = _batched_trainer(cfg, data, dtype, "fused", True)
    rows = []
    for name, fn in providers.items():
        t = time_fn(fn, min_time=0.5 if size == "full" else 0.0, warmup=1, max_reps=5 if size == "full" else 1)
        per_step = t["time_s"] / cfg.steps
        rows.append({"benchmark": "lottery", "provider": name,
                     "config": {**dataclasses.asdict(cfg), "n_nets": n_nets, "dtype": "float32",
                                "threads": torch.get_num_threads()},
                     "time_s": per_step, "time_q20_s": t["time_q20_s"] / cfg.steps,
                     "time_q80_s": t["time_q80_s"] / cfg.steps, "net_steps_per_s": n_nets / per_step})
    loop = rows[0]["time_s"]
    for r in rows:
        r["speedup_vs_loop"] = loop / r["time_s"]
    return rows


if __name__ == "__main__":
    import sys

    rows = run(sys.argv[1] if len(sys.argv) > 1 else "full")
    for r in rows:
        print(f"{r['provider']:24s} {1e3 * r['time_s']:9.2f} ms/step  {r['net_steps_per_s']:10.0f} net-steps/s  "
              f"x{r['speedup_vs_loop']:.1f} vs loop")
    print("appended to", write_rows("lottery", rows))
