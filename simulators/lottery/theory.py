"""Theory for the lottery-ticket-ensemble model: the two competing exponents and the mirror-pair expansion.

- Ensembling (Liu & Tegmark 2023, "A Neural Scaling Law from Lottery Ticket Ensembling",
  arXiv:2310.02258, Sec. 3–4): a width-N net fitting y = x² holds ~N symmetric neuron pairs
  ("lottery tickets"), each approximating x² up to a random quartic residual; the output averages them,
  so the error variance falls like 1/N: MSE ∝ N^(−1) (a central-limit law).
- Approximation (Sharma & Kaplan 2020, "A Neural Scaling Law from the Dimension of the Data Manifold",
  arXiv:2004.10802, Sec. 2, α = 4/d): a piecewise-linear (ReLU) interpolant of a C² target with N
  pieces on a d-dimensional manifold has error ∝ N^(−2/d), so MSE ∝ N^(−4/d); d = 1 here: N^(−4).
- Mirror pair (Liu & Tegmark 2023, Sec. 4): v[σ(wx + b) + σ(−wx + b)] = 2vσ(b) + vσ''(b)w²x²
  + vσ''''(b)w⁴x⁴/12 + O(x⁶): even in x, an x² term and a quartic residual.

Measured exponents never come from here; they are fitted from simulation (experiments.py).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from simulators.harness.compare import Prediction

from .config import LotteryConfig

ENSEMBLING_REF = "Liu & Tegmark 2023 (arXiv:2310.02258), Sec. 3-4: MSE ∝ N^-1 from ticket ensembling"
APPROX_REF = "Sharma & Kaplan 2020 (arXiv:2004.10802), Sec. 2: MSE ∝ N^(-4/d)"
SMOOTH_TARGETS = ("x2", "x3", "sin", "exp")      # C² on any interval; "abs" is not


def predicted_exponent(cfg: LotteryConfig, mechanism: str = "ensembling", *, d: int = 1) -> Prediction:
    """The MSE decay exponent in width N predicted by `mechanism`.

    Args:
        cfg: the experiment config (target, activation).
        mechanism: "ensembling" (Liu & Tegmark 2023, Sec. 3–4: exponent 1) or "approximation"
            (Sharma & Kaplan 2020, Sec. 2: exponent 4/d).
        d: intrinsic input dimension (1 for these 1-D targets), >= 1.
    Raises:
        ValueError: outside the regime: ensembling needs the even target y = x² (the mirror-pair argument
            builds x² from pairs whose sum is even in x); approximation needs a C² target (not "abs").
    """
    if mechanism == "ensembling":
        if cfg.target != "x2":
            raise ValueError(f"the ensembling law is derived for the even target y = x² (target 'x2'), got {cfg.target!r}")
        return Prediction(1.0, regime="lottery-ticket ensembling (variance of ~N tickets)",
                          assumptions=("target y = x²", "output averages ~N independent mirror-pair tickets",
                                       "training budget leaves each ticket's residual random (not converged)"),
                          reference=ENSEMBLING_REF)
    if mechanism == "approximation":
        if not (isinstance(d, int) and d >= 1):
            raise ValueError(f"d (intrinsic dimension) must be an int >= 1, got {d!r}")
        if cfg.target not in SMOOTH_TARGETS:
            raise ValueError(f"the N^(-4/d) approximation law needs a C² target (one of {SMOOTH_TARGETS}); "
                             f"{cfg.target!r} is not twice differentiable on the interval")
        return Prediction(4.0 / d, regime="piecewise-linear approximation (converged)",
                          assumptions=(f"intrinsic dimension d = {d}", "target C² on the interval",
                                       "network reaches its best piecewise-linear approximation"),
                          reference=APPROX_REF)
    raise ValueError(f"mechanism must be 'ensembling' or 'approximation', got {mechanism!r}")


def predicted_loss(widths, exponent: float, anchor: tuple[float, float]) -> np.ndarray:
    """Reference line L(N) = L0·(N/N0)^(−exponent) through anchor (N0, L0) (both > 0).

    It carries the theory's slope only: neither paper predicts the prefactor for this setup."""
    n = np.asarray(widths, float)
    n0, l0 = anchor
    if np.any(n <= 0) or n0 <= 0 or l0 <= 0:
        raise ValueError(f"widths and anchor must be positive, got widths {n.tolist()}, anchor {anchor}")
    return l0 * (n / n0) ** (-exponent)


def _derivatives(b: torch.Tensor, activation: str, order: int) -> list[torch.Tensor]:
    """σ(b), σ'(b), …, σ^(order)(b) by nested autograd (float64), b any shape."""
    from .model import act_and_grad

    if activation == "relu":
        raise ValueError("the mirror-pair Taylor expansion needs a smooth activation (silu, tanh, gelu); "
                         "relu has no second derivative at the kink")
    z = b.detach().to(torch.float64).clone().requires_grad_(True)
    out = [act_and_grad(z, activation)[0]]
    for _ in range(order):
        out.append(torch.autograd.grad(out[-1].sum(), z, create_graph=True)[0])
    return [o.detach() for o in out]


def mirror_pair_coefficients(w, b, v, activation: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Even Taylor coefficients of a mirror pair v[σ(wx + b) + σ(−wx + b)] = c0 + c2 x² + c4 x⁴ + O(x⁶).

    c0 = 2vσ(b), c2 = vσ''(b)w², c4 = vσ''''(b)w⁴/12 (Liu & Tegmark 2023, Sec. 4: the ticket's x²
    coefficient and its quartic residual). Odd terms cancel exactly.

    Args: w, b, v: tensors (broadcastable), activation: "silu" | "tanh" | "gelu".
    Returns: (c0, c2, c4) in float64.
    """
    w, b, v = (torch.as_tensor(t, dtype=torch.float64) for t in (w, b, v))
    d = _derivatives(b, activation, 4)
    return 2 * v * d[0], v * d[2] * w ** 2, v * d[4] * w ** 4 / 12


def ensemble_variance_exponent() -> float:
    """Exponent of the variance of an average of N i.i.d. ticket residuals: Var ∝ N^(−1) (central limit
    theorem; the step of Liu & Tegmark 2023, Sec. 4 that turns tickets into the N^(−1) law)."""
    return 1.0


def fit_window_decades(widths) -> float:
    """log10(N_max / N_min) of a width sweep (the Done-when line asks for >= 2)."""
    return math.log10(max(widths) / min(widths))
