"""Outer-product associative memories on Zipf tokens (Cabannes, Dohmatob & Bietti 2023), batched over trials.

Model (paper §2): tokens x ∈ {1..N} with p(x) ∝ x^(−a); labels y = f*(x) = x mod M; input embeddings
e_x ~ N(0, I_d/d); output embeddings u_y uniform on the unit sphere of R^d. A memory is
W = Σ_x q(x) e_x u_{f*(x)}ᵀ ∈ R^{d×d}, it predicts f̂(x) = argmax_y e_xᵀ W u_y, and its error is the
population error E = Σ_x p(x) 1{f̂(x) ≠ f*(x)}, computed exactly over all N tokens.

Shape letters: R trials (instances; one seed each), C memory columns sharing a trial's embeddings
(schemes × a × T), N tokens, d embedding dimension, M labels, T samples.

Batched scoring (`measure_error`). Scores for all tokens are E W Uᵀ: reassociated as E (W Uᵀ) with
W Uᵀ = Eᵀ (q ⊙ G[f*]), G = U Uᵀ [M, M], so the cost is N·d·M per column and W (d×d) never exists.
Trials are processed in chunks whose embeddings E [R_c, N, d] fill about `chunk_bytes` (32 MiB on CPU,
1 GiB elsewhere): pass 1 accumulates W Uᵀ over token blocks of `BLOCK` rows, pass 2 scores all N tokens,
takes the argmax and the p-weighted error (summed block by block). A chunk above `hold_bytes` (1 GiB: one
trial with a huge N·d, e.g. memory.dim at paper scale) is drawn block by block for each pass instead.

Randomness (simulators/_rng.py, Philox4x32-10, drawn on the run's device in one call per chunk, vectorised
over trials). Counter-based, so no number depends on the chunking, on the batch-mates or on what was drawn
before:
- input embeddings of trial (seed, d): `normal(seed, ROLE_EMBED, (BLOCK, d), keys=(d, 0), counter=b)` is
  token block b (rows b·BLOCK ..; the last block's surplus rows are dropped), times d^(−1/2);
- output embeddings: `normal(seed, ROLE_EMBED, (M, d), keys=(d, 1))` in float64, normalised, then cast;
- samples (`sample_uniforms`): sample i of a stream is element i mod SAMPLE_BLOCK of
  `uniform(seed, ROLE_DATA, (SAMPLE_BLOCK,), keys, counter=i // SAMPLE_BLOCK)` (float64), so a stream can be
  drawn in chunks of blocks with memory O(chunk) for any T.
A float64 run sees the float64 normals, a float32 run the same normals rounded.

Cost on CPU (2026-12-01, one lock session, --threads 1, default scale, wall time with process start): with
_rng's native CPU path (simulators/_rng_native.py, ~6 ns per normal) memory.data 17.7 -> 15.4 s, memory.dim
32.5 -> 31.9 s, memory.hopfield 12.7 -> 9.8 s against the pre-Philox torch.randn streams (old -> new). With the
eager torch path alone (TOYSCALE_RNG_NATIVE=0, ~170 ns per normal) the draws dominate: data ~2.5x, dim ~2.5x.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

import kernels
from simulators import _rng
from simulators._batch import ROLE_DATA, ROLE_EMBED, chunk_ranges

BLOCK = 256                 # token rows per embedding block (fixed: part of the RNG layout)
SAMPLE_BLOCK = 1 << 16      # samples per counter value of a sample stream (fixed: part of the RNG layout)
SAMPLE_CHUNK = 1 << 22      # samples drawn at once per trial when counting (memory bound; numbers unchanged)
CHUNK_BYTES_CPU = 32 << 20     # fp32 embedding bytes per chunk of trials on CPU (at least one trial per chunk)
CHUNK_BYTES_OTHER = 1 << 30    # ... on other devices (fewer, larger launches)
HOLD_BYTES = 1 << 30           # a chunk with more fp32 E than this (one huge trial) is streamed block by block
SCHEMES = ("seen", "freq", "pop", "threshold", "pop_threshold")


# --------------------------------------------------------------------------- data
def zipf_probs(N: int, a: float, dtype=torch.float64) -> torch.Tensor:
    """p(x) = x^(−a) / Σ_{x'≤N} x'^(−a) for x = 1..N, as a tensor [N] (index i holds token x = i+1)."""
    x = torch.arange(1, N + 1, dtype=torch.float64)
    w = x.pow(-float(a))
    return (w / w.sum()).to(dtype)


def labels(N: int, M: int, device=None) -> torch.Tensor:
    """f*(x) = x mod M for x = 1..N, as a long tensor [N]."""
    return torch.arange(1, N + 1, device=device) % M


def _seed_tensor(seeds, device=None) -> torch.Tensor:
    """Seeds as a 1-D int64 tensor on `device` (None: where a tensor already is, else the CPU)."""
    t = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1)
    return t if device is None else t.to(device)


def _key_rows(keys, R: int, device) -> torch.Tensor:
    """Instance keys as [R, k] int64: a flat sequence of ints is shared by all R instances."""
    k = torch.as_tensor(keys, dtype=torch.int64)
    if k.dim() <= 1:
        k = k.reshape(1, -1).expand(R, -1)
    if k.shape[0] != R:
        raise ValueError(f"keys must be shared or one row per instance (R = {R}), got shape {tuple(k.shape)}")
    return k.to(device)


def sample_uniforms(seeds, n0: int, n1: int, keys, *, device=None) -> torch.Tensor:
    """Samples n0 .. n1−1 of the uniform streams (seeds[r], ROLE_DATA, *keys[r]): [R, n1 − n0] float64 on
    `device`, one `_rng.uniform` call (the blocks n0 // SAMPLE_BLOCK .. as consecutive counters)."""
    s = _seed_tensor(seeds, device)
    b0, b1 = n0 // SAMPLE_BLOCK, -(-n1 // SAMPLE_BLOCK)
    k = _key_rows(keys, len(s), s.device)
    if b1 - b0 == 1:   # prefix property: a shorter draw is the prefix of the block
        u = _rng.uniform(s, ROLE_DATA, (n1 - b0 * SAMPLE_BLOCK,), keys=k, counter=b0, dtype=torch.float64)
    else:
        u = _rng.uniform(s, ROLE_DATA, (SAMPLE_BLOCK,), keys=k, counter=b0, steps=b1 - b0,
                         dtype=torch.float64).reshape(len(s), -1)
    return u[:, n0 - b0 * SAMPLE_BLOCK: n1 - b0 * SAMPLE_BLOCK]


def inverse_cdf(p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Token indices of uniforms u [R, n] under p ([N] or [R, N]): the smallest x with CDF(x) > u, [R, n] long."""
    cdf = torch.cumsum(p.to(u.device, torch.float64), -1)
    cdf[..., -1] = 1.0
    cdf = cdf.expand(u.shape[0], -1).contiguous()
    return torch.searchsorted(cdf, u.contiguous(), right=True).clamp_(max=cdf.shape[-1] - 1)


def sample_counts(seeds, p: torch.Tensor, T: int, *keys, device=None, chunk: int = SAMPLE_CHUNK) -> torch.Tensor:
    """Counts n(x) of T i.i.d. draws from p for every trial: [R, N] float64 on `device` ([N] for one int seed).

    Args:
        seeds: R trial seeds (or one int); p: token probabilities [N] or [R, N] (one row per trial);
        T: samples; keys: the stream's keys, ints shared by all trials, or one [R, k] table (a row per trial).
        chunk: samples per trial drawn at once (memory O(R·chunk); the counts do not depend on it).
    Inverse-CDF sampling of the streams of `sample_uniforms`; counts by scatter-add (static shapes)."""
    one = isinstance(seeds, int)
    seeds = [seeds] if one else seeds
    keys = keys[0] if len(keys) == 1 else keys
    if device is None and isinstance(seeds, torch.Tensor):
        device = seeds.device
    R, N = len(seeds), p.shape[-1]
    p = p.to(device)
    counts = torch.zeros(R, N, dtype=torch.float64, device=device)
    chunk = max(SAMPLE_BLOCK, chunk // SAMPLE_BLOCK * SAMPLE_BLOCK)
    for n0 in range(0, int(T), chunk):
        x = inverse_cdf(p, sample_uniforms(seeds, n0, min(int(T), n0 + chunk), keys, device=device))
        counts.scatter_add_(1, x, torch.ones(x.shape, dtype=torch.float64, device=device))
    return counts[0] if one else counts


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
    order = torch.argsort(-counts - torch.linspace(0, 0.5, counts.shape[-1], dtype=counts.dtype,
                                                   device=counts.device), dim=-1)
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
def input_embeddings(seeds, d: int, N: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """All N input embeddings of the trials `seeds`, [R, N, d] (N(0, I_d/d)), in one `_rng.normal` call:
    the token blocks 0 .. ⌈N/BLOCK⌉−1 as consecutive counters (module docstring)."""
    s = _seed_tensor(seeds, device)
    nb = -(-N // BLOCK)
    z = _rng.normal(s, ROLE_EMBED, (BLOCK, d), keys=_key_rows((d, 0), len(s), s.device), counter=0, steps=nb,
                    dtype=dtype)
    return z.view(len(s), nb * BLOCK, d)[:, :N].mul_(d ** -0.5)


def embedding_block(seeds, d: int, b: int, N: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """Rows [b·BLOCK, min(N, (b+1)·BLOCK)) of the trials' input embeddings, [R, n_b, d]: the same numbers as
    those rows of `input_embeddings` (counter b alone)."""
    s = _seed_tensor(seeds, device)
    n = min(N, (b + 1) * BLOCK) - b * BLOCK
    z = _rng.normal(s, ROLE_EMBED, (BLOCK, d), keys=_key_rows((d, 0), len(s), s.device), counter=b, dtype=dtype)
    return z[:, :n].mul_(d ** -0.5)


def output_embeddings(seeds, d: int, M: int, *, device=None, dtype=torch.float32) -> torch.Tensor:
    """u_y, y = 0..M−1, uniform on the unit sphere of R^d: [R, M, d], normalised in float64 then cast."""
    s = _seed_tensor(seeds, device)
    u = _rng.normal(s, ROLE_EMBED, (M, d), keys=_key_rows((d, 1), len(s), s.device), dtype=torch.float64)
    return (u / u.norm(dim=-1, keepdim=True)).to(dtype)


# --------------------------------------------------------------------------- batched scorer
def trial_chunks(R: int, N: int, d: int, chunk_bytes: int | None) -> list[tuple[int, int]]:
    """(start, stop) of consecutive trials per chunk: as many as fit `chunk_bytes` of fp32 E [R_c, N, d]
    (at least one; the last chunk may be shorter); None: one chunk."""
    return chunk_ranges(R, 4 * N * d, chunk_bytes, name="R")


def measure_error(q: torch.Tensor, p: torch.Tensor, seeds: Sequence[int], d: int, M: int, *,
                  device=None, dtype=torch.float32, backend: str | None = None,
                  chunk_bytes: int | None | str = "auto", hold_bytes: int = HOLD_BYTES) -> torch.Tensor:
    """Exact population error of R × C outer-product memories, in chunks of trials (module docstring).

    Args:
        q: memory weights [R, C, N] (trial r, column c).
        p: token probabilities weighting the error, [C, N] or [R, C, N].
        seeds: the R trials' seeds (embeddings keyed by (seed, d)); d: dimension; M: number of labels.
        device, dtype, backend: where and how to compute (backend goes to `kernels.bmm_epilogue`).
        chunk_bytes: fp32 embedding bytes per chunk of trials; "auto": CHUNK_BYTES_CPU on CPU, CHUNK_BYTES_OTHER
            elsewhere; None: one chunk.
        hold_bytes: a chunk whose fp32 E exceeds this (one huge trial, or chunk_bytes=None) is not held: its
            token blocks are drawn for each of the two passes (twice the RNG, memory O(R_c·BLOCK·d)).
        The errors do not depend on chunk_bytes or hold_bytes (same draws, same summation order).
    Returns:
        errors [R, C] (float64, CPU): Σ_x p(x) 1{argmax_y e_xᵀ W u_y ≠ f*(x)}. One device-to-host copy, at the end.
    """
    R, C, N = q.shape
    if len(seeds) != R:
        raise ValueError(f"need one seed per trial: q has R = {R}, got {len(seeds)} seeds")
    device = torch.device(device or "cpu")
    if isinstance(chunk_bytes, str):
        if chunk_bytes != "auto":
            raise ValueError(f"chunk_bytes must be 'auto', None or an int >= 1, got {chunk_bytes!r}")
        chunk_bytes = CHUNK_BYTES_CPU if device.type == "cpu" else CHUNK_BYTES_OTHER
    if hold_bytes < 0:
        raise ValueError(f"hold_bytes must be >= 0, got {hold_bytes}")
    chunks = trial_chunks(R, N, d, chunk_bytes)
    s = _seed_tensor(seeds, device)
    f = labels(N, M, device)                                                      # [N]
    U = output_embeddings(s, d, M, dtype=dtype)                                  # [R, M, d]
    G = torch.bmm(U, U.transpose(1, 2))                                          # [R, M, M]
    q = q.to(device, dtype)
    p = p.to(device, torch.float64).expand(R, C, N)
    blocks = [slice(b * BLOCK, min(N, (b + 1) * BLOCK)) for b in range(-(-N // BLOCK))]
    err = torch.empty(R, C, device=device, dtype=torch.float64)
    for r0, r1 in chunks:
        err[r0:r1] = score_chunk(q[r0:r1], p[r0:r1], s[r0:r1], G[r0:r1], f, d, M, dtype=dtype, backend=backend,
                                 hold=4 * (r1 - r0) * N * d <= hold_bytes, blocks=blocks)
    return err.cpu()


def score_chunk(q, p, s, G, f, d: int, M: int, *, dtype=torch.float32, backend=None, hold: bool = True,
                blocks=None) -> torch.Tensor:
    """Errors [R_c, C] (float64, on the device) of one chunk of trials: the scoring step, one batched computation.

    q [R_c, C, N] (dtype), p [R_c, C, N] (float64), s [R_c] seeds, G = U Uᵀ [R_c, M, M], f labels [N], all on
    one device. hold: draw E [R_c, N, d] once and read it in both passes; else draw each token block per pass."""
    Rc, C, N = q.shape
    blocks = blocks or [slice(b * BLOCK, min(N, (b + 1) * BLOCK)) for b in range(-(-N // BLOCK))]
    if hold:
        E = input_embeddings(s, d, N, dtype=dtype)                               # [R_c, N, d]
        block = lambda b: E[:, blocks[b]]                                          # noqa: E731
    else:
        block = lambda b: embedding_block(s, d, b, N, dtype=dtype)                 # noqa: E731
    qG = q[..., None] * G.index_select(1, f)[:, None]                              # [R_c, C, N, M]
    qG = qG.permute(0, 2, 1, 3).reshape(Rc, N, C * M)                             # [R_c, N, C·M]
    WUt = torch.zeros(Rc, d, C * M, device=q.device, dtype=dtype)                 # [R_c, d, C·M] = W Uᵀ
    for b, sl in enumerate(blocks):
        WUt += kernels.bmm_epilogue(block(b).transpose(1, 2), qG[:, sl].contiguous(), backend=backend)
    if hold:
        pred = kernels.bmm_epilogue(E, WUt, backend=backend).view(Rc, N, C, M).argmax(-1)     # [R_c, N, C]
    else:
        pred = torch.cat([kernels.bmm_epilogue(block(b), WUt, backend=backend).view(Rc, -1, C, M).argmax(-1)
                          for b in range(len(blocks))], 1)
    wrong = (pred != f[:, None]).to(torch.float64)                                # [R_c, N, C]
    e = torch.zeros(Rc, C, device=q.device, dtype=torch.float64)
    for sl in blocks:   # block by block: the summation order does not depend on the path
        e += (wrong[:, sl].transpose(1, 2) * p[..., sl]).sum(-1)
    return e


def measure_error_per_trial(q: torch.Tensor, p: torch.Tensor, seeds: Sequence[int], d: int, M: int) -> torch.Tensor:
    """The straightforward implementation the paper's code would write: one trial and one column at a time,
    W = Σ_x q(x) e_x u_{f*(x)}ᵀ materialised (d×d), scores = E W Uᵀ. Same numbers as `measure_error`
    (up to float rounding: the same per-trial draws); kept as the oracle for tests and the baseline of the
    benchmark."""
    R, C, N = q.shape
    f = labels(N, M)
    p = p.to(torch.float64).expand(R, C, N)
    out = torch.zeros(R, C, dtype=torch.float64)
    for r, s in enumerate(seeds):
        E = input_embeddings([s], d, N)[0]                                        # [N, d]
        U = output_embeddings([s], d, M)[0]                                       # [M, d]
        for c in range(C):
            W = (E * q[r, c, :, None].float()).T @ U[f]                           # [d, d]
            pred = (E @ W @ U.T).argmax(1)                                        # [N]
            out[r, c] = (p[r, c] * (pred != f)).sum()
    return out
