"""The verdict rule of `compare` is pinned at its boundaries: PASS iff |measured − target| <= tolerance, with
target = theory_window_slope when given, else the asymptotic exponent; and `window_slope` / `auto_window`
follow their documented rules. Exact power laws make the measured exponent exact (to ~1e-13), so each
boundary is probed at ±1e-6 relative: any change of the multiplier, of the comparison or of the target is seen."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.harness.compare import Prediction, compare
from simulators.harness.fit import fit_power_law, window_slope
from simulators.harness.fit import auto_window, local_slopes

X = np.geomspace(10, 1e4, 8)
THEORY = settings(max_examples=max(100, settings.default.max_examples))


def _fit(m):
    return fit_power_law(X, np.stack([2 * X ** -m, 3 * X ** -m]), window="all", n_boot=50)


@given(m=st.floats(0.05, 3.0), d=st.floats(-1.0, 1.0), tol=st.floats(1e-3, 0.5))
@THEORY
def test_pass_iff_error_within_tolerance_without_window_slope(m, d, tol):
    fit = _fit(m)
    theory = m + d
    row = compare(fit, Prediction(theory), quantity="L", axis="x", tolerance=tol)
    assert row.theory_exponent == pytest.approx(theory) and row.theory_window_slope is None
    assert row.abs_error == pytest.approx(abs(d), abs=1e-9)
    if abs(abs(d) - tol) > 1e-6:
        assert row.passed == (abs(d) <= tol)


@pytest.mark.parametrize("tol", [0.01, 0.05, 0.2])
def test_boundary_of_the_tolerance(tol):
    """err = tol·(1 ∓ 1e-6): PASS, FAIL. Catches 2·tol, tol/2, < vs <=-with-slack, and the CI used instead."""
    fit = _fit(0.7)
    assert compare(fit, Prediction(0.7 + tol * (1 - 1e-6)), quantity="L", axis="x", tolerance=tol).passed
    assert not compare(fit, Prediction(0.7 + tol * (1 + 1e-6)), quantity="L", axis="x", tolerance=tol).passed
    assert compare(fit, Prediction(0.7 - tol * (1 - 1e-6)), quantity="L", axis="x", tolerance=tol).passed
    assert not compare(fit, Prediction(0.7 - tol * (1 + 1e-6)), quantity="L", axis="x", tolerance=tol).passed


@given(m=st.floats(0.05, 3.0), shift=st.floats(0.02, 0.5), tol=st.floats(0.005, 0.5))
@THEORY
def test_window_slope_is_the_target_when_given(m, shift, tol):
    """With a window slope w: the row passes iff |m − w| <= tol whatever the asymptotic value, abs_error is
    measured from w, and both numbers are recorded. Asymptote placed `shift` away, on either side."""
    fit = _fit(m)
    for w, asym in ((m + 0.5 * tol, m + shift), (m + 1.5 * tol, m), (m - 0.5 * tol, m - shift), (m - 1.5 * tol, m)):
        row = compare(fit, Prediction(asym), quantity="L", axis="x", tolerance=tol, theory_window_slope=w)
        assert row.passed == (abs(m - w) <= tol), (w, asym)
        assert row.abs_error == pytest.approx(abs(m - w), abs=1e-9)
        assert row.theory_window_slope == pytest.approx(w) and row.theory_exponent == pytest.approx(asym)


def test_window_slope_not_averaged_with_the_asymptote():
    """Misuse variants: target = mean(asymptote, window slope), or min/max of the two errors."""
    fit = _fit(1.0)
    row = compare(fit, Prediction(1.3), quantity="L", axis="x", tolerance=0.05, theory_window_slope=1.0)
    assert row.passed and row.abs_error == pytest.approx(0.0, abs=1e-9)
    row = compare(fit, Prediction(1.0), quantity="L", axis="x", tolerance=0.05, theory_window_slope=1.3)
    assert not row.passed and row.abs_error == pytest.approx(0.3)


def test_descriptive_row_and_bad_tolerance():
    fit = _fit(0.5)
    row = compare(fit, None, quantity="L", axis="x", tolerance=0.1)
    assert row.passed and row.theory_exponent is None and row.abs_error is None
    with pytest.raises(ValueError, match="tolerance"):
        compare(fit, Prediction(0.5), quantity="L", axis="x", tolerance=-0.1)
    j = compare(fit, Prediction(0.6), quantity="L", axis="x", tolerance=0.05).to_json()
    assert j["pass"] is False and j["abs_error"] == pytest.approx(0.1)


def test_window_slope_reads_only_the_window():
    """A broken power law: slope 1 below x = 100, 2 above; the window decides which one is read (independent of
    the fit code: exact two-piece curve)."""
    x = np.geomspace(1, 1e4, 33)
    c = np.where(x <= 100, x ** -1.0, 100.0 * x ** -2.0)
    assert window_slope(x, c, (1, 100)) == pytest.approx(1.0, abs=1e-9)
    assert window_slope(x, c, (100, 1e4)) == pytest.approx(2.0, abs=1e-9)
    assert 1.0 < window_slope(x, c, (1, 1e4)) < 2.0
    with pytest.raises(ValueError, match="fewer than 2"):
        window_slope(x, c, (2.0, 2.1))


def _curve_with_end_slopes(s_mid, s_end, n=12):
    """Curve on a geometric grid with every local slope s_mid except the last one, s_end."""
    x = np.geomspace(1, 1e3, n)
    s = np.full(n - 1, s_mid)
    s[-1] = s_end
    logc = -np.concatenate([[0.0], np.cumsum(s * np.diff(np.log(x)))])
    return x, np.exp(logc)


@pytest.mark.parametrize("s_mid, dev_kept, dev_cut", [(1.0, 0.29, 0.31), (2.0, 0.59, 0.61), (0.2, 0.099, 0.101),
                                                      (-0.5, 0.149, 0.151)])
def test_auto_window_threshold_is_max_of_30_percent_and_0_1(s_mid, dev_kept, dev_cut):
    """The documented rule max(0.3·|median|, 0.1): an end segment deviating by just under it is kept, just over
    it is trimmed (relative part at median 1 and 2 and −0.5 (growing curves use |median|), absolute floor at 0.2)."""
    x, c = _curve_with_end_slopes(s_mid, s_mid + dev_kept)
    assert local_slopes(x, c)[-1] == pytest.approx(s_mid + dev_kept)
    assert auto_window(x, c) == (0, len(x))
    x, c = _curve_with_end_slopes(s_mid, s_mid + dev_cut)
    assert auto_window(x, c) == (0, len(x) - 1)


def test_auto_window_keeps_min_points_and_trims_the_worse_end():
    x = np.geomspace(1, 1e3, 10)
    s = 1.5 ** np.arange(9)                 # local slopes 1.5^i: both ends deviate > 30% from the median, always
    c = np.exp(-np.concatenate([[0.0], np.cumsum(s * np.diff(np.log(x)))]))
    assert local_slopes(x, c) == pytest.approx(s)
    lo, hi = auto_window(x, c)
    assert hi - lo == 4
    x, c = _curve_with_end_slopes(1.0, 1.0)
    c[0] *= 5.0                                          # first segment steep (slope +~1.7 deviation): cut lo
    assert auto_window(x, c) == (1, len(x))


@pytest.mark.parametrize("lo, hi", [(0, 3), (2, 6), (5, 10)])
def test_window_slope_includes_both_bounds(lo, hi):
    """Both window bounds are inclusive (the fit window's recorded x values): on a curved log-log curve the
    slope over x[lo..hi−1] equals numpy's polyfit over exactly those points (dropping an end changes it)."""
    x = np.geomspace(1, 1e3, 10)
    c = np.exp(-np.log(x) ** 2 / 5)
    ref = -np.polyfit(np.log(x[lo:hi]), np.log(c[lo:hi]), 1)[0]
    assert window_slope(x, c, (x[lo], x[hi - 1])) == pytest.approx(ref, rel=1e-9)
    fit = fit_power_law(x, c, window=(x[lo], x[hi - 1]))
    assert fit.exponent == pytest.approx(ref, rel=1e-9) and fit.n_points == hi - lo
