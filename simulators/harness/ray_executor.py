"""Ray executor: each batch of a sweep is one Ray task; results stream back to the driver.

What is sent where:
- The driver (the process running `toyscale run`) expands the sweep, skips points already in its
  results store, and puts `(experiment, config, RunContext)` into the Ray object store once.
- Each pending batch (a group of instances that trains as ONE batched computation, at most
  `--max-instances-per-batch` points) becomes one Ray task carrying only its points (small dicts).
  The task requests `num_gpus` (CUDA runs) or `num_cpus` (CPU runs); on its worker it calls
  `run_batch` on the GPU Ray assigned to it and returns the metrics dicts (JSON-able, small).
- Results come back as tasks finish (`ray.wait`), and the driver alone writes them to its SQLite store,
  one transaction per batch, so the store's guarantees (no lost or half-written point, resume without
  recomputation) are those of the local executor.

Failures: a worker or node that dies is retried by Ray (`max_retries`); an exception raised by
`run_batch` is resubmitted by the driver (`exception_retries`). A batch that still fails is yielded with
`error=` set, and the runner stores the other batches and then raises naming the failed ones. If the
driver itself is interrupted, the tasks still in flight are cancelled.

`ray` is an optional dependency (`pip install 'toyscale[ray]'`), imported only when this executor is
constructed.
"""
from __future__ import annotations

import dataclasses
import socket
from typing import Any, Iterator, Sequence

import torch

from .env import device_name
from .executors import BatchResult, run_one_batch
from .registry import ConfigError, Experiment, RunContext

# torch-free checks shared with the CLI's preflight (refusals before any heavy import)
from .ray_preflight import CONNECT_TIMEOUT_S, INSTALL_HINT, RayNotInstalledError, check_reachable  # noqa: F401


def import_ray():
    """Import ray lazily; a missing ray is a clear error naming the extra to install."""
    try:
        import ray
    except ImportError as e:
        raise RayNotInstalledError(f"executor 'ray' needs the optional dependency ray, which is not "
                                   f"installed here ({e}); install it with: {INSTALL_HINT}") from None
    return ray


def _run_batch_task(payload, points: list[dict]) -> tuple[list[dict], float, str]:
    """Body of one Ray task (runs on a worker): simulate `points` and return (metrics, wall_s, where).

    Ray sets CUDA_VISIBLE_DEVICES to the GPU(s) granted to the task, so the driver's `cuda:N` becomes
    the worker's first visible device."""
    exp, cfg, ctx = payload
    if ctx.device.type == "cuda":
        ctx = dataclasses.replace(ctx, device=torch.device("cuda", 0))
    metrics, wall = run_one_batch(exp, cfg, points, ctx)
    return metrics, wall, f"{device_name(ctx.device)} @ {socket.gethostname()}"


class RayExecutor:
    """Run each batch as a Ray task and yield `BatchResult`s as tasks finish (any order).

    Args:
        address: Ray cluster to join ("auto", "ray://host:10001", "host:6379"); None: the cluster named
            by RAY_ADDRESS or a running local one, else a new local instance. Ignored when this process
            already called `ray.init`.
        gpus_per_task: GPUs requested per batch on CUDA runs (default 1; fractions share a GPU).
        cpus_per_task: CPUs requested per batch (default 1).
        max_retries: Ray retries of a batch whose worker or node died.
        exception_retries: driver resubmissions of a batch whose `run_batch` raised.
        max_in_flight: tasks submitted ahead of the results (bounds driver and object-store memory).
        init_kwargs: extra `ray.init` arguments when this executor starts or joins Ray.
    """

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_task: float | None = None,
                 cpus_per_task: float | None = None, max_retries: int = 3, exception_retries: int = 1,
                 max_in_flight: int = 1000, init_kwargs: dict | None = None):
        for field, v in (("gpus_per_task", gpus_per_task), ("cpus_per_task", cpus_per_task)):
            if v is not None and not v > 0:
                raise ConfigError(f"{field} must be > 0, got {v}")
        for field, v, lo in (("max_retries", max_retries, 0), ("exception_retries", exception_retries, 0),
                             ("max_in_flight", max_in_flight, 1)):
            if not (isinstance(v, int) and v >= lo):
                raise ConfigError(f"{field} must be an integer >= {lo}, got {v!r}")
        self.address, self.gpus_per_task, self.cpus_per_task = address, gpus_per_task, cpus_per_task
        self.max_retries, self.exception_retries, self.max_in_flight = max_retries, exception_retries, max_in_flight
        self.init_kwargs = dict(init_kwargs or {})
        check_reachable(address)
        self._ray = import_ray()

    def resources(self, ctx: RunContext) -> dict:
        """Ray resource request of one batch: a GPU per task on CUDA runs, CPUs only on CPU runs."""
        if ctx.device.type == "cuda":
            return {"num_gpus": self.gpus_per_task or 1, "num_cpus": self.cpus_per_task or 1}
        if self.gpus_per_task is not None:
            raise ConfigError(f"gpus_per_task={self.gpus_per_task} needs a CUDA run; this one runs on "
                              f"{ctx.device} (pass --device cuda, or drop --gpus-per-task)")
        return {"num_gpus": 0, "num_cpus": self.cpus_per_task or 1}

    def _ensure_init(self) -> None:
        ray = self._ray
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_kwargs)

    def map_batches(self, exp: Experiment, cfg: Any, batches: Sequence[Sequence[dict]],
                    ctx: RunContext) -> Iterator[BatchResult]:
        ray = self._ray
        opts = self.resources(ctx)
        if not batches:
            return
        self._ensure_init()
        # retry_exceptions=False: Ray's retries are for worker death only; exceptions are resubmitted below.
        task = ray.remote(_run_batch_task).options(max_retries=self.max_retries, retry_exceptions=False, **opts)
        payload = ray.put((exp, cfg, ctx))        # sent once, shared by every task
        todo = [(i, 0) for i in range(len(batches) - 1, -1, -1)]   # stack of (batch index, attempt)
        in_flight: dict[Any, tuple[int, int]] = {}
        try:
            while todo or in_flight:
                while todo and len(in_flight) < self.max_in_flight:
                    i, attempt = todo.pop()
                    in_flight[task.remote(payload, list(batches[i]))] = (i, attempt)
                (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                i, attempt = in_flight.pop(ref)
                try:
                    metrics, wall, where = ray.get(ref)
                except ray.exceptions.RayTaskError as e:       # run_batch raised
                    if attempt < self.exception_retries:
                        todo.append((i, attempt + 1))
                        continue
                    cause = getattr(e, "cause", None) or e
                    yield BatchResult(i, None, 0.0, error=f"{type(cause).__name__}: {_first_line(cause)} "
                                                          f"(raised on {attempt + 1} attempt(s))")
                    continue
                except ray.exceptions.RayError as e:           # worker/node died beyond max_retries, OOM, ...
                    yield BatchResult(i, None, 0.0, error=f"{type(e).__name__}: {_first_line(e)} "
                                                          f"(Ray gave up after max_retries={self.max_retries})")
                    continue
                yield BatchResult(i, metrics, wall, device=where)
        finally:
            for ref in in_flight:     # driver interrupted (or the consumer stopped): do not leave work running
                ray.cancel(ref)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else repr(e)
