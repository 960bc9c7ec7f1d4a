"""Theory of the associative-memory family: properties (hypothesis), regimes, and the exact T-law vs Monte Carlo."""
import math

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simulators.associative_memory import theory
from simulators.associative_memory.config import DataConfig, DimConfig, check_model
from simulators.associative_memory.model import error_infinite_capacity, sample_counts, zipf_probs

zipf_a = st.floats(1.05, 4.0)
THEORY = settings(max_examples=max(100, settings.default.max_examples))   # pure-theory properties
sizes_N = st.integers(5, 3000)


@given(a=zipf_a, N=sizes_N, T1=st.integers(0, 10 ** 5), dT=st.integers(1, 10 ** 5))
@example(a=1.05, N=5, T1=8510, dT=1)     # the former "strictly decreasing" property: both values underflow to 4e-323
@THEORY
def test_infinite_capacity_error_decreases_in_T_and_is_a_probability(a, N, T1, dT):
    """True property (the former one, e2 < e1 strictly, is false in floating point: at a = 1.05, N = 5 both
    values underflow to the same denormal): every term p(1 − p)^T shrinks by a factor in
    [(1 − p_max)^dT, (1 − p_min)^dT] when T grows by dT, so the sum does too:
        e1 (1 − p_max)^dT <= e2 <= e1 (1 − p_min)^dT,
    which forces strict decrease wherever e1 is representable (a wrong exponent T ± 1 or a missing factor p
    breaks one side). E(0) = 1 and 0 <= E <= 1."""
    e1, e2 = theory.expected_error_infinite_capacity(N, a, [T1, T1 + dT])
    p = theory.zipf_probs(N, a)
    up = e1 * math.exp(dT * math.log1p(-p.min()))
    lo = e1 * math.exp(dT * math.log1p(-p.max()))
    assert lo * (1 - 1e-9) - 1e-300 <= e2 <= up * (1 + 1e-9) + 1e-300
    assert 0 <= e2 <= e1 <= 1 + 1e-12
    if e1 > 1e-250:
        assert e2 < e1
    assert theory.expected_error_infinite_capacity(N, a, 0) == pytest.approx(1.0)


@given(a=st.floats(1.5, 3.0))
def test_exact_T_law_approaches_its_asymptote_and_exponent(a):
    T = np.array([1e5, 2e5])
    exact = theory.expected_error_infinite_capacity(10 ** 6, a, T)
    asym = theory.asymptotic_error_infinite_capacity(a, T)
    slope = -np.diff(np.log(exact))[0] / np.log(2)
    assert slope == pytest.approx(theory.predicted_exponent_data(a), abs=0.03)
    assert exact[0] / asym[0] == pytest.approx(1.0, rel=0.15)


def _tail_slope(a, cutoff_exponent, X0=1e8):
    """Decay rate in d of the Zipf tail mass beyond the cut-off X(d) = d^cutoff_exponent, Σ_{x ≥ X} x^(−a) =
    ζ(a, X) (Hurwitz zeta), read as a local log-log slope between d0 and 10·d0: a second method, independent of
    `predicted_exponent_dim`. Derivation (C23 §3): with q = p^ρ the interference is σ² ≈ Σ q²/d (finite when
    2ρa > 1), and token x is lost when q(x) = p(x)^ρ ∝ x^(−aρ) falls below σ ∝ d^(−½), i.e. beyond
    X = d^(1/(2aρ)); thresholding stores P ∝ d tokens, X ∝ d^1. The error is the tail mass beyond X."""
    from scipy import special

    X = X0 * np.array([1.0, 10.0 ** cutoff_exponent])     # the cut-offs at d0 and 10·d0 (d0 = X0^(1/c))
    t = np.log(special.zeta(a, X))
    return -(t[1] - t[0]) / math.log(10.0)


@given(a=zipf_a, rho=st.floats(0.2, 3.0))
@THEORY
def test_dim_exponents_equal_the_tail_mass_slope(a, rho):
    """q = p^ρ (C23 Thm. 2) and thresholding (Thm. 3) exponents, and the learned-memory ones (§5: small-lr SGD
    behaves like ρ = 1, sign-Adam like thresholding), each equal the local slope of the tail mass beyond the
    cut-off, far out (abs 1e-3; a plausible wrong formula such as (a−1)/(ρa) or a differs by >= 0.02 here).
    The power law needs 2ρa > 1 and raises outside, naming the condition."""
    if 2 * rho * a <= 1:
        with pytest.raises(ValueError, match="2ρa > 1"):
            theory.predicted_exponent_dim(a, "power", rho)
        return
    assert theory.predicted_exponent_dim(a, "power", rho) == pytest.approx(_tail_slope(a, 1 / (2 * a * rho)), abs=1e-3)
    assert theory.predicted_exponent_dim(a, "threshold") == pytest.approx(_tail_slope(a, 1.0), abs=1e-3)
    assert theory.predicted_exponent_learned(a, "sgd_small_lr") == pytest.approx(_tail_slope(a, 1 / (2 * a)), abs=1e-3)
    assert theory.predicted_exponent_learned(a, "sign_adam") == pytest.approx(_tail_slope(a, 1.0), abs=1e-3)


