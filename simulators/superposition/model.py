"""Batched superposition toy model: sparse sampler, fused-gradient AdamW trainer, geometry measures.

Model ([LLG25] Sec. 2, after [E22]): tied weights W [n, m], bias b [n], y = ReLU(x W Wᵀ + b), loss =
mean squared error over batch and features. E instances (widths m × decay γ × frequency law × seed)
train as ONE computation per step:

- Widths are padded to M = max m with a column mask [E, M]; masked columns of W are exactly zero, get
  exactly zero gradient and stay zero under AdamW and the norm rule (tested).
- Data are sparse (`sampler.py`): only the active (sample, feature) pairs of each stream are drawn, exactly
  (each feature on with probability p_i in each sample, independently), by grouped geometric skips and
  thinning, on the run's device by counter-based Philox (`simulators/_rng.py`) at counter = the step. A
  stream is keyed by (seed, law): instances that share seed and law see the same data (common random
  numbers across m and γ), and a stream's numbers never depend on its batch-mates or on earlier steps.
- Two paths, same numbers: on CPU the active samples are compacted (data-dependent row count, fewest
  rows); off the CPU (`static`) every shape is fixed by the sampler's plan (padded draw slots, row count =
  a bound exceeded with probability <= 1e-12 per stream and step) and nothing syncs with the host per
  step; a raised overflow flag (checked once at the end) reruns the run on the exact path.
- x W is a gather/scatter over the ~1 active feature per sample (E·B·M work instead of E·B·n·M); the
  output y = ReLU(h Wᵀ + b) is dense and goes through `kernels.bmm_epilogue` (fused bias + ReLU).
- The three dense products (y = h Wᵀ + b, rᵀh, (r W)ᵀ) run over the samples with an active feature only
  (~65% of B at Σp = 1): a sample with none has h = 0, r = ReLU(b) and no share in dW, so the rest enter
  the loss and db in closed form, exactly (`_fused_loss_grads`). On CPU, instances go through in chunks
  of <= 8 MiB of dense rows (cache-sized, and no fresh page faults every step).
- Gradients are hand-written and fused in place on y (r = (y − x)·1[z > 0]); `loss_autograd` is the
  plain-autograd definition they are tested against.
- Optimiser: AdamW (0.9, 0.999, ε = 1e-8 or `TrainSpec.adam_eps`) with per-instance learning rates;
  decoupled decay on W only: γ >= 0: W ← W (1 − lr γ); γ < 0: W_i ← W_i + lr γ (1 − 1/(‖W_i‖ + 1e-8)) W_i
  (pulls row norms to 1). Warm-up then cosine decay to 5% of peak, by a named rule (`lr_factor`): toyscale's
  own min(10% of steps, 2000), or the authors' exp-10 (2000 steps, none when steps <= 2000) / exp-17 (5%).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from kernels import bmm_epilogue, resolve_backend

from .. import _rng
from .._batch import ROLE_INIT, chunk_ranges
from . import theory
from .sampler import ActiveBatch, PaddedBatch, SamplerPlan, draw_active, draw_padded, make_plan, uniforms


# --------------------------------------------------------------------------- instances
@dataclass(frozen=True)
class TrainSpec:
    """Shared settings of one batched run. lr: "large_run" (lr_W = 0.02 (8/m)^{1/4}, lr_b = 2/m, [LLG25]
    App. large run) or a float (both W and b, the paper's default 1e-2)."""
    n: int
    batch: int
    steps: int
    lr: str | float = "large_run"
    density: float = 0.0
    final_window: int = 0          # steps averaged for the final loss (0: max(100, steps // 20))
    warmup: str = "toyscale"       # warm-up rule, one of WARMUP_RULES (see lr_factor)
    adam_eps: float = 1e-8         # Adam's ε (the authors' exp-17 ×100 loss scaling is ε = 1e-10)


def learning_rates(m: int, lr) -> tuple[float, float]:
    """(lr_W, lr_b) for width m."""
    if lr == "large_run":
        return 0.02 * (8.0 / m) ** 0.25, 2.0 / m
    return float(lr), float(lr)


WARMUP_RULES = ("toyscale", "exp10", "exp17")


def warmup_steps(steps: int, rule: str = "toyscale") -> int:
    """Warm-up length of a rule (0: none).

    toyscale: min(10% of steps, 2000), at least 1 (toyscale's own rule);
    exp10:    2000 steps, none when steps <= 2000 (the authors' exp-10.py `get_lr(warmup_steps=2000)`);
    exp17:    int(5% of steps) (the authors' exp-17.py `get_lr(warmup_ratio=.05)`)."""
    if rule == "toyscale":
        return max(1, min(int(0.1 * steps), 2000))
    if rule == "exp10":
        return 2000 if 2000 < steps else 0
    if rule == "exp17":
        return int(steps * 0.05)
    raise ValueError(f"warmup must be one of {WARMUP_RULES}, got {rule!r}")


def lr_factor(step: int, steps: int, rule: str = "toyscale") -> float:
    """Schedule multiplier of 0-based `step` of `steps`: linear warm-up, then cosine decay to 0.05.

    toyscale: warm-up (step + 1)/w over steps 0 .. w − 1, then cosine over steps w .. steps − 1 with t =
        (step − w)/(steps − w − 1): peak 1 at steps w − 1 and w, exactly 0.05 at the last step.
    exp10, exp17 (the authors' scripts): with s = step + 1 and w = warmup_steps(...), s < w: s/w; else the
        cosine 0.05 + 0.95·½(1 + cos(π (s − w)/(steps − w))) (peak at s = w, 0.05 at the last step); exp10
        with steps <= 2000 has no warm-up: 0.05 + 0.95·½(1 + cos(π s/steps)) from the first step."""
    w = warmup_steps(steps, rule)
    if rule == "toyscale":
        if step < w:
            return (step + 1) / w
        t = (step - w) / max(1, steps - w - 1)
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))
    s = step + 1
    if w and s < w:
        return s / w
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * (s - w) / (steps - w)))


