"""Ray executor overhead: the same synthetic.power_law sweep through `local` and `ray`, per batch.

The sweep's batches do almost no work (microseconds each), so the time of the `ray` provider is its
overhead: one `ray.put` of (experiment, config, context), one task submission, scheduling, and the
result's return per batch. Rows report the executor layer alone (the results store is the same for both)
and `overhead_per_batch_s = (t_ray - t_local) / n_batches`. Starting Ray is a one-off cost, reported in
its own row (`ray_init_s`). On this 2-core shared machine the numbers are inflated by contention.
"""
from __future__ import annotations

import os
import time

import torch

from simulators.harness.executors import LocalExecutor
from simulators.harness.registry import RunContext, get_experiment
from simulators.harness.runner import split_batches

from ._common import time_fn, write_rows

# (scale, max instances per batch): the smoke sweep is 4 seeds x 8 sizes, default 16 x 16.
POINTS = {"tiny": [("smoke", 4)], "full": [("smoke", 8), ("default", 16), ("default", 4), ("default", 1)]}


def batches_of(scale: str, max_instances: int):
    exp = get_experiment("synthetic.power_law")
    cfg = exp.config(scale)
    keyed = [[("", p) for p in b] for b in exp.plan(cfg)]
    return exp, cfg, [[p for _, p in b] for b in split_batches(keyed, max_instances)]


def _start_ray():
    """A running Ray (this process's, or a new local loopback-only one). Returns (ray, started, init_s)."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # local node on 127.0.0.1
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        return ray, False, None
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=100 * 2**20)
    return ray, True, time.perf_counter() - t0


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {list(POINTS)}, got {size!r}")
    ctx = RunContext(device=torch.device("cpu"), dtype=torch.float32, backend="reference")
    min_time = 0.2 if size == "tiny" else 2.0
    try:
        from simulators.harness.ray_executor import RayExecutor

        ray, started, init_s = _start_ray()
    except ImportError as e:                      # RayNotInstalledError is an ImportError
        ray, started, init_s, missing = None, False, None, str(e)
    rows = []
    if init_s is not None:
        rows.append({"benchmark": "ray_executor", "provider": "ray", "config": {"what": "ray.init local, num_cpus=2"},
                     "ray_init_s": init_s, "status": "ok"})
    try:
        for scale, max_inst in POINTS[size]:
            exp, cfg, batches = batches_of(scale, max_inst)
            n_b, n_p = len(batches), sum(len(b) for b in batches)
            conf = {"experiment": exp.name, "scale": scale, "max_instances_per_batch": max_inst,
                    "n_batches": n_b, "n_points": n_p}
            t_local = time_fn(lambda: list(LocalExecutor().map_batches(exp, cfg, batches, ctx)), min_time=min_time)
            rows.append({"benchmark": "ray_executor", "provider": "local", "config": conf, **t_local,
                         "batches_per_s": n_b / t_local["time_s"], "status": "ok"})
            if ray is None:
                rows.append({"benchmark": "ray_executor", "provider": "ray", "config": conf, "status": missing})
                continue
            ex = RayExecutor()
            t_ray = time_fn(lambda: list(ex.map_batches(exp, cfg, batches, ctx)), min_time=min_time)
            rows.append({"benchmark": "ray_executor", "provider": "ray", "config": conf, **t_ray,
                         "batches_per_s": n_b / t_ray["time_s"],
                         "overhead_per_batch_s": (t_ray["time_s"] - t_local["time_s"]) / n_b, "status": "ok"})
    finally:
        if started:
            ray.shutdown()
    return rows


if __name__ == "__main__":
    rows = run()
    for r in rows:
        print(r)
    print(write_rows("ray_executor", rows))
