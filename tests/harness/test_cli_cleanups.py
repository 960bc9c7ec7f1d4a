"""Issue 15 remainder: Ray refusals before any heavy import, Ctrl-C during `reproduce` (a real SIGINT), the store
checked once per command, the benchmark suite's markdown table, and the resume under the CUDA memory cap."""
import dataclasses
import importlib.util
import json
import os
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _report_cli_helpers():
    spec = importlib.util.spec_from_file_location("_report_cli_helpers", Path(__file__).with_name("test_report_cli.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- Ray: refused before torch or ray is imported --------------------------------------------------------
RAY_PROBE = r"""
import io, json, sys
from contextlib import redirect_stderr, redirect_stdout
if sys.argv[1] == "missing":
    sys.modules["ray"] = None          # importlib.util.find_spec("ray") -> None: ray is not installed
from simulators.harness.cli import main
err = io.StringIO()
with redirect_stdout(io.StringIO()), redirect_stderr(err):
    rc = main(sys.argv[2:])
print(json.dumps({"rc": rc, "err": err.getvalue(), "torch": "torch" in sys.modules,
                  "ray": sys.modules.get("ray") is not None}))
"""


@pytest.mark.parametrize("case,argv,needle", [
    ("present", ["run", "synthetic.power_law", "--executor", "ray", "--ray-address", "127.0.0.1:1"],
     "--ray-address: ray_address 127.0.0.1:1: cannot connect"),
    ("present", ["reproduce", "--only", "synthetic", "--executor", "ray", "--ray-address", "127.0.0.1:1"],
     "--ray-address: ray_address 127.0.0.1:1: cannot connect"),
    ("present", ["run", "synthetic.power_law", "--executor", "ray", "--ray-address", "nonsense"],
     "ray_address must be auto, local, host:port"),
    ("missing", ["run", "synthetic.power_law", "--executor", "ray"], "install it with: pip install 'toyscale[ray]'"),
    ("present", ["run", "synthetic.power_law", "--ray-address", "127.0.0.1:1"], "need --executor ray"),
])
def test_ray_refusals_import_neither_torch_nor_ray(case, argv, needle, tmp_path):
    from simulators.harness import index

    assert index.load() is not None, f"the experiments index is stale; regenerate it with: {index.REGENERATE}"
    p = subprocess.run([sys.executable, "-c", RAY_PROBE, case, *argv, "--out", str(tmp_path / "o")], cwd=ROOT,
                       capture_output=True, text=True, env=ENV, timeout=120)
    r = json.loads(p.stdout.strip().splitlines()[-1])
    lines = r["err"].strip().splitlines()
    assert r["rc"] == 2 and len(lines) == 1 and needle in lines[0], r
    assert not r["torch"] and not r["ray"], r
    assert not (tmp_path / "o").exists()


# ---- Ctrl-C during reproduce: a real SIGINT in a child process ------------------------------------------
SIGINT_CHILD = r"""
import dataclasses, os, signal, sys
import simulators.synthetic as syn
from simulators.harness import register
from simulators.harness.cli import main
calls = [0]
real = syn.EXPERIMENT.run_batch
def run_batch(cfg, pts, ctx):
    calls[0] += 1
    if calls[0] == 3:                         # two batches of 4 points are stored
        os.kill(os.getpid(), signal.SIGINT)   # Ctrl-C: Python raises KeyboardInterrupt in the main thread
    return real(cfg, pts, ctx)
register(dataclasses.replace(syn.EXPERIMENT, run_batch=run_batch))
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_during_reproduce_prints_stored_count_and_resume_command(tmp_path):
    out = tmp_path / "rep"
    argv = ["reproduce", "--scale", "smoke", "--only", "synthetic", "--out", str(out), "--no-progress",
            "--threads", "1", "--max-instances-per-batch", "4"]
    p = subprocess.run([sys.executable, "-c", SIGINT_CHILD, *argv], cwd=ROOT, capture_output=True, text=True,
                       env=ENV, timeout=300)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 130, p.stderr[-2000:]
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "0 of 1 experiments finished, 8 points of synthetic.power_law stored" in lines[0], lines[0]
    db = out / "synthetic.power_law" / "results.sqlite"
    if not db.exists():
        db = next(out.glob("*/results.sqlite"))
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM points").fetchone()[0] == 8
    cmd = lines[0].split("continue with: ", 1)[1]
    assert shlex.split(cmd) == ["toyscale", *argv, "--resume"]
    # the exact command finishes the sweep, recomputing only what is missing (32 smoke points)
    p2 = subprocess.run([sys.executable, "-m", "simulators.harness.cli", *shlex.split(cmd)[1:]], cwd=ROOT,
                        capture_output=True, text=True, env=ENV, timeout=300)
    assert p2.returncode == 0, p2.stderr[-2000:]
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM points").fetchone()[0] == 32
    assert (out / "index.md").exists() or list(out.glob("*.md"))


# ---- the store's integrity check runs once per command ---------------------------------------------------
def test_store_is_checked_once_per_command(tmp_path, monkeypatch, capsys):
    from simulators.harness import store_check
    from simulators.harness.cli import main

    out = tmp_path / "r"
    run = ["run", "synthetic.power_law", "--scale", "smoke", "--threads", "1", "--no-progress", "--out", str(out)]
    assert main(run) == 0
    time.sleep(2 * store_check._MTIME_SLACK_NS / 1e9)   # past the mtime slack, so a check may be remembered
    calls = []
    real = store_check._quick_check
    monkeypatch.setattr(store_check, "_quick_check", lambda conn: calls.append(1) or real(conn))
    for argv in (["report", str(out)], [*run, "--resume"]):
        store_check._VERIFIED.clear()
        calls.clear()
        assert main(argv) == 0, capsys.readouterr().err
        assert len(calls) == 1, argv            # was 3 (report) and 3 (run: CLI, run-dir lock, store open)
    # a store changed since its check is checked again (and refused when corrupt)
    calls.clear()
    db = out / "results.sqlite"
    data = bytearray(db.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    db.write_bytes(bytes(data))
    assert main(["report", str(out)]) == 2
    assert "is corrupt or unreadable" in capsys.readouterr().err and len(calls) <= 1


# ---- benchmarks/suite.py: its markdown table parses into its columns -------------------------------------
def test_benchmark_markdown_table_parses_with_the_expected_columns():
    from benchmarks.suite import markdown_table

    helpers = _report_cli_helpers()
    rows = [{"benchmark": "a|b", "provider": "x", "time_s": 1.0, "status": "ok | fast",
             "config": {"command": "run X --set 'points=((1,2),)' | tee", "law": "|θ-θ0|"}},
            {"benchmark": "c", "provider": "y\nz", "time_s": 2.0, "status": "ok", "config": {"n": 3}}]
    info = {"device": "cpu", "versions": {"torch": "2"}, "timestamp": "t"}
    md = markdown_table(rows, info, "tiny")
    helpers._assert_tables_render(md, 1)
    table = helpers.gfm_tables(md)[0]
    assert table[0] == ["benchmark", "provider", "time_s", "status", "config"]
    assert len(table) == 4 and all(len(r) == 5 for r in table)


# ---- the auto memory cap (CUDA) is recorded, and an auto resume keeps it ---------------------------------
def test_auto_memory_cap_is_recorded_and_an_auto_resume_keeps_it(tmp_path, monkeypatch):
    """On CUDA the runner cuts batches to what the free memory holds (`memory_cap`); the free memory differs
    between a run and its resume, and batch composition can change float results (issue 15.13). The effective
    cap is recorded and an auto resume keeps it: simulated on CPU by replacing `memory_cap` (3, then 5)."""
    import simulators.synthetic as syn
    from simulators.harness import ConfigError, register, runner
    from simulators.harness.store import ResultStore

    sizes, calls = [], [0]
    real = syn.EXPERIMENT.run_batch

    def run_batch(cfg, pts, ctx):
        calls[0] += 1
        sizes.append(len(pts))
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(cfg, pts, ctx)

    register(dataclasses.replace(syn.EXPERIMENT, run_batch=run_batch))
    try:
        monkeypatch.setattr(runner, "memory_cap", lambda exp, cfg, dev: 3)
        with pytest.raises(KeyboardInterrupt):
            runner.run_experiment("synthetic.power_law", "smoke", out=tmp_path, device="cpu")
        assert sizes == [3, 3, 2]            # smoke: batches of 8 points cut 3 + 3 + 2; the third is interrupted
        with ResultStore(tmp_path, readonly=True) as st:
            assert st.get_meta("numerics:synthetic.power_law")["max_instances_per_batch"] == 3
        monkeypatch.setattr(runner, "memory_cap", lambda exp, cfg, dev: 5)   # more free memory at the resume
        with pytest.raises(ConfigError, match="max-instances-per-batch 3"):   # an explicit other value: refused
            runner.run_experiment("synthetic.power_law", "smoke", out=tmp_path, device="cpu", resume=True,
                                  max_instances_per_batch=5)
        sizes.clear()
        calls[0] = 10
        res = runner.run_experiment("synthetic.power_law", "smoke", out=tmp_path, device="cpu", resume=True)
        assert res.reused == 6 and res.computed == 26
        assert max(sizes) == 3, sizes          # the recorded cap, not this resume's 5
        with ResultStore(tmp_path, readonly=True) as st:
            assert st.get_meta("numerics:synthetic.power_law")["max_instances_per_batch"] == 3
    finally:
        register(syn.EXPERIMENT)
