"""The table-less store: a run stopped (kill -9 included) between creating `results.sqlite` and committing its
schema must not make the run directory unresumable ("an interrupted sweep loses nothing and resumes").

Two guarantees (simulators/harness/store_check.py, module docstring):
1. creation is atomic: a kill -9 at ANY step of creating a store leaves either no `results.sqlite` or a complete
   one, and two processes racing to create it never overwrite each other;
2. a store holding no data and no complete schema (0 bytes, an SQLite file with no tables, or only some of
   toyscale's own empty tables: what the former, non-atomic creation left when killed) is resumed as a new store;
   another tool's database, even one with a table named `points`, is still refused in one line, untouched.

All checks are exact (no statistics). The kill points are swept exhaustively: every SQLite statement and every
file-system step (connect, link, replace, fsync, unlink) of the creation is a kill point, and the sweep runs
until the child completes without being killed, so a kill point added to the code is swept too.
"""
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.harness import store_check
from simulators.harness.cli import main
from simulators.harness.store_check import check_store_file, prepare_store

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
RUN = ["run", "synthetic.power_law", "--scale", "smoke", "--threads", "1", "--no-progress"]
TABLES = ["meta", "points", "runs"]


def _points(d: Path) -> dict:
    with sqlite3.connect(d / "results.sqlite") as c:
        return dict(c.execute("SELECT key, metrics FROM points"))


