"""CLI latency (issue 15): wall time of a fresh `toyscale` process for the commands a user types first.

Providers: `index` answers without importing torch: `--help`, `list`, an unknown `--set` key and a value of
the wrong kind from the static experiments index; range and cross-field refusals (the config's own
`__post_init__`, its torch-free module imported alone); an unreachable Ray address; a missing `report` dir.
`registry` is importing torch and every family, the cost every refusal paid before (range refusals took
3-5 s). Each row is a subprocess, so interpreter start-up is included. Target: every refusal and `list` under 1 s.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ._common import time_fn, write_rows

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "simulators.harness.cli"]
COMMANDS = {
    "index": {"--help": ["--help"], "list": ["list"],
              "run X --set bogus=1": ["run", "synthetic.power_law", "--set", "bogus=1"],
              "run X --set n_sizes=abc": ["run", "synthetic.power_law", "--set", "n_sizes=abc"],
              "run X --set n_sizes=-1": ["run", "synthetic.power_law", "--set", "n_sizes=-1"],
              "run rf.time --set N=0": ["run", "rf.time", "--set", "N=0"],
              "run memory.data --set a_values=(0.8,)": ["run", "memory.data", "--set", "a_values=(0.8,)"],
              "run plrf.loss_curves --set lr=5 (cross-field)": ["run", "plrf.loss_curves", "--set", "lr=5"],
              "run X --executor ray --ray-address 127.0.0.1:1": ["run", "synthetic.power_law", "--executor", "ray",
                                                                 "--ray-address", "127.0.0.1:1"],
              "report <missing dir>": ["report", "/nonexistent/toyscale-run"]},
    "registry": {"import registry (pre-index list)": None},
}


def _call(args):
    if args is None:
        cmd = [sys.executable, "-c", "from simulators.harness.registry import list_experiments; list_experiments()"]
    else:
        cmd = CLI + args
    return lambda: subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)


def run(size: str = "full") -> list[dict]:
    if size not in ("tiny", "full"):
        raise ValueError(f"size must be tiny or full, got {size!r}")
    rows = []
    for provider, cmds in COMMANDS.items():
        for what, args in cmds.items():
            if size == "tiny" and what not in ("list", "run X --set bogus=1", "run rf.time --set N=0"):
                continue
            t = time_fn(_call(args), min_time=0.0 if size == "tiny" else 3.0, warmup=1 if size == "full" else 0,
                        max_reps=3 if size == "tiny" else 20)
            rows.append({"benchmark": "cli_latency", "provider": provider, "config": {"command": what}, **t,
                         "status": "ok" if t["time_s"] < 1.0 else "over 1 s"})
    return rows


if __name__ == "__main__":
    rows = run()
    for r in rows:
        print(r)
    print(write_rows("cli", rows))
