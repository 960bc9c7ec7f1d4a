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

from kernels import bmm_epilogue

from .._batch import ROLE_DATA, ROLE_INIT, instance_generator
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


def _fused_loss_grads(W, b, mask, x: ActiveBatch, inst_stream, batch, backend):
    """Per-instance loss [E] and gradients (dW [E, n, M], db [E, n]) without autograd.

    x holds S streams; instance e reads stream inst_stream[e]. Work: two dense bmms over [E, B, n] plus
    in-place epilogues; x W and the input half of dW are gathers/scatters over the K active entries.
    """
    E, n, M = W.shape
    B = batch
    # expand stream entries to instance entries: instance e takes every entry of its stream
    counts = torch.bincount(x.stream, minlength=int(inst_stream.max()) + 1)           # [S]
    starts = torch.cumsum(counts, 0) - counts
    ke = counts[inst_stream]                                                          # [E]
    e_idx = torch.repeat_interleave(torch.arange(E, device=W.device), ke)             # [K_E]
    off = torch.arange(len(e_idx), device=W.device) - torch.repeat_interleave(torch.cumsum(ke, 0) - ke, ke)
    src = starts[inst_stream][e_idx] + off                                            # [K_E] entry ids
    smp, fea, val = x.sample[src], x.feature[src], x.value[src]
    row_in = e_idx * n + fea                                                          # rows of W.view(E*n, M)
    row_h = e_idx * B + smp                                                           # rows of h.view(E*B, M)
    Wf = W.reshape(E * n, M)
    h = torch.zeros(E * B, M, dtype=W.dtype, device=W.device)
    h.index_add_(0, row_h, Wf[row_in] * val[:, None])
    h = h.view(E, B, M)                                                               # [E, B, M] = x W
    y = bmm_epilogue(h, W.transpose(1, 2), b, "relu", backend=backend)                # [E, B, n]
    yf = y.view(-1)
    pos = row_h * n + fea
    ya = yf[pos]
    on = ya > 0
    yf[pos] = ya - val * on            # y now holds r = (y − x)·1[z > 0]
    miss = torch.zeros(E, dtype=W.dtype, device=W.device).index_add_(0, e_idx, val * val * (~on))
    loss = (torch.linalg.vector_norm(y, dim=(1, 2)) ** 2 + miss) / (B * n)          # [E]
    scale = 2.0 / (B * n)
    db = y.sum(1) * scale                                                             # [E, n]
    # Layouts chosen by measurement (E=3, B=256, n=512, 1 thread): hᵀr [E, M, n] costs 0.11 ms at M=4 vs
    # 1.43 ms for rᵀh [E, n, M] (MKL is slow on the skinny output); Wᵀrᵀ likewise beats r W.
    dW = bmm_epilogue(h.transpose(1, 2), y, None, backend=backend).transpose(1, 2).contiguous()  # [E, n, M] = rᵀ h
    ghT = bmm_epilogue(W.transpose(1, 2), y.transpose(1, 2), None, backend=backend)  # [E, M, B] = (r W)ᵀ
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
