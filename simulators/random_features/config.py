"""Frozen, validated configs for the random-feature experiments (one per experiment).

Each paper's own parameters are exposed (MRS: α; Bordelon et al.: (a, b); PLRF: (α, β)) and converted
to the common (a, b) in `theory.plrf_to_ab` / `MRSGridConfig.ab` only. Bad values raise `ConfigError`
(a ValueError) naming the field and the allowed range.

Torch-free (and scipy-free): the CLI constructs these configs to refuse bad input before importing torch.
Every precondition is plain math here (`plrf_lr_bound`, numpy only; `theory` re-exports it).
"""
from __future__ import annotations

from dataclasses import dataclass

from simulators.harness import fieldcheck as fc
from simulators.harness.fieldcheck import ConfigError

ACTIVATIONS = ("linear", "relu", "erf", "tanh")


def _need(ok: bool, field: str, allowed: str, got) -> None:
    if not ok:
        raise ConfigError(f"{field} must be {allowed}, got {got!r}")


MAX_SIZE = 10 ** 6      # N, P, d (the memory estimate refuses what would not fit long before this)
MAX_M = 10 ** 7         # latent dimension M, v
MAX_SEEDS = 10_000


def _sizes(field: str, xs) -> None:
    fc.ints(field, xs, 1, MAX_SIZE, min_len=2)


def _ab(a, b) -> None:
    _need(a > 1, "a", "> 1 (summable task power k^-a)", a)
    _need(b > 0, "b", "> 0 (decaying spectrum k^-b)", b)
    _need(a <= 20 and b <= 20, "a" if a > 20 else "b", "<= 20 (k^-20 already underflows nothing we measure)",
          a if a > 20 else b)


def _seeds(seeds) -> None:
    fc.integer("seeds", seeds, 2, MAX_SEEDS, note="(bootstrap over seeds)")


def _plateau(M, biggest, field) -> None:
    fc.integer("M", M, 2, MAX_M)
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
        fc.check_types(self)
        _ab(self.a, self.b); _sizes("Ns", self.Ns); _plateau(self.M, max(self.Ns), "N")
        fc.choices("activations", self.activations, ACTIVATIONS)
        _seeds(self.seeds)


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
        fc.check_types(self)
        _ab(self.a, self.b); _sizes("Ps", self.Ps); _plateau(self.M, max(self.Ps), "P")
        fc.num("ridge", self.ridge, 0, 1e6)
        fc.num("noise", self.noise, 0, 1e6, note="(label-noise variance σ²)")
        _sizes("relu_Ps", self.relu_Ps)
        fc.integer("relu_N", self.relu_N, 1, MAX_SIZE)
        _need(self.relu_N >= 4 * max(self.relu_Ps), "relu_N", f">= 4 x max(relu_Ps) = {4 * max(self.relu_Ps)}",
              self.relu_N)
        _seeds(self.seeds)


