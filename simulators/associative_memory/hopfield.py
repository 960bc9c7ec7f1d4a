"""Hopfield reference models, batched over trials (the leading axis R).

Classical (Hopfield 1982; Amit, Gutfreund & Sompolinsky 1985): ±1 neurons, Hebbian couplings
J = (1/N) Σ_μ ξ^μ ξ^μᵀ with zero diagonal, synchronous sign dynamics s ← sign(J s) (a zero field keeps
the old spin). J is never formed: J s = (Ξᵀ (Ξ s))/N − (P/N) s, cost P·N per trial and sweep.

Dense associative memory (Krotov & Hopfield 2016): energy −Σ_μ F(ξ^μ·s), F(z) = z^k. One asynchronous
update of bit i sets s_i = sign(Σ_μ F(a_μi + ξ^μ_i) − F(a_μi − ξ^μ_i)), a_μi = ξ^μ·s − ξ^μ_i s_i.
`dense_bit_error` measures the one-step bit-error rate when the state is a stored pattern (every bit
updated from that same state), the quantity whose N-scaling defines the capacity P_c ∝ N^(k−1).

Patterns of trial (seed, N, P) come from the generator (seed, ROLE_DATA, 11 or 12, N, P, k): per instance.
"""
from __future__ import annotations

from typing import Sequence

import torch

import kernels
from simulators._batch import ROLE_DATA, instance_generator


def patterns(seeds: Sequence[int], N: int, P: int, *keys: int) -> torch.Tensor:
    """±1 patterns [R, P, N] (float64), trial r from the generator (seeds[r], ROLE_DATA, N, P, *keys)."""
    out = torch.empty(len(seeds), P, N, dtype=torch.float64)
    for r, s in enumerate(seeds):
        g = instance_generator(s, ROLE_DATA, N, P, *keys)
        out[r] = torch.randint(0, 2, (P, N), generator=g).to(torch.float64) * 2 - 1
    return out


def retrieval_overlap(xi: torch.Tensor, max_sweeps: int, backend: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Run synchronous sign dynamics from pattern ξ^1 of each trial until a fixed point (or `max_sweeps`).

    Args:
        xi: patterns [R, P, N] (±1).
    Returns:
        (overlap [R] = ξ^1·s/N at the end, sweeps [R] until the state stopped changing).
    """
    R, P, N = xi.shape
    s = xi[:, 0, :].clone()                                                     # [R, N]
    sweeps = torch.full((R,), max_sweeps, dtype=torch.long)
    active = torch.ones(R, dtype=torch.bool)
    for t in range(max_sweeps):
        m = kernels.bmm_epilogue(xi, s[:, :, None], backend=backend)           # [R, P, 1]  Ξ s
        h = kernels.bmm_epilogue(xi.transpose(1, 2), m, backend=backend)[..., 0] / N - (P / N) * s  # [R, N]
        new = torch.where(h == 0, s, torch.sign(h))
        changed = (new != s).any(1).cpu()
        sweeps[active & ~changed] = torch.minimum(sweeps[active & ~changed], torch.tensor(t))
        active &= changed
        s = new
        if not active.any():
            break
    return (xi[:, 0, :] * s).mean(1).cpu(), sweeps


def dense_bit_error(xi: torch.Tensor, k: int, probes: int) -> torch.Tensor:
    """One-step bit-error rate of the dense memory F(z) = z^k started at stored patterns.

    Args:
        xi: patterns [R, P, N] (±1); k: power of F; probes: how many stored patterns (the first ones) to probe.
    Returns:
        [R] fraction of the probes·N bits that one update flips away from the stored value.
    """
    R, P, N = xi.shape
    probes = min(probes, P)
    errs = torch.zeros(R, dtype=torch.float64)
    for nu in range(probes):                                                    # probes are few (<= 8)
        s = xi[:, nu, :]                                                        # [R, N]
        m = torch.einsum("rpn,rn->rp", xi, s)                                   # [R, P]
        a = m[:, :, None] - xi * s[:, None, :]                                  # [R, P, N] a_μi
        delta = ((a + xi) ** k - (a - xi) ** k).sum(1)                          # [R, N]
        errs += (torch.sign(delta) != s).to(torch.float64).mean(1)
    return errs / probes
