"""`toyscale doctor`: validate a machine for toyscale with one command (issue 13, §6). Run it first on a new machine.

Checks, in order, each recorded in one JSON report (path printed at the end):
1. environment: torch, triton, CUDA, device, memory, TF32 switches, whether kernels run compiled or interpreted;
2. the `gpu` tests (`pytest -m gpu tests/kernels` in a subprocess; on CPU they all skip, which is reported);
3. every kernel vs its reference, forward and backward, against a float64 evaluation of the reference
   (CUDA: the compiled, autotuned kernel, fp64 / fp32 / fp32+TF32; CPU: the Triton interpreter, fp64 / fp32);
4. the kernel vs `torch.bmm` time at 5 shapes (CUDA: `triton.testing.do_bench` medians; CPU: one timed call
   each in the interpreter: a smoke check, not a performance number);
5. one step per family: the largest planned batch of one experiment per family (CUDA: its paper-scale batch
   with the step count cut to a few steps; CPU: smoke scale, 2 instances), with time per step, peak memory
   (CUDA: `torch.cuda.max_memory_allocated`; CPU: rise of the process's RSS high-water mark) and the fraction
   of wall time the GPU was busy (CUDA: union of the kernels' intervals from the CUDA profiler over a second,
   profiled run, divided by its wall time between two synchronisations; CPU: n/a);
6. one short sweep end to end through the runner and the store (run, then resume: nothing recomputed).

On CPU the whole command takes well under a minute (tests/test_doctor.py runs it); on one GPU a few minutes.
A check that fails is recorded with its error and the command goes on; the exit status is 1 if any failed.
"""
from __future__ import annotations

import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]

# Relative RMS error bounds vs a float64 reference (see tests/kernels/test_bmm_epilogue_gpu.py for the derivation).
KERNEL_TOL = {"fp64": 1e-12, "fp32": 2e-5, "fp32-tf32": 5e-3}

# One experiment per family for the step check: (experiment, overrides on CPU, overrides on CUDA, CUDA scale). On
# CUDA the families with a training step run their paper-scale batch with only the step count cut (sizes and
# memory are the paper's); the closed-form / Monte-Carlo families, whose paper-scale batch time is unmeasured,
# run at default scale there. CPU always uses smoke scale.
FAMILY_STEPS = {
    "synthetic": ("synthetic.power_law", {}, {}, "paper"),
    "rf": ("rf.time", {}, {}, "paper"),
    "plrf": ("plrf.loss_curves", {"steps": 64, "n_checkpoints": 5}, {"steps": 512, "n_checkpoints": 5}, "paper"),
    "lottery": ("lottery.silu", {"steps": 5, "n_checkpoints": 1}, {"steps": 20, "n_checkpoints": 1}, "paper"),
    "superposition": ("superposition.strong", {"steps": 5}, {"steps": 20}, "paper"),
    "memory": ("memory.dim", {}, {}, "default"),
    "collapse": ("collapse.ols_generations", {}, {}, "default"),
    "tails": ("tails.cut", {}, {}, "default"),
    "pruning": ("pruning.unpruned", {}, {}, "default"),
}
CPU_POINTS = 2          # instances of the batch run on CPU

SWEEP = {"cpu": ("synthetic.power_law", "smoke", {}),
         "cuda": ("lottery.silu", "paper", {"steps": 50, "n_checkpoints": 2, "seeds": 64})}


# --------------------------------------------------------------------------- helpers
def _check(name: str, fn: Callable[[], Any], log: Callable[[str], None]) -> dict:
    """Run one check; record its result, wall time and, if it raised, the error (the doctor goes on)."""
    t0 = time.perf_counter()
    try:
        res = {"ok": True, "result": fn()}
    except Exception as e:  # noqa: BLE001 - a doctor reports every failure and continues
        res = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=6)}
    res["seconds"] = round(time.perf_counter() - t0, 3)
    ok = res["ok"] and not (isinstance(res.get("result"), dict) and res["result"].get("ok") is False)
    res["ok"] = ok
    log(f"  {'ok  ' if ok else 'FAIL'} {name} ({res['seconds']:.1f} s)" + ("" if ok else f": {res.get('error', '')}"))
    return res


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024   # Linux: KiB


