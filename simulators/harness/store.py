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

DB_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
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
);
CREATE TABLE IF NOT EXISTS runs (
    experiment TEXT PRIMARY KEY,
    scale TEXT NOT NULL,
    overrides TEXT NOT NULL,
    config TEXT NOT NULL,
    dtype TEXT NOT NULL,
    device TEXT NOT NULL,
    updated REAL NOT NULL
);
"""


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


class ResultStore:
    """SQLite-backed store. Use as a context manager or call `close()`."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / DB_NAME
        self.conn = sqlite3.connect(self.path, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(_SCHEMA)
        self.conn.commit()

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
        return [{"experiment": e, "scale": s, "overrides": json.loads(o), "config": json.loads(c),
                 "dtype": d, "device": dev} for e, s, o, c, d, dev in cur.fetchall()]

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
        return {json.loads(v).get("rng") for (v,) in cur.fetchall()}

    def records(self, keys: Iterable[str]) -> list[Record]:
        """Records for `keys`, in the order given (missing keys are skipped)."""
        keys = list(keys)
        rows: dict[str, Record] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, point, metrics, device, backend, wall_s FROM points WHERE key IN ({','.join('?' * len(chunk))})"
            for k, p, m, dev, be, w in self.conn.execute(q, chunk):
                rows[k] = Record(key=k, point=json.loads(p), metrics=json.loads(m), device=dev, backend=be, wall_s=w)
        return [rows[k] for k in keys if k in rows]

    def count(self, experiment: str | None = None) -> int:
        if experiment is None:
            return self.conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM points WHERE experiment=?", (experiment,)).fetchone()[0]