@dataclass(frozen=True)
class MRSGridConfig:
    alpha: float = 0.5             # MRS: λ ∝ k^-(1+α), isotropic teacher -> a = b = 1 + α
    M: int = 1024
    sizes: tuple = (8, 16, 32, 64, 128, 256, 512, 1024)
    ridge: float = 1e-3            # the ridge of the second surface (first is ridgeless)
    seeds: int = 3

    def __post_init__(self):
        fc.check_types(self)
        fc.num("alpha", self.alpha, 0, 20, lo_open=True, note="(MRS spectrum k^-(1+α))")
        _sizes("sizes", self.sizes)
        fc.integer("M", self.M, 2, MAX_M)
        fc.num("ridge", self.ridge, 0, 1e6, lo_open=True, note="(the ridgeless surface is always included)")
        big = max([x for x in self.sizes if x < self.M] or [min(self.sizes)])
        _need(sum(4 * x <= big for x in self.sizes) >= 2, "sizes",
              f"a grid with >= 2 sizes <= 1/4 of its largest size below M = {self.M} (the fit axes)", self.sizes)
        _seeds(self.seeds)

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
        fc.check_types(self)
        _ab(self.a, self.b); _sizes("sizes", self.sizes)
        fc.integer("N_fixed", self.N_fixed, 1, MAX_SIZE)
        fc.integer("P_fixed", self.P_fixed, 1, MAX_SIZE)
        fc.integer("M", self.M, 2, MAX_M)
        _need(min(self.sizes) >= 4 * max(self.N_fixed, self.P_fixed), "sizes",
              f"all >= 4 x max(N_fixed, P_fixed) (variance-limited: size >> fixed size)", self.sizes)
        _need(self.M >= 10 * max(self.N_fixed, self.P_fixed), "M", ">= 10 x max(N_fixed, P_fixed)", self.M)
        _need(self.M > max(self.sizes), "M", f"> max(sizes) = {max(self.sizes)}", self.M)
        _seeds(self.seeds)


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
        fc.check_types(self)
        fc.integer("N", self.N, 1, MAX_SIZE)
        _ab(self.a, self.b); _plateau(self.M, self.N, "N")
        fc.num("t_max", self.t_max, 10, 1e15, lo_open=True)
        fc.integer("n_times", self.n_times, 8, 10_000)
        _seeds(self.seeds)


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
        fc.check_types(self)
        _ab(self.a, self.b); _sizes("Ns", self.Ns); _plateau(self.M, max(self.Ns), "N")
        fc.num("C_max", self.C_max, 0, 1e15, lo_open=True)
        fc.num("C_min", self.C_min, 0, self.C_max, lo_open=True, hi_open=True, note="(< C_max)")
        fc.integer("n_C", self.n_C, 4, 1000)
        _seeds(self.seeds)


def plrf_lr_bound(lam, B: int) -> float:
    """Largest stable constant lr of one-pass SGD given the eigenvalues λ_j of K = WᵀDW [PPXP24 Eq. 10]:
    the Volterra kernel norm Σ_j γλ_j/(2 − γ(B+1)λ_j) must be < 1 (and γ(B+1)λ_max < 2). Bisection.
    (Lives here, numpy only, so that config validation imports neither scipy nor torch.)"""
    import numpy as np

    lam = np.asarray(lam, float)
    lam = lam[lam > 0]
    hi = 2.0 / ((B + 1) * lam.max())
    lo = 0.0
    for _ in range(200):
        g = 0.5 * (lo + hi)
        norm = np.sum(g * lam / (2 - g * (B + 1) * lam))
        lo, hi = (g, hi) if norm < 1 else (lo, g)
    return lo


def _plrf_lr(alpha, lr, B, dmax):
    """Refuse lr above the stability bound of the latent proxy spectrum j^-2α, j <= d_max (the exact bound
    of each feature draw is checked again at run time)."""
    bound = plrf_lr_bound([j ** (-2 * alpha) for j in range(1, dmax + 1)], B)
    fc.num("lr", lr, 0, 1e6, lo_open=True)
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
        fc.check_types(self)
        fc.num("alpha", self.alpha, 0, 20, lo_open=True)
        fc.num("beta", self.beta, -20, 20)
        _need(2 * self.alpha + 2 * self.beta > 1, "beta", f"> ½ − α = {0.5 - self.alpha:g} (2α + 2β > 1)", self.beta)
        _sizes("ds", self.ds)
        fc.integer("v", self.v, 2, MAX_M)
        _need(self.v >= 2 * max(self.ds), "v", f">= 2 x max(ds) = {2 * max(self.ds)}", self.v)
        fc.integer("B", self.B, 1, 10 ** 6)
        _plrf_lr(self.alpha, self.lr, self.B, max(self.ds))
        fc.integer("steps", self.steps, 10, 10 ** 9)
        fc.integer("n_checkpoints", self.n_checkpoints, 5, 10_000)
        _seeds(self.seeds)


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
        fc.check_types(self)
        pts = "a non-empty tuple of (alpha, beta) pairs with 0 < α <= 20, |β| <= 20 and 2α + 2β > 1"
        _need(isinstance(self.points, tuple) and 1 <= len(self.points) <= 100, "points", pts, self.points)
        for pair in self.points:
            _need(isinstance(pair, (tuple, list)) and len(pair) == 2, "points", pts, self.points)
            fc.floats("points", pair, -20, 20, min_len=2, max_len=2, note="(each (α, β) pair)")
            al, be = pair
            _need(0 < al <= 20 and 2 * al + 2 * be > 1, "points", pts, self.points)
        object.__setattr__(self, "points", tuple(tuple(p) for p in self.points))
        _sizes("ds", self.ds)
        fc.integer("v", self.v, 2, MAX_M)
        _need(self.v >= 4 * max(self.ds), "v", f">= 4 x max(ds) = {4 * max(self.ds)}", self.v)
        fc.integer("B", self.B, 1, 10 ** 6)
        fc.num("lr_frac", self.lr_frac, 0, 1, lo_open=True, hi_open=True, note="(fraction of the stability bound)")
        fc.integer("steps", self.steps, 100, 10 ** 9)
        fc.num("f_decades", self.f_decades, 0.3, 20, lo_open=True)
        _seeds(self.seeds)


