"""Executors: where a sweep's batches run. The driver (runner) alone writes the results store.

An executor maps `run_batch` over pending batches and yields `BatchResult`s as they finish (any order).
`LocalExecutor` runs them in-process, in order. A distributed executor (e.g. Ray) sends each batch as a
task and yields results as they stream back; a batch that fails for good is yielded with `error` set, so
the runner can report it instead of hanging.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch

from .registry import Experiment, RunContext


@dataclass
class BatchResult:
    index: int                               # position in the list of pending batches
    metrics: list[dict] | None               # one dict per point, or None on failure
    wall_s: float
    error: str | None = None                 # set when the batch failed for good
    device: str | None = None                # where it ran, if not the driver's device (remote executors)


def run_one_batch(exp: Experiment, cfg: Any, points: Sequence[dict], ctx: RunContext) -> tuple[list[dict], float]:
    """Run one batch and time it (synchronising CUDA so the time is the batch's own)."""
    t0 = time.perf_counter()
    metrics = exp.run_batch(cfg, list(points), ctx)
    if ctx.device.type == "cuda":
        torch.cuda.synchronize(ctx.device)
    wall = time.perf_counter() - t0
    if len(metrics) != len(points):
        raise RuntimeError(f"{exp.name}.run_batch returned {len(metrics)} results for {len(points)} points")
    return list(metrics), wall


class LocalExecutor:
    """In-process, in order. Exceptions propagate (an interrupted local run stops at once; finished
    batches are already stored)."""

    name = "local"

    def map_batches(self, exp: Experiment, cfg: Any, batches: Sequence[Sequence[dict]],
                    ctx: RunContext) -> Iterator[BatchResult]:
        for i, pts in enumerate(batches):
            metrics, wall = run_one_batch(exp, cfg, pts, ctx)
            yield BatchResult(i, metrics, wall)


def _ray_executor(**options):
    """Lazy factory: `ray` is an optional extra, imported only when this executor is asked for."""
    from .ray_executor import RayExecutor

    return RayExecutor(**options)


EXECUTORS = {"local": LocalExecutor, "ray": _ray_executor}


def get_executor(name: str | object | None, **options) -> Any:
    """Executor instance by name ("local" | registered others), or pass an instance through."""
    if name is None:
        return LocalExecutor()
    if not isinstance(name, str):
        return name
    if name not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(sorted(EXECUTORS))}, got {name!r}")
    return EXECUTORS[name](**options)
