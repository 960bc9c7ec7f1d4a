"""Instance-axis helpers shared by every family: per-instance RNG and grids of swept values.

Per-instance RNG: an instance's random draws depend only on (seed, role, extra keys, counter), never on which
other instances share its batch. `stacked_randn` draws them through `simulators._rng` (Philox4x32-10,
counter-based, on the run's device, vectorised over instances: one call, no loop over seeds).
`instance_generator` / `derive_seed` (a CPU `torch.Generator` seeded from
`numpy.random.SeedSequence([seed, role, *keys])`) are the former per-instance streams, kept only for the
families not yet migrated to `_rng`.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch

from . import _rng

# Roles: one integer per kind of random draw, so init and data streams never share a stream.
ROLE_INIT = 1
ROLE_DATA = 2
ROLE_FEATURES = 3
ROLE_TEACHER = 4
ROLE_EMBED = 5
ROLE_NOISE = 6


def derive_seed(seed: int, role: int, *keys: int) -> int:
    """A 63-bit seed derived deterministically from (seed, role, *keys)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    state = np.random.SeedSequence([int(seed), int(role), *map(int, keys)]).generate_state(2, dtype=np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def instance_generator(seed: int, role: int, *keys: int) -> torch.Generator:
    """CPU generator for one instance's draws of one role. Draw on CPU, then `.to(device)`:
    the numbers are then identical on every device."""
    g = torch.Generator(device="cpu")
    g.manual_seed(derive_seed(seed, role, *keys))
    return g


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
