"""Configs of the associative-memory experiments: frozen dataclasses validated in `__post_init__`.

`check_model` is the one validator of the model parameters (N tokens, Zipf exponent a, M labels, dimension
d), shared by the configs and by `theory.py`, so bad input is refused with the same message everywhere.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from simulators.harness import fieldcheck as fc

SCHEME_KINDS = ("seen", "freq", "pop", "threshold", "pop_threshold")   # as model.SCHEMES (config stays torch-free)


def check_scheme(s) -> None:
    """'seen' | 'threshold' | 'pop_threshold' | 'freq^ρ' | 'pop^ρ' with ρ finite in (0, 10]; else ConfigError naming schemes."""
    allowed = "a tuple of seen, threshold, pop_threshold, freq^ρ or pop^ρ (ρ a finite number in (0, 10])"
    if not isinstance(s, str):
        fc.fail("schemes", allowed, s)
    kind, sep, rho = s.partition("^")
    if kind not in SCHEME_KINDS or (sep and kind not in ("freq", "pop")):
        fc.fail("schemes", allowed, s)
    if sep:
        try:
            r = float(rho)
        except ValueError:
            fc.fail("schemes", allowed, s)
        if not (0 < r <= 10):   # also refuses nan and inf
            fc.fail("schemes", allowed, s)


def _tuple(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)


def check_model(*, N: int | None = None, a: float | None = None, M: int | None = None, d: int | None = None) -> None:
    """Raise ValueError naming the first bad model parameter: N >= M, a > 0, M >= 2, d >= 1 (all finite)."""
    if M is not None and (int(M) != M or M < 2):
        raise ValueError(f"M (number of labels) must be an integer >= 2, got {M}")
    if N is not None and (int(N) != N or N < 1):
        raise ValueError(f"N (number of tokens) must be an integer >= 1, got {N}")
    if N is not None and M is not None and N < M:
        raise ValueError(f"N (number of tokens) must be >= M (number of labels) so every label occurs, got N = {N} < M = {M}")
    if a is not None and not (math.isfinite(a) and a > 0):
        raise ValueError(f"a (Zipf exponent) must be a finite number > 0, got {a}")
    if d is not None and (int(d) != d or d < 1):
        raise ValueError(f"d (embedding dimension) must be an integer >= 1, got {d}")


def _check_common(cfg, sizes_field: str, sizes, lo: int, hi: int, a_lo: float = 0.0):
    fc.check_types(cfg)
    fc.integer("seeds", cfg.seeds, 1, 10_000)
    fc.ints(sizes_field, sizes, lo, hi, min_len=2)
    if hasattr(cfg, "a_values"):
        fc.floats("a_values", cfg.a_values, a_lo, 20, lo_open=True, max_len=100,
                  note="(Zipf exponents" + (", > 1 for a T-law)" if a_lo else ")"))
    fc.num("tolerance", cfg.tolerance, 0, 1)


@dataclass(frozen=True)
class DataConfig:
    """`memory.data`: error vs T for store-if-seen memories, at d = ∞ (exact law) and at a large finite d.

    Attributes:
        a_values: Zipf exponents (each > 1 for a T-law).
        N: tokens at d = ∞ (keep N >> T_max^(1/a)); N_finite: tokens of the finite-d memories (N·d embeddings).
        M: labels; T_values: sample sizes; T_max_finite: largest T run at finite d (its N·d cost is fixed,
            but the number of seen tokens, ≈ T^(1/a), must stay << d).
        d_finite: the finite dimension (0 skips the finite-d part); seeds: trials per point.
        tolerance: |measured − theory| allowed for a pass (exponent units).
    """

    a_values: tuple[float, ...] = (1.5, 2.0, 3.0)
    N: int = 100_000
    N_finite: int = 4000
    M: int = 5
    T_values: tuple[int, ...] = tuple(2 ** k for k in range(4, 19))
    T_max_finite: int = 2 ** 14
    d_finite: int = 2048
    seeds: int = 10
    tolerance: float = 0.07

    def __post_init__(self):
        object.__setattr__(self, "a_values", _tuple(self.a_values))
        object.__setattr__(self, "T_values", _tuple(self.T_values))
        _check_common(self, "T_values", self.T_values, 1, 10 ** 9, a_lo=1.0)
        fc.integer("M", self.M, 2, 10 ** 6)
        fc.integer("N", self.N, self.M, 10 ** 8, note="(>= M)")
        fc.integer("N_finite", self.N_finite, self.M, 10 ** 7, note="(>= M)")
        fc.integer("d_finite", self.d_finite, 0, 10 ** 6, note="(0 skips the finite-d part)")
        fc.integer("T_max_finite", self.T_max_finite, 1, 10 ** 9)

    def T_finite(self) -> tuple[int, ...]:
        return tuple(T for T in self.T_values if T <= self.T_max_finite) if self.d_finite else ()


DIM_SCHEMES = ("pop^1", "pop^0.5", "pop_threshold", "freq^1", "seen")


@dataclass(frozen=True)
class DimConfig:
    """`memory.dim`: error vs d for each memory scheme.

    Attributes:
        a_values: Zipf exponents; N: tokens; M: labels; d_values: dimensions.
        schemes: memory schemes (see `model.memory_weights`): population ones (T = ∞) and sampled ones
            ('freq^ρ', 'threshold', 'seen') built from T samples.
        T: samples for the sampled schemes; c: threshold constant (P = ⌊d/c⌋ stored tokens).
        seeds: trials per point; tolerance: pass band (exponent units).
    """

    a_values: tuple[float, ...] = (2.0, 1.5)
    N: int = 4000
    M: int = 5
    d_values: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024, 2048)
    schemes: tuple[str, ...] = DIM_SCHEMES
    T: int = 2 ** 14
    c: float = 8.0
    seeds: int = 10
    tolerance: float = 0.07

    def __post_init__(self):
        object.__setattr__(self, "a_values", _tuple(self.a_values))
        object.__setattr__(self, "d_values", _tuple(self.d_values))
        object.__setattr__(self, "schemes", _tuple(self.schemes))
        _check_common(self, "d_values", self.d_values, 1, 10 ** 6)
        fc.integer("M", self.M, 2, 10 ** 6)
        fc.integer("N", self.N, self.M, 10 ** 8, note="(>= M)")
        if not self.schemes or len(set(self.schemes)) != len(self.schemes):
            fc.fail("schemes", "a non-empty tuple of distinct schemes", self.schemes)
        for s in self.schemes:
            check_scheme(s)
        fc.integer("T", self.T, 1, 10 ** 10)
        fc.num("c", self.c, 0, 1e6, lo_open=True, note="(threshold constant, P = d/c)")


LEARNED_METHODS = ("sgd_small_lr", "sign_adam", "sgd_large_lr")


@dataclass(frozen=True)
class LearnedConfig:
    """`memory.learned`: W trained by one pass of SGD (small lr, large batch) or sign-Adam, error vs d.

    Attributes:
        a_values: Zipf exponents; N, M: tokens and labels.
        d_values: dimensions of sign-Adam and large-lr SGD (dense W, cost B·d² per step);
        sgd_d_values: dimensions of small-lr SGD (coefficient form, cost N·d·M per step).
        methods: subset of LEARNED_METHODS. T: samples in the one pass.
        sgd_batch, sgd_gamma: small-lr large-batch SGD (lr = γ);
        adam_batch, adam_gamma: Adam with betas = (0, 0), i.e. sign descent (lr = γ/d);
        large_lr_batch, large_lr_gamma: large-lr small-batch SGD (lr = γ);
        normalize: LN(h) = h/‖h‖ before the unembedding; seeds, tolerance as elsewhere.
    """

    a_values: tuple[float, ...] = (2.0,)
    N: int = 2000
    M: int = 5
    d_values: tuple[int, ...] = (8, 16, 32, 64, 128)
    sgd_d_values: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)
    T: int = 2 ** 18
    sgd_batch: int = 4096
    sgd_gamma: float = 0.1
    adam_batch: int = 256
    adam_gamma: float = 1.0
    large_lr_batch: int = 64
    large_lr_gamma: float = 3.0
    methods: tuple[str, ...] = ("sgd_small_lr", "sign_adam", "sgd_large_lr")
    normalize: bool = False
    seeds: int = 10
    tolerance: float = 0.07

    def __post_init__(self):
        object.__setattr__(self, "a_values", _tuple(self.a_values))
        object.__setattr__(self, "d_values", _tuple(self.d_values))
        object.__setattr__(self, "sgd_d_values", _tuple(self.sgd_d_values))
        object.__setattr__(self, "methods", _tuple(self.methods))
        _check_common(self, "d_values", self.d_values, 1, 4096)
        _check_common(self, "sgd_d_values", self.sgd_d_values, 1, 8192)
        fc.integer("M", self.M, 2, 10 ** 6)
        fc.integer("N", self.N, self.M, 10 ** 8, note="(>= M)")
        fc.integer("T", self.T, 1, 10 ** 10)
        bad = [m for m in self.methods if m not in LEARNED_METHODS]
        if bad or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {LEARNED_METHODS}, got {self.methods}")
        for name in ("T", "sgd_batch", "adam_batch", "large_lr_batch"):
            v = getattr(self, name)
            if int(v) != v or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v}")
        if max(self.sgd_batch, self.adam_batch, self.large_lr_batch) > self.T:
            raise ValueError(f"batches must be <= T = {self.T}, got sgd_batch={self.sgd_batch}, "
                             f"adam_batch={self.adam_batch}, large_lr_batch={self.large_lr_batch}")
        for name in ("sgd_batch", "adam_batch", "large_lr_batch"):
            fc.integer(name, getattr(self, name), 1, 10 ** 7)
        for name in ("sgd_gamma", "adam_gamma", "large_lr_gamma"):
            fc.num(name, getattr(self, name), 0, 100, lo_open=True)


@dataclass(frozen=True)
class HopfieldConfig:
    """`memory.hopfield`: classical capacity transition, and the dense-memory capacity exponent.

    Attributes:
        N_classic: neurons of the classical network; loads: P/N values swept; max_sweeps: synchronous
            sign-dynamics sweeps (stops earlier at a fixed point).
        ks: dense-memory powers F(z) = z^k (k >= 2); N_dense: neuron counts for the capacity law;
        bit_error: one-step bit-error rate that defines the capacity P_c(N); p_factors: the P grid at each N,
            as multiples of the one-step signal-to-noise estimate (the crossing is measured, not assumed);
        probes: stored patterns probed per trial; seeds, tolerance as elsewhere.
        overlap_threshold: the classical transition load α_c is where the final overlap crosses this value;
        alpha_tolerance: allowed |α_c − 0.138| (a finite-N allowance, not an exponent tolerance).
    """

    N_classic: int = 1000
    loads: tuple[float, ...] = (0.06, 0.08, 0.10, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16, 0.18, 0.20, 0.25)
    max_sweeps: int = 60
    ks: tuple[int, ...] = (2, 3)
    N_dense: tuple[int, ...] = (32, 48, 64, 96, 128)
    bit_error: float = 0.05
    p_factors: tuple[float, ...] = (0.5, 0.7, 1.0, 1.4, 2.0)
    probes: int = 4
    seeds: int = 10
    overlap_threshold: float = 0.95
    tolerance: float = 0.07
    alpha_tolerance: float = 0.015

    def __post_init__(self):
        for name in ("loads", "ks", "N_dense", "p_factors"):
            object.__setattr__(self, name, _tuple(getattr(self, name)))
        _check_common(self, "N_dense", self.N_dense, 8, 10 ** 5)
        fc.integer("N_classic", self.N_classic, 10, 50_000, note="(its N x N couplings and P = load x N patterns)")
        fc.floats("loads", self.loads, 0, 1, lo_open=True, hi_open=True, increasing=True, min_len=2)
        fc.ints("ks", self.ks, 2, 20, min_len=1, max_len=20)
        fc.floats("p_factors", self.p_factors, 0, 1e3, lo_open=True, increasing=True, min_len=2)
        fc.integer("probes", self.probes, 1, 10_000)
        fc.integer("max_sweeps", self.max_sweeps, 1, 10_000)
        if not 0 < self.overlap_threshold < 1:
            raise ValueError(f"overlap_threshold must be in (0, 1), got {self.overlap_threshold}")
        if not 0 < self.alpha_tolerance < 1:
            raise ValueError(f"alpha_tolerance must be in (0, 1), got {self.alpha_tolerance}")
        if not 0 < self.bit_error < 0.5:
            raise ValueError(f"bit_error must be in (0, 0.5), got {self.bit_error}")
        if not self.p_factors or any(f <= 0 for f in self.p_factors) or list(self.p_factors) != sorted(set(self.p_factors)):
            raise ValueError(f"p_factors must be strictly increasing positive values, got {self.p_factors}")
        if int(self.probes) != self.probes or self.probes < 1:
            raise ValueError(f"probes must be an integer >= 1, got {self.probes}")
        if int(self.max_sweeps) != self.max_sweeps or self.max_sweeps < 1:
            raise ValueError(f"max_sweeps must be an integer >= 1, got {self.max_sweeps}")
