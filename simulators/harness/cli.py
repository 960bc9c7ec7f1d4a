"""`toyscale` command line: list | run | report | reproduce. Every command is a thin layer over the
Python API (`run_experiment`, `report_run_dir`, `write_index`).

User errors (unknown experiment, unknown `--set` key, out-of-range value, unusable device, a run dir
that already holds results without `--resume`) print one line `toyscale: error: ...` and exit 2,
before any work. A failing verdict is not an error: the table says so and the exit code is 0.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import sys
from pathlib import Path
from typing import Any, Sequence

from .registry import SCALES, ConfigError, get_experiment, list_experiments


class UserError(Exception):
    pass


def _coerce(key: str, text: str, current: Any) -> Any:
    """Parse `text` for field `key`, matching the type of its current value."""
    try:
        val = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        val = text
    if isinstance(current, bool):
        if isinstance(val, bool):
            return val
        if str(text).lower() in ("true", "false", "1", "0"):
            return str(text).lower() in ("true", "1")
        raise UserError(f"--set {key}: expected true/false, got {text!r}")
    if isinstance(current, int):
        if isinstance(val, int) and not isinstance(val, bool):
            return val
        raise UserError(f"--set {key}: expected an integer, got {text!r}")
    if isinstance(current, float):
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            return float(val)
        raise UserError(f"--set {key}: expected a number, got {text!r}")
    if isinstance(current, tuple):
        if isinstance(val, (list, tuple)):
            return tuple(val)
        if isinstance(val, (int, float, str)):
            return (val,)
        raise UserError(f"--set {key}: expected a comma-separated list, got {text!r}")
    if current is None:
        return val
    if isinstance(current, str):
        return str(val) if not isinstance(val, str) else val
    return val


def parse_overrides(name: str, scale: str, items: Sequence[str], seeds: int | None) -> dict[str, Any]:
    try:
        exp = get_experiment(name)
    except ValueError as e:
        raise UserError(str(e)) from None
    fields = {f.name: f for f in dataclasses.fields(exp.config_cls)}
    base = exp.config(scale)
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise UserError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if k not in fields:
            raise UserError(f"--set: unknown parameter {k!r} for {name}; allowed: {', '.join(sorted(fields))}")
        out[k] = _coerce(k, v.strip(), getattr(base, k))
    if seeds is not None:
        out["seeds"] = seeds
    return out


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="toyscale", description="Simulate solvable scaling-law toy models and "
                                "hold measured exponents against theory.")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="experiments with their theory predictions")

    def common(sp, one: bool):
        sp.add_argument("--scale", choices=SCALES, default="default")
        if one:
            sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                            help="override a config field (repeatable)")
            sp.add_argument("--seeds", type=int, default=None, help="number of seeds")
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
        sp.add_argument("--dtype", choices=("float32", "float64"), default=None)
        sp.add_argument("--backend", choices=("reference", "triton"), default=None, help="kernels backend")
        sp.add_argument("--out", default=None, help="run directory")
        sp.add_argument("--resume", action="store_true", help="continue a run dir that holds results")
        sp.add_argument("--no-progress", action="store_true")
        sp.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where batches run: in-process (default) or as Ray tasks (docs/ray.md)")
        sp.add_argument("--ray-address", default=None, help="Ray cluster to join (default: RAY_ADDRESS or local)")
        sp.add_argument("--gpus-per-task", type=float, default=None, help="GPUs per Ray task on CUDA runs (default 1)")
        sp.add_argument("--max-instances-per-batch", type=int, default=None,
                        help="cut batches to at most this many instances (default: fit device memory)")
        sp.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice). On a shared machine 1 avoids "
                             "OpenMP spin-waiting, which cost ~10x wall time in our runs")

    r = sub.add_parser("run", help="run, fit, compare and report one experiment")
    r.add_argument("experiment")
    common(r, True)
    rep = sub.add_parser("report", help="re-fit and re-render from stored results")
    rep.add_argument("dir")
    rp = sub.add_parser("reproduce", help="every registered experiment, one summary table")
    common(rp, False)
    rp.add_argument("--only", default=None, help="comma-separated name prefixes to include")
    b = sub.add_parser("bench", help="the benchmark suite (same as python -m benchmarks)")
    b.add_argument("--size", choices=("tiny", "full"), default="full")
    b.add_argument("--only", default=None, help="comma-separated benchmark names")
    return p


def _cmd_list() -> int:
    for exp in list_experiments():
        print(f"{exp.name:32s} {exp.description}")
        if exp.predictions:
            print(f"{'':32s}   theory: {exp.predictions}")
    return 0


def _executor(a):
    """The executor the flags ask for (built once, so `reproduce` reuses one Ray connection)."""
    if a.executor == "local":
        if a.ray_address is not None or a.gpus_per_task is not None:
            raise UserError("--ray-address and --gpus-per-task need --executor ray")
        return "local"
    from .executors import get_executor

    return get_executor("ray", address=a.ray_address, gpus_per_task=a.gpus_per_task)


def _cmd_run(a) -> int:
    from .report import format_table
    from .runner import run_experiment

    overrides = parse_overrides(a.experiment, a.scale, a.overrides, a.seeds)
    res = run_experiment(a.experiment, a.scale, overrides, out=a.out, device=a.device, dtype=a.dtype,
                         resume=a.resume, progress=not a.no_progress, backend=a.backend,
                         executor=_executor(a), max_instances_per_batch=a.max_instances_per_batch)
    print(format_table(res.report["rows"]))
    for n in res.report["notes"]:
        print(f"- {n}")
    print(f"\n{res.computed} points simulated, {res.reused} reused; report: {res.out_dir / 'report.md'}")
    return 0


def _cmd_report(a) -> int:
    from .report import format_table
    from .runner import report_run_dir

    for res in report_run_dir(a.dir):
        print(f"## {res.experiment}\n" + format_table(res.report["rows"]))
    return 0


def _cmd_reproduce(a) -> int:
    from tqdm.auto import tqdm

    from .report import format_table, slug, write_index
    from .runner import prepare, run_experiment

    exps = [e for e in list_experiments()
            if a.only is None or any(e.name.startswith(s) for s in a.only.split(","))]
    if not exps:
        raise UserError(f"--only {a.only!r} matches no experiment")
    out = Path(a.out or f"runs/reproduce-{a.scale}")
    for e in exps:  # validate everything before any work
        prepare(e.name, a.scale, {}, a.device, a.dtype, a.backend)
    executor = _executor(a)
    reports = []
    for e in tqdm(exps, desc="reproduce", unit="exp", disable=a.no_progress):
        res = run_experiment(e.name, a.scale, {}, out=out / slug(e.name), device=a.device, dtype=a.dtype,
                             resume=a.resume, progress=not a.no_progress, backend=a.backend,
                             executor=executor, max_instances_per_batch=a.max_instances_per_batch)
        reports.append(res.report)
    path = write_index(out, reports, a.scale)
    rows = [{**r, "experiment": rep["experiment"]} for rep in reports for r in rep["rows"]]
    print(format_table(rows, experiment_column=True))
    print(f"\nindex report: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            print(f"toyscale: error: --threads must be >= 1, got {threads}", file=sys.stderr)
            return 2
        import torch

        torch.set_num_threads(threads)
    try:
        if args.cmd == "list":
            return _cmd_list()
        if args.cmd == "run":
            return _cmd_run(args)
        if args.cmd == "report":
            return _cmd_report(args)
        if args.cmd == "bench":
            from benchmarks.suite import main as bench_main

            return bench_main(["--size", args.size] + (["--only", args.only] if args.only else []))
        return _cmd_reproduce(args)
    except (UserError, ConfigError) as e:
        # Raised only by validation (config __post_init__, device, dtype, backend, run dir), which all
        # happens in `prepare` before any simulation starts; errors during a run keep their traceback.
        print(f"toyscale: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
