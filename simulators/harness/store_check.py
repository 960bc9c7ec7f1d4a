"""Checks of a run directory's results store, and its creation; torch-free, so that the CLI refuses a foreign or
corrupt store in ~0.1 s, before importing torch (`store.py` re-exports these names).
The checks never modify a store (read-only URIs that create nothing beside the file).

States of a `results.sqlite` (`check_store_file`):
  missing  no file: a new store.
  empty    0 bytes, or an SQLite database holding no schema object at all, or only some of toyscale's own tables
           (with toyscale's columns, no rows) and nothing else: what a run stopped (kill -9 included) between
           creating the file and committing its schema leaves, e.g. a store written by a toyscale before the
           creation below was atomic (it ran the schema as separate autocommitted statements). It holds no data,
           so it is accepted as a new store and gets the schema when opened for writing (`prepare_store`);
           `report` refuses it in one line (nothing to report).
  store    a toyscale store (tables `points` and `runs`).
  Anything else (another tool's database, a non-SQLite file, a corrupt file) is refused in one line, untouched.

Creation (`prepare_store`) is atomic: a missing store is built, schema included, in a temporary file in the same
directory, fsynced, and hard-linked into place (`os.link` fails if the name exists, so of two processes racing to
create the same store one wins and the other opens the winner's file; neither overwrites the other). A kill -9 at
any point leaves either no `results.sqlite` or a complete one (plus at most a hidden temporary file, removed by
the next writer once its process is gone). An `empty` store is completed in place in ONE SQLite transaction
(BEGIN IMMEDIATE ... COMMIT, in WAL mode): a kill -9 inside it leaves the file `empty`, never half a schema.
"""
from __future__ import annotations

import os
import secrets
import sqlite3
import time
from pathlib import Path

DB_NAME = "results.sqlite"

SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = {"points", "runs"}

