"""Runner: experiment spec -> batches -> results store (resumable) -> analysis -> report.

`run_experiment` validates everything (experiment name, overrides, device, dtype, the sweep plan)
before any work, then runs only the points the store does not hold yet, one batch per batched
computation, writing each finished batch in one transaction. An interrupted run loses at most the
batch in flight; `resume=True` continues it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from kernels import resolve_backend

from .env import device_name, environment
from .executors import EXECUTORS, get_executor
from .registry import SCALES, Analysis, ConfigError, Experiment, Record, RunContext, get_experiment
from .report import build_report, write_report
from .._rng import RNG_VERSION
from .store import ResultStore, point_key

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class ExperimentResult:
    experiment: str
    scale: str
    config: Any
    report: dict
    analysis: Analysis
    records: list[Record]
    out_dir: Path
    computed: int = 0          # points simulated in this call
    reused: int = 0            # points found in the store
    figures: list[str] = field(default_factory=list)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """"auto" -> cuda if available else cpu. Raises ValueError for unknown or unusable devices."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda[:N], got {device!r}")
    if dev.type == "cpu" and dev.index not in (None, 0):
        raise ValueError(f"device must be auto, cpu or cuda[:N] (cpu takes no index), got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available here; allowed: auto, cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                         f"(cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
    if dev.type == "cpu":
        return torch.device("cpu")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, default: torch.dtype) -> torch.dtype:
    if dtype is None:
        return default
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return DTYPES[dtype]


@dataclass
class _Prepared:
    exp: Experiment
    cfg: Any
    device: torch.device
    dtype: torch.dtype
    backend: str
    batches: list[list[tuple[str, dict]]]   # (key, point)


def prepare(name: str, scale: str = "default", overrides: Mapping[str, Any] | None = None,
            device: str | torch.device | None = "auto", dtype: str | torch.dtype | None = None,
            backend: str | None = None) -> _Prepared:
    """Validate all inputs and expand the sweep; raises ConfigError (one clear line) before any work."""
    try:
        exp = get_experiment(name)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        cfg = exp.config(scale, overrides)
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, exp.default_dtype)
        be = resolve_backend(backend, dev)
        plan = exp.plan(cfg)
    except ConfigError:
        raise
    except (ValueError, TypeError, RuntimeError) as e:
        raise ConfigError(str(e)) from e
    batches = []
    for batch in plan:
        if not batch:
            continue
        batches.append([(point_key(name, cfg, p, dt), dict(p)) for p in batch])
    keys = [k for b in batches for k, _ in b]
    if len(set(keys)) != len(keys):
        raise RuntimeError(f"experiment {name}: plan() produced duplicate points")
    return _Prepared(exp, cfg, dev, dt, be, batches)