@pytest.mark.parametrize("a", [1.5, 2.0, 3.5])
def test_data_exponent_equals_the_exact_curve_slope_far_out(a):
    """The T-exponent 1 − 1/a (C23 Thm. 1) equals the local log-log slope of the EXACT finite-N curve
    Σ p(1−p)^T at T ≪ N^a (N = 10^7, T in [10^4, 2·10^4]; the finite-N cut-off and the T^-1 correction are
    below 1e-2 there). A wrong exponent such as 1 − 1/(2a) or (a−1)/(2a) is off by >= 0.1."""
    T = np.array([1e4, 2e4])
    e = theory.expected_error_infinite_capacity(10 ** 7, a, T)
    slope = -np.diff(np.log(e))[0] / np.log(2)
    assert theory.predicted_exponent_data(a) == pytest.approx(slope, abs=0.02)


@given(a=st.floats(1.3, 3.0), N=st.integers(200, 800), M=st.integers(2, 8), d=st.integers(16, 512),
       rho=st.floats(0.6, 1.5), scheme=st.sampled_from(["power", "threshold"]))
@example(a=3.0, N=200, M=2, d=202, rho=1.0, scheme="threshold")   # counterexample of the former property
@example(a=3.0, N=200, M=2, d=186, rho=1.0, scheme="threshold")
@THEORY
def test_interference_error_of_fixed_weights_decreases_with_d(a, N, M, d, rho, scheme):
    """True property: for FIXED memory weights q, the Gaussian-interference error is non-increasing in d. Proof:
    every σ_y ∝ d^(−½), so P(correct | x) = P(q(x)/s > max_y B_y Z_y − A Z_0) with s = d^(−½) grows as s
    falls. The former property ("the thresholding scheme's error decreases in d") is false at finite N: the
    scheme stores P = ⌊d/8⌋ tokens, so q itself changes with d, and at steep a and M = 2 the interference of
    the newly stored tokens outweighs the tail they remove (a = 3, N = 200, M = 2, d = 202: 0.00225 -> 0.00229
    from d to 4d; see the test below). The q = p^ρ scheme's q does not depend on d, so its curve is monotone."""
    q = theory.population_weights(N, a, scheme, d, rho)
    e = [theory.predicted_error_dim(N, a, M, dd, q) for dd in (d, 3 * d)]
    assert e[1] <= e[0] + 1e-9
    assert all(0 <= x <= 1 for x in e)
    if scheme == "power":
        assert theory.predicted_error_dim_curve(N, a, M, [3 * d], "power", rho)[0] == pytest.approx(e[1], rel=1e-12)


def test_thresholding_error_is_not_monotone_in_d_at_finite_N():
    """The counterexample of the former property, kept as a fact: at a = 3, N = 200, M = 2 thresholding at
    P = ⌊d/8⌋ has a LARGER error at d = 4·202 than at d = 202 (tail removed < interference added), while
    with the stored set held fixed (q of d = 202) the error falls, as it must. The ordering threshold <= q = p
    at equal d is likewise not a theorem at small P (a = 1.6, N = 316, M = 8, d = 26: 0.299 vs 0.238)."""
    e = theory.predicted_error_dim_curve(200, 3.0, 2, [202, 808], "threshold")
    assert e[1] > e[0] * 1.01
    q = theory.population_weights(200, 3.0, "threshold", 202)
    assert theory.predicted_error_dim(200, 3.0, 2, 808, q) < e[0]


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
    """Mean over 200 sampled datasets of Σ p 1{n=0} vs Σ p(1−p)^T; tolerance = 4 standard errors of the mean.
    Negative control (asserted at z >= 6): the law at 2T (counts of half the stated sample size)."""
    N, T, S = 2000, 300, 200
    p = zipf_probs(N, a)
    mc = np.array([float(error_infinite_capacity(sample_counts(s, p, T, 99), p)) for s in range(S)])
    exact = float(theory.expected_error_infinite_capacity(N, a, T))
    se = mc.std(ddof=1) / math.sqrt(S)
    assert abs(mc.mean() - exact) <= 4 * se
    wrong = float(theory.expected_error_infinite_capacity(N, a, 2 * T))
    assert abs(mc.mean() - wrong) >= 6 * se


def test_dense_capacity_estimate_has_exponent_k_minus_1():
    for k in (2, 3, 4):
        c1, c2 = (theory.dense_capacity_estimate(N, k, 0.05) for N in (100, 200))
        assert math.log(c2 / c1) / math.log(2) == pytest.approx(k - 1)
