"""Hopfield reference models, batched over trials (the leading axis R).

Classical (Hopfield 1982; Amit, Gutfreund & Sompolinsky 1985): ±1 neurons, Hebbian couplings
J = (1/N) Σ_μ ξ^μ ξ^μᵀ with zero diagonal, synchronous sign dynamics s ← sign(J s) (a zero field keeps
the old spin). J is never formed: J s = (Ξᵀ (Ξ s))/N − (P/N) s, cost P·N per trial and sweep.

Dense associative memory (Krotov & Hopfield 2016): energy −Σ_μ F(ξ^μ·s), F(z) = z^k. One asynchronous
update of bit i sets s_i = sign(Σ_μ F(a_μi + ξ^μ_i) − F(a_μi − ξ^μ_i)), a_μi = ξ^μ·s − ξ^μ_i s_i.
`dense_bit_error` measures the one-step bit-error rate when the state is a stored pattern (every bit
updated from that same state), the quantity whose N-scaling defines the capacity P_c ∝ N^(k−1).

Patterns of trial (seed, N, P) are random signs from Philox4x32-10 (simulators/_rng.py) keyed
(seed, ROLE_DATA, N, P, 11) (classical) or (seed, ROLE_DATA, N, P, 12, k) (dense), drawn on the run's device for
all trials in one call (`random_signs`): per instance, independent of the batch-mates.
"""
from __future__ import annotations

import torch

import kernels
from simulators import _rng
from simulators._batch import ROLE_DATA

BITS_PER_BLOCK = 128          # one Philox4x32 block gives 4 words of 32 bits


def random_signs(seeds, role: int, n: int, keys, *, device=None, dtype=torch.float64) -> torch.Tensor:
    """[R, n] independent fair ±1 signs of the streams (seeds[r], role, *keys), one Philox call for all trials.

    Sign j is bit j mod 32 (LSB first) of word (j // 32) mod 4 of Philox block j // 128 (counter
    (block, 0, 0, 0), key `_rng.derive_key(seed, role, keys)`, the block layout of `_rng.uniform`); bit 1 -> +1.
    128 signs per block instead of 2 (one uniform per sign would cost 64x the Philox work)."""
    s = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1)
    s = s if device is None else s.to(device)
    R = len(s)
    k = torch.as_tensor(keys, dtype=torch.int64).reshape(1, -1).expand(R, -1).to(s.device)
    k0, k1 = _rng.derive_key(s, role, k)
    nb = -(-n // BITS_PER_BLOCK)
    b = torch.arange(nb, dtype=torch.int64, device=s.device)[None, :]                    # [1, nb]
    zero = torch.zeros((), dtype=torch.int64, device=s.device)
    w = torch.stack(torch.broadcast_tensors(*_rng._philox_words(b & _rng.M32, b >> 32, zero, zero,
                                                                   k0[:, None], k1[:, None])), -1)  # [R, nb, 4]
    bits = (w[..., None] >> torch.arange(32, device=s.device)) & 1                     # [R, nb, 4, 32]
    return bits.reshape(R, -1)[:, :n].to(dtype) * 2 - 1


def patterns(seeds, N: int, P: int, *keys: int, device=None) -> torch.Tensor:
    """±1 patterns [R, P, N] (float64): trial r's signs `random_signs(seeds[r], ROLE_DATA, P·N, (N, P, *keys))`,
    row-major."""
    return random_signs(seeds, ROLE_DATA, P * N, (N, P, *keys), device=device).view(-1, P, N)


def retrieval_overlap(xi: torch.Tensor, max_sweeps: int, backend: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run synchronous sign dynamics from pattern ξ^1 of each trial until a fixed point (or `max_sweeps`).

    Args:
        xi: patterns [R, P, N] (±1).
    Returns:
        (overlap [R] = ξ^1·s/N at the end, sweeps [R] until the state stopped changing).
    """
    R, P, N = xi.shape
    s = xi[:, 0, :].clone()                                                     # [R, N]
    sweeps = torch.full((R,), max_sweeps, dtype=torch.long, device=xi.device)
    for t in range(max_sweeps):
        s, sweeps = hopfield_sweep(xi, s, sweeps, t, backend)
        if t + 1 < max_sweeps and (t + 1) & t == 0 and not bool((sweeps == max_sweeps).any()):
            break   # host check only after sweeps 1, 2, 4, 8, ... (<= log2(max_sweeps) + 1 syncs per call)
    return (xi[:, 0, :] * s).mean(1).cpu(), sweeps.cpu()


def hopfield_sweep(xi: torch.Tensor, s: torch.Tensor, sweeps: torch.Tensor, t: int, backend: str | None = None):
    """One synchronous sweep t of every trial: the Hopfield step (no host sync, no loop over trials).

    s [R, N] state; sweeps [R] the first sweep index at which a trial's state did not change (max_sweeps while
    it still changes). A trial at a fixed point stays there, so sweeping it again changes nothing.
    Returns (new state, updated sweeps)."""
    R, P, N = xi.shape
    m = kernels.bmm_epilogue(xi, s[:, :, None], backend=backend)               # [R, P, 1]  Ξ s
    h = kernels.bmm_epilogue(xi.transpose(1, 2), m, backend=backend)[..., 0] / N - (P / N) * s  # [R, N]
    new = torch.where(h == 0, s, torch.sign(h))
    changed = (new != s).any(1)
    return new, torch.where(changed, sweeps, torch.clamp(sweeps, max=t))


def dense_bit_error(xi: torch.Tensor, k: int, probes: int) -> torch.Tensor:
    """One-step bit-error rate of the dense memory F(z) = z^k started at stored patterns.

    Args:
        xi: patterns [R, P, N] (±1); k: power of F; probes: how many stored patterns (the first ones) to probe.
    Returns:
        [R] fraction of the probes·N bits that one update flips away from the stored value.
    """
    R, P, N = xi.shape
    probes = min(probes, P)
    errs = torch.zeros(R, dtype=torch.float64, device=xi.device)
    for nu in range(probes):                                                    # probes are few (<= 8)
        s = xi[:, nu, :]                                                        # [R, N]
        m = torch.einsum("rpn,rn->rp", xi, s)                                   # [R, P]
        a = m[:, :, None] - xi * s[:, None, :]                                  # [R, P, N] a_μi
        delta = ((a + xi) ** k - (a - xi) ** k).sum(1)                          # [R, N]
        errs += (torch.sign(delta) != s).to(torch.float64).mean(1)
    return (errs / probes).cpu()
