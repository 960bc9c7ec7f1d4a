"""The benchmark suite: run every `benchmarks/bench_*.py`, write one JSON and one markdown table.

`python -m benchmarks [--size tiny|full] [--only NAME,...]` or `toyscale bench`. Output:
`benchmarks/results/<date>-<device>.json` (rows + environment) and `.md` (the table for the README).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import sys
import time
from pathlib import Path

from ._common import RESULTS_DIR, device_slug, env_info

BENCH_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def run_suite(size: str = "full", only: list[str] | None = None, out_dir: Path = RESULTS_DIR) -> tuple[Path, Path]:
    names = [n for n in discover() if not only or any(n.endswith(o) or n == o for o in only)]
    if not names:
        raise ValueError(f"--only {only} matches no benchmark; known: {', '.join(discover())}")
    rows, timings = [], {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        t0 = time.perf_counter()
        mod = importlib.import_module(f"benchmarks.{name}")
        try:
            load = os.getloadavg() if hasattr(os, "getloadavg") else None   # shared machine: say how busy it was
            rows += [{**r, "env": {**r.get("env", {}), "loadavg_1_5_15": load}} for r in mod.run(size)]
        except Exception as e:  # one broken benchmark must not hide the others' numbers; it is reported
            rows.append({"benchmark": name, "provider": "-", "status": f"error: {type(e).__name__}: {e}"})
        timings[name] = time.perf_counter() - t0
        jpath, mpath = _write(rows, timings, size, out_dir)   # after each benchmark: an interrupted run keeps its rows
    return jpath, mpath


def _write(rows, timings, size, out_dir):
    info = env_info()
    stem = f"{_dt.date.today().isoformat()}-{device_slug(info['device'])}"
    jpath = out_dir / f"{stem}.json"
    jpath.write_text(json.dumps({"size": size, "env": info, "wall_s": timings, "rows": rows}, indent=1, default=str))
    mpath = out_dir / f"{stem}.md"
    mpath.write_text(markdown_table(rows, info, size) + "\nWall time per benchmark (s): "
                     + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()) + "\n")
    return jpath, mpath


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return str(v)


COLUMNS = ("benchmark", "provider", "time_s", "models_steps_per_s", "speedup_vs_loop", "speedup_vs_baseline",
           "fraction_of_peak", "bound", "gbytes_per_s", "fraction_of_copy_bw", "peak_mem_per_instance_bytes", "status",
           "config")
HIDDEN = {"env", "time_q20_s", "time_q80_s", "reps", "peak_mem_kind", "peak_mem_bytes", "cpu_time_s",
          "speedup_vs_loop_cpu", "threads"}


def markdown_table(rows: list[dict], info: dict, size: str) -> str:
    extra = sorted({k for r in rows for k in r} - set(COLUMNS) - HIDDEN)
    cols = list(COLUMNS[:-1]) + extra + ["config"]
    cols = [c for c in cols if any(c in r for r in rows)]
    loads = sorted({tuple(r["env"]["loadavg_1_5_15"]) for r in rows if r.get("env", {}).get("loadavg_1_5_15")})
    load_note = f"; load average (1/5/15 min) at each benchmark's start: {', '.join(str(tuple(round(x, 1) for x in l)) for l in loads)}" if loads else ""
    from simulators.harness.report import md_table   # every cell escaped ('|' in a config or status text)

    lines = [f"Benchmarks ({size}) on {info['device']}, torch {info['versions']['torch']}, {info['timestamp']}{load_note}", ""]
    lines += md_table(cols, [[_fmt(r.get(c)) for c in cols] for r in rows])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=("tiny", "full"), default="full")
    p.add_argument("--only", default=None, help="comma-separated benchmark names (e.g. superposition,lottery)")
    a = p.parse_args(argv)
    try:
        jpath, mpath = run_suite(a.size, a.only.split(",") if a.only else None)
    except ValueError as e:
        print(f"benchmarks: error: {e}", file=sys.stderr)
        return 2
    print(mpath.read_text())
    print(f"written: {jpath}\n         {mpath}")
    return 0
