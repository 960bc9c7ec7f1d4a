"""`toyscale reproduce --jobs J`: run whole experiments in J worker processes at once.

Why processes, not threads: the CPU experiments are chains of small batched ops, for which torch's intra-op
threads buy little (and on a busy machine OpenMP spin-waiting costs much more), while two experiments in two
processes use two cores fully. Each worker runs `runner.run_experiment` exactly as the serial loop does, into the
experiment's own run directory, with its torch thread count fixed to `threads`; the thread count is recorded with
the run (`runner`), so the stored numbers are the same as a serial `reproduce --threads <threads>` and a resume
with another count is refused. Experiments never share a store, so they cannot interfere.

Scheduling: longest first (LPT), from `COST_HINT` (default-scale seconds measured on the 2-core CPU, 2026-12-01;
experiments without a hint are taken as 10 s). The order only changes the wall time, never a result.

Interruption: workers ignore SIGINT; on Ctrl-C the parent terminates them (the store commits one transaction per
finished batch, so a killed batch simply is not stored -- the same guarantee as a SIGKILL) and the caller prints
the resume line.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

# default-scale simulation seconds of one experiment (2-core CPU, one thread, session 3's reproduce)
COST_HINT = {
    "superposition.strong": 165, "superposition.weak": 127, "plrf.phases": 165, "lottery.recipe": 57,
    "lottery.silu": 35, "superposition.phase": 30, "memory.learned": 27, "plrf.loss_curves": 18,
    "lottery.relu": 18, "pruning.frontier": 17, "lottery.histogram": 15, "rf.four_regimes": 14,
    "pruning.keep_hard_vs_easy": 14, "pruning.metric_angle": 13, "rf.mrs_grid": 13, "rf.variance_limited": 12,
    "rf.data_limited": 11, "memory.dim": 11, "memory.data": 10, "rf.width_gap": 24, "rf.data_reuse": 13,
}
DEFAULT_COST = 10.0


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_jobs(device: str | None, executor: str, n_experiments: int) -> int:
    """Worker processes when --jobs is not given: one per CPU (at most 4) for CPU runs with the local executor;
    1 on a GPU (experiments would share one device) or with Ray (Ray already spreads batches)."""
    if executor != "local":
        return 1
    if device == "cpu" or (device in (None, "auto") and not _cuda_visible()):
        return max(1, min(4, cpu_count(), n_experiments))
    return 1


def _cuda_visible() -> bool:
    """Whether `--device auto` would pick CUDA, answered without importing torch when no NVIDIA device file
    exists (the common CPU case)."""
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        return False
    import torch

    return torch.cuda.is_available()


def lpt_order(names: Sequence[str]) -> list[str]:
    """Longest (hinted) first; ties keep the given order."""
    return sorted(names, key=lambda n: -COST_HINT.get(n, DEFAULT_COST))


_TERMINATED = False


def _exit_on_term(signum, frame):
    """SIGTERM in a worker (how the parent stops it, or the parent's death via PR_SET_PDEATHSIG): unwind the
    running experiment (an open store transaction rolls back) and exit cleanly; jobs queued before the stop are
    skipped (`_run_one`)."""
    global _TERMINATED
    _TERMINATED = True
    raise SystemExit(128 + signum)


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the parent dies (even by SIGKILL), so no orphan keeps computing."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)      # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _init_worker(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)         # the parent decides what an interrupt means
    signal.signal(signal.SIGTERM, _exit_on_term)
    _die_with_parent()
    import torch

    torch.set_num_threads(threads)


def _run_one(job: tuple[str, dict[str, Any]]) -> tuple[str, dict]:
    from .runner import run_experiment

    if _TERMINATED:
        raise SystemExit(143)
    name, kw = job
    res = run_experiment(name, **kw)
    return name, res.report


def run_parallel(names: Sequence[str], kwargs_for: Callable[[str], dict[str, Any]], jobs: int, threads: int,
                 on_done: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Run every experiment in `names` with `run_experiment(name, **kwargs_for(name))` in `jobs` spawned worker
    processes (torch threads per worker: `threads`), longest first. Returns name -> report. A worker's exception
    (or a worker killed, e.g. by the OOM killer: BrokenProcessPool) is re-raised here after every worker is
    stopped; so is KeyboardInterrupt."""
    ctx = mp.get_context("spawn")           # fork after torch has started its thread pools can deadlock
    reports: dict[str, dict] = {}
    restore = None
    if threading.current_thread() is threading.main_thread():   # SIGTERM to the parent stops like Ctrl-C
        restore = signal.signal(signal.SIGTERM, _raise_interrupt)
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker, initargs=(threads,))
    try:
        futures = [pool.submit(_run_one, (n, kwargs_for(n))) for n in lpt_order(names)]
        for fut in cf.as_completed(futures):
            name, report = fut.result()
            reports[name] = report
            if on_done is not None:
                on_done(name)
    except BaseException:
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:                      # stop running experiments now (a batch in flight is not stored)
            p.terminate()                    # SIGTERM -> SystemExit in the worker (`_exit_on_term`)
        for p in procs:
            p.join(timeout=10)
        pool.shutdown(wait=True)             # let the executor release its queues (else: "leaked semaphore")
        raise
    finally:
        if restore is not None:
            signal.signal(signal.SIGTERM, restore)
    pool.shutdown(wait=True)
    return reports


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
