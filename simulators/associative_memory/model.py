"""Outer-product associative memories on Zipf tokens (Cabannes, Dohmatob & Bietti 2023), batched over trials.

Model (paper §2): tokens x ∈ {1..N} with p(x) ∝ x^(−a); labels y = f*(x) = x mod M; input embeddings
e_x ~ N(0, I_d/d); output embeddings u_y uniform on the unit sphere of R^d. A memory is
W = Σ_x q(x) e_x u_{f*(x)}ᵀ ∈ R^{d×d}, it predicts f̂(x) = argmax_y e_xᵀ W u_y, and its error is the
population error E = Σ_x p(x) 1{f̂(x) ≠ f*(x)}, computed exactly over all N tokens.

Shape letters: R trials (instances; one seed each), C memory columns sharing a trial's embeddings
(schemes × a × T), N tokens, d embedding dimension, M labels, T samples.

Batched scoring (`measure_error`). Scores for all tokens are E W Uᵀ: reassociated as E (W Uᵀ) with
W Uᵀ = Eᵀ (q ⊙ G[f*]), G = U Uᵀ [M, M], so the cost is N·d·M per column and W (d×d) never exists.
E is streamed in token blocks of `BLOCK` rows: pass 1 accumulates W Uᵀ, pass 2 scores, takes the
argmax and accumulates the p-weighted error. Block b of trial r is drawn from its own generator keyed
by (seed_r, ROLE_EMBED, d, 0, b), so a trial's embeddings never depend on its batch-mates or on the
chunking; blocks are cached between the passes when they fit in `cache_elems`, else redrawn.
Embeddings are drawn in float32 on the CPU and then cast and moved (float64 runs see the same numbers).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

import kernels
from simulators._batch import ROLE_DATA, ROLE_EMBED, instance_generator

BLOCK = 256                 # token rows per embedding block (fixed: part of the RNG key layout)
CACHE_ELEMS = 1 << 25       # keep E between the two passes when R·N·d is at most this (128 MB fp32)
SCHEMES = ("seen", "freq", "pop", "threshold", "pop_threshold")


# --------------------------------------------------------------------------- data
def zipf_probs(N: int, a: float, dtype=torch.float64) -> torch.Tensor:
    """p(x) = x^(−a) / Σ_{x'≤N} x'^(−a) for x = 1..N, as a tensor [N] (index i holds token x = i+1)."""
    x = torch.arange(1, N + 1, dtype=torch.float64)
    w = x.pow(-float(a))
    return (w / w.sum()).to(dtype)


def labels(N: int, M: int) -> torch.Tensor:
    """f*(x) = x mod M for x = 1..N, as a long tensor [N]."""
    return torch.arange(1, N + 1) % M


def sample_counts(seed: int, p: torch.Tensor, T: int, *keys: int, chunk: int = 1 << 22) -> torch.Tensor:
    """Counts n(x) of T i.i.d. draws from p, [N] (float64), from the generator (seed, ROLE_DATA, *keys).

    Inverse-CDF sampling in chunks of `chunk` draws (memory stays O(chunk) for any T)."""
    g = instance_generator(seed, ROLE_DATA, *keys)
    cdf = torch.cumsum(p.to(torch.float64), 0)
    cdf[-1] = 1.0
    counts = torch.zeros(len(p), dtype=torch.float64)
    left = int(T)
    while left > 0:
        n = min(left, chunk)
        idx = torch.searchsorted(cdf, torch.rand(n, generator=g, dtype=torch.float64), right=True)
        counts += torch.bincount(idx.clamp_(max=len(p) - 1), minlength=len(p)).to(torch.float64)
        left -= n
    return counts


def parse_scheme(name: str) -> tuple[str, float]:
    """'seen' | 'freq^ρ' | 'pop^ρ' | 'threshold' | 'pop_threshold' -> (kind, ρ). Raises on anything else."""
    kind, _, rho = name.partition("^")
    if kind not in SCHEMES or (rho and kind not in ("freq", "pop")):
        raise ValueError(f"scheme must be one of seen, freq^ρ, pop^ρ, threshold, pop_threshold; got {name!r}")
    r = float(rho) if rho else 1.0
    if not r > 0:
        raise ValueError(f"scheme {name!r}: ρ must be > 0")
    return kind, r


def memory_weights(scheme: str, p: torch.Tensor, counts: torch.Tensor | None = None, *,
                   d: int | None = None, c: float = 8.0) -> torch.Tensor:
    """Memory weights q(x) [..., N] of a scheme (paper §3–4).

    Args:
        scheme: 'seen' q = 1{n>0}; 'freq^ρ' q = (n/T)^ρ (ρ = 1: Hebbian Σ_t e_{x_t} u_{y_t}ᵀ/T);
            'pop^ρ' q = p^ρ; 'threshold' q = 1 on the P = ⌊d/c⌋ most frequent *seen* tokens (ties: smaller x);
            'pop_threshold' q = 1 on the P most probable tokens.
        p: token probabilities [N]; counts: n(x) [..., N] (needed by seen/freq/threshold).
        d, c: dimension and the threshold constant (P = max(1, ⌊d/c⌋)).
    """
    kind, rho = parse_scheme(scheme)
    if kind == "pop":
        return p.pow(rho)
    if kind == "pop_threshold":
        q = torch.zeros_like(p)
        q[: _n_stored(d, c, len(p))] = 1.0
        return q
    if counts is None:
        raise ValueError(f"scheme {scheme!r} needs counts from sampled data (T >= 1)")
    if kind == "seen":
        return (counts > 0).to(p.dtype)
    if kind == "freq":
        return (counts / counts.sum(-1, keepdim=True)).pow(rho)
    P = _n_stored(d, c, counts.shape[-1])
    # stable ordering by count, ties broken towards the more probable (smaller) token
    order = torch.argsort(-counts - torch.linspace(0, 0.5, counts.shape[-1], dtype=counts.dtype), dim=-1)
    q = torch.zeros_like(counts)
    q.scatter_(-1, order[..., :P], 1.0)
    return q * (counts > 0)


def _n_stored(d, c, N):
    if d is None:
        raise ValueError("threshold schemes need the dimension d")
    return int(min(N, max(1, math.floor(d / c))))


def error_infinite_capacity(counts: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """d = ∞ error of any store-if-seen scheme: the probability mass of unseen tokens, Σ_x p(x) 1{n(x)=0}.
    counts [..., N] -> [...]."""
    return ((counts == 0).to(p.dtype) * p).sum(-1)


# --------------------------------------------------------------------------- embeddings
def embedding_block(seed: int, d: int, b: int, N: int) -> torch.Tensor:
    """Rows [b·BLOCK, min(N, (b+1)·BLOCK)) of trial `seed`'s input embeddings, N(0, I_d/d), float32 CPU."""
    n = min(N, (b + 1) * BLOCK) - b * BLOCK
    g = instance_generator(seed, ROLE_EMBED, d, 0, b)
    return torch.randn(n, d, generator=g, dtype=torch.float32).mul_(1.0 / math.sqrt(d))


def output_embeddings(seed: int, d: int, M: int) -> torch.Tensor:
    """u_y, y = 0..M−1, uniform on the unit sphere of R^d: [M, d] float32 CPU, keyed (seed, ROLE_EMBED, d, 1)."""
    g = instance_generator(seed, ROLE_EMBED, d, 1)
    u = torch.randn(M, d, generator=g, dtype=torch.float64)
    return (u / u.norm(dim=1, keepdim=True)).float()


def input_embeddings(seed: int, d: int, N: int) -> torch.Tensor:
    """All N input embeddings of trial `seed`, [N, d] float32 CPU (the blocks concatenated)."""
    return torch.cat([embedding_block(seed, d, b, N) for b in range(math.ceil(N / BLOCK))])


# --------------------------------------------------------------------------- batched scorer
def measure_error(q: torch.Tensor, p: torch.Tensor, seeds: Sequence[int], d: int, M: int, *,
                  device=None, dtype=torch.float32, backend: str | None = None,
                  cache_elems: int = CACHE_ELEMS) -> torch.Tensor:
    """Exact population error of R × C outer-product memories, streaming the embeddings in token blocks.

    Args:
        q: memory weights [R, C, N] (trial r, column c).
        p: token probabilities weighting the error, [C, N] or [R, C, N].
        seeds: the R trials' seeds (embeddings keyed by (seed, d)); d: dimension; M: number of labels.
        device, dtype, backend: where and how to compute (backend goes to `kernels.bmm_epilogue`).
        cache_elems: keep E between the passes if R·N·d is at most this, else draw it twice.
    Returns:
        errors [R, C] (float64): Σ_x p(x) 1{argmax_y e_xᵀ W u_y ≠ f*(x)}.
    """
    R, C, N = q.shape
    if len(seeds) != R:
        raise ValueError(f"need one seed per trial: q has R = {R}, got {len(seeds)} seeds")
    device = torch.device(device or "cpu")
    f = labels(N, M).to(device)                                                   # [N]
    U = torch.stack([output_embeddings(s, d, M) for s in seeds]).to(device, dtype)  # [R, M, d]
    G = torch.bmm(U, U.transpose(1, 2))                                          # [R, M, M]
    qG = q.to(device, dtype)[..., None] * G[:, None, f, :]                        # [R, C, N, M]
    qG = qG.permute(0, 2, 1, 3).reshape(R, N, C * M)                              # [R, N, C·M]
    p = p.to(device, torch.float64).expand(R, C, N)
    n_blocks = math.ceil(N / BLOCK)
    cache = [] if R * N * d <= cache_elems else None

    def block(b):
        if cache is not None and b < len(cache):
            return cache[b]
        Eb = torch.stack([embedding_block(s, d, b, N) for s in seeds]).to(device, dtype)  # [R, n, d]
        if cache is not None:
            cache.append(Eb)
        return Eb

    WUt = torch.zeros(R, d, C * M, device=device, dtype=dtype)                    # [R, d, C·M] = W Uᵀ
    for b in range(n_blocks):
        sl = slice(b * BLOCK, min(N, (b + 1) * BLOCK))
        WUt += kernels.bmm_epilogue(block(b).transpose(1, 2), qG[:, sl].contiguous(), backend=backend)
    err = torch.zeros(R, C, device=device, dtype=torch.float64)
    for b in range(n_blocks):
        sl = slice(b * BLOCK, min(N, (b + 1) * BLOCK))
        scores = kernels.bmm_epilogue(block(b), WUt, backend=backend)             # [R, n, C·M]
        pred = scores.view(R, -1, C, M).argmax(-1)                                # [R, n, C]
        wrong = (pred != f[sl, None]).to(torch.float64)                           # [R, n, C]
        err += (wrong.transpose(1, 2) * p[..., sl]).sum(-1)
    return err.cpu()


def measure_error_per_trial(q: torch.Tensor, p: torch.Tensor, seeds: Sequence[int], d: int, M: int) -> torch.Tensor:
    """The straightforward implementation the paper's code would write: one trial and one column at a time,
    W = Σ_x q(x) e_x u_{f*(x)}ᵀ materialised (d×d), scores = E W Uᵀ. Same numbers as `measure_error`
    (up to float rounding); kept as the oracle for tests and the baseline of the benchmark."""
    R, C, N = q.shape
    f = labels(N, M)
    p = p.to(torch.float64).expand(R, C, N)
    out = torch.zeros(R, C, dtype=torch.float64)
    for r, s in enumerate(seeds):
        E = input_embeddings(s, d, N)                                             # [N, d]
        U = output_embeddings(s, d, M)                                            # [M, d]
        for c in range(C):
            W = (E * q[r, c, :, None].float()).T @ U[f]                           # [d, d]
            pred = (E @ W @ U.T).argmax(1)                                        # [N]
            out[r, c] = (p[r, c] * (pred != f)).sum()
    return out
