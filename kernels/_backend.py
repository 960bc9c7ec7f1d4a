"""Backend resolution for every op: explicit `backend=` argument > `TOYSCALE_BACKEND` env var > auto.

Auto = "triton" for CUDA tensors when triton imports, else "reference". Asking for "triton" where it
cannot run (no triton installed; CPU tensors without `TRITON_INTERPRET=1`) raises; it never falls back
silently. `triton` is imported lazily, here only, so `import kernels` works without it.
"""
from __future__ import annotations

import functools
import os

import torch

BACKENDS = ("reference", "triton")
ENV_VAR = "TOYSCALE_BACKEND"


@functools.lru_cache(maxsize=None)
def triton_available() -> tuple[bool, str]:
    """(importable, reason). Cached: import triton happens at most once per process."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception as e:  # ImportError, or a broken install
        return False, f"triton is not importable ({type(e).__name__}: {e}); install the [gpu] extra"
    return True, ""


def interpreting() -> bool:
    """True when Triton kernels run in the CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def resolve_backend(backend: str | None, device: torch.device | str) -> str:
    """Return the backend to use for tensors on `device`.

    Raises:
        ValueError: unknown backend name (lists the valid ones).
        RuntimeError: "triton" requested where it cannot run.
    """
    device = torch.device(device)
    name = backend if backend is not None else os.environ.get(ENV_VAR) or None
    if name is None:
        if device.type == "cuda" and triton_available()[0]:
            return "triton"
        return "reference"
    if name not in BACKENDS:
        src = "backend" if backend is not None else ENV_VAR
        raise ValueError(f"{src} must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "triton":
        ok, why = triton_available()
        if not ok:
            raise RuntimeError(f"backend 'triton' requested but {why}")
        if device.type != "cuda" and not interpreting():
            raise RuntimeError(
                f"backend 'triton' needs CUDA tensors (got device {device}); on CPU set TRITON_INTERPRET=1 "
                "to run the kernels in the interpreter, or use backend='reference'")
    return name