def run_experiment(name: str, scale: str = "default", overrides: Mapping[str, Any] | None = None,
                   out: str | Path | None = None, device: str | torch.device | None = "auto",
                   dtype: str | torch.dtype | None = None, resume: bool = False, progress: bool = False,
                   backend: str | None = None, report: bool = True, executor=None,
                   max_instances_per_batch: int | None = None, force_new: bool = False) -> ExperimentResult:
    """Run (or resume) an experiment, analyse it and write its report.

    Args:
        name: registered experiment name (`toyscale list`).
        scale: "smoke" | "default" | "paper".
        overrides: config field -> value (exactly the config's fields).
        out: run directory (default `runs/<name>-<scale>`); holds results.sqlite and the report.
        device: "auto" | "cpu" | "cuda[:N]"; dtype: "float32" | "float64" | None (experiment default).
        resume: continue a run whose directory already holds results (without it, such a directory is
            refused so that nothing is overwritten by accident).
        progress: show a tqdm progress bar (stderr).
        backend: kernels backend ("reference" | "triton" | None = auto).
        executor: "local" (default, in-process) or an executor instance / registered name (see executors.py).
        max_instances_per_batch: cut planned batches into chunks of at most this many points (None: on
            CUDA, the memory cap from the experiment's `instance_bytes` hook if it has one; else unchanged).
            The effective value (the auto cap included) is recorded with the run (with the torch thread
            count): float reductions over a batch can depend on its composition (issue 15.13: up to 3e-8
            relative in float32), so a resume with another value is refused rather than mixing numerics;
            when both the run and its resume chose the cap automatically, the resume keeps the recorded one
            (the free memory, hence the auto cap, may differ between them).
        force_new: accept a run dir that holds another experiment or another config (refused otherwise,
            naming what it holds); the stored points stay, `report` then covers each experiment's latest config.
    Returns:
        ExperimentResult with the report dict (report.json schema), analysis, records, counts.
    """
    prep = prepare(name, scale, overrides, device, dtype, backend)
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ConfigError(f"executor must be one of {', '.join(sorted(EXECUTORS))}, got {executor!r}")
    executor = get_executor(executor)  # before any work: e.g. "ray" without ray installed is a ConfigError
    split_batches([], max_instances_per_batch)  # validates the value
    requested = max_instances_per_batch
    if max_instances_per_batch is None:
        max_instances_per_batch = memory_cap(prep.exp, prep.cfg, prep.device)
    check_memory(prep, max_instances_per_batch)
    out_dir = Path(out) if out is not None else Path("runs") / f"{name}-{scale}"
    if str(out_dir).strip() == "":
        raise ConfigError("out must name a directory, got ''")
    with RunDirLock(out_dir), ResultStore(out_dir) as store:
        all_keys = [k for b in prep.batches for k, _ in b]
        have = store.existing_keys(all_keys)
        _refuse_other_rng(store, name, out_dir)
        if not force_new:
            _refuse_other_sweep(store, name, prep.cfg, out_dir)
        if have and not resume:
            raise ConfigError(f"{out_dir} already holds {len(have)} finished points of {name}; "
                             "pass --resume (resume=True) to continue, or choose another --out")
        before = store.get_meta(f"numerics:{name}")
        if (have and before is not None and requested is None and store.get_meta(f"auto_cap:{name}")
                and before.get("max_instances_per_batch") != max_instances_per_batch):
            # auto chunking both times (the CUDA memory cap follows the free memory of the moment): keep the cap
            # the stored points were computed with, if it still fits
            max_instances_per_batch = before.get("max_instances_per_batch")
            check_memory(prep, max_instances_per_batch)
        numerics = {"max_instances_per_batch": max_instances_per_batch, "threads": torch.get_num_threads()}
        if have and before is not None and before != numerics:
            raise ConfigError(f"{out_dir}: its points of {name} were computed with --max-instances-per-batch "
                              f"{before['max_instances_per_batch']} and {before['threads']} thread(s); resume with "
                              f"the same (asked: {numerics['max_instances_per_batch']}, {numerics['threads']} "
                              "thread(s)): batch composition and threads can change float results")
        store.set_meta(f"numerics:{name}", numerics)      # the effective cap: the auto one included
        store.set_meta(f"auto_cap:{name}", requested is None)
        store.set_run(name, scale, dict(overrides or {}), prep.cfg, prep.dtype, prep.device)
        computed, sim_s, failures = _run_pending(prep, store, have, progress, executor, max_instances_per_batch)
        records = store.records(all_keys)
    if failures:
        raise RuntimeError(f"{name}: {len(failures)} batch(es) failed for good (finished points are stored; "
                           "rerun with --resume):\n" + "\n".join(failures))
    result = _finish(prep, name, scale, records, out_dir, report,
                     timings={"simulate_s": sim_s, "points_computed": computed, "points_reused": len(have)})
    result.computed, result.reused = computed, len(have)
    return result


def _refuse_other_rng(store: ResultStore, name: str, out_dir: Path) -> None:
    """One clear line instead of mixing: a run dir whose points of `name` were drawn with other random
    streams (another `simulators._rng.RNG_VERSION`, or none recorded) is refused, with or without resume."""
    other = store.rng_versions(name) - {RNG_VERSION}
    if other:
        old = ", ".join(sorted(str(v) if v else "none recorded (pre-Philox streams)" for v in other))
        raise ConfigError(f"{out_dir} holds points of {name} drawn with other random streams (rng: {old}); this "
                          f"toyscale draws with {RNG_VERSION} and does not mix them: run into a new --out")


