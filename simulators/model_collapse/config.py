"""Configs of the model-collapse experiments: frozen dataclasses, every field validated in `__post_init__`
(one-line ValueError naming the field and the allowed range, before any work)."""
from __future__ import annotations

import math
from dataclasses import dataclass

BIG = 10 ** 7           # largest size/count accepted anywhere (a typo like 1e12 is refused, not run)


def _tuple(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


def check_int(name: str, v, lo: int, hi: int = BIG) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or int(v) != v \
            or not lo <= v <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {v!r}")


def check_float(name: str, v, lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
        and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        raise ValueError(f"{name} must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}"
                         f"{')' if hi_open else ']'}, got {v!r}")


def check_sizes(name: str, v, lo: int, hi: int = BIG, min_len: int = 2) -> tuple:
    v = _tuple(v)
    if len(v) < min_len:
        raise ValueError(f"{name} must hold >= {min_len} values, got {v!r}")
    for x in v:
        check_int(name, x, lo, hi)
    if list(v) != sorted(set(v)):
        raise ValueError(f"{name} must be strictly increasing, got {v!r}")
    return tuple(int(x) for x in v)


def _common(cfg, seeds_lo: int = 2) -> None:
    check_int("seeds", cfg.seeds, seeds_lo, 10_000)
    check_float("tolerance", cfg.tolerance, 0.0, 1.0)
    if hasattr(cfg, "reps"):
        check_int("reps", cfg.reps, 1, 100_000)


def _beta(v, name="beta"):
    check_float(name, v, 1.0, 20.0, lo_open=True)


# ============================================================================ regression
@dataclass(frozen=True)
class OLSGenConfig:
    """`collapse.ols_generations`: downstream OLS error vs generations n (0..n_max) of an OLS chain.

    d dims; T0 samples per generation (>= d + 2), noise sigma0; downstream T samples (>= d + 2), noise sigma;
    spectra: "isotropic" and/or "power" (λ_k = k^−beta; the expectation is Σ-free); seeds (bootstrap unit) ×
    reps chains each (a seed's value is its chains' mean)."""

    d: int = 8
    T0: int = 32
    T: int = 32
    n_max: int = 16
    sigma: float = 0.5
    sigma0: float = 1.0
    beta: float = 2.0
    spectra: tuple[str, ...] = ("isotropic", "power")
    seeds: int = 32
    reps: int = 8
    tolerance: float = 0.05

    def __post_init__(self):
        object.__setattr__(self, "spectra", _tuple(self.spectra))
        check_int("d", self.d, 1, 4096)
        check_int("T0", self.T0, self.d + 2, 10 ** 6)
        check_int("T", self.T, self.d + 2, 10 ** 6)
        check_int("n_max", self.n_max, 2, 1000)
        check_float("sigma", self.sigma, 0.0, 1e3)
        check_float("sigma0", self.sigma0, 0.0, 1e3, lo_open=True)
        _beta(self.beta)
        if not self.spectra or any(s not in ("isotropic", "power") for s in self.spectra) \
                or len(set(self.spectra)) != len(self.spectra):
            raise ValueError(f"spectra must be distinct values of ('isotropic', 'power'), got {self.spectra!r}")
        _common(self)


@dataclass(frozen=True)
class OverparamConfig:
    """`collapse.overparam`: noiseless min-norm chain, Σ = I, T0 < d: relative error 1 − (T0/d)^n.
    Exponent rows: the retained fraction (T0/d)^n = (d/T0)^−n vs d/T0 at each n in n_values."""

    d: int = 32
    T0_values: tuple[int, ...] = (4, 8, 16, 24)
    n_values: tuple[int, ...] = (1, 2, 3, 4)
    seeds: int = 32
    reps: int = 48
    tolerance: float = 0.05

    def __post_init__(self):
        check_int("d", self.d, 3, 4096)
        object.__setattr__(self, "T0_values", check_sizes("T0_values", self.T0_values, 1, self.d - 1, 3))
        object.__setattr__(self, "n_values", check_sizes("n_values", self.n_values, 1, 64, 1))
        _common(self)


@dataclass(frozen=True)
class ReplaceConfig:
    """`collapse.replace_vs_accumulate`: fixed design X [T0, d] per chain, fresh noise sigma0 every round;
    replace (OLS on the latest round) vs accumulate (OLS on all rounds' data), rounds 1..n_max."""

    d: int = 8
    T0: int = 32
    n_max: int = 32
    sigma0: float = 1.0
    seeds: int = 32
    reps: int = 8
    tolerance: float = 0.05

    def __post_init__(self):
        check_int("d", self.d, 1, 4096)
        check_int("T0", self.T0, self.d + 2, 10 ** 6)
        check_int("n_max", self.n_max, 4, 10_000)
        check_float("sigma0", self.sigma0, 0.0, 1e3, lo_open=True)
        _common(self)

    def n_values(self) -> tuple[int, ...]:
        """Rounds reported: powers of two up to n_max (and n_max)."""
        out = sorted({2 ** j for j in range(int(math.log2(self.n_max)) + 1)} | {self.n_max})
        return tuple(out)


@dataclass(frozen=True)
class RidgeScalingConfig:
    """`collapse.ridge_scaling`: ridge downstream error vs T under a power-law spectrum λ_k = k^−beta,
    teacher λ_k w0_k² = k^−(1+2·beta·r), after n OLS generations (T0 >= d + 2, sigma0), downstream noise sigma.
    Ridge schedules: "clean" λ = T^−ℓ_crit, "adaptive" λ = T_eff^−ℓ_crit (theory.adaptive_ridge)."""

    d: int = 64
    beta: float = 2.0
    r: float = 0.5
    T0: int = 256
    sigma: float = 1.0
    sigma0: float = 1.0
    n_values: tuple[int, ...] = (0, 1, 4)
    T_values: tuple[int, ...] = tuple(2 ** k for k in range(4, 12))
    seeds: int = 16
    reps: int = 4
    tolerance: float = 0.05
    de_rel_tol: float = 0.05

    def __post_init__(self):
        check_int("d", self.d, 2, 4096)
        _beta(self.beta)
        check_float("r", self.r, 0.0, 1.0, lo_open=True)
        check_int("T0", self.T0, self.d + 2, 10 ** 6)
        check_float("sigma", self.sigma, 0.0, 1e3, lo_open=True)
        check_float("sigma0", self.sigma0, 0.0, 1e3, lo_open=True)
        object.__setattr__(self, "n_values", check_sizes("n_values", self.n_values, 0, 1000, 2))
        if self.n_values[0] != 0:
            raise ValueError(f"n_values must start at 0 (the clean reference), got {self.n_values!r}")
        object.__setattr__(self, "T_values", check_sizes("T_values", self.T_values, 2, 10 ** 6, 4))
        check_float("de_rel_tol", self.de_rel_tol, 0.0, 1.0)
        _common(self)


# ============================================================================ tails
def _check_tail_common(cfg):
    _beta(cfg.beta)
    check_int("vocab", cfg.vocab, 2, BIG)
    object.__setattr__(cfg, "T_values", check_sizes("T_values", cfg.T_values, 1, BIG, 4))
    need = 10.0 * cfg.T_values[-1] ** (1.0 / cfg.beta)
    if cfg.vocab < need:
        raise ValueError(f"vocab must be >= 10·T_max^(1/beta) = {need:.0f} (V >> T^(1/β), else the slope "
                         f"drifts), got vocab = {cfg.vocab}")
    _common(cfg)


@dataclass(frozen=True)
class TailCutConfig:
    """`tails.cut`: Hutter model on T samples of Zipf(beta) cut at rank k (k_values; 0 = no cut), and of the
    narrowed law Zipf(beta_prime) (0 = skip), tested on Zipf(beta) over `vocab` tokens."""

    beta: float = 2.0
    vocab: int = 100_000
    k_values: tuple[int, ...] = (0, 4, 8, 16, 32, 64, 128, 256)
    beta_prime: float = 3.0
    T_values: tuple[int, ...] = tuple(2 ** k for k in range(4, 18))
    seeds: int = 32
    tolerance: float = 0.05

    def __post_init__(self):
        ks = _tuple(self.k_values)
        for k in ks:
            check_int("k_values", k, 0, BIG)
            if k != 0 and k < 1:
                raise ValueError(f"k must be >= 1 (0 = no cut), got {k}")
        if list(ks) != sorted(set(ks)) or sum(1 for k in ks if k > 0) < 4:
            raise ValueError(f"k_values must be increasing with >= 4 cuts >= 1 (0 = no cut), got {ks!r}")
        object.__setattr__(self, "k_values", tuple(int(k) for k in ks))
        _beta(self.beta)   # beta's own range first: beta_prime's bound below is relative to it
        if self.beta_prime != 0:
            check_float("beta_prime", self.beta_prime, self.beta, 20.0, lo_open=True)
        _check_tail_common(self)


@dataclass(frozen=True)
class TailMixConfig:
    """`tails.mix`: a fraction pi of clean Zipf(beta) samples mixed with samples of the law cut at rank k."""

    beta: float = 2.0
    vocab: int = 100_000
    k: int = 10
    pi_values: tuple[float, ...] = (0.0, 0.01, 0.1, 1.0)
    T_values: tuple[int, ...] = tuple(2 ** k for k in range(4, 18))
    seeds: int = 32
    tolerance: float = 0.05

    def __post_init__(self):
        check_int("k", self.k, 1, BIG)
        pis = _tuple(self.pi_values)
        for p in pis:
            check_float("pi_values", p, 0.0, 1.0)
        if list(pis) != sorted(set(pis)):
            raise ValueError(f"pi_values must be strictly increasing, got {pis!r}")
        object.__setattr__(self, "pi_values", tuple(float(p) for p in pis))
        _check_tail_common(self)


@dataclass(frozen=True)
class TailGenConfig:
    """`tails.generations`: each generation is the empirical law of T0 samples of the previous one (generation
    0 = Zipf(beta)); the Hutter model is trained on T samples of generation n, tested on Zipf(beta)."""

    beta: float = 2.0
    vocab: int = 100_000
    T0: int = 1000
    n_values: tuple[int, ...] = (0, 1, 2, 4, 8, 16)
    T_values: tuple[int, ...] = tuple(2 ** k for k in range(4, 18))
    seeds: int = 32
    tolerance: float = 0.05

    def __post_init__(self):
        check_int("T0", self.T0, 2, 20_000)
        object.__setattr__(self, "n_values", check_sizes("n_values", self.n_values, 0, 1000, 4))
        _check_tail_common(self)
