"""Theory of the associative-memory family: properties (hypothesis), regimes, and the exact T-law vs Monte Carlo."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simulators.associative_memory import theory
from simulators.associative_memory.config import DataConfig, DimConfig, check_model
from simulators.associative_memory.model import error_infinite_capacity, sample_counts, zipf_probs

zipf_a = st.floats(1.05, 4.0)
sizes_N = st.integers(5, 3000)


@given(a=zipf_a, N=sizes_N, T1=st.integers(0, 10 ** 5), dT=st.integers(1, 10 ** 5))
def test_infinite_capacity_error_decreases_in_T_and_is_a_probability(a, N, T1, dT):
    e1, e2 = theory.expected_error_infinite_capacity(N, a, [T1, T1 + dT])
    assert 0 <= e2 < e1 <= 1 + 1e-12
    assert theory.expected_error_infinite_capacity(N, a, 0) == pytest.approx(1.0)


@given(a=st.floats(1.5, 3.0))
def test_exact_T_law_approaches_its_asymptote_and_exponent(a):
    T = np.array([1e5, 2e5])
    exact = theory.expected_error_infinite_capacity(10 ** 6, a, T)
    asym = theory.asymptotic_error_infinite_capacity(a, T)
    slope = -np.diff(np.log(exact))[0] / np.log(2)
    assert slope == pytest.approx(theory.predicted_exponent_data(a), abs=0.03)
    assert exact[0] / asym[0] == pytest.approx(1.0, rel=0.15)


@given(a=zipf_a, rho=st.floats(0.2, 3.0))
def test_power_scheme_exponent_formula_and_limits(a, rho):
    if 2 * rho * a <= 1:
        with pytest.raises(ValueError, match="2ρa > 1"):
            theory.predicted_exponent_dim(a, "power", rho)
        return
    e = theory.predicted_exponent_dim(a, "power", rho)
    assert e == pytest.approx((a - 1) / (2 * rho * a))
    assert 0 < e < theory.predicted_exponent_dim(a, "threshold") or rho < 0.5


@given(a=st.floats(1.3, 3.0), N=st.integers(200, 1500), M=st.integers(2, 8), d=st.integers(16, 512))
def test_interference_error_decreases_with_d_and_threshold_beats_frequency(a, N, M, d):
    """Monotone in d (more dimensions, less interference) for q = p and thresholding; thresholding is the
    better scheme at equal d once P = d/8 > 1 (C23 Thm. 3 vs Thm. 2)."""
    e_pow = theory.predicted_error_dim_curve(N, a, M, [d, 4 * d], "power")
    e_thr = theory.predicted_error_dim_curve(N, a, M, [d, 4 * d], "threshold")
    assert e_pow[1] <= e_pow[0] + 1e-9 and e_thr[1] <= e_thr[0] + 1e-9
    assert 0 <= e_thr[1] <= 1 and 0 <= e_pow[1] <= 1
    assert e_thr[1] <= e_pow[1] + 1e-9


@given(N=sizes_N, a=st.floats(0.1, 4.0))
def test_zipf_probs_are_normalised_and_decreasing(N, a):
    p = theory.zipf_probs(N, a)
    assert p.sum() == pytest.approx(1.0) and np.all(np.diff(p) < 0) if N > 1 else p[0] == 1


@pytest.mark.parametrize("kwargs, field", [
    ({"d": 0}, "d"), ({"M": 1}, "M"), ({"N": 3, "M": 5}, "N"), ({"a": 0.0}, "a"), ({"a": -1.0}, "a"),
])
def test_bad_model_inputs_are_refused_with_the_field_name(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field} "):
        check_model(**kwargs)


@pytest.mark.parametrize("cls, kwargs", [
    (DimConfig, {"d_values": (0, 16)}), (DimConfig, {"M": 1}), (DimConfig, {"N": 3}), (DimConfig, {"a_values": (0.0,)}),
    (DataConfig, {"d_finite": -1}), (DataConfig, {"seeds": 0}), (DimConfig, {"schemes": ("bogus",)}),
])
def test_configs_refuse_bad_values(cls, kwargs):
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_theory_functions_raise_outside_their_regime_naming_the_condition():
    with pytest.raises(ValueError, match="a > 1"):
        theory.predicted_exponent_data(1.0)
    with pytest.raises(ValueError, match="a > 1"):
        theory.predicted_exponent_dim(0.8, "threshold")
    with pytest.raises(ValueError, match="2ρa > 1"):
        theory.predicted_exponent_dim(2.0, "power", 0.2)
    with pytest.raises(ValueError, match="overloaded"):
        theory.predicted_exponent_dim(2.0, "seen")
    with pytest.raises(ValueError, match="k >= 2"):
        theory.predicted_dense_capacity_exponent(1)
    with pytest.raises(ValueError, match="M"):
        theory.predicted_error_dim(10, 2.0, 1, 16, np.ones(10))


@pytest.mark.parametrize("a", [1.5, 2.0, 3.0])
def test_exact_T_law_matches_monte_carlo(a):
    """Mean over 200 sampled datasets of Σ p 1{n=0} vs Σ p(1−p)^T; tolerance = 4 standard errors of the mean."""
    N, T, S = 2000, 300, 200
    p = zipf_probs(N, a)
    mc = np.array([float(error_infinite_capacity(sample_counts(s, p, T, 99), p)) for s in range(S)])
    exact = float(theory.expected_error_infinite_capacity(N, a, T))
    se = mc.std(ddof=1) / math.sqrt(S)
    assert abs(mc.mean() - exact) <= 4 * se
    # negative control: the asymptotic N = ∞ law at a T twice as large is a wrong theory and must be rejected
    wrong = float(theory.expected_error_infinite_capacity(N, a, 2 * T))
    assert abs(mc.mean() - wrong) > 4 * se


def test_dense_capacity_estimate_has_exponent_k_minus_1():
    for k in (2, 3, 4):
        c1, c2 = (theory.dense_capacity_estimate(N, k, 0.05) for N in (100, 200))
        assert math.log(c2 / c1) / math.log(2) == pytest.approx(k - 1)
