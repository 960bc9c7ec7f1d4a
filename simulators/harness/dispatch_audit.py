"""Dispatch audit: prove on a CPU that a step is GPU-shaped (issue 13, part 3).

A GPU-shaped step is ONE batched computation over all instances that never waits on the host. Both
properties are visible from the aten ops a step dispatches, which
`torch.utils._python_dispatch.TorchDispatchMode` intercepts on any device (CPU included), below
autograd, so the backward pass's ops are seen too:

- **No loop over instances**: the number (and the multiset) of ops dispatched by one steady-state step
  is the same for E and for 8·E instances. A Python loop over instances (or over streams, or a
  per-instance `torch.Generator`) dispatches ops ∝ E and fails this.
- **No host synchronisation**: no op whose result the host has to wait for. Flagged as host syncs:
    * ops tagged `data_dependent_output` by PyTorch (`_local_scalar_dense` = `.item()` / `int(t)` /
      `float(t)`, `item`, `equal`, `allclose`) and any op that returns a Python number or bool
      (e.g. `is_nonzero` = `if tensor:`);
    * ops tagged `dynamic_output_shape` (output shape depends on the data: `nonzero`, `masked_select`,
      `unique*`, `bincount`, `argwhere`, `repeat_interleave(Tensor)` without `output_size`), except
      `index.Tensor` with integer indices (a gather: static shape);
    * boolean-mask indexing `x[mask]` / `x[mask] = v` (`index.Tensor` / `index_put_` with a bool index;
      it calls `nonzero` inside the kernel, below the dispatcher);
    * torch.linalg calls documented to synchronise a CUDA device (`cholesky`, `inv`, `solve` through their
      `_linalg_check_errors`; `eigh`, `eig`, `svd`, `lstsq` inside the kernel); the `_ex` variants do not;
    * copies from a non-CPU device to the CPU (`_to_copy`, `copy_`, `to`): on a CPU-only machine none
      occur, the rule is there for runs on CUDA.
  The tags come from PyTorch's own op declarations (`native_functions.yaml`), so a new data-dependent
  op is covered without editing this file.

What a CPU audit cannot see: host-to-device copies of data drawn on the CPU (everything is on the CPU
here). A per-instance CPU generator loop still shows up as an op count ∝ E.

How a family test uses it
-------------------------
Write a factory `make_step(E) -> step` that builds the state of E instances OUTSIDE the step (model,
optimiser, data buffers: setup may loop or sync freely) and returns a zero-argument callable doing
exactly one steady-state training/scoring step (forward, backward, update, the step's random draws).
Then::

    from simulators.harness.dispatch_audit import assert_gpu_shaped

    def test_step_is_gpu_shaped():
        small, large = assert_gpu_shaped(make_step, E_small=3)     # E_large = 8 * E_small
        assert small.n_ops > 0

`assert_gpu_shaped` calls each step `warmup` times unaudited (lazy initialisation, caches, a first-step
branch), then audits `steps` calls, and fails with a readable diff of the op counts when E and 8E differ,
or with the list of host-synchronising ops (and the Python line that issued each) when there are any.
If a step needs a bounded number of syncs (e.g. a readback at a geometric logging checkpoint inside
the audited call), state it: `allowed_syncs={"aten._local_scalar_dense.default": 1}, reason="..."`.

Pass the eager step: a `torch.compile`d function hides its ops inside generated code. Audit the
function the compiler is given (the family exposes it or a flag to skip compilation).

`audit(fn, *args)` returns an `AuditResult` (ops in order, counts, syncs with the Python frame, the
return value of `fn`) for ad-hoc inspection.
"""
from __future__ import annotations

import collections
import sys
import traceback
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["AuditResult", "DispatchAudit", "PeakBytes", "assert_gpu_shaped", "audit", "host_sync_reason", "peak_bytes"]

_DATA_DEPENDENT = torch.Tag.data_dependent_output
_DYNAMIC_SHAPE = torch.Tag.dynamic_output_shape
_INDEX_OPS = {"aten::index", "aten::index_put", "aten::index_put_", "aten::_index_put_impl",
              "aten::_index_put_impl_", "aten::_unsafe_index", "aten::_unsafe_index_put"}
# Ops that read a result on the host inside their CUDA kernel, below the dispatcher: the torch.linalg docs note
# "When inputs are on a CUDA device, this function synchronizes that device with the CPU" for cholesky, inv,
# solve (their `_ex` variants do not: they return `info` instead), eigh/eigvalsh, eig/eigvals, svd/svdvals and
# lstsq. `_linalg_check_errors` is the explicit info check of the non-`_ex` variants.
_LINALG_SYNC = {"aten::_linalg_check_errors", "aten::_linalg_eigh", "aten::linalg_eig", "aten::_linalg_eigvals",
                "aten::_linalg_svd", "aten::linalg_lstsq"}
