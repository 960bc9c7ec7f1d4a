"""Configuration of the superposition experiments (one validated frozen dataclass for all four).

Torch-free and numpy-free (the CLI constructs it to refuse bad input before importing torch); `theory`
re-exports `parse_law` and `LAW_KINDS` from here."""
from __future__ import annotations

from dataclasses import dataclass

WARMUP_RULES = ("toyscale", "exp10", "exp17")   # as model.WARMUP_RULES (tested equal; config stays torch-free)

GROUPINGS = ("by_m", "pad")

LAW_KINDS = ("power", "exp", "linear")


def parse_law(law: str) -> tuple[str, float]:
    """"power:1.2" -> ("power", 1.2); "exp:4" -> ("exp", 4.0); "linear" -> ("linear", nan).

    Raises ValueError naming the allowed forms."""
    kind, _, arg = str(law).partition(":")
    if kind not in LAW_KINDS:
        raise ValueError(f"law must be 'power:a', 'exp:k' (τ = n/k) or 'linear', got {law!r}")
    if kind == "linear":
        if arg:
            raise ValueError(f"law 'linear' takes no parameter, got {law!r}")
        return kind, float("nan")
    try:
        val = float(arg)
    except ValueError:
        raise ValueError(f"law {law!r}: parameter must be a number ('{kind}:<number>')") from None
    if kind == "power" and not (0.0 <= val <= 10.0):
        raise ValueError(f"law {law!r}: power exponent a must be in [0, 10], got {val}")
    if kind == "exp" and not (0.0 < val <= 1.0e4):
        raise ValueError(f"law {law!r}: exp parameter k (τ = n/k) must be in (0, 1e4], got {val}")
    return kind, val


