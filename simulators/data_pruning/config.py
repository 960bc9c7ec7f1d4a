"""Config of the data-pruning experiments: one frozen dataclass, every field validated in `__post_init__`.

Bad input raises a one-line ValueError naming the field and the allowed range (the CLI prints it, exit 2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

RULES = ("hard", "easy", "random")
MAX_POOL_ENTRIES = 2 * 10 ** 8      # α_tot·N·N: one instance's pool as an [α_tot N, N] float64 matrix ≤ 1.6 GB


def _tuple(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def check_int(name: str, v, lo: int, hi: int) -> None:
    if not _is_int(v) or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")


def check_values(name: str, vals, ok, allowed: str) -> None:
    if not vals:
        raise ValueError(f"{name} must be a non-empty tuple of values {allowed}, got {vals!r}")
    for v in vals:
        if not _is_num(v) or not math.isfinite(v) or not ok(v):
            raise ValueError(f"{name} must hold values {allowed}, got {v!r}")
    if list(vals) != sorted(set(vals)):
        raise ValueError(f"{name} must be strictly increasing, got {vals!r}")


@dataclass(frozen=True)
class PruningConfig:
    """Grid of pruned teacher–student max-margin perceptrons.

    Attributes:
        N: input dimension (≥ 2). seeds: instances per grid point (seeds 0 .. seeds−1).
        alpha_tot: pool sizes α_tot = P_tot/N (each in (0, 1000]).
        fs: kept fractions f ∈ (0, 1] (f = 1: the whole pool).
        rules: subset of ("hard", "easy", "random").
        thetas: probe angles θ in degrees, each in [0, 90).
        finite_N: extra, smaller dimensions run at every point to show the 1/N correction (may be empty).
        min_alpha_prune: points with f·α_tot below it are simulated but not held to the theory (the issue's
            verdict covers α_prune ≥ 1).
        rel_tol, z_tol: a point passes if |mean ε − theory| ≤ max(z_tol·SE, rel_tol·theory).
        solver_tol: relative duality gap / primal residual at which the max-margin solver stops.
    """

    N: int = 200
    seeds: int = 30
    alpha_tot: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    fs: tuple[float, ...] = (1.0,)
    rules: tuple[str, ...] = ("random",)
    thetas: tuple[float, ...] = (0.0,)
    finite_N: tuple[int, ...] = ()
    min_alpha_prune: float = 1.0
    rel_tol: float = 0.03
    z_tol: float = 3.0
    solver_tol: float = 1e-10

    def __post_init__(self):
        for name in ("alpha_tot", "fs", "rules", "thetas", "finite_N"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        check_int("N", self.N, 2, 100_000)
        check_int("seeds", self.seeds, 1, 100_000)
        check_values("alpha_tot", self.alpha_tot, lambda a: 0 < a <= 1000, "in (0, 1000]")
        check_values("fs", self.fs, lambda f: 0 < f <= 1, "in (0, 1]")
        check_values("thetas", self.thetas, lambda t: 0 <= t < 90, "in [0, 90) degrees")
        if not self.rules or any(not isinstance(r, str) or r not in RULES for r in self.rules) \
                or len(set(self.rules)) != len(self.rules):
            raise ValueError(f"rules must be a non-empty subset of {RULES}, got {self.rules!r}")
        for n in self.finite_N:
            check_int("finite_N", n, 2, 100_000)
        if len(set(self.finite_N)) != len(self.finite_N) or self.N in self.finite_N:
            raise ValueError(f"finite_N must be distinct dimensions other than N = {self.N}, got {self.finite_N!r}")
        for name, lo, hi in (("min_alpha_prune", 0.0, 1000.0), ("rel_tol", 0.0, 1.0), ("z_tol", 0.0, 100.0)):
            v = getattr(self, name)
            if not _is_num(v) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"{name} must be a number in [{lo:g}, {hi:g}], got {v!r}")
        if not _is_num(self.solver_tol) or not 1e-15 <= self.solver_tol <= 1e-6:
            raise ValueError(f"solver_tol must be a number in [1e-15, 1e-6], got {self.solver_tol!r}")
        n_max = max((self.N, *self.finite_N))
        if max(self.alpha_tot) * n_max * n_max > MAX_POOL_ENTRIES:
            raise ValueError(f"alpha_tot·N² must be <= {MAX_POOL_ENTRIES:.0e} (one instance's pool in memory), "
                             f"got {max(self.alpha_tot):g}·{n_max}² = {max(self.alpha_tot) * n_max * n_max:.3g}")

    def dims(self) -> tuple[int, ...]:
        return (self.N, *self.finite_N)