def _refuse_other_sweep(store: ResultStore, name: str, cfg: Any, out_dir: Path) -> None:
    """A run dir holds one sweep: another experiment, or this one with another config, is refused (naming
    what the directory holds) unless force_new; otherwise the first sweep's points would be orphaned."""
    from .store import _plain, canonical

    plain = _plain(cfg)
    for run in store.runs():
        if run["experiment"] != name:
            raise ConfigError(f"{out_dir} holds a run of {run['experiment']} ({run['scale']} scale), not {name}; "
                              "choose another --out, or pass --force-new to add this sweep beside it")
        if canonical(run["config"]) != canonical(cfg):
            diff = sorted(k for k in set(run["config"]) | set(plain)
                          if canonical(run["config"].get(k)) != canonical(plain.get(k)))
            raise ConfigError(f"{out_dir} holds a run of {name} with another config (differs in: "
                              f"{', '.join(diff)}); choose another --out, or pass --force-new")


class RunDirLock:
    """Exclusive lock on a run directory (`fcntl.flock` on DIR/.toyscale.lock, holding the owner's pid), so two
    processes never compute into one store; the second is refused with one line naming the holder's pid.
    Released when the process exits, even on SIGKILL."""

    NAME = ".toyscale.lock"

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir)
        self.fd: int | None = None

    def __enter__(self):
        import fcntl
        import os

        from .store import check_store_file

        check_store_file(self.dir / "results.sqlite")   # refuse an unreadable store before creating anything
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / self.NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ConfigError(f"{self.dir}: cannot be used as a run directory ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(f"{self.dir} is in use by another toyscale process (pid {holder}); wait for it to "
                              "finish or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc):
        import os

        if self.fd is not None:
            os.close(self.fd)   # closing drops the flock
            self.fd = None


def available_memory(device: torch.device) -> int | None:
    """Bytes a run may use on `device`: free CUDA memory, or MemAvailable from /proc/meminfo on CPU (None if unknown)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def check_memory(prep: "_Prepared", max_instances: int | None) -> None:
    """Refuse, before any work, a sweep whose largest batch would not fit: instance_bytes(cfg) × its instances
    against MEMORY_FRACTION of the available memory (experiments without the hook bound sizes in validation)."""
    if prep.exp.instance_bytes is None or not prep.batches:
        return
    per = int(prep.exp.instance_bytes(prep.cfg))
    biggest = max(len(b) for b in prep.batches)
    n = biggest if max_instances is None else min(biggest, max_instances)
    need = per * n
    avail = available_memory(prep.device)
    if avail is not None and need > MEMORY_FRACTION * avail:
        hint = ("lower the sizes or seeds" if n == 1 or per > MEMORY_FRACTION * avail else
                f"lower the sizes or seeds, or pass --max-instances-per-batch {max(1, int(MEMORY_FRACTION * avail) // max(per, 1))}")
        raise ConfigError(f"{prep.exp.name}: estimated peak memory {need / 2**30:.3g} GiB ({n} instance(s) x "
                          f"{per / 2**30:.3g} GiB) exceeds {MEMORY_FRACTION:.0%} of the {avail / 2**30:.3g} GiB "
                          f"available on {prep.device}; {hint}")


def split_batches(batches: list[list[tuple[str, dict]]], max_instances: int | None) -> list[list[tuple[str, dict]]]:
    """Cut every planned batch into chunks of at most `max_instances` points (None: unchanged).
    Instances are independent, so a chunk gives the same numbers as the whole batch."""
    if max_instances is None:
        return batches
    if max_instances < 1:
        raise ConfigError(f"max_instances_per_batch must be >= 1, got {max_instances}")
    return [b[i:i + max_instances] for b in batches for i in range(0, len(b), max_instances)]


MEMORY_FRACTION = 0.8   # of the free device memory a batch may plan to use (the rest: allocator slack, CUDA context)


def memory_cap(exp: Experiment, cfg: Any, device: torch.device) -> int | None:
    """Most instances per batch that fit MEMORY_FRACTION of the free memory of `device`, from the
    experiment's `instance_bytes(cfg)` hook; None (no cap) on CPU or without the hook. With a remote
    executor the driver's device stands for the workers' (same GPU model assumed)."""
    if device.type != "cuda" or exp.instance_bytes is None:
        return None
    per = int(exp.instance_bytes(cfg))
    if per < 1:
        raise RuntimeError(f"{exp.name}.instance_bytes returned {per}; expected bytes >= 1")
    free, _total = torch.cuda.mem_get_info(device)
    return max(1, int(MEMORY_FRACTION * free) // per)


def _run_pending(prep: _Prepared, store: ResultStore, have: set[str], progress: bool,
                 executor=None, max_instances: int | None = None) -> tuple[int, float, list[str]]:
    """Run the batches not yet stored; write each finished batch in one transaction as it arrives.
    Returns (points computed, summed batch wall time, failure messages of batches that failed for good)."""
    from tqdm.auto import tqdm

    total = sum(len(b) for b in prep.batches)
    ctx = RunContext(device=prep.device, dtype=prep.dtype, backend=prep.backend)
    env = environment(prep.device)
    pending = [[(k, p) for k, p in b if k not in have] for b in split_batches(prep.batches, max_instances)]
    pending = [b for b in pending if b]
    computed, sim_s, failures = 0, 0.0, []
    with tqdm(total=total, initial=len(have), disable=not progress, desc=prep.exp.name, unit="pt",
              dynamic_ncols=True, leave=False) as bar:
        for res in get_executor(executor).map_batches(prep.exp, prep.cfg, [[p for _, p in b] for b in pending], ctx):
            batch = pending[res.index]
            if res.error is not None:
                failures.append(f"batch {res.index} ({len(batch)} points, first {batch[0][1]}): {res.error}")
                continue
            store.write_batch(prep.exp.name, prep.cfg, prep.dtype,
                              [(k, p, m) for (k, p), m in zip(batch, res.metrics)],
                              device=res.device or env["device"], backend=prep.backend, versions=env["versions"], wall_s=res.wall_s)
            computed += len(batch)
            sim_s += res.wall_s
            bar.update(len(batch))
    return computed, sim_s, failures


def _finish(prep: _Prepared, name: str, scale: str, records: list[Record], out_dir: Path, write: bool,
            timings: dict, stored_env: bool = False) -> ExperimentResult:
    t0 = time.perf_counter()
    analysis = prep.exp.analyze(prep.cfg, records)
    timings = {**timings, "analyze_s": time.perf_counter() - t0,
               "stored_simulate_s": sum(r.wall_s for r in records)}
    env = environment(prep.device)
    if stored_env and records:   # `report`: the device and backend the points were computed on, not this process's
        env = {**env, "device": "; ".join(sorted({r.device for r in records}))}
        backend = "; ".join(sorted({r.backend for r in records}))
    else:
        backend = prep.backend
    rep = build_report(prep.exp, scale, prep.cfg, analysis, prep.dtype, backend, env, timings)
    figures = write_report(out_dir, rep, prep.exp, prep.cfg, records, analysis) if write else []
    return ExperimentResult(name, scale, prep.cfg, rep, analysis, records, out_dir, figures=figures)


def report_run_dir(run_dir: str | Path, device: str = "auto") -> list[ExperimentResult]:
    """Re-fit and re-render every experiment stored in `run_dir` (no simulation)."""
    from .store import check_store_dir

    run_dir = Path(run_dir)
    check_store_dir(run_dir)
    results = []
    with ResultStore(run_dir, readonly=True) as store:
        runs = store.runs()
        if not runs:
            raise ConfigError(f"{run_dir / 'results.sqlite'} holds no run; nothing to report")
        for run in runs:
            overrides = {k: _tuplify(v) for k, v in run["overrides"].items()}
            prep = prepare(run["experiment"], run["scale"], overrides, device, run["dtype"].replace("torch.", ""))
            keys = [k for b in prep.batches for k, _ in b]
            rngs = store.rng_versions(run["experiment"])
            if len(rngs) == 1 and RNG_VERSION not in rngs:   # re-fit points drawn with their own (older) streams
                keys = [point_key(run["experiment"], prep.cfg, p, prep.dtype, rng=next(iter(rngs)))
                        for b in prep.batches for _, p in b]
            records = store.records(keys)
            if len(records) < len(keys):
                raise ConfigError(f"{run_dir}: {len(keys) - len(records)} of {len(keys)} points of "
                                 f"{run['experiment']} are missing; finish them with `toyscale run ... --resume`")
            results.append(_finish(prep, run["experiment"], run["scale"], records, run_dir, True,
                                   timings={"simulate_s": 0.0, "points_computed": 0, "points_reused": len(records)},
                                   stored_env=True))
    return results


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, list) else v


__all__ = ["run_experiment", "report_run_dir", "prepare", "resolve_device", "resolve_dtype", "ExperimentResult",
           "device_name"]
