"""`synthetic.power_law`: a known power law plus noise, registered like a real model.

L(x) = A·x^(−a)·exp(σ·ε) + L∞ with ε ~ N(0, 1) drawn per (seed, size) from the per-instance RNG.
The "theory" is the generator's own exponent a and its noise-free curve A·x^(−a) + L∞; the measured
exponent is fitted from the noisy samples (with the auto window, which must trim an L∞ plateau).
It exercises every harness stage end to end (store, resume, fit, compare, report) in well under a second.
"""
from __future__ import annotations

import numpy as np
import torch

from . import _rng
from ._batch import ROLE_NOISE
from .harness.compare import Prediction, compare
from .harness.fit import fit_power_law, window_slope
from .harness.registry import Analysis, Experiment, register
from .synthetic_config import SyntheticConfig  # torch-free: the CLI validates it without importing torch


def theory_curve(cfg: SyntheticConfig, x) -> np.ndarray:
    return cfg.prefactor * np.asarray(x, float) ** (-cfg.exponent) + cfg.floor


def plan(cfg: SyntheticConfig) -> list[list[dict]]:
    """One batch per seed (all sizes of a seed are one vectorised draw)."""
    return [[{"x": float(x), "i": i, "seed": s} for i, x in enumerate(cfg.sizes())] for s in range(cfg.seeds)]


def run_batch(cfg: SyntheticConfig, points, ctx) -> list[dict]:
    """ε for point (seed, i) is the first normal of its own Philox stream (seed, ROLE_NOISE, i), all points in
    one call (`simulators._rng`): batch-independent."""
    x = np.array([p["x"] for p in points])
    eps = _rng.normal([p["seed"] for p in points], ROLE_NOISE, (), keys=[(p["i"],) for p in points],
                      dtype=torch.float64).numpy()
    loss = cfg.prefactor * x ** (-cfg.exponent) * np.exp(cfg.noise * eps) + cfg.floor
    return [{"loss": float(v)} for v in loss]


def instance_bytes(cfg: SyntheticConfig) -> int:
    """Bytes of one point: its noise draw (the Philox key and counter words, a few int64 per point) and its
    float64 values; measured within 2x in tests/test_instance_bytes.py."""
    return 256


def analyze(cfg: SyntheticConfig, records) -> Analysis:
    x = cfg.sizes()
    y = np.full((cfg.seeds, len(x)), np.nan)
    for r in records:
        y[r.point["seed"], r.point["i"]] = r.metrics["loss"]
    fit = fit_power_law(x, y, window=cfg.window)
    curve = theory_curve(cfg, x)
    pred = Prediction(cfg.exponent, regime="pure power law" if cfg.floor == 0 else "power law + plateau",
                      assumptions=("multiplicative log-normal noise",),
                      reference="synthetic generator L = A x^-a e^(σε) + L∞")
    row = compare(fit, pred, quantity="loss", axis="x", tolerance=cfg.tolerance,
                  theory_window_slope=window_slope(x, curve, fit.window), theory_curve=(x, curve))
    return Analysis(rows=[row], notes=[f"fit window rule: {fit.window_rule}; kept x in "
                                       f"[{fit.window[0]:.3g}, {fit.window[1]:.3g}] ({fit.n_points} of {len(x)} sizes)"])


EXPERIMENT = register(Experiment(
    name="synthetic.power_law",
    description="known power law L = A x^-a e^(σε) + L∞; checks the harness recovers a",
    config_cls=SyntheticConfig,
    scales={"smoke": {"n_sizes": 8, "seeds": 4}, "default": {"n_sizes": 16, "seeds": 16},
            "paper": {"n_sizes": 32, "seeds": 64}},
    plan=plan, run_batch=run_batch, analyze=analyze,
    predictions="exponent = the generator's a (default 0.5)",
    instance_bytes=instance_bytes,
))
