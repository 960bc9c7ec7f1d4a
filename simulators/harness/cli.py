"""`toyscale` command line: list | run | report | reproduce | bench. Every command is a thin layer over the
Python API (`run_experiment`, `report_run_dir`, `write_index`).

User errors (unknown experiment, unknown `--set` key, a value of the wrong kind or out of range, an unusable
device, --out or store, a run dir that holds results without `--resume`, or another sweep) print ONE line
`toyscale: error: ...` naming the parameter and exit 2, before any work and before anything is written.
A failing verdict is not an error: the table says so and the exit code is 0. Ctrl-C prints how many points
are stored and the exact `--resume` command, exit 130.

Latency: argparse, `list`, unknown names/keys and kind errors are answered from the static index
(`index.py`, no torch import, ~0.1 s); range and cross-field checks then run the config's own `__post_init__`,
importing only the config's torch-free module (`validate_config`), and the executor flags are checked
(`_check_executor_flags`, no ray import) -- all before torch is imported.
"""
from __future__ import annotations

import argparse
import ast
import os
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from .fieldcheck import ConfigError, check_value

SCALES = ("smoke", "default", "paper")
MAX_SEEDS = 100_000         # no experiment allows more (each config bounds its own seeds further)


class UserError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line (UserError), not a usage block + SystemExit."""

    def error(self, message):
        raise UserError(f"{message} (see {self.prog} --help)")


def _coerce(key: str, text: str, current: Any) -> Any:
    """Parse `text` for field `key`, matching the type of its current value."""
    try:
        val = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
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
            if isinstance(val, int) and abs(val) > 2 ** 53:
                raise UserError(f"--set {key}: expected a number of magnitude <= 2**53, got {text!r}")
            return float(val)
        raise UserError(f"--set {key}: expected a number, got {text!r}")
    if isinstance(current, (tuple, list)):
        if isinstance(val, (list, tuple)):
            return _tuplify(val)
        if isinstance(val, (int, float, str)) and not isinstance(val, bool):
            return (val,)
        raise UserError(f"--set {key}: expected a comma-separated list, got {text!r}")
    if current is None:
        return val
    if isinstance(current, str):
        return str(val) if not isinstance(val, str) else val
    return val


def _tuplify(v):
    return tuple(_tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v


# ---- experiment metadata: static index when fresh, else the registry ---------------------------------
_META: dict | None = None


def _meta() -> dict:
    """{name: {"description", "predictions", "fields": {field: kind}, "scales": {scale: config dict}}}
    (computed once per process)."""
    global _META
    if _META is None:
        _META = _build_meta()
    return _META


def _build_meta() -> dict:
    from . import index

    idx = index.load() or index.build()    # stale or missing index: the same entries, from the registry (slow)
    return {k: {**v, "fields": {f: index.kind_from_json(kd) for f, kd in v["fields"].items()}}
            for k, v in idx["experiments"].items()}


def validate_config(name: str, scale: str, overrides: dict[str, Any], meta: dict | None = None) -> None:
    """Run the config's own `__post_init__` (every range and cross-field check) on the index's preset for `scale`
    with `overrides`, importing only the config's module (torch-free, see index.py): a refusal costs no torch
    import. The runner builds the same config again from the registry before any work."""
    from . import index

    entry = (_meta() if meta is None else meta)[name]
    try:
        index.make_config(entry, scale, overrides)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(str(e)) from None


def parse_overrides(name: str, scale: str, items: Sequence[str], seeds: int | None,
                    meta: dict | None = None) -> dict[str, Any]:
    """`--set key=value` items -> {field: value}, refusing unknown keys and values of the wrong kind (one line)."""
    meta = _meta() if meta is None else meta
    if name not in meta:
        raise UserError(f"unknown experiment {name!r}; known: {', '.join(sorted(meta)) or '(none)'}")
    fields = meta[name]["fields"]
    base = meta[name]["scales"].get(scale) or {}
    out: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise UserError(f"--set expects key=value, got {item!r}")
        k, v = item.split("=", 1)
        k = k.strip()
        if k not in fields:
            raise UserError(f"--set: unknown parameter {k!r} for {name}; allowed: {', '.join(sorted(fields))}")
        val = _coerce(k, v.strip(), base.get(k))
        check_value(k, val, fields[k])
        out[k] = val
    if seeds is not None:
        out["seeds"] = seeds
    return out


# ---- argument checks that need no import --------------------------------------------------------------
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d{1,3})?)$")


def _check_flags(a) -> None:
    threads = getattr(a, "threads", None)
    if threads is not None:
        n = os.cpu_count() or 1
        if not 1 <= threads <= n:
            raise UserError(f"--threads must be in [1, {n}] (this machine's CPU count), got {threads}")
    seeds = getattr(a, "seeds", None)
    if seeds is not None and not 1 <= seeds <= MAX_SEEDS:
        raise UserError(f"--seeds must be in [1, {MAX_SEEDS}], got {seeds}")
    dev = getattr(a, "device", None)
    if dev is not None and not _DEVICE.match(dev):
        raise UserError(f"--device must be auto, cpu or cuda[:N], got {dev!r}")
    mipb = getattr(a, "max_instances_per_batch", None)
    if mipb is not None and mipb < 1:
        raise UserError(f"--max-instances-per-batch must be >= 1, got {mipb}")
    gpt = getattr(a, "gpus_per_task", None)
    if gpt is not None and not 0 < gpt <= 1024:
        raise UserError(f"--gpus-per-task must be in (0, 1024], got {gpt}")
    if getattr(a, "out", None) is not None:
        check_out_dir(a.out)


def check_out_dir(out: str) -> None:
    """Refuse an --out that cannot be a run directory: empty, a regular file, under a file, not writable."""
    if out == "" or not out.strip():
        raise UserError(f"--out must name a directory, got {out!r}")
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    q = p
    while not q.exists():
        if q.parent == q:
            break
        q = q.parent
    if q.exists() and not q.is_dir():
        raise UserError(f"--out {out}: {q} is a file, not a directory")
    if q.exists() and not os.access(q, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {q} is not writable")


# ---- commands -------------------------------------------------------------------------------------------
def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="toyscale", description="Simulate solvable scaling-law toy models and "
                "hold measured exponents against theory.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    sub.add_parser("list", help="experiments with their theory predictions")

    def common(sp, one: bool):
        sp.add_argument("--scale", choices=SCALES, default="default")
        if one:
            sp.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                            help="override a config field (repeatable)")
            sp.add_argument("--seeds", type=int, default=None, help="number of seeds")
            sp.add_argument("--dry-run", action="store_true",
                            help="validate everything and print the sweep's size; run and write nothing")
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
        sp.add_argument("--dtype", choices=("float32", "float64"), default=None)
        sp.add_argument("--backend", choices=("reference", "triton"), default=None, help="kernels backend")
        sp.add_argument("--out", default=None, help="run directory")
        sp.add_argument("--resume", action="store_true", help="continue a run dir that holds results")
        sp.add_argument("--force-new", action="store_true",
                        help="accept a run dir that holds another experiment or config (its points stay stored)")
        sp.add_argument("--no-progress", action="store_true")
        sp.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="where batches run: in-process (default) or as Ray tasks (docs/ray.md)")
        sp.add_argument("--ray-address", default=None, help="Ray cluster to join (default: RAY_ADDRESS or local)")
        sp.add_argument("--gpus-per-task", type=float, default=None, help="GPUs per Ray task on CUDA runs (default 1)")
        sp.add_argument("--max-instances-per-batch", type=int, default=None,
                        help="cut batches to at most this many instances (default: fit device memory). Recorded: "
                             "a resume must use the same value")
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
    rp.add_argument("--jobs", type=int, default=None,
                    help="experiments run at once, each in its own worker process (default: one per CPU, at most 4, "
                         "for CPU runs with the local executor; else 1). Each worker uses --threads torch threads "
                         "(default: CPUs // jobs); the stored numbers equal a serial run at that thread count")
    b = sub.add_parser("bench", help="the benchmark suite (same as python -m benchmarks)")
    b.add_argument("--size", choices=("tiny", "full"), default="full")
    b.add_argument("--only", default=None, help="comma-separated benchmark names")
    d = sub.add_parser("doctor", help="validate this machine (environment, gpu tests, kernels, one step per "
                       "family, a sweep) and write a JSON report; run it first on a new machine")
    d.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    d.add_argument("--json", dest="doctor_json", default=None, help="report path (default ./doctor-<device>-<time>.json)")
    return p


_PARSER: argparse.ArgumentParser | None = None


def _parser() -> argparse.ArgumentParser:
    global _PARSER
    if _PARSER is None:
        _PARSER = _build_parser()
    return _PARSER


def _cmd_list() -> int:
    for name, m in sorted(_meta().items()):
        print(f"{name:32s} {m['description']}")
        if m["predictions"]:
            print(f"{'':32s}   theory: {m['predictions']}")
    return 0


def _check_executor_flags(a) -> None:
    """Refuse what can be refused about the executor without importing ray or torch: Ray flags without
    `--executor ray`, ray not installed, an address (--ray-address, else RAY_ADDRESS) that does not connect."""
    if a.executor == "local":
        if a.ray_address is not None or a.gpus_per_task is not None:
            raise UserError("--ray-address and --gpus-per-task need --executor ray")
        return
    from .ray_preflight import check_ray_installed, check_reachable

    check_ray_installed()
    address = a.ray_address if a.ray_address is not None else os.environ.get("RAY_ADDRESS") or None
    try:
        check_reachable(address)
    except ConfigError as e:
        where = "--ray-address" if a.ray_address is not None else "RAY_ADDRESS"
        raise UserError(f"{where}: {e}") from None


def _executor(a):
    """The executor the flags ask for (built once, so `reproduce` reuses one Ray connection); the flags were
    checked by `_check_executor_flags` before any import."""
    if a.executor == "local":
        return "local"
    from .executors import get_executor

    return get_executor("ray", address=a.ray_address, gpus_per_task=a.gpus_per_task)


def _set_threads(a) -> None:
    if getattr(a, "threads", None) is not None:
        import torch

        torch.set_num_threads(a.threads)


def _resume_hint(argv: Sequence[str]) -> str:
    args = list(argv)
    if "--resume" not in args:
        args.append("--resume")
    return shlex.join(["toyscale", *args])


def _stored_count(out_dir: Path) -> int:
    from .store_check import stored_points

    return stored_points(out_dir)


def _cmd_run(a, argv) -> int:
    meta = _meta()
    if a.experiment not in meta:
        raise UserError(f"unknown experiment {a.experiment!r}; known: {', '.join(sorted(meta)) or '(none)'}")
    overrides = parse_overrides(a.experiment, a.scale, a.overrides, a.seeds, meta)
    validate_config(a.experiment, a.scale, overrides, meta)
    _check_executor_flags(a)
    if not a.dry_run:
        from .store_check import check_store_file

        out_default = Path("runs") / f"{a.experiment}-{a.scale}"
        check_store_file((Path(a.out) if a.out is not None else out_default) / "results.sqlite")
    _set_threads(a)
    from .runner import prepare, run_experiment

    if a.dry_run:
        from .runner import check_memory

        prep = prepare(a.experiment, a.scale, overrides, a.device, a.dtype, a.backend)
        check_memory(prep, a.max_instances_per_batch)
        n = sum(len(b) for b in prep.batches)
        per = prep.exp.instance_bytes(prep.cfg) if prep.exp.instance_bytes is not None else None
        mem = f"; ~{per / 2**20:.3g} MiB per instance" if per else ""
        print(f"{a.experiment} ({a.scale}): {n} points in {len(prep.batches)} batches on {prep.device}, "
              f"dtype {str(prep.dtype).replace('torch.', '')}{mem}; config valid")
        return 0
    out = Path(a.out) if a.out is not None else Path("runs") / f"{a.experiment}-{a.scale}"
    try:
        res = run_experiment(a.experiment, a.scale, overrides, out=out, device=a.device, dtype=a.dtype,
                             resume=a.resume, progress=not a.no_progress, backend=a.backend,
                             executor=_executor(a), max_instances_per_batch=a.max_instances_per_batch,
                             force_new=a.force_new)
    except KeyboardInterrupt:
        print(f"toyscale: interrupted: {_stored_count(out)} points of {a.experiment} are stored in {out}; "
              f"continue with: {_resume_hint(argv)}", file=sys.stderr)
        return 130
    from .report import format_table

    print(format_table(res.report["rows"]))
    for n in res.report["notes"]:
        print(f"- {n}")
    print(f"\n{res.computed} points simulated, {res.reused} reused; report: {res.out_dir / 'report.md'}")
    return 0


def _cmd_report(a) -> int:
    from .store_check import check_store_dir

    check_store_dir(Path(a.dir))      # one line for a missing, empty, foreign or corrupt store (no import)
    from .report import format_table
    from .runner import report_run_dir

    for res in report_run_dir(a.dir):
        print(f"## {res.experiment}\n" + format_table(res.report["rows"]))
    return 0


def _select(only: str | None, names: Sequence[str]) -> list[str]:
    if only is None:
        return list(names)
    prefixes = [s.strip() for s in only.split(",")]
    if not only.strip() or any(not s for s in prefixes):
        raise UserError(f"--only must be comma-separated experiment name prefixes, got {only!r}")
    for s in prefixes:
        if not any(n.startswith(s) for n in names):
            raise UserError(f"--only: {s!r} matches no experiment; known: {', '.join(names)}")
    return [n for n in names if any(n.startswith(s) for s in prefixes)]


def _reproduce_jobs(a, n_names: int) -> int:
    from .parallel import default_jobs

    if a.jobs is None:
        return default_jobs(a.device, a.executor, n_names)
    if not 1 <= a.jobs <= 64:
        raise UserError(f"--jobs must be an integer in [1, 64], got {a.jobs}")
    if a.jobs > 1 and a.executor != "local":
        raise UserError(f"--jobs {a.jobs} needs --executor local (Ray already spreads the batches); use --jobs 1")
    return min(a.jobs, n_names)


def _reproduce_serial(a, argv, names, out) -> list | None:
    from tqdm.auto import tqdm

    from .report import slug
    from .runner import run_experiment

    _set_threads(a)
    executor = _executor(a)
    reports = []
    current = names[0]
    try:
        for n in tqdm(names, desc="reproduce", unit="exp", disable=a.no_progress):
            current = n
            res = run_experiment(n, a.scale, {}, out=out / slug(n), device=a.device, dtype=a.dtype,
                                 resume=a.resume, progress=not a.no_progress, backend=a.backend,
                                 executor=executor, max_instances_per_batch=a.max_instances_per_batch,
                                 force_new=a.force_new)
            reports.append(res.report)
    except KeyboardInterrupt:
        print(f"toyscale: interrupted in {current}: {len(reports)} of {len(names)} experiments finished, "
              f"{_stored_count(out / slug(current))} points of {current} stored; continue with: "
              f"{_resume_hint(argv)}", file=sys.stderr)
        return None
    return reports


def _reproduce_parallel(a, argv, names, out, jobs: int) -> list | None:
    """`jobs` experiments at once in worker processes (simulators/harness/parallel.py)."""
    from tqdm.auto import tqdm

    from .parallel import cpu_count, run_parallel
    from .report import slug

    threads = a.threads if a.threads is not None else max(1, cpu_count() // jobs)
    done: list[str] = []
    bar = tqdm(total=len(names), desc=f"reproduce ({jobs} jobs)", unit="exp", disable=a.no_progress)

    def finished(n):
        done.append(n)
        bar.update(1)

    def kwargs_for(n):
        return dict(scale=a.scale, overrides={}, out=out / slug(n), device=a.device, dtype=a.dtype, resume=a.resume,
                    progress=False, backend=a.backend, executor="local",
                    max_instances_per_batch=a.max_instances_per_batch, force_new=a.force_new)

    try:
        by_name = run_parallel(names, kwargs_for, jobs, threads, on_done=finished)
    except KeyboardInterrupt:
        bar.close()
        open_ = [n for n in names if n not in done]
        stored = sum(_stored_count(out / slug(n)) for n in open_)
        print(f"toyscale: interrupted: {len(done)} of {len(names)} experiments finished, {stored} points of the "
              f"other {len(open_)} stored; continue with: {_resume_hint(argv)}", file=sys.stderr)
        return None
    bar.close()
    return [by_name[n] for n in names]


def _cmd_reproduce(a, argv) -> int:
    meta = _meta()
    names = _select(a.only, sorted(meta))
    _check_executor_flags(a)
    jobs = _reproduce_jobs(a, len(names))
    from .report import format_table, write_index
    from .runner import prepare

    out = Path(a.out or f"runs/reproduce-{a.scale}")
    for n in names:  # validate everything before any work
        prepare(n, a.scale, {}, a.device, a.dtype, a.backend)
    if jobs > 1:
        reports = _reproduce_parallel(a, argv, names, out, jobs)
    else:
        reports = _reproduce_serial(a, argv, names, out)
    if reports is None:          # interrupted: the line saying what is stored and how to resume is printed
        return 130
    path = write_index(out, reports, a.scale)
    rows = [{**r, "experiment": rep["experiment"]} for rep in reports for r in rep["rows"]]
    print(format_table(rows, experiment_column=True))
    print(f"\nindex report: {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
        _check_flags(args)
        if args.cmd == "list":
            return _cmd_list()
        if args.cmd == "run":
            return _cmd_run(args, argv)
        if args.cmd == "report":
            return _cmd_report(args)
        if args.cmd == "bench":
            from benchmarks.suite import main as bench_main

            return bench_main(["--size", args.size] + (["--only", args.only] if args.only else []))
        if args.cmd == "doctor":
            from .doctor import main as doctor_main   # lazy: the doctor imports every family

            return doctor_main(["--device", args.device] + (["--out", args.doctor_json] if args.doctor_json else []))
        return _cmd_reproduce(args, argv)
    except (UserError, ConfigError) as e:
        # Raised only by validation (flags, config __post_init__, device, dtype, backend, run dir, store),
        # all before any simulation starts; errors during a run keep their traceback.
        msg = " ".join(str(e).split())   # one line, whatever the message held
        print(f"toyscale: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("toyscale: interrupted", file=sys.stderr)
        return 130
    except SystemExit as e:   # --help
        return e.code if isinstance(e.code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
