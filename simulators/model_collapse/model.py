"""Batched simulators of model collapse: regression chains and Zipf-tail Hutter models.

Every function simulates E independent chains at once (a leading instance axis); generations are a short
Python loop over generations only, each one batched solve (`torch.linalg.cholesky` / `cholesky_solve`) over
all chains. Randomness comes from `simulators._rng` (Philox, on the run's device), keyed per chain by
(seed, role, keys = [tag, rep, part]) with the generation as the draw counter, so a chain's numbers never
depend on which other chains share the call (batched == per-chain: tested).

Shapes: E chains, d dims, T0 generation samples, T downstream samples, V vocabulary, K downstream fits.
"""
from __future__ import annotations

from typing import Sequence

import torch

from .. import _rng
from .._batch import ROLE_DATA, ROLE_NOISE, chunk_ranges

ROLE_TOKENS = 21          # Zipf-tail token streams (clean / synthetic / mixing coin / generations)
CHUNK_BYTES = 64 << 20    # per chunk of chains: bounds the largest [E_c, rows, d] draw on CPU


def _keys(reps: Sequence[int], tag: int, part: int, device) -> torch.Tensor:
    r = torch.as_tensor(list(reps), dtype=torch.int64, device=device)
    return torch.stack([torch.full_like(r, tag), r, torch.full_like(r, part)], 1)       # [E, 3]


# On CPU a draw is split over chains into calls of < 2**18 Philox blocks: _rng runs larger CPU draws through
# torch.compile, whose first call cost 70-90 s on the shared 2-core machine (measured 2026-12-01: one
# [600, 64, 24] draw took 88 s the first time, 0.1 s the second), more than all of this family's draws.
# Chains are keyed independently, so the split changes no number (batched == per-chain is tested).
_CPU_MAX_BLOCKS = (1 << 18) - 1


