"""Issue 15 (5-9, 13): unusable --out or store, mixed sweeps, concurrent runs, Ctrl-C, unreachable Ray, changed
batch splitting: one line each, exit 2 (130 for Ctrl-C), and a store that cannot be read is never modified.
Kill-and-resume: SIGKILL at several points, including inside a batch's transaction, loses nothing, leaves
no partial batch, and the resumed store is bit-identical to an uninterrupted run."""
import dataclasses
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import simulators.synthetic as syn
from simulators.harness import register
from simulators.harness.cli import main
from simulators.harness.runner import RunDirLock

S = ["--scale", "smoke", "--threads", "1", "--no-progress"]
RUN = ["run", "synthetic.power_law", *S]


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("toyscale: error:") and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def _digest(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def good_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    assert main([*RUN, "--out", str(d)]) == 0
    return d


# ---- 5. unusable output or store ---------------------------------------------------------------------------
def test_out_that_cannot_be_a_directory_is_refused(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    for out, needle in [(f, "not a directory"), (f / "sub", "is a file"), (Path("/proc/toyscale-no"), "/proc/toyscale-no")]:
        for verb in (RUN, ["reproduce", *S, "--only", "synthetic"]):
            assert main([*verb, "--out", str(out)]) == 2
            _one_line(capsys, str(out), needle)
    assert f.read_text() == "x"


def _make_unwritable(d: Path) -> tuple[str, callable]:
    """Make directory `d` really unwritable for this process and return (how, undo). Non-root: mode 0o555. Root
    bypasses permission bits, so root marks it immutable (`chattr +i`, ext4/xfs/btrfs): the kernel then refuses
    writes, and `os.access(d, W_OK)` says so, for root too."""
    if os.geteuid() != 0:
        d.chmod(0o555)
        return "chmod 555", lambda: d.chmod(0o755)
    r = subprocess.run(["chattr", "+i", str(d)], capture_output=True, text=True)
    assert r.returncode == 0, f"as root this test needs chattr +i to make an unwritable directory: {r.stderr.strip()}"
    return "chattr +i", lambda: subprocess.run(["chattr", "-i", str(d)], check=True)


def test_read_only_out_is_refused(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    how, undo = _make_unwritable(ro)
    try:
        assert not os.access(ro, os.W_OK), f"{how} left {ro} writable"
        assert main([*RUN, "--out", str(ro / "run")]) == 2
        _one_line(capsys, "not writable")
        assert not (ro / "run").exists()
    finally:
        undo()


def _bad_stores(tmp_path: Path, good: Path):
    """(name, directory) of stores `report` and `--resume` must refuse without touching them."""
    out = []

    def make(name, write):
        d = tmp_path / name
        d.mkdir()
        write(d / "results.sqlite")
        out.append((name, d))

    make("random", lambda p: p.write_bytes(os.urandom(8192)))
    raw = (good / "results.sqlite").read_bytes()
    make("truncated", lambda p: p.write_bytes(raw[: len(raw) // 2]))
    make("empty", lambda p: p.write_bytes(b""))
    make("directory", lambda p: p.mkdir())

    def foreign(p):
        c = sqlite3.connect(p)
        c.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
        c.commit()
        c.close()
    make("foreign", foreign)

    def not_json(p):
        p.write_bytes(raw)
        c = sqlite3.connect(p)
        c.execute("UPDATE points SET metrics = 'not json {' WHERE rowid = (SELECT MIN(rowid) FROM points)")
        c.commit()
        c.close()
    make("not_json", not_json)
    return out


def test_report_and_resume_refuse_unreadable_stores_without_touching_them(tmp_path, capsys, good_store):
    for name, d in _bad_stores(tmp_path, good_store):
        db = d / "results.sqlite"
        before = sorted(p.name for p in d.iterdir())
        digest = _digest(db) if db.is_file() else None
        assert main(["report", str(d)]) == 2, name
        _one_line(capsys, "results.sqlite")
        # not_json: a readable toyscale store (resume recomputes the missing points only); empty (0 bytes): what a
        # run stopped while creating its store leaves, resumed as a new store (test_store_tableless.py)
        if name not in ("not_json", "empty"):
            assert main([*RUN, "--out", str(d), "--resume"]) == 2, name
            _one_line(capsys, "results.sqlite")
        assert sorted(p.name for p in d.iterdir()) == before, name
        if digest is not None:
            assert _digest(db) == digest, name


def test_report_on_missing_or_file_dir(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    _one_line(capsys, "holds no results.sqlite")
    (tmp_path / "f").write_text("x")
    assert main(["report", str(tmp_path / "f")]) == 2
    _one_line(capsys, "not a directory")


# ---- 6. one sweep per run directory -----------------------------------------------------------------------
def test_run_dir_holding_another_sweep_is_refused_unless_force_new(tmp_path, capsys):
    d = tmp_path / "d"
    assert main([*RUN, "--out", str(d)]) == 0
    n = sqlite3.connect(d / "results.sqlite").execute("SELECT COUNT(*) FROM points").fetchone()[0]
    capsys.readouterr()
    assert main([*RUN, "--out", str(d), "--set", "exponent=0.7"]) == 2
    _one_line(capsys, "another config", "exponent")
    assert main(["run", "rf.time", *S, "--out", str(d)]) == 2
    _one_line(capsys, "synthetic.power_law", "rf.time")
    assert sqlite3.connect(d / "results.sqlite").execute("SELECT COUNT(*) FROM points").fetchone()[0] == n
    assert main([*RUN, "--out", str(d), "--set", "exponent=0.7", "--force-new"]) == 0
    assert json.loads((d / "report.json").read_text())["config"]["exponent"] == 0.7


# ---- 7. exclusive lock ------------------------------------------------------------------------------------
def test_second_process_on_a_locked_run_dir_is_refused_naming_the_pid(tmp_path, capsys):
    d = tmp_path / "locked"
    d.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (     # the lock protocol of RunDirLock, without importing torch
        "import fcntl, os, time\n"
        f"fd = os.open({str(d / RunDirLock.NAME)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); os.write(fd, str(os.getpid()).encode())\n"
        "print('locked', flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main([*RUN, "--out", str(d)]) == 2
        _one_line(capsys, f"pid {holder.pid}")
        assert not (d / "results.sqlite").exists()
    finally:
        holder.kill()
        holder.wait()
    assert main([*RUN, "--out", str(d)]) == 0   # released when the holder died (even by SIGKILL)
    with RunDirLock(d):                          # and re-entrant across processes only, not within one lock object
        pass


# ---- 8. unreachable Ray ----------------------------------------------------------------------------------
def test_unreachable_ray_address_is_one_line_not_a_hang(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main([*RUN, "--out", str(tmp_path / "r"), "--executor", "ray", "--ray-address", "127.0.0.1:1"]) == 2
    assert time.perf_counter() - t0 < 60
    _one_line(capsys, "127.0.0.1:1")
    assert not (tmp_path / "r").exists()


# ---- 9 and 13. Ctrl-C, and a resume that changes the batch splitting --------------------------------------
def test_ctrl_c_prints_stored_count_and_exact_resume_command(tmp_path, capsys):
    calls = []
    real = syn.EXPERIMENT.run_batch

    def interrupted(cfg, points, ctx):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(cfg, points, ctx)

    d = tmp_path / "c"
    argv = [*RUN, "--out", str(d), "--max-instances-per-batch", "4"]
    register(dataclasses.replace(syn.EXPERIMENT, run_batch=interrupted))
    try:
        assert main(argv) == 130
    finally:
        register(syn.EXPERIMENT)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert "8 points of synthetic.power_law are stored" in err[0]
    cmd = err[0].split("continue with: ", 1)[1]
    assert cmd.endswith("--resume") and cmd.startswith("toyscale run synthetic.power_law")
    # 13: the points depend on the recorded batch splitting; resuming with another one is refused
    assert main([*RUN, "--out", str(d), "--resume"]) == 2
    _one_line(capsys, "--max-instances-per-batch 4")
    import shlex

    assert main(shlex.split(cmd)[1:]) == 0


# ---- kill-and-resume --------------------------------------------------------------------------------------
CHILD = r"""
import os, signal, sys
import simulators.synthetic as syn
from simulators.harness import store
from simulators.harness.cli import main
where, k = sys.argv[1], int(sys.argv[2])
n = [0]
if where == "between":          # killed while batch k runs: batches < k committed
    real = syn.EXPERIMENT.run_batch
    def run_batch(cfg, pts, ctx):
        n[0] += 1
        if n[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(cfg, pts, ctx)
    syn.EXPERIMENT.__dict__  # frozen dataclass: replace it in the registry
    import dataclasses
    from simulators.harness import register
    register(dataclasses.replace(syn.EXPERIMENT, run_batch=run_batch))
else:                           # killed inside batch k's transaction: rows inserted, not committed
    real_init = store.ResultStore.__init__
    class Conn:
        def __init__(self, c): self.c = c
        def __getattr__(self, a): return getattr(self.c, a)
        def __enter__(self): return self.c.__enter__()
        def __exit__(self, *e): return self.c.__exit__(*e)
        def executemany(self, q, rows):
            r = self.c.executemany(q, rows)
            if q.startswith("INSERT OR REPLACE INTO points"):
                n[0] += 1
                if n[0] == k:
                    os.kill(os.getpid(), signal.SIGKILL)
            return r
    def init(self, *a, **kw):
        real_init(self, *a, **kw)
        self.conn = Conn(self.conn)
    store.ResultStore.__init__ = init
sys.exit(main(sys.argv[3:]))
"""


def _points(d: Path) -> dict:
    c = sqlite3.connect(d / "results.sqlite")
    return {k: m for k, m in c.execute("SELECT key, metrics FROM points")}


@pytest.mark.parametrize("where,k", [("between", 1), ("between", 3), ("txn", 2)])
def test_sigkill_then_resume_loses_nothing_and_matches_an_uninterrupted_run(tmp_path, where, k, good_store):
    d = tmp_path / "k"
    argv = [*RUN, "--out", str(d)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    p = subprocess.run([sys.executable, "-c", CHILD, where, str(k), *argv], capture_output=True, text=True, env=env,
                       cwd=Path(__file__).parents[2])
    assert p.returncode == -signal.SIGKILL, p.stderr
    n_sizes = syn.EXPERIMENT.config("smoke").n_sizes
    stored = _points(d)
    assert len(stored) == (k - 1) * n_sizes           # whole batches only: the killed one left nothing
    assert main([*argv, "--resume"]) == 0
    assert _points(d) == _points(good_store)           # bit-identical metrics, same keys


# ---- 4. the memory estimate -------------------------------------------------------------------------------
def test_run_that_cannot_fit_is_refused_with_estimate_and_available(tmp_path, capsys):
    """instance_bytes x the largest batch's instances against the available memory: one line with both numbers,
    before anything is written; --max-instances-per-batch brings the estimate down to what fits."""
    from simulators.harness.runner import available_memory

    import torch

    avail = available_memory(torch.device("cpu"))
    assert avail is not None and avail > 0
    per = avail // 2                      # one instance fits, a batch of 8 (one seed's sizes) does not
    register(dataclasses.replace(syn.EXPERIMENT, instance_bytes=lambda cfg: per))
    try:
        assert main([*RUN, "--out", str(tmp_path / "m")]) == 2
        line = _one_line(capsys, "estimated peak memory", "GiB available", "--max-instances-per-batch 1")
        assert f"{8 * per / 2**30:.3g} GiB" in line
        assert not (tmp_path / "m").exists()
        assert main([*RUN, "--out", str(tmp_path / "m"), "--max-instances-per-batch", "1"]) == 0
    finally:
        register(syn.EXPERIMENT)
