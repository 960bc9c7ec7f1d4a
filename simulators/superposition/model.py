"""Batched superposition toy model: sparse sampler, fused-gradient AdamW trainer, geometry measures.

Model ([LLG25] Sec. 2, after [E22]): tied weights W [n, m], bias b [n], y = ReLU(x W Wᵀ + b), loss =
mean squared error over batch and features. E instances (widths m × decay γ × frequency law × seed)
train as ONE computation per step:

- Widths are padded to M = max m with a column mask [E, M]; masked columns of W are exactly zero, get
  exactly zero gradient and stay zero under AdamW and the norm rule (tested).
- Data are sparse: `sample_active` draws only the active (sample, feature) pairs of each stream, exactly
  (each feature on with probability p_i in each sample, independently), by geometric skips. A stream is
  keyed by (seed, law): instances that share seed and law see the same data (common random numbers
  across m and γ), and a stream's numbers never depend on its batch-mates.
- x W is a gather/scatter over the ~1 active feature per sample (E·B·M work instead of E·B·n·M); the
  output y = ReLU(h Wᵀ + b) is dense and goes through `kernels.bmm_epilogue` (fused bias + ReLU).
- The three dense products (y = h Wᵀ + b, rᵀh, (r W)ᵀ) run over the samples with an active feature only
  (~65% of B at Σp = 1): a sample with none has h = 0, r = ReLU(b) and no share in dW, so the rest enter
  the loss and db in closed form, exactly (`_fused_loss_grads`). On CPU, instances go through in chunks
  of <= 8 MiB of dense rows (cache-sized, and no fresh page faults every step).
- Gradients are hand-written and fused in place on y (r = (y − x)·1[z > 0]); `loss_autograd` is the
  plain-autograd definition they are tested against.
- Optimiser: AdamW (0.9, 0.999, 1e-8) with per-instance learning rates; decoupled decay on W only:
  γ >= 0: W ← W (1 − lr γ); γ < 0: W_i ← W_i + lr γ (1 − 1/‖W_i‖) W_i (pulls row norms to 1).
  Warm-up 10% of steps (at most 2000), cosine decay to 5% of peak.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from kernels import bmm_epilogue, resolve_backend

from .._batch import ROLE_DATA, ROLE_INIT, chunk_ranges, instance_generator
from . import theory

def _law_key(law: str) -> int:
    """A deterministic integer key for a law string (no salted hash()): its bytes as a base-257 number mod 2^31."""
    k = 0
    for ch in law.encode():
        k = (k * 257 + ch) % (2 ** 31 - 1)
    return k


# --------------------------------------------------------------------------- data
@dataclass
class ActiveBatch:
    """The active entries of a batch of B samples for S streams (x_{b,i} = v where listed, 0 elsewhere).

    stream [K], sample [K], feature [K] (int64), value [K] (float), sorted by stream."""
    stream: torch.Tensor
    sample: torch.Tensor
    feature: torch.Tensor
    value: torch.Tensor

    def dense(self, n_streams: int, batch: int, n: int) -> torch.Tensor:
        """x as a dense [S, B, n] tensor (for tests and the per-model baseline)."""
        x = torch.zeros(n_streams, batch, n, dtype=self.value.dtype, device=self.value.device)
        x[self.stream, self.sample, self.feature] = self.value
        return x


def _margin(bp: torch.Tensor) -> torch.Tensor:
    """Geometric draws per feature: enough that the draws cover all B samples except with prob ~1e-12."""
    return torch.ceil(bp + 7.0 * torch.sqrt(bp) + 10.0).long()


def sample_active(p: torch.Tensor, batch: int, generators: Sequence[torch.Generator], *,
                  dtype=torch.float32, device=None, margin_fn=_margin) -> ActiveBatch:
    """Exact sparse sample of x = u·v (u_i ~ Bernoulli(p_i), v ~ U(0, 2)) for S streams.

    Args:
        p: [S, n] float64 frequencies (CPU), one row per stream.
        batch: B samples per stream.
        generators: S CPU generators; stream s draws only from generators[s] (a fixed number of draws per
            step, so its numbers do not depend on the other streams).
        margin_fn: number of geometric draws per feature (tests pass a small one to hit the fallback).
    Returns:
        ActiveBatch on `device`.
    Method: the active samples of feature i are the partial sums of Geometric(p_i) gaps; c_i gaps are drawn
    (c_i = Bp_i + 7√(Bp_i) + 10). If the gaps do not reach past sample B − 1 (probability ~1e-12), that
    feature's column is redrawn densely (exact either way).
    """
    S, n = p.shape
    out = []
    for s in range(S):
        ps = p[s]
        c = margin_fn(batch * ps)                                         # [n] draws per feature
        tot = int(c.sum())
        u = torch.rand(2 * tot, generator=generators[s], dtype=torch.float64)
        ug, uv = u[:tot], u[tot:]
        feat = torch.repeat_interleave(torch.arange(n), c)                # [tot]
        pf = ps[feat]
        with np.errstate(divide="ignore"):
            gap = torch.floor(torch.log1p(-ug) / torch.log1p(-pf)).clamp_max(batch) + 1   # Geometric(p) >= 1
        gap = torch.where(pf > 0, gap, torch.full_like(gap, batch + 1.0)).long()
        pos = torch.cumsum(gap, 0)
        start = torch.cumsum(c, 0) - c                                    # [n] segment starts
        base = torch.repeat_interleave(pos[start] - gap[start], c)        # cumsum before each segment
        pos = pos - base - 1                                              # 0-based sample index within segment
        last = pos[start + c - 1]                                         # [n] last covered position
        short = torch.nonzero(last < batch - 1).flatten()
        keep = pos < batch
        fs, bs, vs = feat[keep], pos[keep], 2.0 * uv[keep]
        if len(short):                                                    # rare: exact dense redraw
            keep_mask = ~torch.isin(fs, short)
            fs, bs, vs = fs[keep_mask], bs[keep_mask], vs[keep_mask]
            dense = torch.rand(batch, len(short), generator=generators[s], dtype=torch.float64)
            vals = 2.0 * torch.rand(batch, len(short), generator=generators[s], dtype=torch.float64)
            bb, jj = torch.nonzero(dense < ps[short][None, :], as_tuple=True)
            fs, bs, vs = torch.cat([fs, short[jj]]), torch.cat([bs, bb]), torch.cat([vs, vals[bb, jj]])
        out.append((torch.full_like(fs, s), bs, fs, vs))
    st, sa, fe, va = (torch.cat(t) for t in zip(*out))
    return ActiveBatch(st.to(device), sa.to(device), fe.to(device), va.to(device=device, dtype=dtype))


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


def learning_rates(m: int, lr) -> tuple[float, float]:
    """(lr_W, lr_b) for width m."""
    if lr == "large_run":
        return 0.02 * (8.0 / m) ** 0.25, 2.0 / m
    return float(lr), float(lr)


def lr_factor(step: int, steps: int) -> float:
    """Schedule multiplier: linear warm-up over min(10% steps, 2000), cosine decay to 0.05 at the end."""
    warm = max(1, min(int(0.1 * steps), 2000))
    if step < warm:
        return (step + 1) / warm
    t = (step - warm) / max(1, steps - warm - 1)
    return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


class BatchedModel:
    """Parameters and AdamW state of E instances. W [E, n, M], b [E, n], mask [E, M]."""

    def __init__(self, instances: Sequence[dict], spec: TrainSpec, device, dtype):
        self.instances = [dict(i) for i in instances]
        E, n = len(instances), spec.n
        ms = [int(i["m"]) for i in instances]
        M = max(ms)
        if M >= n:
            raise ValueError(f"every width m must be < n = {n}, got max m = {M}")
        W = torch.zeros(E, n, M, dtype=torch.float64)
        b = torch.empty(E, n, dtype=torch.float64)
        for e, inst in enumerate(instances):   # once per instance: per-instance RNG keyed by (seed, m)
            g = instance_generator(int(inst["seed"]), ROLE_INIT, ms[e])
            W[e, :, :ms[e]] = torch.randn(n, ms[e], generator=g, dtype=torch.float64) / math.sqrt(ms[e])
            b[e] = torch.randn(n, generator=g, dtype=torch.float64)
        kw = dict(device=device, dtype=dtype)
        self.W, self.b = W.to(**kw), b.to(**kw)
        self.mask = (torch.arange(M)[None, :] < torch.tensor(ms)[:, None]).to(**kw)            # [E, M]
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
    E, n, M = W.shape
    # expand stream entries to instance entries: instance e takes every entry of its stream
    starts = torch.cumsum(counts, 0) - counts
    ke = counts[inst_stream]                                                          # [E]
    e_idx = torch.repeat_interleave(torch.arange(E, device=W.device), ke)             # [K_E]
    off = torch.arange(len(e_idx), device=W.device) - torch.repeat_interleave(torch.cumsum(ke, 0) - ke, ke)
    src = starts[inst_stream][e_idx] + off                                            # [K_E] entry ids
    smp, fea, val = crow[src], x.feature[src], x.value[src]                           # smp: compact row
    row_in = e_idx * n + fea                                                          # rows of W.view(E*n, M)
    row_h = e_idx * Bc + smp                                                          # rows of h.view(E*Bc, M)
    Wf = W.reshape(E * n, M)
    h = torch.zeros(E * Bc, M, dtype=W.dtype, device=W.device)
    h.index_add_(0, row_h, Wf[row_in] * val[:, None])
    h = h.view(E, Bc, M)                                                              # [E, Bc, M] = x W
    y = bmm_epilogue(h, W.transpose(1, 2), b, "relu", backend=backend)                # [E, Bc, n]
    yf = y.view(-1)
    pos = row_h * n + fea
    ya = yf[pos]
    on = ya > 0
    yf[pos] = ya - val * on            # y now holds r = (y − x)·1[z > 0]
    miss = torch.zeros(E, dtype=W.dtype, device=W.device).index_add_(0, e_idx, val * val * (~on))
    rest = B - Bc                      # inactive samples not computed: each has r = ReLU(b)
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


def loss_autograd(W, b, mask, x_dense) -> torch.Tensor:
    """Definition: per-instance MSE [E] of ReLU(x (W⊙mask)(W⊙mask)ᵀ + b) against x. x_dense [E, B, n]."""
    Wm = W * mask[:, None, :]
    y = torch.relu(torch.bmm(torch.bmm(x_dense, Wm), Wm.transpose(1, 2)) + b[:, None, :])
    return ((y - x_dense) ** 2).mean((1, 2))


def adamw_step(model: BatchedModel, dW, db, lr_mult: float, betas=(0.9, 0.999), eps=1e-8) -> None:
    """One AdamW step for all instances (per-instance lr and γ; decay on W only, before the Adam update)."""
    model.t += 1
    t, (b1, b2) = model.t, betas
    W, b = model.W, model.b
    lrW = (model.lr_W * lr_mult)[:, None, None]
    lrb = (model.lr_b * lr_mult)[:, None]
    g = model.gamma[:, None, None]
    # decoupled decay: γ >= 0 multiplicative; γ < 0 pulls each row norm towards 1
    norm = torch.linalg.vector_norm(W, dim=2, keepdim=True)                            # [E, n, 1]
    # a zero row (masked or dead) stays zero: its factor multiplies 0
    W.mul_(1.0 + lrW * torch.where(g >= 0, -g, g * (1.0 - 1.0 / norm.clamp_min(1e-30))))
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


def train(instances: Sequence[dict], spec: TrainSpec, *, device=None, dtype=torch.float32, backend=None,
          log_points: int = 0, grouping: str = "by_m"):
    """Train E instances (dicts with m, gamma, law, seed) as one batched computation per step.

    All instances share one sparse sample per step (one stream per (seed, law)); parameters live in groups
    (`group_instances`), one fused forward/backward per group per step.
    Returns (models, groups, final_loss [E] float64 (mean of the last `final_window` step losses), log),
    log = list of (step, loss [E] list) at `log_points` evenly spaced steps (averaged since the previous).
    """
    device = torch.device(device or "cpu")
    groups = group_instances(instances, grouping)
    models = [BatchedModel([instances[e] for e in g], spec, device, dtype) for g in groups]
    sidx, skeys, p = streams_of(instances, spec.n, spec.density)
    streams = [torch.tensor([sidx[e] for e in g], device=device) for g in groups]
    gens = [instance_generator(seed, ROLE_DATA, _law_key(law)) for seed, law in skeys]
    order = torch.tensor([e for g in groups for e in g], device=device)
    fw = min(spec.final_window or max(100, spec.steps // 20), spec.steps)
    acc = torch.zeros(len(instances), dtype=torch.float64, device=device)
    log, log_acc, log_n = [], torch.zeros_like(acc), 0
    every = max(1, spec.steps // log_points) if log_points else 0
    for step in range(spec.steps):
        x = sample_active(p, spec.batch, gens, dtype=dtype, device=device)
        mult = lr_factor(step, spec.steps)
        losses = []
        for model, inst_stream in zip(models, streams):
            loss, dW, db = _fused_loss_grads(model.W, model.b, model.mask, x, inst_stream, spec.batch, backend)
            adamw_step(model, dW, db, mult)
            losses.append(loss)
        loss = torch.empty_like(acc).index_copy_(0, order, torch.cat(losses).double())
        if step >= spec.steps - fw:
            acc += loss
        if every:
            log_acc += loss
            log_n += 1
            if (step + 1) % every == 0:
                log.append((step + 1, (log_acc / log_n).tolist()))
                log_acc.zero_()
                log_n = 0
    return models, groups, acc / fw, log


def simulate(instances: Sequence[dict], spec: TrainSpec, *, device=None, dtype=torch.float32, backend=None,
             log_points: int = 0, grouping: str = "by_m") -> list[dict]:
    """Train and measure: one JSON-able metrics dict per instance (in order): loss (mean over features),
    loss_sum (× n, the paper's unit), the geometry diagnostics of `measure_geometry`, and `log`
    (step -> loss) when `log_points` > 0."""
    models, groups, final, log = train(instances, spec, device=device, dtype=dtype, backend=backend,
                                       log_points=log_points, grouping=grouping)
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
