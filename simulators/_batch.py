"""Instance-axis helpers shared by every family: per-instance RNG and grids of swept values.

Per-instance RNG: an instance's random draws depend only on (seed, role, extra keys, counter), never on which
other instances share its batch. `stacked_randn` draws them through `simulators._rng` (Philox4x32-10,
counter-based, on the run's device, vectorised over instances: one call, no loop over seeds). Every family
draws through `_rng`; the former per-instance CPU `torch.Generator` streams are gone.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Sequence

import torch

from . import _rng

# Roles: one integer per kind of random draw, so init and data streams never share a stream.
ROLE_INIT = 1
ROLE_DATA = 2
ROLE_FEATURES = 3
ROLE_TEACHER = 4
ROLE_EMBED = 5
ROLE_NOISE = 6


def stacked_randn(seeds: Sequence[int], role: int, shape: Sequence[int], *, dtype=torch.float32,
                  device=None, keys: Sequence[Sequence[int]] | None = None, counter=0,
                  steps: int | None = None) -> torch.Tensor:
    """`[E, *shape]` standard normals, instance e from its own Philox stream (seeds[e], role, *keys[e]) at
    `counter` (int or [E] tensor; with `steps`: [E, steps, *shape], step j at counter + j), drawn on `device`
    in one vectorised call (`simulators._rng.normal`). Float64 Box-Muller then cast, so float32 and float64
    runs see the same underlying numbers, on every device."""
    return _rng.normal(seeds, role, shape, keys=keys, counter=counter, steps=steps, device=device, dtype=dtype)


def grid(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Cartesian product of named axes, as a list of point dicts (the last axis varies fastest)."""
    names = list(axes)
    return [dict(zip(names, vals)) for vals in itertools.product(*(list(v) for v in axes.values()))]


def bucket_by(points: Sequence[Mapping[str, Any]], *keys: str) -> list[list[dict]]:
    """Group points that share the values of `keys` (e.g. a shape) into batches, order preserved."""
    buckets: dict[tuple, list[dict]] = {}
    for p in points:
        buckets.setdefault(tuple(p[k] for k in keys), []).append(dict(p))
    return list(buckets.values())


def chunk_ranges(E: int, instance_bytes: int, chunk_bytes: int | None, *, name: str = "E") -> list[tuple[int, int]]:
    """(start, stop) of consecutive instances per chunk: as many as fit `chunk_bytes` at `instance_bytes` each
    (at least one; the last chunk may be shorter); None: one chunk. Families keep per-step dense buffers
    cache-sized on CPU with it (under glibc's 32 MiB mmap threshold, so no fresh page faults every step).
    `name` names the instance count in the error message."""
    if E < 1:
        raise ValueError(f"{name} must be >= 1, got {E}")
    if chunk_bytes is not None and chunk_bytes < 1:
        raise ValueError(f"chunk_bytes must be >= 1 or None, got {chunk_bytes}")
    k = E if chunk_bytes is None else max(1, min(E, chunk_bytes // max(1, instance_bytes)))
    return [(i, min(i + k, E)) for i in range(0, E, k)]
