"""simulators.harness.controls: margins in SEs, the PASS/FAIL requirements, and the shifted-theory re-analysis
(the negative control of every e2e verdict test) on a cheap synthetic run whose answers are known by construction."""
import math

import pytest

from simulators.harness import controls, run_experiment

MOD = "simulators.synthetic"


def _row(measured, target, tol, lo, hi, passed, slope=None):
    return dict(quantity="q", measured_exponent=measured, theory_exponent=target, theory_window_slope=slope,
                tolerance=tol, ci95=(lo, hi), pass_=passed, **{"pass": passed})


def test_margin_is_tolerance_minus_error_over_the_ci_stderr():
    se = 0.02 / 1.96                                          # ci half-width 0.02
    r = _row(0.51, 0.5, 0.05, 0.49, 0.53, True)
    assert controls.stderr(r) == pytest.approx(se)
    assert controls.margin_se(r) == pytest.approx(0.04 / se)
    assert controls.margin_se(_row(0.6, 0.5, 0.05, 0.58, 0.62, False)) == pytest.approx(-0.05 / se)
    # the window slope, when given, is the target (not the asymptotic exponent)
    assert controls.margin_se(_row(0.6, 0.5, 0.05, 0.58, 0.62, True, slope=0.59)) == pytest.approx(0.04 / se)
    assert controls.margin_se(_row(0.5, 0.5, 0.05, 0.5, 0.5, True)) == math.inf


def test_requirements_check_the_verdict_and_the_margin():
    inside = _row(0.51, 0.5, 0.05, 0.50, 0.52, True)          # 0.04 / 0.0051 = 7.8 SE inside
    assert controls.require_pass(inside, 4) == pytest.approx(7.84, abs=0.01)
    with pytest.raises(AssertionError, match="PASS by >= 8"):
        controls.require_pass(inside, 8)
    with pytest.raises(AssertionError, match="expected FAIL"):
        controls.require_fail(inside, 0)
    lying = dict(inside, **{"pass": False})                   # a verdict that disagrees with its numbers
    with pytest.raises(AssertionError):
        controls.require_pass(lying, 0)
    outside = _row(0.6, 0.5, 0.05, 0.59, 0.61, False)
    assert controls.require_fail(outside, 4) == pytest.approx(0.05 / (0.02 / 3.92))
    with pytest.raises(AssertionError, match="2 rows match|0 rows match"):
        controls.row([inside, inside], "q")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    over = dict(seeds=16, n_sizes=12)
    return over, run_experiment("synthetic.power_law", scale="smoke", overrides=over,
                                out=tmp_path_factory.mktemp("ctl"), device="cpu")


@pytest.mark.parametrize("delta", [0.075, -0.075])
def test_shifted_row_moves_only_the_theory_and_fails(synth, delta):
    over, res = synth
    base = res.report["rows"][0]
    prefix = base["quantity"]
    controls.require_pass(base, 4)
    wrong = controls.shifted_row("synthetic.power_law", "smoke", over, res.records, MOD, prefix, delta)
    assert wrong["theory_exponent"] == pytest.approx(base["theory_exponent"] + delta)
    assert wrong["measured_exponent"] == pytest.approx(base["measured_exponent"])
    controls.require_fail(wrong, 3)                           # 1.5 tolerances: ≈ 15 SE at these sizes


def test_shifted_theory_restores_compare_even_on_error():
    import importlib

    mod = importlib.import_module(MOD)
    real = mod.compare
    with pytest.raises(RuntimeError):
        with controls.shifted_theory(MOD, "x", 0.1):
            assert mod.compare is not real
            raise RuntimeError
    assert mod.compare is real