@dataclass(frozen=True)
class SuperpositionConfig:
    """A sweep of toy models of superposition ([LLG25] Sec. 2).

    Attributes:
        n: number of features (N).
        widths: hidden widths m swept (each < n).
        gammas: decoupled weight decays γ (γ > 0 weak, γ < 0 strong superposition, 0 none).
        laws: feature-frequency laws, "power:a" | "exp:k" (τ = n/k) | "linear" (see theory.py).
        density: activation-density knob s in [0, 1] (0: one active feature per sample on average).
        batch: samples per step (B), fresh every step.
        steps: optimiser steps (warm-up by `warmup`, then cosine decay to 5% of peak).
        lr: "large_run" (lr_W = 0.02 (8/m)^{1/4}, lr_b = 2/m) or a number as text, e.g. "0.01".
        grouping: "by_m" (one parameter group per width) or "pad" (pad to max m with a column mask).
        fit_min_m: the fit window is m in [fit_min_m, max(widths)] (a fixed rule: the log-log curve is
            concave, capped near the no-representation loss at the smallest m).
        tolerance: allowed |measured − theory| of the exponent.
        log_points: loss snapshots along training stored per point (0: none).
        seeds: number of seeds (0 .. seeds − 1).
        warmup: warm-up rule (`model.lr_factor`): "toyscale" (min(10% of steps, 2000), toyscale's own),
            "exp10" (the authors' exp-10.py: 2000 steps, none when steps <= 2000) or "exp17" (exp-17.py: 5%).
        adam_eps: Adam's ε. The authors' exp-17.py multiplies the loss by 100 before the backward pass, which
            for Adam is ε = 1e-8 / 100 = 1e-10 (the `paper` presets of exp-17's runs use it).
    """

    n: int = 512
    widths: tuple = (4, 8, 16, 32, 64)
    gammas: tuple = (-1.0,)
    laws: tuple = ("power:1.2",)
    density: float = 0.0
    batch: int = 512
    steps: int = 3000
    lr: str = "large_run"
    grouping: str = "by_m"
    fit_min_m: int = 8
    tolerance: float = 0.1
    log_points: int = 4
    seeds: int = 3
    warmup: str = "toyscale"
    adam_eps: float = 1e-8

    def __post_init__(self):
        from simulators.harness import fieldcheck as fc

        if isinstance(self.laws, str):
            object.__setattr__(self, "laws", (self.laws,))
        fc.check_types(self)   # kinds, finiteness (e.g. widths=(4, 8.7) or (4, 1e999) are refused here)
        if not (8 <= self.n <= 1_000_000):
            raise ValueError(f"n must be in [8, 1e6], got {self.n}")
        ws = tuple(int(w) for w in self.widths)
        if len(ws) < 2 or any(w < 1 or w >= self.n for w in ws) or list(ws) != sorted(set(ws)):
            raise ValueError(f"widths must be >= 2 distinct increasing ints in [1, n-1] = [1, {self.n - 1}], "
                             f"got {self.widths}")
        object.__setattr__(self, "widths", ws)
        gs = tuple(float(g) for g in self.gammas)
        if not gs or any(not (-10.0 <= g <= 10.0) for g in gs):
            raise ValueError(f"gammas must be a non-empty tuple of values in [-10, 10], got {self.gammas}")
        object.__setattr__(self, "gammas", gs)
        laws = (self.laws,) if isinstance(self.laws, str) else tuple(self.laws)
        if not laws:
            raise ValueError("laws must name at least one frequency law")
        for law in laws:
            try:
                parse_law(law)
            except ValueError as e:
                raise ValueError(f"laws: {e}") from None
        object.__setattr__(self, "laws", laws)
        if not (0.0 <= self.density <= 1.0):
            raise ValueError(f"density must be in [0, 1], got {self.density}")
        if not (1 <= self.batch <= 1_000_000):
            raise ValueError(f"batch must be in [1, 1e6], got {self.batch}")
        if not (1 <= self.steps <= 10_000_000):
            raise ValueError(f"steps must be in [1, 1e7], got {self.steps}")
        if self.lr != "large_run":
            try:
                v = float(self.lr)
            except (TypeError, ValueError):
                raise ValueError(f"lr must be 'large_run' or a positive number, got {self.lr!r}") from None
            if not (0.0 < v <= 10.0):
                raise ValueError(f"lr must be 'large_run' or a number in (0, 10], got {self.lr!r}")
        if self.grouping not in GROUPINGS:
            raise ValueError(f"grouping must be one of {GROUPINGS}, got {self.grouping!r}")
        if sum(w >= self.fit_min_m for w in ws) < 2:
            raise ValueError(f"fit_min_m must leave >= 2 widths in the fit window, got {self.fit_min_m} "
                             f"with widths {ws}")
        if not (0.0 <= self.tolerance <= 5.0):
            raise ValueError(f"tolerance must be in [0, 5], got {self.tolerance}")
        if not (0 <= self.log_points <= 1000):
            raise ValueError(f"log_points must be in [0, 1000], got {self.log_points}")
        if not (1 <= self.seeds <= 1000):
            raise ValueError(f"seeds must be in [1, 1000], got {self.seeds}")
        if self.n * ws[-1] > 10 ** 9:   # resource bound (issue 15.4): W alone would be > 4 GB per model
            raise ValueError(f"widths must keep n x max(widths) <= 1e9 parameters per model, got {self.n} x {ws[-1]}")
        if self.batch * self.n > 2 * 10 ** 9:
            raise ValueError(f"batch must keep batch x n <= 2e9 inputs per step, got {self.batch} x {self.n}")
        if self.warmup not in WARMUP_RULES:
            raise ValueError(f"warmup must be one of {WARMUP_RULES}, got {self.warmup!r}")
        try:
            eps = float(self.adam_eps)
        except (TypeError, ValueError):
            eps = float("nan")
        if not (0.0 < eps <= 1e-3):
            raise ValueError(f"adam_eps must be a number in (0, 1e-3], got {self.adam_eps!r}")

    @property
    def lr_value(self):
        """The lr rule as `model.TrainSpec` takes it: "large_run" or a float."""
        return "large_run" if self.lr == "large_run" else float(self.lr)

    @property
    def window(self) -> tuple[float, float]:
        return float(self.fit_min_m), float(self.widths[-1])