class BatchedModel:
    """Parameters and AdamW state of E instances. W [E, n, M], b [E, n], mask [E, M]."""

    def __init__(self, instances: Sequence[dict], spec: TrainSpec, device, dtype):
        self.instances = [dict(i) for i in instances]
        E, n = len(instances), spec.n
        ms = [int(i["m"]) for i in instances]
        M = max(ms)
        if M >= n:
            raise ValueError(f"every width m must be < n = {n}, got max m = {M}")
        # init on the run's device by counter-based Philox, keyed (seed, ROLE_INIT, m, 0) for W and (…, m, 1)
        # for b: W is drawn as [M, n] row-major, so entry (i, j < m) is element j·n + i whatever M is (an
        # instance's numbers do not depend on its batch-mates' widths); masked columns are zeroed.
        seeds = [int(i["seed"]) for i in instances]
        mt = torch.tensor(ms, dtype=torch.int64)
        zero, one = torch.zeros_like(mt), torch.ones_like(mt)
        Wt = _rng.normal(seeds, ROLE_INIT, (M, n), keys=torch.stack([mt, zero], 1), device=device,
                         dtype=torch.float64).transpose(1, 2)                                  # [E, n, M]
        colmask = (torch.arange(M)[None, :] < mt[:, None]).to(device)
        W = Wt * (colmask / torch.sqrt(mt.double()).to(device)[:, None])[:, None, :]
        b = _rng.normal(seeds, ROLE_INIT, (n,), keys=torch.stack([mt, one], 1), device=device, dtype=torch.float64)
        kw = dict(device=device, dtype=dtype)
        self.W, self.b = W.to(**kw), b.to(**kw)
        self.mask = colmask.to(**kw)                                                            # [E, M]
        lrs = [learning_rates(m, spec.lr) for m in ms]
        self.lr_W = torch.tensor([l[0] for l in lrs], **kw)
        self.lr_b = torch.tensor([l[1] for l in lrs], **kw)
        self.gamma = torch.tensor([float(i["gamma"]) for i in instances], **kw)
        self.state = [torch.zeros_like(t) for t in (self.W, self.W, self.b, self.b)]  # mW, vW, mb, vb
        self.t = 0


