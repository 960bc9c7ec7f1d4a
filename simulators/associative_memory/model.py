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
1 GiB elsewhere): each chunk's E is drawn once into a reused buffer, pass 1 accumulates W Uᵀ over token
blocks of `BLOCK` rows, pass 2 scores all N tokens, takes the argmax and the p-weighted error. A chunk above
`hold_bytes` (1 GiB: one trial with a huge N·d, e.g. memory.dim at paper scale) is instead drawn block by
block for each pass, as the former scorer did above 2²⁵ elements. Block b of trial r is drawn
from its own generator keyed by (seed_r, ROLE_EMBED, d, 0, b), so a trial's embeddings never depend on its
batch-mates or on the chunking. Embeddings are drawn in float32 on the CPU and then cast and moved
(float64 runs see the same numbers).

Why (measured at the benchmark's "full" point: 64 trials, 8 dims d ≤ 128, N = 10⁴, 2 threads, under the
lock). Drawing the embeddings is ~55% of the per-trial loop's time (0.88 of 1.6 s), all of it serial: ~8 µs
per block to derive its seed (numpy SeedSequence), ~2.4 µs to build a Generator, then `torch.randn` at
~2.8 ns/number. The former scorer kept E between its passes only below 2²⁵ elements and redrew it above
(d = 64, 128: RNG twice), and its whole-E buffers page-faulted afresh on every call (2.14 s in the issue-8
run, 1.75 s here). Now: each chunk is drawn once and read twice while warm, into a reused buffer; the
block seeds of a chunk are derived in one vectorised pass (`block_seeds`) and one generator is re-seeded
per block: 1.05–1.12 s (min of 3; four benchmark runs: 1.12, 1.09, 1.05, 1.08 s). The errors are bit-identical to the former scorer's and do not depend on
the chunking. Chunk size (min of 3): 4 MiB 1.45 s (per-block Python overhead of one-trial chunks),
32 MiB 1.12 s, 128 MiB 1.43 s, one chunk 1.44 s (page faults: 20k, 142k, 196k per call). Drawing the
blocks in 2 Python threads (`torch.randn` releases the GIL; alone that draws d = 128 in 0.14 s instead of
0.26 s) made the scorer slower (1.40–1.98 s): the threads compete with torch's intra-op pool, which
keeps spinning after each bmm. The remaining `torch.randn` time (~0.65 s) is shared with the per-trial
loop and bounds the speed-up over it at ~2.5×.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

import kernels
from simulators._batch import ROLE_DATA, ROLE_EMBED, chunk_ranges, derive_seed, instance_generator

