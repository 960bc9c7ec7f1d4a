"""End-to-end smoke runs through the harness: regimes are distinguished, exponents match theory within a
tolerance derived from the seed-bootstrap CI, and a wrong theory value is rejected (negative control)."""
import numpy as np
import pytest

from simulators.harness import run_experiment
from simulators.superposition import theory as T

SYSTEMATIC = 0.05   # declared finite-size allowance (n = 64, 150 steps) on top of the statistical part


def _tolerance(row) -> float:
    """3 × the half-width of the 95% seed-bootstrap CI, plus the declared systematic allowance."""
    lo, hi = row["ci95"]
    return 3.0 * (hi - lo) / 2.0 + SYSTEMATIC


@pytest.fixture(scope="module")
def phase_smoke(tmp_path_factory):
    return run_experiment("superposition.phase", "smoke", out=tmp_path_factory.mktemp("phase"), device="cpu")


@pytest.mark.slow
def test_smoke_run_distinguishes_the_regimes(phase_smoke):
    """Strong (γ = −1): all features represented; weak (γ = +1): about m of n (m/n = 0.25 at the largest m).
    (γ = +0.1 needs lr·γ·steps >> 1 to decay the unused rows: thousands of steps, not a smoke run.)"""
    cells = {(c["gamma"], c["law"]): c for c in phase_smoke.report["tables"]["phase"]}
    for law in ("power:1.2", "power:2.0"):
        strong, weak = cells[(-1.0, law)], cells[(1.0, law)]
        assert strong["frac_half"] >= 0.9, strong
        assert weak["frac_half"] <= 0.6, weak
        assert strong["frac_half"] - weak["frac_half"] >= 0.4


@pytest.fixture(scope="module")
def strong_smoke(tmp_path_factory):
    # 8 seeds: with 4 the seed-bootstrap CI is ~±0.1 and the ±0.5 negative control sits inside 3 CI half-widths
    # for some draws (issue 13's Philox streams: 1.178 [1.081, 1.275] at 4 seeds; the former streams gave
    # 0.993 / 1.083 / 1.109 at 4 / 8 / 16 seeds, the new 1.178 / 1.188 / 1.114: same smoke exponent ~1.1)
    return run_experiment("superposition.strong", "smoke", overrides={"seeds": 8},
                          out=tmp_path_factory.mktemp("strong"), device="cpu")


@pytest.mark.slow
def test_superposition_width_exponent_matches_theory(strong_smoke):
    row = strong_smoke.report["rows"][0]
    tol = _tolerance(row)
    assert tol < 0.5, f"CI too wide to test anything: {row['ci95']}"
    assert abs(row["measured_exponent"] - T.predicted_exponent_strong("power:1.2").value) <= tol, row


@pytest.mark.slow
def test_superposition_theory_rejects_wrong_exponent(strong_smoke):
    """Negative control: the weak-regime value a − 1 = 0.2 (and 1 ± 0.5) must fail on strong-regime data."""
    row = strong_smoke.report["rows"][0]
    tol = _tolerance(row)
    for wrong in (T.predicted_exponent_weak("power:1.2").value, 1.5, 0.5):
        assert abs(row["measured_exponent"] - wrong) > tol, (wrong, row)


@pytest.fixture(scope="module")
def weak_smoke(tmp_path_factory):
    # 32 seeds: the weak smoke fit (3 widths, n = 64) is noisy; at 4 seeds the CI half-width reached 0.36 with
    # issue 13's Philox streams (1.306 [0.948, 1.664]), which put the strong value 2 inside the tolerance;
    # measured: 8 seeds 1.449 [1.23, 1.67], 16 seeds 1.189 [0.98, 1.40], 32 seeds 1.151 [1.01, 1.30] (finite-n
    # curve slope 1.090); the former streams gave 1.249 [1.13, 1.43] at 4 seeds
    return run_experiment("superposition.weak", "smoke", overrides={"seeds": 32},
                          out=tmp_path_factory.mktemp("weak"), device="cpu")


@pytest.mark.slow
def test_weak_exponent_matches_finite_n_curve_and_rejects_strong_value(weak_smoke):
    row = weak_smoke.report["rows"][0]
    tol = _tolerance(row) + 0.05      # + partial-superposition allowance at n = 64 (see the weak README note)
    assert abs(row["measured_exponent"] - row["theory_window_slope"]) <= tol, row
    wrong = T.predicted_exponent_strong("power:2.0").value   # 2(a − 1) = 2
    assert abs(row["measured_exponent"] - wrong) > tol, row


def test_experiments_are_registered_with_all_scales():
    from simulators.harness import get_experiment

    for name in ("strong", "weak", "phase", "geometry"):
        exp = get_experiment(f"superposition.{name}")
        for scale in ("smoke", "default", "paper"):
            cfg = exp.config(scale)
            assert cfg.seeds >= 1 and len(exp.plan(cfg)) == len(cfg.laws)
    assert get_experiment("superposition.strong").config("paper").n == 10240
