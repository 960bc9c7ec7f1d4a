"""Simulation vs theory: a reduced lottery.silu sweep (the default recipe, 4 widths × 26 seeds) follows
N^-1 within a tolerance set by its seed-bootstrap CI; the approximation law N^-4 and a shifted exponent fail."""
import pytest

from simulators.harness.fit import fit_power_law
from simulators.harness.registry import RunContext, get_experiment
from simulators.lottery.experiments import TOLERANCE, _matrix
from simulators.harness.registry import Record


@pytest.fixture(scope="module")
def reduced_sweep():
    """~30 s on one idle core (~50 s loaded; compiled step); tests/conftest.py runs the suite on one torch thread.
    26 seeds: the fewest at which the nearest wrong exponent (½) sits at z >= 6 (see the negative control)."""
    return _sweep()


def _sweep():
    exp = get_experiment("lottery.silu")
    cfg = exp.config("default", {"widths": (8, 32, 128, 512), "seeds": 26, "n_checkpoints": 1, "n_test": 401})
    pts = exp.plan(cfg)[0]
    metrics = exp.run_batch(cfg, pts, RunContext())
    recs = [Record(key=str(i), point=p, metrics=m) for i, (p, m) in enumerate(zip(pts, metrics))]
    y = _matrix(cfg.widths, cfg.seeds, recs)
    return fit_power_law(cfg.widths, y, window="all", agg="mean_log")


def _tolerance(fit):
    """The issue's ±0.15 band widened by the half-width of the 95% bootstrap CI of this small sweep."""
    return TOLERANCE + 0.5 * (fit.ci95[1] - fit.ci95[0])


@pytest.mark.slow
def test_lottery_silu_width_exponent_matches_ensembling(reduced_sweep):
    fit = reduced_sweep
    assert abs(fit.exponent - 1.0) <= _tolerance(fit), (fit.exponent, fit.ci95)


@pytest.mark.slow
def test_lottery_silu_rejects_wrong_exponents(reduced_sweep):
    """Negative controls, each rejected by the same rule that accepts 1: the approximation law (4), the nearest
    plausible wrong exponents ½ (an RMSE read as an MSE) and 2 (an MSE read as an RMSE), and 1 shifted by 3
    tolerances. Stated power (measured, one run at 26 seeds): fit 1.158, 95% CI [1.025, 1.286] (se ≈ 0.067),
    tolerance 0.28; from the right exponent, ½ and 2 sit at z = 0.5/se ≈ 7.5 and 1/se ≈ 15, the approximation
    law at z ≈ 45. (At the former 8 seeds, se ≈ 0.15, ½ was only at z ≈ 3.3.)"""
    fit = reduced_sweep
    tol = _tolerance(fit)
    for wrong in (4.0, 0.5, 2.0, 1.0 + 3 * tol, 1.0 - 3 * tol):
        assert abs(fit.exponent - wrong) > tol, (wrong, fit.exponent, tol)
