"""Read-only checks of a run directory's results store, torch-free so that the CLI refuses a missing, empty,
foreign or corrupt store in ~0.1 s, before importing torch (`store.py` re-exports these names).
A store is never modified by these checks (read-only URIs that create nothing beside the file)."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

DB_NAME = "results.sqlite"

SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = {"points", "runs"}


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


def check_store_file(path: Path) -> None:
    """Refuse (ConfigError, one line naming the path) a results.sqlite that is a directory, empty, not SQLite,
    another tool's SQLite file, or corrupt, without writing to it. A missing file passes (a new store).
    The full check (`PRAGMA quick_check`, O(file size)) runs once per process per unchanged file: a command
    checks the same store up to three times (CLI, run-dir lock, store open) and repeats are skipped."""
    if not path.exists():
        return
    if not path.is_file():
        raise _store_error(path, "is not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise _store_error(path, f"cannot be read ({e.strerror})") from None
    if len(head) == 0:
        raise _store_error(path, "is empty (0 bytes), not a toyscale results store")
    if head != SQLITE_MAGIC:
        raise _store_error(path, "is not an SQLite database")
    key, sig, started = str(path.resolve()), _signature(path), time.time_ns()
    if _VERIFIED.get(key) == sig:
        return
    try:
        conn = sqlite3.connect(_ro_uri(path), uri=True, timeout=30)
        try:
            if not _quick_check(conn):
                raise sqlite3.DatabaseError("quick_check failed")
            tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not _TABLES <= tables:
                raise _store_error(path, f"is an SQLite database without toyscale's tables (it has: "
                                         f"{', '.join(sorted(tables)) or 'none'})")
            conn.execute("SELECT key, point, metrics, versions FROM points LIMIT 1").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise _store_error(path, f"is corrupt or unreadable ({e})") from None
    if all(x is None or x[3] < started - _MTIME_SLACK_NS for x in sig):
        _VERIFIED[key] = sig     # a later write then has a later mtime, even with a coarse file-system clock


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
    check_store_file(run_dir / DB_NAME)


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