BLOCK = 256                 # token rows per embedding block (fixed: part of the RNG key layout)
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
def embedding_block(seed: int, d: int, b: int, N: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Rows [b·BLOCK, min(N, (b+1)·BLOCK)) of trial `seed`'s input embeddings, N(0, I_d/d), float32 CPU.
    `out`: a contiguous float32 CPU [n, d] tensor to draw into (same numbers, no allocation)."""
    n = min(N, (b + 1) * BLOCK) - b * BLOCK
    g = instance_generator(seed, ROLE_EMBED, d, 0, b)
    if out is None:
        return torch.randn(n, d, generator=g, dtype=torch.float32).mul_(1.0 / math.sqrt(d))
    return torch.randn(n, d, generator=g, dtype=torch.float32, out=out).mul_(1.0 / math.sqrt(d))


def output_embeddings(seed: int, d: int, M: int) -> torch.Tensor:
    """u_y, y = 0..M−1, uniform on the unit sphere of R^d: [M, d] float32 CPU, keyed (seed, ROLE_EMBED, d, 1)."""
    g = instance_generator(seed, ROLE_EMBED, d, 1)
    u = torch.randn(M, d, generator=g, dtype=torch.float64)
    return (u / u.norm(dim=1, keepdim=True)).float()


def input_embeddings(seed: int, d: int, N: int) -> torch.Tensor:
    """All N input embeddings of trial `seed`, [N, d] float32 CPU (the blocks concatenated)."""
    return torch.cat([embedding_block(seed, d, b, N) for b in range(math.ceil(N / BLOCK))])


# --------------------------------------------------------------------------- batched scorer
def trial_chunks(R: int, N: int, d: int, chunk_bytes: int | None) -> list[tuple[int, int]]:
    """(start, stop) of consecutive trials per chunk: as many as fit `chunk_bytes` of fp32 E [R_c, N, d]
    (at least one; the last chunk may be shorter); None: one chunk."""
    return chunk_ranges(R, 4 * N * d, chunk_bytes, name="R")


def block_seeds(seeds: Sequence[int], d: int, n_blocks: int) -> list[int]:
    """`derive_seed(seed, ROLE_EMBED, d, 0, b)` for every trial seed and block b < n_blocks, trial-major, in one
    vectorised pass: numpy's SeedSequence hash (pool of 4 uint32 words, then 2 output words) written out over
    the [R·n_blocks, 5] keys. The same integers as `derive_seed` (tested); ~0.3 µs per key instead of ~8 µs.
    Keys that are not single uint32 words (seed ≥ 2³², d ≥ 2³²) go through `derive_seed` itself."""
    if any(not 0 <= int(s) < 1 << 32 for s in seeds) or not 0 <= d < 1 << 32:
        return [derive_seed(int(s), ROLE_EMBED, d, 0, b) for s in seeds for b in range(n_blocks)]
    ent = np.array([[int(s), ROLE_EMBED, d, 0, b] for s in seeds for b in range(n_blocks)], dtype=np.uint32)
    u32 = np.uint32
    h = u32(0x43B0D7E5)                           # SeedSequence: INIT_A, MULT_A, MIX_MULT_L/R, INIT_B, MULT_B

    def hashmix(v):
        nonlocal h
        v = (v ^ h) * (h := u32(h * u32(0x931E8875)))
        return v ^ (v >> u32(16))

    def mix(x, y):
        r = u32(0xCA01F9DD) * x - u32(0x4973F715) * y
        return r ^ (r >> u32(16))

    with np.errstate(over="ignore"):
        pool = [hashmix(ent[:, i]) for i in range(4)]
        for i in range(4):
            for j in range(4):
                if i != j:
                    pool[j] = mix(pool[j], hashmix(pool[i]))
        for j in range(4):                       # the 5th entropy word
            pool[j] = mix(pool[j], hashmix(ent[:, 4]))
        hb, words = u32(0x8B51F9DD), []
        for i in range(2):
            v = (pool[i] ^ hb) * (hb := u32(hb * u32(0x58F38DED)))
            words.append(v ^ (v >> u32(16)))
    return [((int(a) << 31) ^ int(b)) & ((1 << 63) - 1) for a, b in zip(*words)]


def draw_embeddings(seeds: Sequence[int], d: int, N: int, out: torch.Tensor) -> torch.Tensor:
    """Input embeddings of the trials `seeds` into `out` [len(seeds), N, d] (contiguous float32 CPU): the same
    numbers as `input_embeddings` (each block from its own seed, as in `embedding_block`), with the block seeds
    derived in one batch, one generator re-seeded per block, and no per-block allocation or concatenation."""
    g = torch.Generator(device="cpu")
    blocks = [v for i in range(len(seeds)) for v in out[i].split(BLOCK)]                # views [n_b, d]
    for sd, v in zip(block_seeds(seeds, d, math.ceil(N / BLOCK)), blocks):
        g.manual_seed(sd)
        torch.randn(v.shape, generator=g, dtype=torch.float32, out=v)
    out.mul_(1.0 / math.sqrt(d))           # one pass instead of one per block: the same float32 products
    return out


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
        The errors do not depend on chunk_bytes or hold_bytes.
    Returns:
        errors [R, C] (float64): Σ_x p(x) 1{argmax_y e_xᵀ W u_y ≠ f*(x)}.
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
    f = labels(N, M).to(device)                                                   # [N]
    U = torch.stack([output_embeddings(s, d, M) for s in seeds]).to(device, dtype)  # [R, M, d]
    G = torch.bmm(U, U.transpose(1, 2))                                          # [R, M, M]
    p = p.to(device, torch.float64).expand(R, C, N)
    n_blocks = math.ceil(N / BLOCK)
    blocks = [slice(b * BLOCK, min(N, (b + 1) * BLOCK)) for b in range(n_blocks)]
    held = [(a, b) for a, b in chunks if 4 * (b - a) * N * d <= hold_bytes]
    buf = torch.empty(max(b - a for a, b in held), N, d, dtype=torch.float32) if held else None  # reused
    err = torch.empty(R, C, device=device, dtype=torch.float64)
    for r0, r1 in chunks:
        Rc, sd = r1 - r0, seeds[r0:r1]
        if (r0, r1) in held:
            E = draw_embeddings(sd, d, N, buf[:Rc]).to(device, dtype)             # [R_c, N, d]
            block = lambda b: E[:, blocks[b]]                                     # noqa: E731
        else:
            block = lambda b: torch.stack([embedding_block(s, d, b, N) for s in sd]).to(device, dtype)  # noqa: E731
        qG = q[r0:r1].to(device, dtype)[..., None] * G[r0:r1].index_select(1, f)[:, None]  # [R_c, C, N, M]
        qG = qG.permute(0, 2, 1, 3).reshape(Rc, N, C * M)                         # [R_c, N, C·M]
        WUt = torch.zeros(Rc, d, C * M, device=device, dtype=dtype)               # [R_c, d, C·M] = W Uᵀ
        for b, sl in enumerate(blocks):
            WUt += kernels.bmm_epilogue(block(b).transpose(1, 2), qG[:, sl].contiguous(), backend=backend)
        if (r0, r1) in held:
            pred = kernels.bmm_epilogue(E, WUt, backend=backend).view(Rc, N, C, M).argmax(-1)  # [R_c, N, C]
        else:
            pred = torch.cat([kernels.bmm_epilogue(block(b), WUt, backend=backend).view(Rc, -1, C, M).argmax(-1)
                              for b in range(n_blocks)], 1)
        wrong = (pred != f[:, None]).to(torch.float64)                            # [R_c, N, C]
        e = err[r0:r1].zero_()
        for sl in blocks:   # per block, in the order the stored results were summed (bit-identical)
            e += (wrong[:, sl].transpose(1, 2) * p[r0:r1, :, sl]).sum(-1)
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
