"""Counter-based randomness (simulators/_rng.py) on CPU: ns per number of one batched Philox draw.

Providers: `native` (the C fast path, `simulators/_rng_native.py`), `eager` (the same numbers from eager torch
ops: the GPU/reference path), `torch` (torch.randn / torch.rand of the same count from the global generator:
the pre-Philox cost, not the same numbers). E = 16 instances in one call, float32 output. Issue 13's budget:
no family's default run more than 10% slower than with the torch generators.
"""
from __future__ import annotations

import torch

from simulators import _rng, _rng_native
from simulators._batch import ROLE_DATA

from ._common import time_fn, write_rows


def run(size: str = "full") -> list[dict]:
    if size not in ("tiny", "full"):
        raise ValueError(f"size must be tiny or full, got {size!r}")
    E, n = 16, (1 << 10 if size == "tiny" else 1 << 18)
    min_time = 0.0 if size == "tiny" else 1.0
    key = _rng.derive_key(list(range(E)), ROLE_DATA)
    native = _rng_native.load() is not None
    rows = []
    for kind in ("normal", "uniform"):
        providers = {"native": lambda: _rng._draw(kind, key, (n,), 0, None, torch.float32),
                     "eager": lambda: _rng._draw(kind, key, (n,), 0, None, torch.float32, native=False),
                     "torch": (lambda: torch.randn(E, n)) if kind == "normal" else (lambda: torch.rand(E, n))}
        if not native:
            providers.pop("native")
        for provider, fn in providers.items():
            t = time_fn(fn, min_time=min_time, warmup=1, max_reps=3 if size == "tiny" else 200)
            ns = t["time_s"] / (E * n) * 1e9
            rows.append({"benchmark": "rng", "provider": provider, "config": {"kind": kind, "E": E, "n": n,
                                                                              "dtype": "float32"},
                         **t, "ns_per_number": ns})
        base = {r["provider"]: r["ns_per_number"] for r in rows if r["config"]["kind"] == kind}
        for r in rows:
            if r["config"]["kind"] == kind:
                r["vs_torch"] = r["ns_per_number"] / base["torch"]
    return rows


if __name__ == "__main__":
    rows = run()
    for r in rows:
        print(r)
    print(write_rows("rng", rows))