# The schema, one statement per entry (executed inside one explicit transaction; `executescript` would commit
# before it and run each statement in its own transaction).
_SCHEMA_TABLES = {
    "points": """CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    seed INTEGER,
    point TEXT NOT NULL,
    metrics TEXT NOT NULL,
    config TEXT NOT NULL,
    dtype TEXT NOT NULL,
    device TEXT NOT NULL,
    backend TEXT NOT NULL,
    versions TEXT NOT NULL,
    wall_s REAL NOT NULL,
    created REAL NOT NULL
)""",
    "meta": """CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
    "runs": """CREATE TABLE IF NOT EXISTS runs (
    experiment TEXT PRIMARY KEY,
    scale TEXT NOT NULL,
    overrides TEXT NOT NULL,
    config TEXT NOT NULL,
    dtype TEXT NOT NULL,
    device TEXT NOT NULL,
    updated REAL NOT NULL
)""",
}
_SCHEMA = ";\n".join(_SCHEMA_TABLES.values()) + ";\n"
_COLUMNS = {"points": ["key", "experiment", "seed", "point", "metrics", "config", "dtype", "device", "backend",
                       "versions", "wall_s", "created"],
            "meta": ["key", "value"],
            "runs": ["experiment", "scale", "overrides", "config", "dtype", "device", "updated"]}


def _store_error(path: Path, what: str) -> "ConfigError":
    from .fieldcheck import ConfigError

    return ConfigError(f"{path}: {what}; it is left untouched (point --out at another directory)")


def _ro_uri(path: Path) -> str:
    """Read-only SQLite URI that creates nothing beside the file: `immutable=1` when no -wal file exists (then
    every committed row is in the main file), plain `mode=ro` when one does (a killed run's committed but not
    yet checkpointed batches live there)."""
    wal = Path(str(path) + "-wal")
    return f"file:{path}?mode=ro" + ("" if wal.exists() else "&immutable=1")


_VERIFIED: dict[str, tuple] = {}   # resolved path -> file signature at its last full check in this process
_MTIME_SLACK_NS = 200_000_000      # remembered only when written > 0.2 s before the check (mtime granularity)


def _signature(path: Path) -> tuple:
    """(device, inode, size, mtime) of the store and of its -wal file: a store is re-checked once either changed."""
    sig = []
    for p in (path, Path(str(path) + "-wal")):
        try:
            st = p.stat()
            sig.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            sig.append(None)
    return tuple(sig)


def _quick_check(conn: sqlite3.Connection) -> bool:
    return conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"


def _classify(conn: sqlite3.Connection) -> tuple[str, list[str]]:
    """("empty" | "store" | "foreign", table names) of an open, readable SQLite database (see the module
    docstring). "empty" only when every schema object is one of toyscale's tables (or its primary-key index)
    with exactly toyscale's columns and no rows, and `points` or `runs` is missing."""
    objects = conn.execute("SELECT type, name, tbl_name FROM sqlite_master").fetchall()
    tables = sorted(n for t, n, _ in objects if t == "table")
    if _TABLES <= set(tables):
        return "store", tables
    for typ, name, tbl in objects:
        if tbl not in _COLUMNS or not (typ == "table" or (typ == "index" and name == f"sqlite_autoindex_{tbl}_1")):
            return "foreign", tables
    for t in tables:
        if ([r[1] for r in conn.execute(f"PRAGMA table_info({t})")] != _COLUMNS[t]
                or conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is not None):
            return "foreign", tables
    return "empty", tables


def _foreign(path: Path, tables: list[str]) -> "ConfigError":
    return _store_error(path, f"is an SQLite database without toyscale's tables (it has: "
                              f"{', '.join(tables) or 'none'})")


def check_store_file(path: Path) -> str:
    """Refuse (ConfigError, one line naming the path) a results.sqlite that is a directory, not SQLite, another
    tool's SQLite file, or corrupt, without writing to it. Returns "missing" (no file: a new store), "empty" (0
    bytes, or a database without any data or complete schema: a run stopped while creating it; treated as a new
    store) or "store" (see the module docstring).
    The full check (`PRAGMA quick_check`, O(file size)) runs once per process per unchanged file: a command
    checks the same store up to three times (CLI, run-dir lock, store open) and repeats are skipped."""
    if not path.exists():
        return "missing"
    if not path.is_file():
        raise _store_error(path, "is not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise _store_error(path, f"cannot be read ({e.strerror})") from None
    if len(head) == 0:
        return "empty"       # SQLite treats a 0-byte file as an empty database (and discards a -wal beside it)
    if head != SQLITE_MAGIC:
        raise _store_error(path, "is not an SQLite database")
    key, sig, started = str(path.resolve()), _signature(path), time.time_ns()
    if _VERIFIED.get(key) == sig:
        return "store"
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=30)
        try:
            if not _quick_check(conn):
                raise sqlite3.DatabaseError("quick_check failed")
            state, tables = _classify(conn)
            if state == "foreign":
                raise _foreign(path, tables)
            if state == "store":
                conn.execute("SELECT key, point, metrics, versions FROM points LIMIT 1").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise _store_error(path, f"is corrupt or unreadable ({e})") from None
    if state == "store" and all(x is None or x[3] < started - _MTIME_SLACK_NS for x in sig):
        _VERIFIED[key] = sig     # a later write then has a later mtime, even with a coarse file-system clock
    return state


# ---- creation ---------------------------------------------------------------------------------------------
_TMP_AGE_S = 60.0      # a leftover temporary store is removed once its process is gone and it is this old


def _tmp_name(path: Path) -> Path:
    return path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _remove(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass


def _remove_stale_temps(path: Path) -> None:
    """Remove temporary stores (and their journals) left by a creator killed before it cleaned up: only those
    whose process is gone and that are older than a minute (a live or recent creator is never disturbed)."""
    now = time.time()
    for p in path.parent.glob(f".{path.name}.*.tmp*"):
        try:
            pid = int(p.name[len(path.name) + 2:].split("-", 1)[0])
            if now - p.stat().st_mtime < _TMP_AGE_S:
                continue
            os.kill(pid, 0)
            continue                      # alive (or not ours to signal): leave it
        except ProcessLookupError:
            _remove(p)
        except (ValueError, OSError):
            continue


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create_atomically(path: Path) -> None:
    """Build a complete store (schema, WAL mode) in a temporary file beside `path`, then hard-link it into place:
    the file and its schema appear in one step. If `path` appeared meanwhile (another process won the race),
    that file is kept and this one discarded."""
    tmp = _tmp_name(path)
    try:
        conn = sqlite3.connect(tmp, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA_TABLES.values():
                conn.execute(stmt)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")   # recorded in the header; the -wal is emptied and removed on close
        finally:
            conn.close()
        _fsync(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return                        # another process created it first: use that one
        except OSError:                   # a file system without hard links: replace, unless it appeared meanwhile
            if path.exists():
                return
            os.replace(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            _remove(Path(str(tmp) + suffix))


def prepare_store(path: Path) -> None:
    """Make `path` a toyscale store, ready for writing: create it atomically when missing, give an `empty` one the
    schema in one transaction (a kill -9 leaves it `empty`), add tables a store of an older toyscale lacks (`meta`),
    and switch it to WAL mode. Another tool's database is refused in one line, unchanged. Raises
    sqlite3.Error / OSError for the caller to report."""
    _remove_stale_temps(path)
    if not path.exists():
        _create_atomically(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        for mode in ("read", "write"):
            # read: refuse a foreign file before changing anything. Then WAL mode (one transaction of its own),
            # so that the schema transaction never touches the main file; then, holding the write lock, the
            # state read is the state written over (a racing creator's schema is not created twice).
            conn.execute("BEGIN" if mode == "read" else "BEGIN IMMEDIATE")
            try:
                state, tables = _classify(conn)
                if state == "foreign":
                    raise _foreign(path, tables)
                if mode == "write":
                    for name, stmt in _SCHEMA_TABLES.items():
                        if name not in tables:
                            conn.execute(stmt)
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            if mode == "read":
                conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def check_store_dir(run_dir: Path) -> None:
    """What `toyscale report DIR` needs: an existing directory holding a readable toyscale store."""
    from .fieldcheck import ConfigError

    if not run_dir.exists():
        raise ConfigError(f"{run_dir} holds no results.sqlite (no such directory); expected a directory written "
                          "by `toyscale run`")
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a directory; expected a directory written by `toyscale run`")
    if not (run_dir / DB_NAME).exists():
        raise ConfigError(f"{run_dir} holds no results.sqlite; expected a directory written by `toyscale run`")
    if check_store_file(run_dir / DB_NAME) == "empty":
        raise _store_error(run_dir / DB_NAME, "holds no results yet (an empty store: its run stopped before it "
                                              "stored anything); nothing to report")


def stored_points(run_dir: str | Path) -> int:
    """Points stored in `run_dir` (0 if none or unreadable); read-only."""
    path = Path(run_dir) / DB_NAME
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=30)
        try:
            return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