def kernel_mode(device: torch.device) -> str | None:
    """"compiled" on CUDA, "interpreter" on CPU (set here if triton is not imported yet), None if unusable."""
    import importlib.util

    from kernels._backend import interpreting, triton_available

    if device.type != "cuda" and not interpreting() and "triton" not in sys.modules \
            and importlib.util.find_spec("triton") is not None:
        os.environ["TRITON_INTERPRET"] = "1"      # this process only, before triton's import: interpreted kernels
    if not triton_available()[0]:
        return None
    if device.type == "cuda":
        return None if interpreting() else "compiled"
    return "interpreter" if interpreting() else None


# --------------------------------------------------------------------------- 1. environment
def environment(device: torch.device) -> dict:
    from kernels._backend import interpreting, triton_available

    from .env import versions

    info = {"versions": versions(), "python": sys.version.split()[0], "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda_available": torch.cuda.is_available(), "cuda_version": torch.version.cuda,
            "triton_importable": triton_available()[0], "triton_problem": triton_available()[1] or None,
            "triton_interpret": interpreting(), "device": str(device)}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        free, total = torch.cuda.mem_get_info(device)
        info.update(device_name=p.name, compute_capability=f"{p.major}.{p.minor}", sm_count=p.multi_processor_count,
                    memory_total_gb=round(total / 2**30, 2), memory_free_gb=round(free / 2**30, 2),
                    tf32_matmul=torch.backends.cuda.matmul.allow_tf32, tf32_cudnn=torch.backends.cudnn.allow_tf32)
    else:
        try:
            with open("/proc/meminfo") as f:
                mem = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f if ":" in ln}
            info.update(memory_total_gb=round(mem["MemTotal"] / 2**30, 2),
                        memory_available_gb=round(mem["MemAvailable"] / 2**30, 2))
        except (OSError, KeyError, ValueError):
            pass
        info["device_name"] = platform.processor() or platform.machine()
    return info


# --------------------------------------------------------------------------- 2. gpu tests
def gpu_tests(timeout: float = 420.0) -> dict:
    """`pytest -m gpu tests/kernels` in a subprocess; counts parsed from pytest's summary line."""
    tests = REPO_ROOT / "tests" / "kernels"
    if not tests.is_dir():
        return {"ok": True, "status": "not run: tests/ not found next to the package (installed without the repo)"}
    files = sorted(str(f) for f in tests.glob("test_*.py") if "mark.gpu" in f.read_text())   # only files with gpu tests
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", *files, "-q", "-p", "no:cacheprovider", "-rfE"]
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None) if torch.cuda.is_available() else None
    p = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    tail = (p.stdout + p.stderr).strip().splitlines()
    summary = tail[-1] if tail else ""
    counts = {k: 0 for k in ("passed", "failed", "skipped", "error", "deselected")}
    for part in summary.replace("=", "").split(","):
        words = part.strip().split()
        if len(words) >= 2 and words[0].isdigit():
            key = words[1].rstrip("s") if words[1].startswith("error") else words[1]
            counts[key] = counts.get(key, 0) + int(words[0])
    # exit 0: all passed; 5: none collected/selected; on CPU every gpu test is skipped (exit 0, 0 passed)
    ok = p.returncode in (0, 5) and counts["failed"] == 0 and counts["error"] == 0
    status = "ran on the GPU" if torch.cuda.is_available() else "skipped: no CUDA device (reported, not a failure)"
    return {"ok": ok, "returncode": p.returncode, "summary": summary, "counts": counts, "status": status,
            "failures": [ln for ln in tail if ln.startswith(("FAILED", "ERROR"))][:20]}


# --------------------------------------------------------------------------- 3. kernels vs reference
def _rel_rms(x, ref) -> float:
    x, ref = x.detach().double(), ref.detach().double()
    den = float(ref.norm())
    return float((x - ref).norm()) / den if den > 0 else float((x - ref).norm())


