"""Ticket statistics of trained nets: mirror pairs vs the duplicate-pair control, lazy vs rich movement.

A mirror pair is two neurons i ≠ j with (w_j, b_j, v_j) ≈ (−w_i, b_i, v_i) (Liu & Tegmark 2023, Sec. 4:
their sum is even in x). The control counts duplicate pairs (w_j, b_j, v_j) ≈ (w_i, b_i, v_i) with the
same tolerance: under an initialisation symmetric in w, and without a mechanism favouring mirrors, both
counts have the same expectation, so mirrors/duplicates > 1 is the signature of tickets.

Distance of a pair for a parameter a: |a_i ∓ a_j| / (|a_i| + |a_j| + 0.1·rms(a)), where rms is over the
net's neurons (a floor so that two near-zero values count as equal); a pair matches when the distance of
each of w, b, v is <= tol.
"""
from __future__ import annotations

import torch


def _pair_distance(a: torch.Tensor, sign: float) -> torch.Tensor:
    """a [E, N] -> [E, N, N] relative distance |a_i + sign·a_j| / (|a_i| + |a_j| + 0.1·rms)."""
    rms = a.pow(2).mean(1).sqrt()[:, None, None]                                   # [E, 1, 1]
    num = (a[:, :, None] + sign * a[:, None, :]).abs()                            # [E, N, N]
    den = a.abs()[:, :, None] + a.abs()[:, None, :] + 0.1 * rms + 1e-30
    return num / den


def measure_pairs(w: torch.Tensor, b: torch.Tensor, v: torch.Tensor, tol: float) -> dict[str, torch.Tensor]:
    """Mirror and duplicate pair counts per net.

    Args: w, b, v [E, N] (hidden weights, biases, output weights); tol: relative tolerance in (0, 1).
    Returns: {"mirror": [E], "duplicate": [E]} counts of unordered pairs i < j, and "n_pairs" N(N−1)/2.
    """
    if not 0 < tol < 1:
        raise ValueError(f"tol must be in (0, 1), got {tol}")
    E, N = w.shape
    db, dv = _pair_distance(b, -1.0), _pair_distance(v, -1.0)
    same_bv = (db <= tol) & (dv <= tol)
    upper = torch.triu(torch.ones(N, N, dtype=torch.bool, device=w.device), diagonal=1)
    mirror = (same_bv & (_pair_distance(w, +1.0) <= tol) & upper).sum((1, 2))
    dup = (same_bv & (_pair_distance(w, -1.0) <= tol) & upper).sum((1, 2))
    return {"mirror": mirror, "duplicate": dup, "n_pairs": torch.full((E,), N * (N - 1) // 2)}


def measure_movement(init: dict[str, torch.Tensor], final: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Relative parameter movement per net: ‖θ − θ0‖ / ‖θ0‖ for the hidden layer (w, b) and for v.

    Small values mean lazy (kernel-regime) training, O(1) values rich (feature-learning) training."""
    def rel(keys):
        d = sum(((final[k] - init[k]) ** 2).sum(1) for k in keys)
        n = sum((init[k] ** 2).sum(1) for k in keys)
        return (d / n).sqrt()
    return {"move_hidden": rel(("w", "b")), "move_out": rel(("v",))}
