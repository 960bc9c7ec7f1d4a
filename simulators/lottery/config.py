"""Configuration of the lottery-ticket-ensemble model (Liu & Tegmark 2023): width-N two-layer nets on 1-D targets.

One frozen dataclass holds the model (activation, target, interval, grids) and the training recipe
(optimiser, learning rate, schedule, steps, betas, initialisation scale). Precision is the run's dtype
(`RunContext.dtype`, `--dtype`), except in `lottery.recipe`, which sweeps it as a recipe axis.
Torch-free: the CLI constructs it to refuse bad input before importing torch (`TARGETS`, the torch
functions, is built on first access).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

ACTIVATIONS = ("silu", "tanh", "gelu", "relu")
OPTIMIZERS = ("adam", "lbfgs")
SCHEDULES = ("cosine", "constant")
PRECISIONS = ("float32", "float64")

# 1-D targets y = g(x). "abs" is not twice differentiable at 0 (theory.py refuses it for N^(-4/d)).
TARGET_NAMES = ("x2", "x3", "sin", "exp", "abs")


def _targets() -> dict:
    """{name: g} on tensors (imports torch: the model's, not validation's)."""
    import torch

    return {"x2": lambda x: x * x, "x3": lambda x: x * x * x, "sin": torch.sin, "exp": torch.exp, "abs": torch.abs}


def __getattr__(name):   # PEP 562: `TARGETS` (the torch functions) is built on first use, so this module stays torch-free
    if name == "TARGETS":
        targets = _targets()
        assert tuple(targets) == TARGET_NAMES
        globals()["TARGETS"] = targets
        return targets
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

DEFAULT_WIDTHS = (8, 16, 32, 64, 128, 256, 512, 1024)


def _tuple(v):
    return tuple(v) if isinstance(v, (list, tuple)) else v


@dataclass(frozen=True)
class LotteryConfig:
    """Width sweep of f(x) = Σ_i v_i σ(w_i x + b_i) + c fitted to y = g(x) by full-batch training.

    Attributes:
        widths: widths N swept (each >= 1, strictly increasing).
        seeds: random initialisations per width (seeds 0 .. seeds-1), in [1, 100000].
        activation: σ, one of ACTIVATIONS.
        target: g, one of TARGET_NAMES.
        interval: (lo, hi) with lo < hi: the training and test interval.
        n_train: P, training grid points (linspace(lo, hi, P)), in [2, 100000].
        n_test: test points on the offset grid lo + (k + 1/2)(hi − lo)/n_test, in [2, 1000000].
        optimizer: "adam" (full batch, batched over all nets) or "lbfgs" (per net, strong-Wolfe).
        lr: peak learning rate, in (0, 10].
        schedule: "cosine" (decay to 0 at `steps`) or "constant", after `warmup_steps` of linear warm-up.
        steps: optimiser steps (L-BFGS: iterations), in [1, 10^7].
        beta1, beta2: Adam's betas, in [0, 1).
        init_scale: multiplier on PyTorch's default nn.Linear init (U(±1/√fan_in) for weights and biases).
        n_checkpoints: geometric step checkpoints (plus the last step) at which test MSE is recorded.
        ticket_tol: tolerance of the mirror/duplicate pair detector, in units of each parameter's spread.
    """

    widths: tuple[int, ...] = DEFAULT_WIDTHS
    seeds: int = 16
    activation: str = "silu"
    target: str = "x2"
    interval: tuple[float, float] = (-2.0, 2.0)
    n_train: int = 128
    n_test: int = 1001
    optimizer: str = "adam"
    lr: float = 3e-3
    schedule: str = "cosine"
    warmup_steps: int = 0
    steps: int = 5000
    beta1: float = 0.9
    beta2: float = 0.999
    init_scale: float = 1.0
    n_checkpoints: int = 10
    ticket_tol: float = 0.05

    def __post_init__(self):
        for f in fields(self):  # lists from JSON / the CLI become tuples, so the config stays hashable
            object.__setattr__(self, f.name, _tuple(getattr(self, f.name)))
        from simulators.harness.fieldcheck import check_types

        try:
            _validate_common(self)
        except TypeError:      # a value of the wrong kind: say which field
            check_types(self)
            raise
        check_types(self)      # kinds and finiteness of every field (RecipeConfig's too), naming the field

    def recipe(self) -> dict:
        """The training recipe as a flat dict (recorded in every report)."""
        return {k: getattr(self, k) for k in ("optimizer", "lr", "schedule", "warmup_steps", "steps", "beta1",
                                              "beta2", "init_scale", "n_train", "interval", "activation", "target")}


def _check(cond: bool, msg: str):
    if not cond:
        raise ValueError(msg)


def _validate_common(c) -> None:
    w = c.widths
    _check(isinstance(w, tuple) and len(w) >= 1 and all(isinstance(n, int) and not isinstance(n, bool) for n in w),
           f"widths must be a non-empty tuple of ints >= 1, got {w!r}")
    _check(all(n >= 1 for n in w), f"widths must be >= 1 (width N is the number of hidden neurons), got {w!r}")
    _check(all(a < b for a, b in zip(w, w[1:])), f"widths must be strictly increasing, got {w!r}")
    _check(max(w) <= 1_000_000, f"widths must be <= 1000000, got max {max(w)}")
    _check(isinstance(c.seeds, int) and 1 <= c.seeds <= 100_000, f"seeds must be an int in [1, 100000], got {c.seeds!r}")
    _check(c.activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}, got {c.activation!r}")
    _check(c.target in TARGET_NAMES, f"target must be one of {TARGET_NAMES}, got {c.target!r}")
    iv = c.interval
    _check(isinstance(iv, tuple) and len(iv) == 2 and all(isinstance(v, (int, float)) for v in iv)
           and all(math.isfinite(v) for v in iv),
           f"interval must be two finite numbers (lo, hi), got {iv!r}")
    _check(iv[0] < iv[1], f"interval must be non-empty (lo < hi), got {iv!r}")
    _check(isinstance(c.n_train, int) and 2 <= c.n_train <= 100_000, f"n_train must be an int in [2, 100000], got {c.n_train!r}")
    _check(isinstance(c.n_test, int) and 2 <= c.n_test <= 1_000_000, f"n_test must be an int in [2, 1000000], got {c.n_test!r}")
    _check(c.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {c.optimizer!r}")
    _check(isinstance(c.lr, (int, float)) and 0 < c.lr <= 10, f"lr must be in (0, 10], got {c.lr!r}")
    _check(c.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {c.schedule!r}")
    _check(isinstance(c.steps, int) and 1 <= c.steps <= 10_000_000, f"steps must be an int in [1, 10^7], got {c.steps!r}")
    _check(isinstance(c.warmup_steps, int) and 0 <= c.warmup_steps < c.steps,
           f"warmup_steps must be an int in [0, steps), got {c.warmup_steps!r}")
    _check(0 <= c.beta1 < 1, f"beta1 must be in [0, 1), got {c.beta1!r}")
    _check(0 <= c.beta2 < 1, f"beta2 must be in [0, 1), got {c.beta2!r}")
    _check(0 < c.init_scale <= 100, f"init_scale must be in (0, 100], got {c.init_scale!r}")
    _check(isinstance(c.n_checkpoints, int) and 1 <= c.n_checkpoints <= 100,
           f"n_checkpoints must be an int in [1, 100], got {c.n_checkpoints!r}")
    _check(0 < c.ticket_tol < 1, f"ticket_tol must be in (0, 1), got {c.ticket_tol!r}")
    _check(all(abs(v) <= 1e6 for v in iv), f"interval must lie within [-1e6, 1e6], got {iv!r}")
    work = max(w) * (c.n_train + c.n_test)
    _check(work <= 2 * 10 ** 9, f"widths x (n_train + n_test) must be <= 2e9 per network (one pass over the grids "
           f"holds that many activations), got {max(w)} x {c.n_train + c.n_test} = {work:.3g}")
    _check(c.seeds * sum(w) <= 2 * 10 ** 8, f"seeds x sum(widths) must be <= 2e8 hidden units over all networks "
           f"(~10 floats each of parameters and Adam state, held at once), got {c.seeds} x {sum(w)}")


@dataclass(frozen=True)
class RecipeConfig(LotteryConfig):
    """`lottery.recipe`: the base recipe of LotteryConfig, varied one axis at a time.

    Attributes (besides LotteryConfig's, which fix the base recipe):
        lrs: peak learning rates tried with the base schedule and steps.
        step_budgets: total step counts tried with the base lr (cosine restarts from scratch for each).
        schedules: schedules tried with the base lr and steps.
        precisions: dtypes tried with the base recipe ("float32", "float64").
        lbfgs_widths: widths trained with L-BFGS in float64 (per-net loop; empty to skip).
        lbfgs_seeds: seeds per width for L-BFGS, lbfgs_steps: its iterations.
    """

    lrs: tuple[float, ...] = (1e-3, 3e-3, 1e-2)
    step_budgets: tuple[int, ...] = (1000, 5000)
    schedules: tuple[str, ...] = ("cosine", "constant")
    precisions: tuple[str, ...] = ("float32", "float64")
    lbfgs_widths: tuple[int, ...] = (8, 32, 128)
    lbfgs_seeds: int = 2
    lbfgs_steps: int = 200

    def __post_init__(self):
        super().__post_init__()
        _check(all(isinstance(v, (int, float)) and 0 < v <= 10 for v in self.lrs), f"lrs must be in (0, 10], got {self.lrs!r}")
        _check(all(isinstance(v, int) and 1 <= v <= 10_000_000 for v in self.step_budgets),
               f"step_budgets must be ints in [1, 10^7], got {self.step_budgets!r}")
        _check(all(s in SCHEDULES for s in self.schedules), f"schedules must be in {SCHEDULES}, got {self.schedules!r}")
        _check(all(p in PRECISIONS for p in self.precisions), f"precisions must be in {PRECISIONS}, got {self.precisions!r}")
        _check(all(isinstance(n, int) and n >= 1 for n in self.lbfgs_widths),
               f"lbfgs_widths must be ints >= 1 (width N), got {self.lbfgs_widths!r}")
        _check(isinstance(self.lbfgs_seeds, int) and 1 <= self.lbfgs_seeds <= 1000,
               f"lbfgs_seeds must be an int in [1, 1000], got {self.lbfgs_seeds!r}")
        _check(isinstance(self.lbfgs_steps, int) and 1 <= self.lbfgs_steps <= 100_000,
               f"lbfgs_steps must be an int in [1, 100000], got {self.lbfgs_steps!r}")