def _kernel_modes(device):
    return ["fp64", "fp32", "fp32-tf32"] if device.type == "cuda" else ["fp64", "fp32"]


def kernel_checks(device: torch.device) -> dict:
    """bmm_epilogue (the only kernel) vs bmm_epilogue_reference in float64: forward and all gradients."""
    from kernels import ACTIVATIONS, bmm_epilogue, bmm_epilogue_reference

    mode = kernel_mode(device)
    if mode is None:
        return {"ok": device.type != "cuda", "status": "not run: triton unusable here "
                "(not installed, or imported without TRITON_INTERPRET on CPU)"}
    shapes = ([(1, 1, 1, 1), (3, 65, 33, 17), (2, 40, 1, 24), (64, 32, 16, 64), (1, 300, 200, 100)]
              if device.type == "cuda" else [(1, 1, 1, 1), (2, 33, 20, 17), (2, 40, 1, 24)])
    rows, old = [], torch.backends.cuda.matmul.allow_tf32
    try:
        for i, (E, M, K, N) in enumerate(shapes):
            for m in _kernel_modes(device):
                torch.backends.cuda.matmul.allow_tf32 = m == "fp32-tf32"
                dt = torch.float64 if m == "fp64" else torch.float32
                act = ACTIVATIONS[i % len(ACTIVATIONS)]
                g = torch.Generator(device=device).manual_seed(i)
                a = torch.randn(E, M, K, generator=g, device=device, dtype=dt, requires_grad=True)
                b = torch.randn(E, K, N, generator=g, device=device, dtype=dt, requires_grad=True)
                bias = torch.randn(E, N, generator=g, device=device, dtype=dt, requires_grad=True)
                gout = torch.randn(E, M, N, generator=g, device=device, dtype=dt)
                out = bmm_epilogue(a, b, bias, act, backend="triton")
                grads = torch.autograd.grad(out, (a, b, bias), gout)
                x64 = [t.detach().double().requires_grad_() for t in (a, b, bias)]
                ref = bmm_epilogue_reference(*x64, act)
                rgrads = torch.autograd.grad(ref, x64, gout.double())
                errs = [_rel_rms(out, ref)] + [_rel_rms(x, r) for x, r in zip(grads, rgrads)]
                rows.append({"kernel": "bmm_epilogue", "shape": [E, M, K, N], "mode": m, "activation": act,
                             "max_rel_rms": max(errs), "tol": KERNEL_TOL[m], "ok": max(errs) <= KERNEL_TOL[m]})
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    return {"ok": all(r["ok"] for r in rows), "mode": mode, "checks": rows}


# --------------------------------------------------------------------------- 4. kernel vs torch.bmm
def kernel_timings(device: torch.device) -> dict:
    from kernels import bmm_epilogue

    mode = kernel_mode(device)
    if mode is None:
        return {"ok": device.type != "cuda", "status": "not run: triton unusable here"}
    shapes = ([(4096, 32, 32, 32), (1024, 64, 64, 64), (256, 256, 256, 256), (16, 1024, 1024, 1024),
               (1, 4096, 4096, 4096)] if device.type == "cuda" else
              [(2, 16, 16, 16), (2, 32, 32, 32), (2, 64, 32, 64), (1, 64, 64, 64), (4, 32, 16, 32)])
    rows = []
    for E, M, K, N in shapes:
        a = torch.randn(E, M, K, device=device)
        b = torch.randn(E, K, N, device=device)

        def kern():
            return bmm_epilogue(a, b, None, None, backend="triton")

        def ref():
            return torch.bmm(a, b)

        if device.type == "cuda":
            from triton.testing import do_bench

            tk, tr = do_bench(kern, return_mode="median"), do_bench(ref, return_mode="median")
        else:
            kern()                                          # first call compiles/rewrites in the interpreter
            t0 = time.perf_counter(); kern(); tk = (time.perf_counter() - t0) * 1e3
            t0 = time.perf_counter(); ref(); tr = (time.perf_counter() - t0) * 1e3
        flops = 2.0 * E * M * N * K
        rows.append({"shape": [E, M, K, N], "kernel_ms": tk, "bmm_ms": tr, "kernel_over_bmm": tk / tr if tr else None,
                     "kernel_tflops": flops / (tk * 1e-3) / 1e12 if tk else None})
    note = ("medians of triton.testing.do_bench, fp32, TF32 as torch is set" if device.type == "cuda" else
            "interpreter: smoke check that the path runs, not a performance number")
    return {"ok": True, "mode": mode, "note": note, "rows": rows}


