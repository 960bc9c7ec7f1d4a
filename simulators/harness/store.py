"""The embedded results store: one SQLite file per run directory (`results.sqlite`).

Guarantees: a batch's points are written in one transaction (all or nothing), so an interrupted run
never leaves a half-written point; a point's key is sha1 of the canonical JSON of (experiment, config,
point, dtype, rng version), so a rerun skips exactly the points already stored. Rows carry config, seed,
metrics, device, backend, versions (incl. `rng`, the random-stream version of `simulators._rng`) and wall
time; points drawn with other random streams are never mixed in (`rng_versions`, checked by the runner).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from .._rng import RNG_VERSION
from .registry import Record

def canonical(obj: Any) -> str:
    """Deterministic JSON: sorted keys, tuples as lists, dtypes/devices as strings."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"))


def _plain(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (torch.dtype, torch.device)):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return obj


def point_key(experiment: str, config: Any, point: Mapping, dtype: torch.dtype, rng: str | None = RNG_VERSION) -> str:
    """sha1 of (experiment, config, point, dtype, rng); rng=None gives the key of a point stored before the rng
    version was recorded (so `report` still finds such points)."""
    parts = [experiment, config, point, str(dtype)] + ([rng] if rng is not None else [])
    return hashlib.sha1(canonical(parts).encode()).hexdigest()


# The file checks are torch-free (the CLI refuses a bad store before importing torch); re-exported here.
from .store_check import (_SCHEMA, DB_NAME, SQLITE_MAGIC, _ro_uri, _store_error,  # noqa: E402,F401
                          check_store_dir, check_store_file, prepare_store, stored_points)


class ResultStore:
    """SQLite-backed store. Use as a context manager or call `close()`.

    An existing file is checked first (`check_store_file`) and never modified when it is not a readable
    toyscale store. A missing store is created atomically, schema included, and an empty one (0 bytes or no
    tables: a run stopped while creating it) gets the schema (`prepare_store`, see `store_check`).
    `readonly=True` opens it without creating or changing anything (`report`)."""

    def __init__(self, run_dir: str | Path, readonly: bool = False):
        self.dir = Path(run_dir)
        self.path = self.dir / DB_NAME
        check_store_file(self.path)
        if readonly:
            self.conn = sqlite3.connect(_ro_uri(self.path), uri=True, timeout=30)
            return
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _store_error(self.dir, f"cannot be created ({e.strerror})") from None
        try:
            prepare_store(self.path)        # atomic creation, or the schema for an empty store (store_check)
            self.conn = sqlite3.connect(self.path, timeout=30)
            self.conn.execute("PRAGMA synchronous=FULL")
        except (sqlite3.Error, OSError) as e:
            raise _store_error(self.path, f"cannot be opened for writing ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.conn.close()

    # -- runs ---------------------------------------------------------------------------------
    def set_run(self, experiment: str, scale: str, overrides: Mapping, config: Any, dtype, device) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?)",
                (experiment, scale, canonical(overrides), canonical(config), str(dtype), str(device), time.time()))

    def runs(self) -> list[dict]:
        cur = self.conn.execute("SELECT experiment, scale, overrides, config, dtype, device FROM runs ORDER BY updated")
        return [{"experiment": e, "scale": s, "overrides": _loads(self.path, o, "run overrides"),
                 "config": _loads(self.path, c, "run config"), "dtype": d, "device": dev}
                for e, s, o, c, d, dev in cur.fetchall()]

    # -- meta: what the stored numbers depend on beyond the key (batch splitting, threads) -----------
    def get_meta(self, key: str) -> Any:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError:   # a store written before the meta table existed
            return None
        return None if row is None else _loads(self.path, row[0], f"meta {key}")

    def set_meta(self, key: str, value: Any) -> None:
        with self.conn:
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, canonical(value)))

    # -- points -------------------------------------------------------------------------------
    def existing_keys(self, keys: Iterable[str]) -> set[str]:
        keys = list(keys)
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key FROM points WHERE key IN ({','.join('?' * len(chunk))})"
            found.update(k for (k,) in self.conn.execute(q, chunk))
        return found

    def write_batch(self, experiment: str, config: Any, dtype, rows: list[tuple[str, Mapping, Mapping]],
                    *, device: str, backend: str, versions: Mapping, wall_s: float) -> None:
        """Write (key, point, metrics) rows of one batch in ONE transaction."""
        now = time.time()
        cfg = canonical(config)
        ver = canonical({**versions, "rng": versions.get("rng", RNG_VERSION)})
        per_point = wall_s / max(len(rows), 1)
        with self.conn:  # commits on success, rolls back on any exception
            self.conn.executemany(
                "INSERT OR REPLACE INTO points VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(k, experiment, p.get("seed"), canonical(p), canonical(m), cfg, str(dtype), device, backend,
                  ver, per_point, now) for k, p, m in rows])

    def rng_versions(self, experiment: str) -> set:
        """The `rng` versions recorded by the stored points of `experiment` (None: written before rng was
        recorded, i.e. with the former per-instance CPU generators)."""
        cur = self.conn.execute("SELECT DISTINCT versions FROM points WHERE experiment = ?", (experiment,))
        return {_loads(self.path, v, "versions").get("rng") for (v,) in cur.fetchall()}

    def records(self, keys: Iterable[str]) -> list[Record]:
        """Records for `keys`, in the order given (missing keys are skipped)."""
        keys = list(keys)
        rows: dict[str, Record] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, point, metrics, device, backend, wall_s FROM points WHERE key IN ({','.join('?' * len(chunk))})"
            for k, p, m, dev, be, w in self.conn.execute(q, chunk):
                rows[k] = Record(key=k, point=_loads(self.path, p, f"point {k}"),
                                 metrics=_loads(self.path, m, f"metrics of point {k}"), device=dev, backend=be, wall_s=w)
        return [rows[k] for k in keys if k in rows]

    def count(self, experiment: str | None = None) -> int:
        if experiment is None:
            return self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM points WHERE experiment=?", (experiment,)).fetchone()[0]


def _loads(path: Path, text: str, what: str) -> Any:
    """json.loads, or one line naming the store and the value that is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise _store_error(path, f"holds {what} that is not JSON ({str(text)[:40]!r})") from None