_COPY_OPS = {"aten::_to_copy", "aten::copy_", "aten::to", "aten::_copy_from", "aten::_copy_from_and_resize"}


def _is_cpu(device) -> bool:
    return device is not None and torch.device(device).type == "cpu"


def host_sync_reason(func, args: tuple, kwargs: Mapping[str, Any], out: Any = None) -> str | None:
    """Why dispatching `func(*args, **kwargs)` (with result `out`) makes the host wait, or None.

    Classification only (it does not run anything); `out` may be None when unknown."""
    name = func._schema.name
    tags = set(getattr(func, "tags", ()))
    if _DATA_DEPENDENT in tags:
        return "data-dependent output read by the host (.item()/int()/float()/equal/allclose)"
    if isinstance(out, (bool, int, float, complex)):
        return "returns a Python value computed from tensor data (e.g. `if tensor:`)"
    if name in _LINALG_SYNC:
        return "torch.linalg result checked on the host (synchronises a CUDA device; use the _ex variant)"
    if name in _INDEX_OPS:
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        for ix in indices or ():
            if isinstance(ix, torch.Tensor) and ix.dtype in (torch.bool, torch.uint8):
                return "boolean-mask indexing (nonzero inside: data-dependent shape)"
        return None
    if _DYNAMIC_SHAPE in tags:
        if name == "aten::repeat_interleave" and kwargs.get("output_size") is not None:
            return None
        return "data-dependent output shape"
    if name in _COPY_OPS:
        if name == "aten::copy_":
            dst, src = args[0], args[1]
            if isinstance(src, torch.Tensor) and not _is_cpu(src.device) and _is_cpu(dst.device):
                return "copy from the device to the CPU"
            return None
        src = args[0] if args else None
        target = kwargs.get("device")
        if target is None:
            target = next((a for a in args[1:] if isinstance(a, (torch.device, str))), None)
        if isinstance(src, torch.Tensor) and not _is_cpu(src.device) and target is not None and _is_cpu(target):
            return "copy from the device to the CPU"
    return None


@dataclass
class AuditResult:
    """What one audited call dispatched. `ops`: overload names in dispatch order; `syncs`: (op, reason,
    where) for each host-synchronising op, `where` the innermost Python frame outside torch; `value`:
    the callable's return value."""

    ops: list[str] = field(default_factory=list)
    syncs: list[tuple[str, str, str]] = field(default_factory=list)
    value: Any = None

    @property
    def n_ops(self) -> int:
        return len(self.ops)

    @property
    def counts(self) -> collections.Counter:
        return collections.Counter(self.ops)

    @property
    def n_syncs(self) -> int:
        return len(self.syncs)

    def summary(self, top: int = 15) -> str:
        lines = [f"{self.n_ops} ops, {self.n_syncs} host syncs"]
        lines += [f"  {n:6d}  {op}" for op, n in self.counts.most_common(top)]
        lines += [f"  SYNC {op}: {why} at {where}" for op, why, where in self.syncs]
        return "\n".join(lines)


_THIS_FILE = __file__.replace("\\", "/")


def _caller() -> str:
    """The innermost frame outside torch and this module: the line that issued the op."""
    for fr in reversed(traceback.extract_stack(sys._getframe(2), limit=60)):
        f = fr.filename.replace("\\", "/")
        if "/torch/" in f or f == _THIS_FILE:
            continue
        return f"{f}:{fr.lineno} ({fr.name})"
    return "?"


class DispatchAudit(TorchDispatchMode):
    """Context manager recording every aten op dispatched inside it into `self.result`."""

    def __init__(self):
        super().__init__()
        self.result = AuditResult()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = str(func)  # e.g. "aten.mm.default"
        self.result.ops.append(name)
        why = host_sync_reason(func, args, kwargs, out)
        if why is not None:
            self.result.syncs.append((name, why, _caller()))
        return out


def audit(fn: Callable, *args, **kwargs) -> AuditResult:
    """Run `fn(*args, **kwargs)` under a `DispatchAudit` and return what it dispatched."""
    with DispatchAudit() as mode:
        mode.result.value = fn(*args, **kwargs)
    return mode.result


def _counts_diff(a: collections.Counter, b: collections.Counter, la: str, lb: str) -> str:
    keys = sorted(set(a) | set(b), key=lambda k: -abs(a[k] - b[k]))
    rows = [f"  {k}: {la}={a[k]} {lb}={b[k]}" for k in keys if a[k] != b[k]]
    return "\n".join(rows[:25])


