"""Hypothesis properties of the superposition theory (limits, monotonicity, special cases, regimes)."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from simulators.superposition import theory as T

a_weak = st.floats(1.3, 3.0)
THEORY = settings(max_examples=max(100, settings.default.max_examples))   # pure-theory properties
laws = st.one_of(st.floats(0.0, 3.0).map(lambda a: f"power:{a:.3f}"),
                 st.floats(0.5, 20.0).map(lambda k: f"exp:{k:.3f}"), st.just("linear"))


@given(n=st.integers(2, 3000), law=laws, s=st.floats(0.0, 1.0))
@THEORY
def test_frequencies_are_a_decreasing_distribution(n, law, s):
    p = T.frequencies(n, law, s)
    assert np.all(p >= 0) and np.all(p <= 1) and np.all(np.diff(p) <= 1e-15)
    if s == 0:
        assert p.sum() == pytest.approx(1.0, rel=1e-12)
    else:
        assert p[0] == pytest.approx(min(1.0, T.frequencies(n, law)[0] * (1 + s * (1 / T.frequencies(n, law)[0] - 1))))


def test_density_one_turns_the_first_feature_always_on():
    assert T.frequencies(100, "power:1.2", 1.0)[0] == pytest.approx(1.0)


@given(n=st.integers(20, 2000), law=laws)
@THEORY
def test_weak_loss_decreases_in_m_and_matches_its_endpoints(n, law):
    m = np.arange(1, n)
    L = T.predicted_loss_weak(n, m, law)
    assert np.all(np.diff(L) <= 1e-18) and np.all(L >= 0)
    p = T.frequencies(n, law)
    assert L[-1] == pytest.approx((4 / 3 * p[-1] - p[-1] ** 2) / n, abs=1e-18)
    assert T.no_representation_loss(n, law) == pytest.approx(float(np.sum(4 / 3 * p - p ** 2)) / n)


@given(a=st.floats(1.5, 3.0))
@THEORY
def test_weak_finite_n_slope_tends_to_a_minus_1(a):
    """n → ∞ limit: slope of the finite-n curve over m in [100, 1000] at n = 10^6 is a − 1 within 0.03."""
    m = np.geomspace(100, 1000, 6).astype(int)
    slope = T.fitted_slope(m, T.predicted_loss_weak(10 ** 6, m, f"power:{a}"))
    assert slope == pytest.approx(a - 1, abs=0.03)
    assert T.predicted_exponent_weak(f"power:{a}").value == pytest.approx(a - 1)


def test_weak_finite_n_steepening_matches_issue_number():
    """At n = 1000, a = 1.25 the slope over m = 10..100 is ≈ 0.43, not 0.25 (finite-n steepening)."""
    m = np.arange(10, 101, 10)
    assert T.fitted_slope(m, T.predicted_loss_weak(1000, m, "power:1.25")) == pytest.approx(0.43, abs=0.02)


@given(a=st.floats(0.0, 1.0))
def test_weak_exponent_raises_outside_regime(a):
    with pytest.raises(ValueError, match="a > 1"):
        T.predicted_exponent_weak(f"power:{a}")


@given(m=st.integers(1, 500), extra=st.integers(1, 10 ** 6))
@THEORY
def test_welch_bound_limits(m, extra):
    k = m + extra
    w = float(T.welch_bound(k, m))
    assert 0 < w <= 1 / m
    assert float(T.welch_bound(10 ** 12, m)) == pytest.approx(1 / m, rel=1e-6)     # k → ∞: 1/m
    if m >= 2:
        assert float(T.welch_bound(m, m)) == 0.0                                     # k <= m: orthogonal


@pytest.mark.parametrize("a, expected", [(0.5, 1.0), (1.2, 1.0), (1.5, 1.0), (1.75, 1.5), (2.0, 2.0), (2.5, 3.0)])
def test_strong_exponent_hand_values(a, expected):
    """The strong regime has no exact curve here, so hand values of LLG25's exponent map (Sec. 4, Fig. 5):
    interference ≈ Welch bound ≈ 1/m gives α = 1 for flat laws (a <= 1.5; at a = 1.5 both branches give 1);
    for steep power laws the rare tail's interference falls as the tail's mass, α = 2(a − 1): a = 1.75 ->
    1.5, a = 2 -> 2, a = 2.5 -> 3. Replaces a test that re-typed max(1, 2(a − 1)). The regime names its branch."""
    pred = T.predicted_exponent_strong(f"power:{a}")
    assert pred.value == pytest.approx(expected)
    assert ("2(a − 1)" in pred.regime) == (a > 1.5)


@given(law=st.one_of(st.just("linear"), st.floats(0.5, 20).map(lambda k: f"exp:{k}")))
def test_strong_exponent_is_one_for_flat_laws(law):
    assert T.predicted_exponent_strong(law).value == 1.0


def test_regime_dispatch_and_gamma_zero_raises():
    assert T.predicted_exponent("power:2", 0.1).value == pytest.approx(1.0)
    assert T.predicted_exponent("power:2", -1.0).value == pytest.approx(2.0)
    with pytest.raises(ValueError, match="γ = 0"):
        T.predicted_exponent("power:2", 0.0)


@given(c=st.floats(1e-3, 1e3), a=a_weak)
def test_fitted_slope_is_scale_invariant(c, a):
    m = np.array([4, 8, 16, 32])
    L = T.predicted_loss_weak(256, m, f"power:{a}")
    assert T.fitted_slope(m, c * L) == pytest.approx(T.fitted_slope(m, L), abs=1e-9)


@pytest.mark.parametrize("bad", ["zipf:1", "power", "power:-1", "exp:0", "linear:2", "power:abc"])
def test_bad_law_raises(bad):
    with pytest.raises(ValueError, match="law"):
        T.parse_law(bad)


@pytest.mark.parametrize("n", [2, 7, 1000, 10240])
def test_frequency_laws_match_the_papers_definitions(n):
    """The authors' exp-17.py `probability` (liuyz0/SuperpositionScaling 35b08b0), restated here from its
    definitions: linear (n − j)/n for j = 0..n−1 (the last feature keeps p = 1/n / Σ, not 0), exponential
    exp(−j/1000) and exponential1 exp(−j/400) at n = 10240 (k = n/τ = 10.24, 25.6), power 1/i^1.2, each
    normalised. The former off-by-one linear law (last feature p = 0) fails the first assertion."""
    j = np.arange(n, dtype=np.float64)
    lin = (n - j) / n
    np.testing.assert_allclose(T.frequencies(n, "linear"), lin / lin.sum(), rtol=1e-13, atol=0)
    assert T.frequencies(n, "linear")[-1] > 0
    pw = 1.0 / (j + 1) ** 1.2
    np.testing.assert_allclose(T.frequencies(n, "power:1.2"), pw / pw.sum(), rtol=1e-13, atol=0)
    for tau in (1000.0, 400.0):
        ex = np.exp(-j / tau)
        np.testing.assert_allclose(T.frequencies(n, f"exp:{n / tau!r}"), ex / ex.sum(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("m", [2, 3, 10, 50])
def test_welch_bound_is_attained_by_the_simplex_frame(m):
    """Second method: the k = m + 1 vertices of a regular simplex in R^m are an equiangular tight frame, which
    attains the Welch bound: their squared overlaps are all 1/m² = (k − m)/(m(k − 1)). Built numerically
    (centred basis vectors of R^(m+1), normalised); also the mean squared overlap of ANY unit-norm tight frame
    of k vectors equals the bound (Σ_ij ⟨v_i, v_j⟩² = k²/m), checked on the harmonic (DFT) frame k = 2m."""
    k = m + 1
    V = np.eye(k) - 1.0 / k
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    G = V @ V.T
    off = G[~np.eye(k, dtype=bool)] ** 2
    assert np.allclose(off, float(T.welch_bound(k, m)), rtol=1e-10)
    k2 = 2 * m
    F = np.exp(2j * np.pi * np.outer(np.arange(k2), np.arange(m)) / k2) / np.sqrt(m)     # k2 unit vectors in C^m
    G2 = np.abs(F @ F.conj().T) ** 2
    assert G2[~np.eye(k2, dtype=bool)].mean() == pytest.approx(float(T.welch_bound(k2, m)), rel=1e-10)