def _tables(p: Path) -> list:
    with sqlite3.connect(p) as c:
        return sorted(n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The points of an uninterrupted run (a resumed run must store exactly these: keys and metrics)."""
    d = tmp_path_factory.mktemp("ref")
    assert main([*RUN, "--out", str(d)]) == 0
    pts = _points(d)
    assert len(pts) == 32
    return pts


# ---- the states a stopped creation leaves ------------------------------------------------------------------
def _zero_bytes(p):
    p.write_bytes(b"")


def _header_only_wal(p):            # the former creation killed after `PRAGMA journal_mode=WAL`: 4096-byte header
    c = sqlite3.connect(p)
    c.execute("PRAGMA journal_mode=WAL")
    c.close()


def _no_tables_rollback(p):         # a valid database with an empty schema (rollback journal mode)
    c = sqlite3.connect(p)
    c.execute("PRAGMA user_version=7")
    c.close()


def _points_table_only(p):          # the former creation killed after its first autocommitted CREATE TABLE
    c = sqlite3.connect(p)
    c.execute(store_check._SCHEMA_TABLES["points"])
    c.commit()
    c.close()


EMPTY_STATES = [_zero_bytes, _header_only_wal, _no_tables_rollback, _points_table_only]


@pytest.mark.parametrize("make", EMPTY_STATES, ids=lambda f: f.__name__.strip("_"))
def test_an_empty_store_is_resumed_as_a_new_one(tmp_path, make, reference, capsys):
    d = tmp_path / "d"
    d.mkdir()
    make(d / "results.sqlite")
    assert (d / "results.sqlite").stat().st_size == 0 or _tables(d / "results.sqlite") in ([], ["points"])
    assert check_store_file(d / "results.sqlite") == "empty"
    assert main(["report", str(d)]) == 2                 # nothing to report, in one line, untouched
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "holds no results yet" in err[0], err
    assert main([*RUN, "--out", str(d), "--resume"]) == 0, capsys.readouterr().err
    assert _tables(d / "results.sqlite") == TABLES
    assert _points(d) == reference
    assert not list(d.glob(".results.sqlite.*"))         # no temporary store left behind


def test_an_empty_store_is_accepted_without_resume_too(tmp_path, reference):
    d = tmp_path / "d"
    d.mkdir()
    _header_only_wal(d / "results.sqlite")
    assert main([*RUN, "--out", str(d)]) == 0           # it holds no finished points: no --resume needed
    assert _points(d) == reference


def test_a_zero_byte_store_resumes_through_the_cli_process(tmp_path, reference):
    d = tmp_path / "d"
    d.mkdir()
    (d / "results.sqlite").write_bytes(b"")
    p = subprocess.run([sys.executable, "-m", "simulators.harness.cli", *RUN, "--out", str(d), "--resume"],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Traceback" not in p.stderr
    assert _points(d) == reference


# ---- still refused: anything that is not (an empty) toyscale store -----------------------------------------
def _foreign_table(p):
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
    c.commit()
    c.close()


def _points_with_other_columns(p):   # e.g. a GIS tool's `points`: the name alone does not make it ours
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE points (x REAL, y REAL)")
    c.commit()
    c.close()


def _our_points_holding_a_row(p):    # toyscale's columns, but it holds data: not empty, and no `runs`
    _points_table_only(p)
    c = sqlite3.connect(p)
    c.execute("INSERT INTO points VALUES ('k','e',0,'{}','{}','{}','f','cpu','b','{}',0.0,0.0)")
    c.commit()
    c.close()


def _our_tables_plus_a_foreign_one(p):
    _points_table_only(p)
    _foreign_table(p)


def _our_points_with_an_extra_index(p):   # toyscale's empty `points`, plus an object toyscale never creates
    _points_table_only(p)
    c = sqlite3.connect(p)
    c.execute("CREATE INDEX by_seed ON points (seed)")
    c.commit()
    c.close()


@pytest.mark.parametrize("make", [_foreign_table, _points_with_other_columns, _our_points_holding_a_row,
                                  _our_tables_plus_a_foreign_one, _our_points_with_an_extra_index], ids=lambda f: f.__name__.strip("_"))
def test_a_foreign_database_is_still_refused_untouched(tmp_path, make, capsys):
    d = tmp_path / "d"
    d.mkdir()
    db = d / "results.sqlite"
    make(db)
    before = sorted(p.name for p in d.iterdir())
    digest = hashlib.sha1(db.read_bytes()).hexdigest()
    for argv in ([*RUN, "--out", str(d), "--resume"], [*RUN, "--out", str(d)], ["report", str(d)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        assert "without toyscale's tables" in lines[0] and str(db) in lines[0], lines[0]
    with pytest.raises(Exception, match="without toyscale's tables"):
        prepare_store(db)                                  # also when the file-level check is bypassed
    assert sorted(p.name for p in d.iterdir()) == before
    assert hashlib.sha1(db.read_bytes()).hexdigest() == digest


# ---- kill -9 at every step of a creation --------------------------------------------------------------------
CHILD = r"""
import os, signal, sqlite3, sys
from pathlib import Path
from simulators.harness import store_check
mode, path, k = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
n = [0]
def event(*_):
    n[0] += 1
    if n[0] == k:
        os.kill(os.getpid(), signal.SIGKILL)
real_connect = sqlite3.connect
def connect(*a, **kw):
    c = real_connect(*a, **kw)
    event()                         # the file exists now (0 bytes for a new one)
    c.set_trace_callback(event)     # before every statement
    return c
sqlite3.connect = connect
for name in ("link", "replace", "fsync", "unlink"):
    real = getattr(os, name)
    def wrapped(*a, _real=real, **kw):
        event()
        try:
            return _real(*a, **kw)
        finally:
            event()
    setattr(os, name, wrapped)
if mode == "legacy":                # the creation before the fix (ResultStore.__init__), kept to sweep what it left
    c = sqlite3.connect(path, timeout=30)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=FULL")
    c.executescript(store_check._SCHEMA)
    c.commit()
    c.close()
else:                               # "new": a missing store; "fill": a 0-byte one
    store_check.prepare_store(path)
"""


def _sweep(tmp_path: Path, mode: str) -> list:
    """Kill the child at event k = 1, 2, ... until it completes; returns (k, directory) of every killed run."""
    killed = []
    for k in range(1, 200):
        d = tmp_path / f"{mode}{k}"
        d.mkdir()
        if mode == "fill":
            (d / "results.sqlite").write_bytes(b"")
        p = subprocess.run([sys.executable, "-c", CHILD, mode, str(d / "results.sqlite"), str(k)], cwd=ROOT, env=ENV,
                           capture_output=True, text=True, timeout=60)
        if p.returncode == 0:
            return killed
        assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]
        killed.append((k, d))
    raise AssertionError(f"{mode}: the child was still killed at event 199")


def _state(d: Path) -> str:
    db = d / "results.sqlite"
    st = check_store_file(db)      # what the CLI and the run-dir lock do first: accepted, not refused
    if st == "store":
        assert _tables(db) == TABLES, d
    return st


def test_kill_at_every_step_of_a_new_stores_creation_leaves_no_store_or_a_complete_one(tmp_path, monkeypatch,
                                                                                      reference):
    """An atomic creation never shows the intermediate state: each kill leaves `missing` or a complete `store`,
    never `empty` (the former creation, swept below, leaves `empty` states: this is what tells them apart), plus
    at most hidden temporary files, which the next writer removes once their process is gone."""
    killed = _sweep(tmp_path, "new")
    states = [_state(d) for _, d in killed]
    assert len(killed) >= 15 and set(states) == {"missing", "store"}, states
    for (k, d), st in zip(killed, states):
        junk = [p.name for p in d.iterdir() if p.name != "results.sqlite" and not p.name.startswith("results.sqlite-")]
        assert all(n.startswith(".results.sqlite.") and ".tmp" in n for n in junk), (k, junk)
        monkeypatch.setattr(store_check, "_TMP_AGE_S", 0.0)
        prepare_store(d / "results.sqlite")                     # what ResultStore does on open
        assert _state(d) == "store"
        assert not [p for p in d.iterdir() if p.name.startswith(".results.sqlite.")], k   # stale temps removed
    # a store the creator completed (killed only while cleaning up) and one it never made both resume
    for st in ("missing", "store"):
        d = killed[states.index(st)][1]
        assert main([*RUN, "--out", str(d), "--resume"]) == 0
        assert _points(d) == reference


@pytest.mark.parametrize("mode", ["legacy", "fill"])
def test_kill_at_every_step_of_a_schema_commit_leaves_a_store_that_resumes(tmp_path, mode, reference):
    """legacy: the former creation (connect, WAL, then the schema as autocommitted statements) killed at every
    step leaves 0-byte, header-only, -wal/-shm and one-table files: each is accepted and resumes. fill: giving a
    0-byte store its schema in one transaction, killed at every step, leaves `empty` or a complete store."""
    killed = _sweep(tmp_path, mode)
    states = [_state(d) for _, d in killed]
    assert len(killed) >= 5 and "empty" in states and set(states) <= {"empty", "store"}, states
    if mode == "fill":        # one transaction: never half a schema (autocommitted CREATEs would leave `points` only)
        assert all(_tables(d / "results.sqlite") in ([], TABLES) for _, d in killed)
    if mode == "legacy":      # the defect's own states are among those swept: 0 bytes, no tables, only `points`
        kinds = {(d / "results.sqlite").stat().st_size == 0 for _, d in killed}
        assert kinds == {True, False}
        assert any(_tables(d / "results.sqlite") == ["points"] for _, d in killed)
    seen = set()
    for (k, d), st in zip(killed, states):
        shape = (st, tuple(_tables(d / "results.sqlite")), tuple(sorted(p.name for p in d.iterdir())))
        if shape in seen:     # resume each distinct leftover once (same tables, same files: same path through)
            prepare_store(d / "results.sqlite")
            assert _state(d) == "store"
            continue
        seen.add(shape)
        assert main([*RUN, "--out", str(d), "--resume"]) == 0, (k, shape)
        assert _points(d) == reference, (k, shape)


# ---- two processes racing to create one store ---------------------------------------------------------------
RACER = r"""
import os, sqlite3, sys, time
from pathlib import Path
from simulators.harness import store_check
path, n = Path(sys.argv[1]), int(sys.argv[2])
real_link = os.link
def link(src, dst):                 # every racer has built its temporary store before any links it into place
    open(path.parent / f"ready-{os.getpid()}", "w").close()
    t = time.time() + 30
    while len(list(path.parent.glob("ready-*"))) < n and time.time() < t:
        time.sleep(0.005)
    try:
        real_link(src, dst)
        print("linked", flush=True)
    except FileExistsError:
        print("exists", flush=True)
        raise
os.link = link
store_check.prepare_store(path)
c = sqlite3.connect(path, timeout=30)
with c:
    c.execute("INSERT INTO meta VALUES (?, ?)", (f"racer-{os.getpid()}", "1"))
c.close()
"""


def test_racing_creators_never_overwrite_each_other(tmp_path):
    """Four processes build their store at once and link it into place together: exactly one link wins, the
    others open the winner's file (a creator that replaced the file, os.replace, would report no winner and
    orphan the rows written through an earlier file), and every racer's row is in the one store."""
    n = 4
    d = tmp_path / "race"
    d.mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(d / "results.sqlite"), str(n)], cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(n)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * n, [e[-1000:] for _, e in outs]
    assert sorted(o.strip() for o, _ in outs) == ["exists"] * (n - 1) + ["linked"]
    with sqlite3.connect(d / "results.sqlite") as c:
        rows = {k for (k,) in c.execute("SELECT key FROM meta WHERE key LIKE 'racer-%'")}
    assert rows == {f"racer-{p.pid}" for p in procs}
    assert check_store_file(d / "results.sqlite") == "store"
    assert not list(d.glob(".results.sqlite.*"))
