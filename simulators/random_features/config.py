"""Frozen, validated configs for the random-feature experiments (one per experiment).

Each paper's own parameters are exposed (MRS: α; Bordelon et al.: (a, b); PLRF: (α, β)) and converted
to the common (a, b) in `theory.plrf_to_ab` / `MRSGridConfig.ab` only. Bad values raise `ConfigError`
(a ValueError) naming the field and the allowed range.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulators.harness.registry import ConfigError

from . import theory

ACTIVATIONS = ("linear", "relu", "erf", "tanh")


def _need(ok: bool, field: str, allowed: str, got) -> None:
    if not ok:
        raise ConfigError(f"{field} must be {allowed}, got {got!r}")


def _sizes(field: str, xs) -> None:
    _need(isinstance(xs, tuple) and len(xs) >= 2 and all(int(x) == x and x >= 1 for x in xs)
          and list(xs) == sorted(set(xs)), field, "a strictly increasing tuple of >= 2 positive ints", xs)


def _ab(a, b) -> None:
    _need(a > 1, "a", "> 1 (summable task power k^-a)", a)
    _need(b > 0, "b", "> 0 (decaying spectrum k^-b)", b)


def _plateau(M, biggest, field) -> None:
    _need(M >= 10 * biggest, "M", f">= 10 x the largest {field} ({10 * biggest}) so the plateau does not "
          "contaminate the fit", M)


@dataclass(frozen=True)
class ModelLimitedConfig:
    a: float = 2.0
    b: float = 1.5
    M: int = 5120
    Ns: tuple = (32, 45, 64, 91, 128, 181, 256, 362, 512)
    activations: tuple = ("linear", "relu")
    seeds: int = 6

    def __post_init__(self):
        _ab(self.a, self.b); _sizes("Ns", self.Ns); _plateau(self.M, max(self.Ns), "N")
        _need(all(x in ACTIVATIONS for x in self.activations) and len(self.activations) >= 1, "activations",
              f"a non-empty tuple from {ACTIVATIONS}", self.activations)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)


@dataclass(frozen=True)
class DataLimitedConfig:
    a: float = 2.0
    b: float = 1.5
    M: int = 5120
    Ps: tuple = (32, 45, 64, 91, 128, 181, 256, 362, 512)
    ridge: float = 0.0
    noise: float = 0.0
    relu_N: int = 512              # ReLU variant: N features, P in relu_Ps (N >= 8 max P keeps away from N = P)
    relu_Ps: tuple = (8, 16, 32, 64)
    seeds: int = 6

    def __post_init__(self):
        _ab(self.a, self.b); _sizes("Ps", self.Ps); _plateau(self.M, max(self.Ps), "P")
        _need(self.ridge >= 0, "ridge", ">= 0", self.ridge)
        _need(self.noise >= 0, "noise", ">= 0 (label-noise variance σ²)", self.noise)
        _sizes("relu_Ps", self.relu_Ps)
        _need(self.relu_N >= 4 * max(self.relu_Ps), "relu_N", f">= 4 x max(relu_Ps) = {4 * max(self.relu_Ps)}",
              self.relu_N)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)


@dataclass(frozen=True)
class MRSGridConfig:
    alpha: float = 0.5             # MRS: λ ∝ k^-(1+α), isotropic teacher -> a = b = 1 + α
    M: int = 1024
    sizes: tuple = (8, 16, 32, 64, 128, 256, 512, 1024)
    ridge: float = 1e-3            # the ridge of the second surface (first is ridgeless)
    seeds: int = 3

    def __post_init__(self):
        _need(self.alpha > 0, "alpha", "> 0 (MRS spectrum k^-(1+α))", self.alpha)
        _sizes("sizes", self.sizes)
        _need(self.M >= 2, "M", ">= 2", self.M)
        _need(self.ridge > 0, "ridge", "> 0 (the ridgeless surface is always included)", self.ridge)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)

    @property
    def ab(self):
        return 1 + self.alpha, 1 + self.alpha


@dataclass(frozen=True)
class VarianceLimitedConfig:
    a: float = 2.0
    b: float = 1.5
    M: int = 4096
    N_fixed: int = 16              # axis "P": excess over L(N, P = ∞)
    P_fixed: int = 16              # axis "N": excess over L(N = ∞, P)
    sizes: tuple = (128, 256, 512, 1024, 2048)
    seeds: int = 6

    def __post_init__(self):
        _ab(self.a, self.b); _sizes("sizes", self.sizes)
        _need(min(self.sizes) >= 4 * max(self.N_fixed, self.P_fixed), "sizes",
              f"all >= 4 x max(N_fixed, P_fixed) (variance-limited: size >> fixed size)", self.sizes)
        _need(self.M >= 10 * max(self.N_fixed, self.P_fixed), "M", ">= 10 x max(N_fixed, P_fixed)", self.M)
        _need(self.M > max(self.sizes), "M", f"> max(sizes) = {max(self.sizes)}", self.M)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)


@dataclass(frozen=True)
class TimeConfig:
    a: float = 2.0
    b: float = 1.5
    M: int = 5120
    N: int = 512
    t_max: float = 1e5
    n_times: int = 41
    seeds: int = 6

    def __post_init__(self):
        _ab(self.a, self.b); _plateau(self.M, self.N, "N")
        _need(self.t_max > 10, "t_max", "> 10", self.t_max)
        _need(self.n_times >= 8, "n_times", ">= 8", self.n_times)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)


@dataclass(frozen=True)
class ComputeOptimalConfig:
    a: float = 2.0
    b: float = 1.5
    M: int = 5120
    Ns: tuple = (16, 19, 23, 27, 32, 38, 45, 54, 64, 76, 91, 108, 128, 152, 181, 215, 256, 304, 362, 430, 512)
    C_min: float = 2e3
    C_max: float = 2e5
    n_C: int = 13
    seeds: int = 4

    def __post_init__(self):
        _ab(self.a, self.b); _sizes("Ns", self.Ns); _plateau(self.M, max(self.Ns), "N")
        _need(0 < self.C_min < self.C_max, "C_min", f"in (0, C_max={self.C_max})", self.C_min)
        _need(self.n_C >= 4, "n_C", ">= 4", self.n_C)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)


def _plrf_lr(alpha, lr, B, dmax):
    """Refuse lr above the stability bound of the latent proxy spectrum j^-2α, j <= d_max (the exact bound
    of each feature draw is checked again at run time)."""
    bound = theory.plrf_lr_bound([j ** (-2 * alpha) for j in range(1, dmax + 1)], B)
    _need(0 < lr < bound, "lr", f"in (0, {bound:.4g}) (one-pass SGD stability bound for α={alpha}, B={B}, "
          f"d={dmax}; for 2α < 1 it shrinks with d)", lr)


@dataclass(frozen=True)
class PLRFCurvesConfig:
    alpha: float = 1.0
    beta: float = 0.7
    v: int = 1024
    ds: tuple = (64, 256)
    B: int = 1
    lr: float = 0.3
    steps: int = 10000
    n_checkpoints: int = 40
    seeds: int = 8

    def __post_init__(self):
        _need(self.alpha > 0, "alpha", "> 0", self.alpha)
        _need(2 * self.alpha + 2 * self.beta > 1, "beta", f"> ½ − α = {0.5 - self.alpha:g} (2α + 2β > 1)", self.beta)
        _sizes("ds", self.ds)
        _need(self.v >= 2 * max(self.ds), "v", f">= 2 x max(ds) = {2 * max(self.ds)}", self.v)
        _need(self.B >= 1, "B", ">= 1", self.B)
        _plrf_lr(self.alpha, self.lr, self.B, max(self.ds))
        _need(self.steps >= 10, "steps", ">= 10", self.steps)
        _need(self.n_checkpoints >= 5, "n_checkpoints", ">= 5", self.n_checkpoints)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)


@dataclass(frozen=True)
class PLRFPhasesConfig:
    points: tuple = ((1.0, 0.35), (1.0, 0.7), (0.7, 1.2))     # one (α, β) in each of Ia, II, III
    v: int = 4096
    ds: tuple = (16, 18, 20, 22, 25, 27, 31, 34, 38, 42, 47, 53, 59, 65, 73, 81, 91, 101, 112, 125, 140, 156,
                 173, 193, 215, 240, 267, 298, 332, 370, 412, 459, 512)    # geomspace(16, 512, 33), rounded
    B: int = 1
    lr_frac: float = 0.5           # lr = lr_frac × the stability bound of each (α, β) (proxy spectrum)
    steps: int = 100000
    f_decades: float = 2.0         # fit the frontier over the last f_decades of f where d* is interior
    seeds: int = 12               # the per-seed argmin is jittery: 6 seeds gave d* slopes 0.08 apart between seed sets

    def __post_init__(self):
        _need(len(self.points) >= 1, "points", "a non-empty tuple of (alpha, beta)", self.points)
        for al, be in self.points:
            _need(al > 0 and 2 * al + 2 * be > 1, "points", "(α, β) pairs with α > 0 and 2α + 2β > 1", (al, be))
        _sizes("ds", self.ds)
        _need(self.v >= 4 * max(self.ds), "v", f">= 4 x max(ds) = {4 * max(self.ds)}", self.v)
        _need(self.B >= 1, "B", ">= 1", self.B)
        _need(0 < self.lr_frac < 1, "lr_frac", "in (0, 1) (fraction of the stability bound)", self.lr_frac)
        _need(self.steps >= 100, "steps", ">= 100", self.steps)
        _need(self.f_decades > 0.3, "f_decades", "> 0.3", self.f_decades)
        _need(self.seeds >= 2, "seeds", ">= 2 (bootstrap over seeds)", self.seeds)