# --------------------------------------------------------------------------- 5. one step per family
def _busy_fraction(fn: Callable[[], Any], device: torch.device) -> float | None:
    """Fraction of the wall time of fn() during which at least one CUDA kernel ran (profiler intervals, merged)."""
    if device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    _sync(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        wall_us = (time.perf_counter() - t0) * 1e6
    iv = sorted((e.time_range.start, e.time_range.end) for e in prof.events()
                if e.device_type == torch.autograd.DeviceType.CUDA and e.time_range.end > e.time_range.start)
    busy, cur_s, cur_e = 0.0, None, None
    for s, e in iv:
        if cur_e is None or s > cur_e:
            busy += (cur_e - cur_s) if cur_e is not None else 0.0
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    busy += (cur_e - cur_s) if cur_e is not None else 0.0
    return min(1.0, busy / wall_us) if wall_us > 0 else None


def family_step(family: str, device: torch.device) -> dict:
    from .registry import RunContext, get_experiment
    from .runner import resolve_dtype

    from .runner import memory_cap

    name, cpu_over, gpu_over, gpu_scale = FAMILY_STEPS[family]
    exp = get_experiment(name)
    gpu = device.type == "cuda"
    scale = gpu_scale if gpu else "smoke"
    cfg = exp.config(scale, gpu_over if gpu else cpu_over)
    batches = [b for b in exp.plan(cfg) if b]
    cap = memory_cap(exp, cfg, device) if gpu else CPU_POINTS    # CUDA: as many as the runner would put in a batch
    points = batches[-1][:cap] if cap else batches[-1]           # the last batch: the sweep's largest sizes
    ctx = RunContext(device=device, dtype=resolve_dtype(None, exp.default_dtype), backend=None)
    steps = int(getattr(cfg, "steps", 1) or 1)
    if gpu:
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    rss0 = _rss_peak_bytes()
    _sync(device)
    t0 = time.perf_counter()
    exp.run_batch(cfg, points, ctx)
    _sync(device)
    wall = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated(device) - base) if gpu else max(0, _rss_peak_bytes() - rss0)
    busy = _busy_fraction(lambda: exp.run_batch(cfg, points, ctx), device)
    est = exp.instance_bytes(cfg) * len(points) if exp.instance_bytes is not None else None
    return {"experiment": name, "scale": scale, "overrides": gpu_over if gpu else cpu_over, "instances": len(points),
            "steps": steps, "batch_s": wall, "time_per_step_ms": wall / steps * 1e3,
            "peak_memory_mb": peak / 2**20, "peak_memory_kind": "cuda max_memory_allocated" if gpu else
            "process RSS high-water rise (0 if under an earlier peak)",
            "instance_bytes_estimate_mb": est / 2**20 if est is not None else None,
            "gpu_busy_fraction": busy if gpu else "n/a (CPU)"}


# --------------------------------------------------------------------------- 6. sweep through runner and store
def sweep_check(device: torch.device, workdir: Path) -> dict:
    from .runner import run_experiment
    from .store import ResultStore

    name, scale, over = SWEEP["cuda" if device.type == "cuda" else "cpu"]
    out = workdir / f"sweep-{name}"
    t0 = time.perf_counter()
    first = run_experiment(name, scale, over, out=out, device=device, report=True)
    t1 = time.perf_counter()
    again = run_experiment(name, scale, over, out=out, device=device, resume=True, report=False)
    with ResultStore(out, readonly=True) as st:
        stored = st.count(name)
    rows = [{"quantity": r.quantity, "measured_exponent": r.measured_exponent, "theory_exponent": r.theory_exponent,
             "passed": r.passed} for r in first.analysis.rows]
    ok = first.computed == stored > 0 and again.computed == 0 and again.reused == stored
    return {"ok": ok, "experiment": name, "scale": scale, "overrides": over, "points_computed": first.computed,
            "points_stored": stored, "resume_recomputed": again.computed, "resume_reused": again.reused,
            "sweep_s": t1 - t0, "out": str(out), "rows": rows}