@dataclass(frozen=True)
class FourRegimesConfig:
    a: float = 2.0                 # one teacher for all four rows
    b: float = 1.5
    M: int = 2560
    Ns: tuple = (16, 23, 32, 45, 64, 91, 128, 181, 256)      # resolution-limited in N (P = ∞)
    Ps: tuple = (16, 23, 32, 45, 64, 91, 128, 181, 256)      # resolution-limited in P (N = ∞, ridgeless)
    N_fixed: int = 8               # variance-limited in P: excess over L(N, P = ∞)
    P_fixed: int = 8               # variance-limited in N: excess over L(N = ∞, P)
    sizes: tuple = (64, 128, 256, 512)                        # variance-limited sizes (both axes)
    seeds: int = 12                # resolution-limited rows
    variance_seeds: int = 48       # variance-limited rows (their per-seed excess has sd/mean ≈ 0.4)

    def __post_init__(self):
        fc.check_types(self)
        _ab(self.a, self.b)
        fc.integer("M", self.M, 2, MAX_M)
        _sizes("Ns", self.Ns); _sizes("Ps", self.Ps); _sizes("sizes", self.sizes)
        for f in ("Ns", "Ps", "sizes"):
            _need(len(getattr(self, f)) >= 4, f, "a tuple of >= 4 sizes (the fit needs 4 points)", getattr(self, f))
        fc.integer("N_fixed", self.N_fixed, 1, MAX_SIZE)
        fc.integer("P_fixed", self.P_fixed, 1, MAX_SIZE)
        _seeds(self.seeds)
        fc.integer("variance_seeds", self.variance_seeds, 2, 10_000, note="(bootstrap over seeds)")
        self.sub_configs()       # each reused experiment's own checks (plateau M >= 10 x sizes, size >> fixed)

    def sub_configs(self):
        """(model_limited, data_limited, variance_limited) configs of the reused experiments, same teacher."""
        common = dict(a=self.a, b=self.b, M=self.M, seeds=self.seeds)
        return (ModelLimitedConfig(Ns=self.Ns, activations=("linear",), **common),
                DataLimitedConfig(Ps=self.Ps, relu_N=4 * min(self.Ps), relu_Ps=(1, min(self.Ps)), **common),
                VarianceLimitedConfig(N_fixed=self.N_fixed, P_fixed=self.P_fixed, sizes=self.sizes,
                                      **dict(common, seeds=self.variance_seeds)))

    @property
    def duality_holds(self) -> bool:
        from . import theory as th   # analysis only (theory imports scipy through the harness)

        return th.exponent_model(self.a, self.b) == th.exponent_data(self.a, self.b)