def assert_gpu_shaped(step_fn_factory: Callable[[int], Callable[[], Any]], E_small: int,
                      E_large: int | None = None, *, warmup: int = 1, steps: int = 1,
                      allowed_syncs: int | Mapping[str, int] = 0, reason: str = "",
                      ) -> tuple[AuditResult, AuditResult]:
    """Assert that one steady-state step is one batched computation without host syncs.

    `step_fn_factory(E)` builds E instances and returns a zero-argument step (see the module docstring).
    Checks, for E_small and E_large (default 8 * E_small): the multiset of dispatched aten ops per
    audited call is identical (hence so is the op count), and the host-synchronising ops are at most
    `allowed_syncs` (a total, or a per-op bound {op name: count per audited call}; any allowance needs a
    `reason`). Returns the two `AuditResult`s (E_small, E_large) for further assertions."""
    E_large = 8 * E_small if E_large is None else E_large
    if E_small < 1 or E_large <= E_small:
        raise ValueError(f"need 1 <= E_small < E_large, got E_small={E_small}, E_large={E_large}")
    if allowed_syncs and not reason:
        raise ValueError("allowed_syncs > 0 needs a stated reason")
    results = []
    for E in (E_small, E_large):
        step = step_fn_factory(E)
        for _ in range(warmup):
            step()
        with DispatchAudit() as mode:
            for _ in range(steps):
                mode.result.value = step()
        results.append(mode.result)
    small, large = results
    if small.counts != large.counts:
        raise AssertionError(
            f"op counts per step differ between E={E_small} ({small.n_ops} ops) and E={E_large} "
            f"({large.n_ops} ops): the step is not one batched computation (a loop over instances?)\n"
            + _counts_diff(small.counts, large.counts, f"E={E_small}", f"E={E_large}"))
    for E, res in ((E_small, small), (E_large, large)):
        if isinstance(allowed_syncs, Mapping):
            got = collections.Counter(op for op, _, _ in res.syncs)
            bad = {op: n for op, n in got.items() if n > allowed_syncs.get(op, 0) * steps}
        else:
            bad = {"total": res.n_syncs} if res.n_syncs > allowed_syncs * steps else {}
        if bad:
            listing = "\n".join(f"  {op}: {why} at {where}" for op, why, where in res.syncs[:20])
            raise AssertionError(
                f"E={E}: {res.n_syncs} host-synchronising ops in {steps} step(s) (allowed: {allowed_syncs}"
                f"{'; ' + reason if reason else ''}):\n{listing}")
    return small, large


# --------------------------------------------------------------------------- memory
class PeakBytes(TorchDispatchMode):
    """Peak bytes of tensor storage allocated inside the context and alive at the same time (any device).

    Every tensor an op returns is registered once by its storage (views share it); a weakref finalizer on the
    Python tensor releases it (PyTorch keeps a tensor's Python object alive as long as the tensor itself, e.g.
    while autograd saves it, so the finalizer fires when the storage's last holder from this context dies).
    Counts what a CUDA caching allocator would have to hold, without rounding; tensors from before the
    context, numpy arrays and memory inside compiled (inductor) code are not seen."""

    def __init__(self):
        super().__init__()
        self.current = self.peak = 0
        self._refs: dict[tuple, list] = {}     # storage key -> [n live tensors, nbytes]
        self._seen: dict[int, tuple] = {}      # id(tensor) -> storage key

    def _release(self, tid: int) -> None:
        key = self._seen.pop(tid, None)
        if key is None:
            return
        ref = self._refs[key]
        ref[0] -= 1
        if ref[0] == 0:
            self.current -= ref[1]
            del self._refs[key]

    def _register(self, t: torch.Tensor) -> None:
        if id(t) in self._seen or t.device.type == "meta":
            return
        st = t.untyped_storage()
        key = (t.device.type, st.data_ptr(), st.nbytes())
        self._seen[id(t)] = key
        weakref.finalize(t, self._release, id(t))
        if key in self._refs:
            self._refs[key][0] += 1
        else:
            self._refs[key] = [1, st.nbytes()]
            self.current += st.nbytes()
            self.peak = max(self.peak, self.current)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._register(t)
        return out


def peak_bytes(fn: Callable, *args, **kwargs) -> tuple[int, Any]:
    """(peak live tensor bytes allocated during fn(*args, **kwargs), its return value); see `PeakBytes`."""
    with PeakBytes() as mode:
        value = fn(*args, **kwargs)
    return mode.peak, value
