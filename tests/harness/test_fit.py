"""fit_power_law / fit_saturating / window_slope on synthetic power laws with known exponents."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.harness import fit_power_law, fit_saturating, window_slope
from simulators.harness.fit import auto_window


def noisy_power_law(a, A, sigma, S, x, rng, floor=0.0):
    return A * x[None, :] ** (-a) * np.exp(sigma * rng.standard_normal((S, len(x)))) + floor


@given(a=st.floats(0.1, 3.0), logA=st.floats(-5, 5), sigma=st.floats(0.01, 0.3), seed=st.integers(0, 2**31))
def test_fit_recovers_exponent(a, logA, sigma, seed):
    x = np.geomspace(10, 1e4, 12)
    y = noisy_power_law(a, np.exp(logA), sigma, 8, x, np.random.default_rng(seed))
    fit = fit_power_law(x, y, window="all", n_boot=300)
    # 6 bootstrap sd is far outside the CI for any honest estimator, but catches a biased one.
    assert abs(fit.exponent - a) < 6 * fit.stderr + 1e-9
    assert fit.ci95[0] < fit.exponent < fit.ci95[1]
    assert fit.prefactor == pytest.approx(np.exp(logA), rel=0.5)


# The CI level, the resampling unit and the verdict rule are pinned (with stated power) in test_stats_ci.py and
# test_verdict.py; the former 200-repeat coverage test here (accepting 0.88-0.99) could not tell 90% from 95%,
# and its negative control sat 3 tolerances away.


def test_auto_window_trims_plateau_and_transient():
    x = np.geomspace(1, 1e5, 26)
    core = x ** -1.0
    curve = core * (1 + 30.0 / x ** 2) + 1e-4   # steep transient at small x, plateau at large x
    lo, hi = auto_window(x, curve)
    assert x[lo] > 3 and x[hi - 1] < 5e3   # the floor equals the power law at x = 1e4
    fit = fit_power_law(x, curve[None, :], window="auto")
    assert abs(fit.exponent - 1.0) < 0.1
    assert fit.window == (x[lo], x[hi - 1]) and fit.window_rule.startswith("auto")
    full = fit_power_law(x, curve[None, :], window="all")   # transient and plateau bend a full fit
    assert full.residual_rms > 10 * fit.residual_rms


def test_explicit_and_decade_windows():
    x = np.geomspace(1, 1e4, 9)
    y = x ** -0.3
    f = fit_power_law(x, y, window=(10, 1e3))
    assert f.window == (10, 1e3) and f.n_points == 5 and f.exponent == pytest.approx(0.3)
    g = fit_power_law(x, y, window="last_decades:2")
    assert g.window == (100, 1e4)
    with pytest.raises(ValueError, match="window"):
        fit_power_law(x, y, window=(2, 2.5))


@given(a=st.floats(0.05, 4), c=st.floats(1e-6, 1e6))
def test_exponent_is_scale_invariant(a, c):
    x = np.geomspace(1, 1e3, 8)
    assert window_slope(x, c * x ** -a, (1, 1e3)) == pytest.approx(a, rel=1e-9, abs=1e-9)
    f1 = fit_power_law(x, x ** -a, window="all")
    f2 = fit_power_law(x, c * x ** -a, window="all")
    assert f1.exponent == pytest.approx(f2.exponent, abs=1e-9)


def test_median_and_mean_aggregates():
    x = np.geomspace(1, 100, 5)
    y = np.stack([x ** -1.0, 2 * x ** -1.0, 100 * x ** -1.0])
    assert fit_power_law(x, y, agg="median", window="all").prefactor == pytest.approx(2.0)
    assert fit_power_law(x, y, agg="mean_log", window="all").exponent == pytest.approx(1.0)


@given(a=st.floats(0.3, 2.0), E=st.floats(1e-4, 1e-2))
@settings(max_examples=10)
def test_saturating_fit_recovers_offset_and_exponent(a, E):
    x = np.geomspace(1, 1e5, 30)
    fit = fit_saturating(x, x ** -a + E)
    assert fit.exponent == pytest.approx(a, rel=0.05)
    assert fit.offset == pytest.approx(E, rel=0.1)


def test_bad_inputs():
    with pytest.raises(ValueError, match="strictly increasing"):
        fit_power_law([1, 1, 2], [1, 1, 1])
    with pytest.raises(ValueError, match=r"y must be \[S, X\]"):
        fit_power_law([1, 2, 3], np.ones((2, 4)))