def compact_rows(x: ActiveBatch, n_streams: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The active samples of each stream, numbered in sample order: (row [K], n_active [S]).

    row[k] is the compact row of entry k's sample within its stream (0 .. n_active[s] − 1); samples with no
    active feature get no row. One map per stream, shared by every instance that reads the stream."""
    flag = torch.zeros(n_streams, batch, dtype=torch.bool, device=x.sample.device)
    flag[x.stream, x.sample] = True
    rank = torch.cumsum(flag, 1) - 1                                                  # [S, B]
    return rank[x.stream, x.sample], flag.sum(1)


# Dense rows per chunk of instances on CPU: the step's [E_c, B_c, n] buffers stay cache-sized and under
# glibc's 32 MiB mmap threshold (a larger buffer is mmapped and page-faulted afresh every step). Measured
# at the benchmark's full point (n = 1000, B = 2048, 36 models, 1 thread): 2 to 16 MiB all 182-188 ms/step,
# 32 MiB 202 ms, one chunk per width group 204 ms.
CHUNK_BYTES_CPU = 8 << 20


def _fused_loss_grads(W, b, mask, x: ActiveBatch, inst_stream, batch, backend, *, row_multiple: int | None = None,
                      chunk_bytes: int | None = None):
    """Per-instance loss [E] and gradients (dW [E, n, M], db [E, n]) without autograd.

    x holds S streams; instance e reads stream inst_stream[e]. Work: three dense bmms over the active
    samples only, [E, B_c, n] with B_c = the most active samples in a stream among the instances of a chunk
    (rounded up to `row_multiple`), plus in-place epilogues; x W and the input half of dW are
    gathers/scatters over the K active entries.

    Why only active samples: a sample with no active feature (probability ~e^{−Σp} ≈ 37% when Σp = 1) has
    h = x W = 0, so y = r = ReLU(b) (x = 0 there); it adds nothing to dW = rᵀh + xᵀ(r W) (its h row and x
    row are zero) and its (r W) row is never read. Each stream's active samples are compacted to rows
    0 .. n_active − 1 (`compact_rows`); rows n_active .. B_c − 1 have h = 0, so they compute exactly
    ReLU(b), like inactive samples; the other B − B_c inactive samples enter in closed form:
    loss += (B − B_c)‖ReLU(b)‖², db += (B − B_c) ReLU(b) (before the 2/(B n) scale). Exact: the same sums,
    in another order.

    Chunks: instances are processed in consecutive chunks whose dense buffer [E_c, B_c, n] holds at most
    `chunk_bytes` (default: CHUNK_BYTES_CPU on CPU, one chunk on CUDA); at least one instance per chunk.
    """
    E, n, M = W.shape
    counts = torch.bincount(x.stream, minlength=int(inst_stream.max()) + 1)           # [S] entries per stream
    crow, n_active = compact_rows(x, len(counts), batch)                              # [K], [S]
    plan = chunk_plan(n_active[inst_stream].tolist(), n, batch, W.element_size(),
                      row_multiple or _row_multiple(backend, W.device),
                      chunk_bytes or default_chunk_bytes(W.device))
    outs = [_fused_chunk(W[i:j], b[i:j], mask[i:j], x, crow, counts, inst_stream[i:j], batch, Bc, backend)
            for i, j, Bc in plan]
    return outs[0] if len(outs) == 1 else tuple(torch.cat(t) for t in zip(*outs))


def chunk_plan(n_active: Sequence[int], n: int, batch: int, itemsize: int, row_multiple: int = 1,
               chunk_bytes: int | None = None) -> list[tuple[int, int, int]]:
    """How `_fused_loss_grads` splits E instances: (start, stop, B_c) per chunk of consecutive instances.

    n_active: active samples of each instance's stream. B_c = the chunk's largest n_active, at least 1,
    rounded up to row_multiple, at most B. Chunk length: as many instances as fit `chunk_bytes` of dense
    [·, B_c, n] rows at the largest B_c (at least 1); None: one chunk."""
    def rows(a):
        return min(batch, -(-max(a, 1) // row_multiple) * row_multiple)
    return [(i, j, rows(max(n_active[i:j])))
            for i, j in chunk_ranges(len(n_active), rows(max(n_active)) * n * itemsize, chunk_bytes)]


def default_chunk_bytes(device) -> int | None:
    """CHUNK_BYTES_CPU on CPU; None (one chunk per group: fewer, larger launches) elsewhere."""
    return CHUNK_BYTES_CPU if torch.device(device).type == "cpu" else None


def _row_multiple(backend, device) -> int:
    """Compact row count rounded up to a multiple of this: 1 on the reference path; 64 on Triton, whose
    autotuner keys on the shapes (a fresh B_c every step would re-tune every step; 64 bounds the keys to
    ⌈B/64⌉ at the cost of < 64 padding rows, exact as they behave as inactive samples)."""
    return 64 if resolve_backend(backend, device) == "triton" else 1


def _fused_chunk(W, b, mask, x: ActiveBatch, crow, counts, inst_stream, B, Bc, backend):
    """`_fused_loss_grads` for one chunk of E instances, each on Bc compact rows (crow: compact row of
    each entry of x, counts: entries per stream)."""
    E = W.shape[0]
    # expand stream entries to instance entries: instance e takes every entry of its stream
    starts = torch.cumsum(counts, 0) - counts
    ke = counts[inst_stream]                                                          # [E]
    e_idx = torch.repeat_interleave(torch.arange(E, device=W.device), ke)             # [K_E]
    off = torch.arange(len(e_idx), device=W.device) - torch.repeat_interleave(torch.cumsum(ke, 0) - ke, ke)
    src = starts[inst_stream][e_idx] + off                                            # [K_E] entry ids
    return _dense_step(W, b, mask, e_idx, x.feature[src], crow[src], x.value[src], B, Bc, backend)


def _dense_step(W, b, mask, e_idx, fea, smp, val, B, Bc, backend):
    """The dense part of both paths, from flat entry lists (instance e_idx, feature fea, compact row smp < Bc,
    value val; an entry with value 0 adds nothing anywhere, so padded slots are harmless): h = x W on Bc compact
    rows, y = ReLU(h Wᵀ + b), r = (y − x)·1[z > 0], and (loss [E], dW, db) with the B − Bc inactive samples
    (r = ReLU(b)) in closed form."""
    E, n, M = W.shape
    row_in = e_idx * n + fea                                                          # rows of W.view(E*n, M)
    row_h = e_idx * Bc + smp                                                          # rows of h.view(E*Bc, M)
    Wf = W.reshape(E * n, M)
    h = torch.zeros(E * Bc, M, dtype=W.dtype, device=W.device)
    h.index_add_(0, row_h, Wf[row_in] * val[:, None])
    h = h.view(E, Bc, M)                                                              # [E, Bc, M] = x W
    y = bmm_epilogue(h, W.transpose(1, 2), b, "relu", backend=backend)                # [E, Bc, n]
    yf = y.view(-1)
    pos = row_h * n + fea                                                             # (e·Bc + row)·n + feature
    on = yf[pos] > 0
    yf.index_add_(0, pos, -(val * on))  # y now holds r = (y − x)·1[z > 0] (zero-value slots add 0: duplicates safe)
    miss = torch.zeros(E, dtype=W.dtype, device=W.device).index_add_(0, e_idx, val * val * (~on))
    rest = B - Bc                       # inactive samples not computed: each has r = ReLU(b)
    rb = torch.relu(b)                                                                # [E, n]
    loss = (torch.linalg.vector_norm(y, dim=(1, 2)) ** 2 + rest * (rb * rb).sum(1) + miss) / (B * n)  # [E]
    scale = 2.0 / (B * n)
    db = (y.sum(1) + rest * rb) * scale                                               # [E, n]
    # Layouts chosen by measurement (E=3, B=256, n=512, 1 thread): hᵀr [E, M, n] costs 0.11 ms at M=4 vs
    # 1.43 ms for rᵀh [E, n, M] (MKL is slow on the skinny output); Wᵀrᵀ likewise beats r W.
    dW = bmm_epilogue(h.transpose(1, 2), y, None, backend=backend).transpose(1, 2).contiguous()  # [E, n, M] = rᵀ h
    ghT = bmm_epilogue(W.transpose(1, 2), y.transpose(1, 2), None, backend=backend)  # [E, M, Bc] = (r W)ᵀ
    dW.view(E * n, M).index_add_(0, row_in, ghT.transpose(1, 2)[e_idx, smp] * val[:, None])
    dW.mul_(mask[:, None, :] * scale)
    return loss, dW, db


def rows_static(plan: SamplerPlan, backend, device) -> int:
    """Static compact row count of the device path: the largest per-stream bound on active samples
    (`SamplerPlan.rows_bound`, exceeded with probability <= delta), rounded up as `_row_multiple`, at most B."""
    r = int(plan.rows_bound.max())
    k = _row_multiple(backend, device)
    return min(plan.batch, -(-max(r, 1) // k) * k)


def _fused_loss_grads_static(W, b, mask, xp: PaddedBatch, inst_stream, batch, Bc, backend):
    """`_fused_loss_grads` on the padded layout with a static row count Bc (the device path: every shape is
    fixed by the plan, no host sync). Returns (loss [E], dW, db, overflow) where overflow (a 0-d bool tensor)
    says a stream had more than Bc active samples (then rows are merged and the step is not exact: the
    trainer reruns on the exact path). Unused slots carry value 0 and add nothing anywhere."""
    E = W.shape[0]
    S = xp.value.shape[0]
    flag = torch.zeros(S, batch, dtype=torch.int32, device=W.device)
    flag.scatter_add_(1, xp.sample, xp.valid.int())
    flag = flag > 0
    overflow = (flag.sum(1) > Bc).any()
    crow = (torch.cumsum(flag, 1) - 1).gather(1, xp.sample).clamp_(0, Bc - 1)        # [S, C] compact row
    smp, fea, val = crow[inst_stream], xp.feature[inst_stream], xp.value[inst_stream].to(W.dtype)   # [E, C]
    e_idx = torch.arange(E, device=W.device)[:, None].expand_as(smp)
    loss, dW, db = _dense_step(W, b, mask, e_idx.reshape(-1), fea.reshape(-1), smp.reshape(-1), val.reshape(-1),
                               batch, Bc, backend)
    return loss, dW, db, overflow


def loss_autograd(W, b, mask, x_dense) -> torch.Tensor:
    """Definition: per-instance MSE [E] of ReLU(x (W⊙mask)(W⊙mask)ᵀ + b) against x. x_dense [E, B, n]."""
    Wm = W * mask[:, None, :]
    y = torch.relu(torch.bmm(torch.bmm(x_dense, Wm), Wm.transpose(1, 2)) + b[:, None, :])
    return ((y - x_dense) ** 2).mean((1, 2))


NORM_EPS = 1e-8   # added to row norms in the γ < 0 rule, as the authors' adamw.py adds its group eps (1e-8)


def adamw_step(model: BatchedModel, dW, db, lr_mult: float, betas=(0.9, 0.999), eps=1e-8) -> None:
    """One AdamW step for all instances (per-instance lr and γ; decay on W only, before the Adam update).

    Decay: γ >= 0: W ← W (1 − lr γ); γ < 0: W_i ← W_i + lr γ (1 − 1/(‖W_i‖ + NORM_EPS)) W_i (a zero row stays
    zero). Adam: m, v with bias corrections, W ← W − lr/(1 − β1^t) · m / (√(v/(1 − β2^t)) + eps)."""
    model.t += 1
    t, (b1, b2) = model.t, betas
    W, b = model.W, model.b
    lrW = (model.lr_W * lr_mult)[:, None, None]
    lrb = (model.lr_b * lr_mult)[:, None]
    g = model.gamma[:, None, None]
    # decoupled decay: γ >= 0 multiplicative; γ < 0 pulls each row norm towards 1
    norm = torch.linalg.vector_norm(W, dim=2, keepdim=True)                            # [E, n, 1]
    W.mul_(1.0 + lrW * torch.where(g >= 0, -g, g * (1.0 - 1.0 / (norm + NORM_EPS))))
    mW, vW, mb, vb = model.state
    for p, gr, m, v, lr in ((W, dW, mW, vW, lrW), (b, db, mb, vb, lrb)):
        m.mul_(b1).add_(gr, alpha=1 - b1)
        v.mul_(b2).addcmul_(gr, gr, value=1 - b2)
        denom = (v / (1 - b2 ** t)).sqrt_().add_(eps)
        p.sub_(lr / (1 - b1 ** t) * m / denom)


def streams_of(instances: Sequence[dict], n: int, density: float):
    """Map instances to data streams keyed by (seed, law). Returns (stream index per instance [E], list of
    (seed, law) per stream, p [S, n] float64)."""
    keys: dict[tuple, int] = {}
    idx = [keys.setdefault((int(i["seed"]), str(i["law"])), len(keys)) for i in instances]
    p = torch.tensor(np.stack([theory.frequencies(n, law, density) for (_, law) in keys]))
    return idx, list(keys), p


def stream_plan(instances: Sequence[dict], spec: TrainSpec, device=None):
    """(stream index per instance, SamplerPlan) of a run: one data stream per (seed, law)."""
    sidx, skeys, p = streams_of(instances, spec.n, spec.density)
    return sidx, make_plan(p, spec.batch, [s for s, _ in skeys], [l for _, l in skeys], device=device)


def group_instances(instances: Sequence[dict], grouping: str) -> list[list[int]]:
    """Instance indices per parameter group: "by_m" (one group per width: no padded work) or "pad" (one
    group padded to max m). Measured at n = B = 512, m in {4..64} x 3 seeds, 1 thread: pad 117 ms/step,
    by_m 44 ms/step (padding to 64 does 2.6x the matmul work of the mean width 24.8)."""
    if grouping == "pad":
        return [list(range(len(instances)))]
    if grouping != "by_m":
        raise ValueError(f"grouping must be 'by_m' or 'pad', got {grouping!r}")
    groups: dict[int, list[int]] = {}
    for e, inst in enumerate(instances):
        groups.setdefault(int(inst["m"]), []).append(e)
    return list(groups.values())


def default_static(device) -> bool:
    """The static-shape path (padded layout, fixed row count, no host sync per step) off the CPU; the
    compacting path on the CPU, where data-dependent shapes cost nothing and fewer rows are faster."""
    return torch.device(device).type != "cpu"


UNIFORM_BUFFER_BYTES = 4 << 20


class Trainer:
    """State of one batched run and its step (`step(t)`: draw step t's batch, one fused forward/backward and
    AdamW update per parameter group). `static`: the device path (see `default_static`); its steps record
    row-bound excess or sampler shortfall in the device flag `overflow` instead of syncing."""

    def __init__(self, instances: Sequence[dict], spec: TrainSpec, *, device=None, dtype=torch.float32,
                 backend=None, grouping: str = "by_m", static: bool | None = None):
        self.device = torch.device(device or "cpu")
        self.spec, self.dtype, self.backend = spec, dtype, backend
        self.static = default_static(self.device) if static is None else bool(static)
        self.groups = group_instances(instances, grouping)
        self.models = [BatchedModel([instances[e] for e in g], spec, self.device, dtype) for g in self.groups]
        sidx, self.plan = stream_plan(instances, spec, self.device)
        self.streams = [torch.tensor([sidx[e] for e in g], device=self.device) for g in self.groups]
        self.order = torch.tensor([e for g in self.groups for e in g], device=self.device)
        self.rows = rows_static(self.plan, backend, self.device) if self.static else None
        self.overflow = torch.zeros((), dtype=torch.bool, device=self.device)
        self.E = len(instances)
        self._u, self._u0 = None, 0       # CPU path: uniforms of several steps, drawn in one call

    def _uniforms(self, t: int):
        """Step t's uniforms on the compacting path, from a buffer of up to UNIFORM_BUFFER_BYTES of steps."""
        if self._u is None or not (self._u0 <= t < self._u0 + self._u.shape[1]):
            per_step = self.plan.n_streams * self.plan.slots * 16
            k = max(1, min(64, UNIFORM_BUFFER_BYTES // per_step, self.spec.steps - t))
            self._u, self._u0 = uniforms(self.plan, t, steps=k), t
        return self._u[:, t - self._u0]

    def step(self, t: int) -> torch.Tensor:
        """Train step t (0-based); returns the per-instance loss [E] (float64, instance order) before the update."""
        spec = self.spec
        mult = lr_factor(t, spec.steps, spec.warmup)
        if self.static:
            x = draw_padded(self.plan, t, self.dtype)
            self.overflow |= x.short.any()
        else:
            x = draw_active(self.plan, t, self.dtype, self._uniforms(t))
        losses = []
        for model, inst_stream in zip(self.models, self.streams):
            if self.static:
                loss, dW, db, over = _fused_loss_grads_static(model.W, model.b, model.mask, x, inst_stream,
                                                              spec.batch, self.rows, self.backend)
                self.overflow |= over
            else:
                loss, dW, db = _fused_loss_grads(model.W, model.b, model.mask, x, inst_stream, spec.batch,
                                                 self.backend)
            adamw_step(model, dW, db, mult, eps=spec.adam_eps)
            losses.append(loss)
        return torch.empty(self.E, dtype=torch.float64, device=self.device).index_copy_(
            0, self.order, torch.cat(losses).double())


def train(instances: Sequence[dict], spec: TrainSpec, *, device=None, dtype=torch.float32, backend=None,
          log_points: int = 0, grouping: str = "by_m", static: bool | None = None):
    """Train E instances (dicts with m, gamma, law, seed) as one batched computation per step.

    All instances share one sparse sample per step (one stream per (seed, law)); parameters live in groups
    (`group_instances`), one fused forward/backward per group per step. The step is `Trainer.step`; the host
    reads the device only at the `log_points` checkpoints and once at the end (the static path's overflow
    flag: if it was ever raised, probability <= `SamplerPlan.overflow_probability()` per step, the run is
    redone on the exact compacting path, whose numbers equal the static path's whenever no flag is raised).
    Returns (models, groups, final_loss [E] float64 (mean of the last `final_window` step losses), log),
    log = list of (step, loss [E] list) at `log_points` evenly spaced steps (averaged since the previous).
    """
    tr = Trainer(instances, spec, device=device, dtype=dtype, backend=backend, grouping=grouping, static=static)
    fw = min(spec.final_window or max(100, spec.steps // 20), spec.steps)
    acc = torch.zeros(len(instances), dtype=torch.float64, device=tr.device)
    log, log_acc, log_n = [], torch.zeros_like(acc), 0
    every = max(1, spec.steps // log_points) if log_points else 0
    for step in range(spec.steps):
        loss = tr.step(step)
        if step >= spec.steps - fw:
            acc += loss
        if every:
            log_acc += loss
            log_n += 1
            if (step + 1) % every == 0:
                log.append((step + 1, (log_acc / log_n).tolist()))
                log_acc.zero_()
                log_n = 0
    if tr.static and bool(tr.overflow):
        return train(instances, spec, device=device, dtype=dtype, backend=backend, log_points=log_points,
                     grouping=grouping, static=False)
    return tr.models, tr.groups, acc / fw, log


def simulate(instances: Sequence[dict], spec: TrainSpec, *, device=None, dtype=torch.float32, backend=None,
             log_points: int = 0, grouping: str = "by_m", static: bool | None = None) -> list[dict]:
    """Train and measure: one JSON-able metrics dict per instance (in order): loss (mean over features),
    loss_sum (× n, the paper's unit), the geometry diagnostics of `measure_geometry`, and `log`
    (step -> loss) when `log_points` > 0."""
    models, groups, final, log = train(instances, spec, device=device, dtype=dtype, backend=backend,
                                       log_points=log_points, grouping=grouping, static=static)
    out: list[dict] = [dict() for _ in instances]
    for model, g in zip(models, groups):
        for e, geo in zip(g, measure_geometry(model.W, model.mask)):
            out[e].update(geo)
    for e in range(len(instances)):
        out[e]["loss"] = float(final[e])
        out[e]["loss_sum"] = float(final[e]) * spec.n
        if log:
            out[e]["log_steps"] = [s for s, _ in log]
            out[e]["log_loss"] = [l[e] for _, l in log]
    return out


# --------------------------------------------------------------------------- memory
def instance_bytes(n: int, m: int, batch: int, laws: Sequence[str], density: float = 0.0, itemsize: int = 4) -> int:
    """Peak device bytes of ONE instance of width m on the static (device) path, for the runner's batch cut.

    Counts (itemsize bytes per float): W, dW, Adam m and v and the same four for b (8 n m-or-n arrays); the
    step's activations on its row bound Bc (`SamplerPlan.rows_bound`): h [Bc, m], y [Bc, n], (r W)ᵀ [m, Bc],
    dW's bmm output and its contiguous copy (2 n m); AdamW's temporaries (3 n m); per draw slot (C, the
    sampler's layout): the gathered [C, m] rows (3 of them) and ~8 int64/float64 slot arrays; the sampler's
    own per-stream work (~20 int64/float64 arrays of C, counted as if each instance had its own stream).
    An upper bound rather than a tight figure (the terms do not all peak together); the largest law wins."""
    rows = slots = 0
    for law in laws:
        p = torch.tensor(theory.frequencies(n, law, density))[None]
        plan = make_plan(p, batch, [0], [law])
        rows, slots = max(rows, int(plan.rows_bound.max())), max(slots, plan.slots)
    it = int(itemsize)
    params = (4 * n * m + 4 * n) * it
    acts = (rows * m + rows * n + m * rows + 2 * n * m) * it
    adam = 3 * n * m * it
    slot = slots * (3 * m * it + 8 * 8)
    sampler = slots * 20 * 8
    return int(params + acts + adam + slot + sampler)


# --------------------------------------------------------------------------- measurements
def measure_geometry(W: torch.Tensor, mask: torch.Tensor) -> list[dict]:
    """Geometry diagnostics per instance from trained W [E, n, M] (masked columns zero).

    Returns per instance: frac_half (‖W_i‖ > 1/2), frac_strong (‖W_i‖ > 1, the paper's "strong
    representation"), n_represented (count ‖W_i‖ > 1/2), overlap_msq (mean over represented i ≠ j of
    (Ŵ_i·Ŵ_j)²), overlap_msq_x_m, welch (bound for k = n_represented unit vectors in R^m), dim_mean
    (mean over represented i of Elhage's D_i = ‖W_i‖² / Σ_j (Ŵ_i·W_j)², [E22] "feature dimensionality"),
    norm_hist (counts of ‖W_i‖ in 24 bins over [0, 1.5], last bin open).
    """
    W = W.double()
    out = []
    for e in range(W.shape[0]):
        m = int(mask[e].sum())
        w = W[e, :, :m]
        norms = torch.linalg.vector_norm(w, dim=1)
        rep = norms > 0.5
        k = int(rep.sum())
        hist = torch.histc(norms.clamp_max(1.5 - 1e-9), bins=24, min=0.0, max=1.5)
        d = {"frac_half": float(rep.double().mean()), "frac_strong": float((norms > 1).double().mean()),
             "n_represented": k, "norm_mean": float(norms.mean()), "norm_hist": hist.tolist()}
        if k >= 2:
            wr = w[rep]
            u = wr / norms[rep][:, None]
            G = u @ u.T                                                         # [k, k] cosines
            off = (G ** 2).sum() - k
            msq = float(off / (k * (k - 1)))
            proj = (u @ w.T) ** 2                                               # [k, n] (Ŵ_i·W_j)²
            dim = norms[rep] ** 2 / proj.sum(1)
            d.update(overlap_msq=msq, overlap_msq_x_m=msq * m, welch=float(theory.welch_bound(k, m)),
                     dim_mean=float(dim.mean()))
        else:
            d.update(overlap_msq=float("nan"), overlap_msq_x_m=float("nan"), welch=float("nan"),
                     dim_mean=float("nan"))
        out.append(d)
    return out