def _draw(kind, seeds, reps, tag, part, role, shape, counter, device, dtype):
    seeds = torch.as_tensor(list(seeds), device=device)
    keys = _keys(reps, tag, part, device)
    fn = _rng.normal if kind == "normal" else _rng.uniform
    per = max(1, (int(torch.tensor(shape).prod()) + 1) // 2)
    step = len(seeds) if device.type != "cpu" else max(1, _CPU_MAX_BLOCKS // per)
    parts = [fn(seeds[a:a + step], role, shape, keys=keys[a:a + step], counter=counter, device=device, dtype=dtype)
             for a in range(0, len(seeds), step)]
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _normal(seeds, reps, tag, part, role, shape, counter, device, dtype):
    return _draw("normal", seeds, reps, tag, part, role, shape, counter, torch.device(device), dtype)


def _solve(G: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched SPD solve G x = b by Cholesky: G [..., d, d], b [..., d, k]."""
    return torch.cholesky_solve(b, torch.linalg.cholesky(G))


# ============================================================================ regression chains
def ols_chain_errors(seeds, reps, *, d: int, T0: int, T: int, n_max: int, sigma: float, sigma0: float,
                     lam: torch.Tensor, w0: torch.Tensor, tag: int = 1, device=None,
                     dtype=torch.float64) -> torch.Tensor:
    """Downstream OLS error ‖ŵ − w0‖²_Σ after n = 0..n_max OLS generations, for E chains -> [E, n_max + 1].

    Generation m (1..n_max): X_m = Z Λ^½ [E, T0, d] (Z ~ N(0, 1), counter m), y = X_m ŵ_{m−1} + σ0 ε,
    ŵ_m = OLS; ŵ_0 = w0. Downstream: one X [E, T, d] and noise per chain (counter 0, part 1), shared by all n
    (common random numbers), labelled by each ŵ_n, fit by OLS in one solve over the n axis.
    lam: spectrum [d] (Σ = diag(lam)); w0: [d]."""
    device = device or torch.device("cpu")
    E = len(seeds)
    lam, w0 = lam.to(device, dtype), w0.to(device, dtype)
    sq = lam.sqrt()
    w = w0.expand(E, d).clone()                                                     # [E, d]
    ws = [w]
    for m in range(1, n_max + 1):
        X = _normal(seeds, reps, tag, 0, ROLE_DATA, (T0, d), m, device, dtype) * sq    # [E, T0, d]
        eps = _normal(seeds, reps, tag, 0, ROLE_NOISE, (T0,), m, device, dtype)          # [E, T0]
        y = torch.bmm(X, w[:, :, None])[:, :, 0] + sigma0 * eps
        w = _solve(X.transpose(1, 2) @ X, (X.transpose(1, 2) @ y[:, :, None]))[:, :, 0]
        ws.append(w)
    W = torch.stack(ws, 2)                                                          # [E, d, n+1]
    X = _normal(seeds, reps, tag, 1, ROLE_DATA, (T, d), 0, device, dtype) * sq      # [E, T, d]
    eps = _normal(seeds, reps, tag, 1, ROLE_NOISE, (T,), 0, device, dtype)           # [E, T]
    Y = torch.bmm(X, W) + sigma * eps[:, :, None]                                    # [E, T, n+1]
    What = _solve(X.transpose(1, 2) @ X, X.transpose(1, 2) @ Y)                      # [E, d, n+1]
    return ((What - w0[None, :, None]) ** 2 * lam[None, :, None]).sum(1)             # [E, n+1]


def overparam_chain_errors(seeds, reps, *, d: int, T0: int, n_max: int, tag: int = 2, device=None,
                           dtype=torch.float64, return_norm: bool = False):
    """Noiseless min-norm chain, Σ = I, T0 < d: ŵ_m = X_mᵀ(X_mX_mᵀ)⁻¹X_m ŵ_{m−1}; returns the relative error
    ‖ŵ_n − w0‖²/‖w0‖² for n = 0..n_max -> [E, n_max + 1]; w0 = (1, .., 1)/√d (the law is rotation invariant).
    return_norm: also the retained norm ‖ŵ_n‖²/‖w0‖² [E, n_max + 1] (expectation (T0/d)^n, always > 0)."""
    device = device or torch.device("cpu")
    E = len(seeds)
    w0 = torch.full((d,), d ** -0.5, device=device, dtype=dtype)
    w = w0.expand(E, d).clone()
    errs, norms = [torch.zeros(E, device=device, dtype=dtype)], [torch.ones(E, device=device, dtype=dtype)]
    for m in range(1, n_max + 1):
        X = _normal(seeds, reps, tag, T0, ROLE_DATA, (T0, d), m, device, dtype)         # [E, T0, d]
        a = _solve(X @ X.transpose(1, 2), torch.bmm(X, w[:, :, None]))                 # [E, T0, 1]
        w = torch.bmm(X.transpose(1, 2), a)[:, :, 0]                                   # [E, d]
        errs.append(((w - w0) ** 2).sum(1))
        norms.append((w ** 2).sum(1))
    return (torch.stack(errs, 1), torch.stack(norms, 1)) if return_norm else torch.stack(errs, 1)


def replace_accumulate_errors(seeds, reps, *, d: int, T0: int, n_max: int, sigma0: float, tag: int = 3,
                              device=None, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed design X [E, T0, d] (Σ = I) per chain; round j = 1..n_max draws fresh noise ε_j (shared by both
    schemes: common random numbers). Round j labels y_j = X ŵ_{j−1} + σ0 ε_j (ŵ_0 = w0) with the scheme's own
    previous model; replace fits OLS on (X, y_j); accumulate fits OLS on all rounds' data so far (normal
    equations Σ_j XᵀX, Σ_j Xᵀy_j). Returns (replace, accumulate) errors ‖ŵ_j − w0‖² [E, n_max] (rounds 1..n)."""
    device = device or torch.device("cpu")
    E = len(seeds)
    w0 = torch.full((d,), d ** -0.5, device=device, dtype=dtype)
    X = _normal(seeds, reps, tag, 0, ROLE_DATA, (T0, d), 0, device, dtype)             # [E, T0, d]
    Xt = X.transpose(1, 2)
    L = torch.linalg.cholesky(Xt @ X)                                               # XᵀX [E, d, d]
    w_rep = w0.expand(E, d).clone()
    w_acc = w_rep.clone()
    b_acc = torch.zeros(E, d, 1, device=device, dtype=dtype)
    rep, acc = [], []
    for j in range(1, n_max + 1):
        eps = sigma0 * _normal(seeds, reps, tag, 0, ROLE_NOISE, (T0,), j, device, dtype)[:, :, None]
        y_rep = torch.bmm(X, w_rep[:, :, None]) + eps
        y_acc = torch.bmm(X, w_acc[:, :, None]) + eps
        w_rep = torch.cholesky_solve(Xt @ y_rep, L)[:, :, 0]
        b_acc = b_acc + Xt @ y_acc
        w_acc = torch.cholesky_solve(b_acc / j, L)[:, :, 0]                        # (j XᵀX)⁻¹ Σ Xᵀy
        rep.append(((w_rep - w0) ** 2).sum(1))
        acc.append(((w_acc - w0) ** 2).sum(1))
    return torch.stack(rep, 1), torch.stack(acc, 1)


def ridge_chain_errors(seeds, reps, *, d: int, T0: int, n_values: Sequence[int], T_values: Sequence[int],
                       ridges: torch.Tensor, sigma: float, sigma0: float, lam: torch.Tensor, w0: torch.Tensor,
                       tag: int = 4, device=None, dtype=torch.float64) -> torch.Tensor:
    """Ridge downstream after n OLS generations (n in n_values, one chain per instance up to max n), Σ = diag(lam).

    Downstream data are nested prefixes: rows [T_{j−1}, T_j) drawn with counter j (part 1), so the data of
    size T_j extend those of T_{j−1}; normal equations accumulate block by block (G_T = X[:T]ᵀX[:T],
    h_T = X[:T]ᵀε). For size T_j, generation n and ridge ridges[j, n, s] (objective (1/T)‖Xθ − y‖² + λ‖θ‖²):
    θ = (G_T + Tλ I)⁻¹(G_T ŵ_n + σ h_T). Returns errors ‖θ − w0‖²_Σ [E, J, N, S] (J sizes, N gens, S schedules)."""
    device = device or torch.device("cpu")
    E = len(seeds)
    lam, w0 = lam.to(device, dtype), w0.to(device, dtype)
    ridges = ridges.to(device, dtype)                                               # [J, N, S]
    sq = lam.sqrt()
    n_values = list(n_values)
    w = w0.expand(E, d).clone()
    Wn = {0: w}
    for m in range(1, max(n_values) + 1):
        X = _normal(seeds, reps, tag, 0, ROLE_DATA, (T0, d), m, device, dtype) * sq
        eps = _normal(seeds, reps, tag, 0, ROLE_NOISE, (T0,), m, device, dtype)
        y = torch.bmm(X, w[:, :, None]) + sigma0 * eps[:, :, None]
        w = _solve(X.transpose(1, 2) @ X, X.transpose(1, 2) @ y)[:, :, 0]
        Wn[m] = w
    W = torch.stack([Wn[n] for n in n_values], 2)                                   # [E, d, N]
    G = torch.zeros(E, d, d, device=device, dtype=dtype)
    h = torch.zeros(E, d, 1, device=device, dtype=dtype)
    eye = torch.eye(d, device=device, dtype=dtype)
    out = []
    prev = 0
    for j, T in enumerate(T_values):
        X = _normal(seeds, reps, tag, 1, ROLE_DATA, (T - prev, d), j, device, dtype) * sq     # [E, ΔT, d]
        eps = _normal(seeds, reps, tag, 1, ROLE_NOISE, (T - prev,), j, device, dtype)
        G = G + X.transpose(1, 2) @ X
        h = h + X.transpose(1, 2) @ eps[:, :, None]
        prev = T
        N, S = ridges.shape[1], ridges.shape[2]
        A = G[:, None] + (T * ridges[j].reshape(1, N * S, 1, 1)) * eye                  # [E, N·S, d, d]
        b = (G @ W + sigma * h).repeat_interleave(S, dim=2).transpose(1, 2)[..., None]  # [E, N·S, d, 1]
        theta = _solve(A, b)[..., 0]                                                    # [E, N·S, d]
        out.append((((theta - w0) ** 2) * lam).sum(-1).reshape(E, N, S))
    return torch.stack(out, 1)


# ============================================================================ Zipf tails
def _uniform(seeds, reps, tag, part, shape, counter, device):
    return _draw("uniform", seeds, reps, tag, part, ROLE_TOKENS, shape, counter, torch.device(device or "cpu"),
                 torch.float64)


def sample_tokens(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: cdf [E or 1, V] (non-decreasing, last = 1), u [E, N] in (0, 1) -> tokens [E, N]
    (0-based ranks). The first index with cdf ≥ u is never a zero-mass token (a run of equal cdf values starts
    at the token that raised it)."""
    cdf = cdf.expand(u.shape[0], -1).contiguous()
    return torch.searchsorted(cdf, u.contiguous()).clamp_(max=cdf.shape[1] - 1)


def _cdf(q: torch.Tensor) -> torch.Tensor:
    c = torch.cumsum(q, -1)
    return c / c[..., -1:]


def first_seen(tokens: torch.Tensor, V: int) -> torch.Tensor:
    """Position of each token's first occurrence in the stream [E, N] -> [E, V] (N where never seen)."""
    E, N = tokens.shape
    pos = torch.arange(N, device=tokens.device).expand(E, N)
    out = torch.full((E, V), N, dtype=torch.int64, device=tokens.device)
    return out.scatter_reduce_(1, tokens, pos, reduce="amin")


def hutter_errors(first: torch.Tensor, p: torch.Tensor, T_values: Sequence[int]) -> torch.Tensor:
    """Error of the Hutter model trained on the first T tokens, tested on p: Σ_i p_i 1{first_i ≥ T} -> [E, J]."""
    T = torch.as_tensor(list(T_values), device=first.device)
    b = torch.searchsorted(T, first, right=True)                                    # #{j: T_j ≤ first_i} [E, V]
    mass = torch.zeros(first.shape[0], len(T) + 1, dtype=p.dtype, device=first.device)
    mass.scatter_add_(1, b, p.expand_as(first).to(p.dtype))                         # p-mass per bucket [E, J+1]
    tail = mass.flip(1).cumsum(1).flip(1)                                           # Σ_{b' ≥ b} mass
    return tail[:, 1:]                                                              # unseen at T_j: b_i > j


def tail_stream_errors(seeds, reps, *, q: torch.Tensor, p: torch.Tensor, T_values: Sequence[int], tag: int,
                       part: int = 0, device=None) -> torch.Tensor:
    """Hutter errors [E, J] for training streams of law q [V] (or [E, V]), nested prefixes of T_max tokens."""
    u = _uniform(seeds, reps, tag, part, (max(T_values),), 0, device)
    tok = sample_tokens(_cdf(q.to(device, torch.float64)).reshape(-1, q.shape[-1]), u)
    return hutter_errors(first_seen(tok, q.shape[-1]), p.to(device, torch.float64), T_values)


def mixed_stream_errors(seeds, reps, *, p: torch.Tensor, q: torch.Tensor, pis: Sequence[float],
                        T_values: Sequence[int], tag: int, device=None) -> torch.Tensor:
    """A fraction π of clean samples: token t is from the clean stream (law p) if coin_t < π, else from the
    synthetic stream (law q). The coins and both streams are shared by every π (common random numbers).
    Returns [E, P, J]."""
    Tm = max(T_values)
    p64, q64 = p.to(device, torch.float64), q.to(device, torch.float64)
    clean = sample_tokens(_cdf(p64)[None], _uniform(seeds, reps, tag, 0, (Tm,), 0, device))
    synth = sample_tokens(_cdf(q64)[None], _uniform(seeds, reps, tag, 1, (Tm,), 0, device))
    coin = _uniform(seeds, reps, tag, 2, (Tm,), 0, device)
    out = [hutter_errors(first_seen(torch.where(coin < pi, clean, synth), len(p)), p64, T_values) for pi in pis]
    return torch.stack(out, 1)


def generation_laws(seeds, reps, *, p: torch.Tensor, T0: int, n_max: int, tag: int, device=None) -> list:
    """q_0 = p; q_m = empirical law of T0 samples of q_{m−1} (counter m), per chain. Returns [q_0 .. q_n] [E, V]."""
    E, V = len(seeds), p.shape[-1]
    q = p.to(device, torch.float64).expand(E, V).contiguous()
    laws = [q]
    for m in range(1, n_max + 1):
        tok = sample_tokens(_cdf(q), _uniform(seeds, reps, tag, 0, (T0,), m, device))         # [E, T0]
        q = torch.zeros(E, V, dtype=torch.float64, device=device).scatter_add_(
            1, tok, torch.full(tok.shape, 1.0 / T0, dtype=torch.float64, device=device))
        laws.append(q)
    return laws


def generations_errors(seeds, reps, *, p: torch.Tensor, T0: int, n_values: Sequence[int],
                       T_values: Sequence[int], tag: int, device=None) -> torch.Tensor:
    """Hutter errors [E, N, J] when trained on T samples of generation n (n in n_values), tested on p. The
    downstream uniforms (part 1) are shared by every n of a chain (common random numbers, like the nested T)."""
    laws = generation_laws(seeds, reps, p=p, T0=T0, n_max=max(n_values), tag=tag, device=device)
    u = _uniform(seeds, reps, tag, 1, (max(T_values),), 0, device)                            # [E, T_max]
    p64 = p.to(device, torch.float64)
    return torch.stack([hutter_errors(first_seen(sample_tokens(_cdf(laws[n]), u), p.shape[-1]), p64, T_values)
                        for n in n_values], 1)


def chunks(E: int, per_instance_bytes: int):
    """Chunk ranges of chains so one chunk's largest buffer stays under CHUNK_BYTES."""
    return chunk_ranges(E, per_instance_bytes, CHUNK_BYTES, name="chains")