# --------------------------------------------------------------------------- the command
def run_doctor(out: str | Path | None = None, device: str = "auto", *, gpu_tests_timeout: float = 420.0,
               families: list[str] | None = None, log: Callable[[str], None] = print) -> tuple[dict, Path]:
    """Run every check; write the JSON report to `out` (default doctor-<device>-<time>.json in the current
    directory) and return (report, path)."""
    from .runner import resolve_device

    dev = resolve_device(device)
    t_start = time.perf_counter()
    mode = kernel_mode(dev)          # decide the interpreter before anything imports triton
    log(f"toyscale doctor on {dev} (kernels: {mode or 'unavailable'})")
    work = Path(tempfile.mkdtemp(prefix="toyscale-doctor-"))
    rep: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rep["environment"] = _check("environment", lambda: environment(dev), log)
    rep["gpu_tests"] = _check("gpu tests (pytest -m gpu)", lambda: gpu_tests(gpu_tests_timeout), log)
    rep["kernels"] = _check("kernels vs reference", lambda: kernel_checks(dev), log)
    rep["kernel_vs_bmm"] = _check("kernel vs torch.bmm time", lambda: kernel_timings(dev), log)
    rep["family_steps"] = {}
    if families is None:   # the registered families (an entry for a family not registered here is left out)
        from .registry import list_experiments

        registered = {e.name.split(".")[0] for e in list_experiments()}
        families = [f for f in FAMILY_STEPS if f in registered]
        missing = sorted(registered - set(FAMILY_STEPS))
        rep["families_without_probe"] = missing          # reported as a failure below
        if missing:
            log(f"  FAIL no step probe in doctor.FAMILY_STEPS for: {', '.join(missing)}")
    for fam in families:
        rep["family_steps"][fam] = _check(f"step: {fam} ({FAMILY_STEPS[fam][0]})", lambda f=fam: family_step(f, dev), log)
    rep["sweep"] = _check("sweep through runner and store", lambda: sweep_check(dev, work), log)
    shutil.rmtree(work, ignore_errors=True)
    checks = [v for k, v in rep.items() if isinstance(v, dict) and "ok" in v] + list(rep["family_steps"].values())
    rep["ok"] = all(c["ok"] for c in checks) and not rep.get("families_without_probe")
    rep["failed"] = [k for k, v in rep.items() if isinstance(v, dict) and v.get("ok") is False] + \
        [f"family_steps.{k}" for k, v in rep["family_steps"].items() if not v["ok"]]
    rep["total_s"] = round(time.perf_counter() - t_start, 2)
    path = Path(out) if out is not None else Path(f"doctor-{dev.type}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rep, indent=1, default=_json_default))
    log(f"{'all checks passed' if rep['ok'] else 'FAILED: ' + ', '.join(rep['failed'])} in {rep['total_s']:.1f} s")
    log(f"report: {path.resolve()}")
    return rep, path


def _json_default(o):
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, (torch.dtype, torch.device, Path)):
        return str(o)
    if isinstance(o, tuple):
        return list(o)
    return repr(o)


def main(argv: list[str] | None = None) -> int:
    """`python -m simulators.harness.doctor [--out PATH] [--device D]` (also `toyscale doctor`)."""
    import argparse

    p = argparse.ArgumentParser(prog="toyscale doctor", description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="JSON report path (default: ./doctor-<device>-<time>.json)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    a = p.parse_args(argv)
    rep, _ = run_doctor(a.out, a.device)
    return 0 if rep["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
