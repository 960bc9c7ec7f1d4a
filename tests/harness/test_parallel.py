"""`reproduce --jobs`: experiments in worker processes give exactly the serial results (simulators/harness/parallel.py).

Exact checks (no statistics): the same stored numbers and the same report rows as the serial loop at the same
torch thread count, a worker's error reaches the caller, and the longest-first order."""
import sqlite3

import pytest
import torch

from simulators.harness import parallel
from simulators.harness.runner import run_experiment

NAMES = ["synthetic.power_law", "collapse.overparam"]


def _stored(path):
    with sqlite3.connect(path / "results.sqlite") as db:
        return sorted(db.execute("SELECT key, metrics FROM points").fetchall())


def _rows(report):
    return [(r["quantity"], r["measured_exponent"], tuple(r["ci95"]), r["pass"]) for r in report["rows"]]


@pytest.mark.slow
def test_workers_store_and_report_exactly_what_the_serial_loop_does(tmp_path):
    reports = parallel.run_parallel(NAMES, lambda n: dict(scale="smoke", out=tmp_path / "par" / n, device="cpu"),
                                    jobs=2, threads=1)
    assert sorted(reports) == sorted(NAMES)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for n in NAMES:
            ser = run_experiment(n, "smoke", out=tmp_path / "ser" / n, device="cpu").report
            assert _rows(ser) == _rows(reports[n])
            assert _stored(tmp_path / "ser" / n) == _stored(tmp_path / "par" / n)
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_a_workers_error_reaches_the_caller(tmp_path):
    with pytest.raises(Exception, match="unknown|not registered|experiment"):
        parallel.run_parallel(["no.such_experiment"], lambda n: dict(scale="smoke", out=tmp_path / n, device="cpu"),
                              jobs=1, threads=1)


def test_longest_first_and_ties_keep_their_order():
    order = parallel.lpt_order(["synthetic.power_law", "superposition.weak", "zzz.new", "superposition.strong"])
    assert order[:2] == ["superposition.strong", "superposition.weak"]
    assert order[2:] == ["synthetic.power_law", "zzz.new"]          # both unhinted: the given order is kept


def test_default_jobs_is_one_on_ray_and_bounded_by_the_cpus():
    assert parallel.default_jobs("cpu", "ray", 30) == 1
    assert parallel.default_jobs("cuda", "local", 30) == 1
    assert 1 <= parallel.default_jobs("cpu", "local", 30) <= min(4, parallel.cpu_count())
    assert parallel.default_jobs("cpu", "local", 1) == 1


@pytest.mark.slow
def test_ctrl_c_of_a_parallel_reproduce_stops_every_worker_and_resumes(tmp_path):
    """A terminal's Ctrl-C (SIGINT to the whole process group) while two workers run: one line with the stored
    count and the exact resume command, exit 130, no traceback, no worker left behind; that command finishes."""
    import os
    import shlex
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = tmp_path / "rep"
    argv = ["reproduce", "--scale", "smoke", "--only", "lottery.silu,superposition.weak", "--out", str(out),
            "--no-progress", "--jobs", "2"]
    p = subprocess.Popen([sys.executable, "-m", "simulators.harness.cli", *argv], cwd=root, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 240
    # interrupt as soon as a store exists: its creation is atomic, and an empty store resumes (store_check)
    while not list(out.glob("*/results.sqlite")) and time.time() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert p.poll() is None, "reproduce finished before it could be interrupted"
    os.killpg(p.pid, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    lines = err.strip().splitlines()
    assert p.returncode == 130, err[-2000:]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "of 2 experiments finished" in lines[0] and "stored" in lines[0], lines[0]
    for _ in range(50):                 # the resource tracker exits once the parent's pipe closes
        left = subprocess.run(["pgrep", "-a", "-g", str(p.pid)], capture_output=True, text=True).stdout.strip()
        if not left:
            break
        time.sleep(0.2)
    assert not left, f"processes left running: {left}"
    cmd = shlex.split(lines[0].split("continue with: ", 1)[1])
    assert cmd == ["toyscale", *argv, "--resume"]
    p2 = subprocess.run([sys.executable, "-m", "simulators.harness.cli", *cmd[1:]], cwd=root, env=env,
                        capture_output=True, text=True, timeout=600)
    assert p2.returncode == 0, p2.stderr[-2000:]
    assert (out / "report.md").exists()

