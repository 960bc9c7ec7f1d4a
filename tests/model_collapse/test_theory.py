"""Exact model-collapse expectations against Monte Carlo of the batched simulators, with stated power.

Every statistical test asserts two things: the exact value lies within 4 standard errors of the Monte-Carlo mean
(P(false alarm) < 1e-4 per point for a normal mean), and the nearest plausible wrong variant (named in each
docstring) is rejected at z >= 6, so the test can fail. Means are over thousands of independent chains."""
import math

import numpy as np
import pytest
import torch

from simulators.associative_memory.theory import expected_error_infinite_capacity, zipf_probs
from simulators.model_collapse import model, theory
from simulators.random_features.theory import ridge_test_error


def _z(sample: np.ndarray, value, sd=None) -> np.ndarray:
    """z of `value` against the mean of `sample` [N, ...]: SE from the sample, floored by sd/√N where an upper bound
    `sd` on one draw's SD is known (tails: a rare miss that no draw happened to show leaves a sample SE of 0)."""
    se = sample.std(0, ddof=1) / math.sqrt(sample.shape[0])
    if sd is not None:
        se = np.maximum(se, np.asarray(sd) / math.sqrt(sample.shape[0]))
    return (sample.mean(0) - value) / np.maximum(se, 1e-12 * np.abs(value))


def _check(sample, right, wrong, z_ok=4.0, z_power=6.0, sd=None):
    z_right, z_wrong = np.abs(_z(sample, right, sd)), np.abs(_z(sample, wrong, sd))
    assert np.all(z_right < z_ok), (z_right, sample.mean(0), right)
    assert np.max(z_wrong) >= z_power, ("underpowered: the wrong variant is not rejected", z_wrong)


# ============================================================================ regression chains
def test_ols_chain_error_matches_monte_carlo():
    """E = σ²d/(T−d−1) + nσ0²d/(T0−d−1) for n = 0..4 under a power-law Σ (the law is Σ-free).
    Wrong variant: T0 − d (and T − d) in the denominators instead of T0 − d − 1 (z >= 6 required at some n)."""
    d, T0, T, n, s, s0 = 4, 10, 10, 4, 0.5, 1.0
    E = 6000
    lam = torch.arange(1, d + 1, dtype=torch.float64) ** -1.5
    e = model.ols_chain_errors([0] * E, range(E), d=d, T0=T0, T=T, n_max=n, sigma=s, sigma0=s0, lam=lam,
                               w0=torch.ones(d, dtype=torch.float64)).numpy()
    right = np.array([theory.ols_chain_error(d, T, T0, k, s, s0) for k in range(n + 1)])
    wrong = s ** 2 * d / (T - d) + np.arange(n + 1) * s0 ** 2 * d / (T0 - d)
    _check(e, right, wrong)


def test_overparam_chain_error_matches_monte_carlo():
    """E/‖w0‖² = 1 − (T0/d)^n for the noiseless min-norm chain. Wrong variant: 1 − (T0/(d+1))^n."""
    d, T0, n, E = 16, 6, 3, 3000
    e = model.overparam_chain_errors([1] * E, range(E), d=d, T0=T0, n_max=n).numpy()[:, 1:]
    right = np.array([theory.overparam_chain_error(d, T0, k) for k in range(1, n + 1)])
    wrong = 1 - (T0 / (d + 1)) ** np.arange(1, n + 1)
    _check(e, right, wrong)


def test_replace_and_accumulate_match_monte_carlo():
    """Replace: nσ0²d/(T0−d−1); accumulate: σ0²d/(T0−d−1)·Σ_{j≤n} 1/j². Wrong variants: T0 − d for replace;
    the harmonic Σ 1/j (what averaging all rounds' labels without the 1/j decay would give) for accumulate."""
    d, T0, n, s0, E = 4, 12, 8, 1.0, 4000
    rep, acc = (x.numpy() for x in model.replace_accumulate_errors([2] * E, range(E), d=d, T0=T0, n_max=n, sigma0=s0))
    ns = np.arange(1, n + 1)
    _check(rep, theory.replace_error(d, T0, ns, s0), ns * s0 ** 2 * d / (T0 - d))
    harm = np.cumsum(1.0 / ns) * s0 ** 2 * d / (T0 - d - 1)
    _check(acc, theory.accumulate_error(d, T0, ns, s0), harm)
    assert theory.accumulate_error(d, T0, [10 ** 4], s0)[0] < theory.accumulate_limit(d, T0, s0)
    assert theory.accumulate_error(d, T0, [10 ** 4], s0)[0] == pytest.approx(theory.accumulate_limit(d, T0, s0), rel=1e-3)


def test_overparam_downstream_is_one_more_projection():
    assert theory.overparam_downstream_error(32, 8, 16, 0) == pytest.approx(1 - 16 / 32)
    assert theory.overparam_downstream_error(32, 8, 16, 2) == pytest.approx(1 - (16 / 32) * (8 / 32) ** 2)


def test_ridge_chain_reduces_to_clean_ridge_and_to_ols():
    """c = 0: the clean ridge deterministic equivalent (random_features.ridge_test_error); λ → 0 with T > d,
    isotropic: the collapse term → c·d, the OLS value (κ → 0)."""
    lam, tw = theory.power_spectrum(32, 2.0, 0.5)
    got = theory.ridge_chain_error(lam, tw, [64, 256], [1e-2, 1e-3], 0.5, 0.0)
    want = [ridge_test_error(lam, tw, T, r, 0.25)[1][0] for T, r in ((64, 1e-2), (256, 1e-3))]
    assert got == pytest.approx(want, rel=1e-12)
    D = theory.ridge_collapse_term(np.ones(16), 400, 1e-9, 0.1)[0]
    assert D == pytest.approx(0.1 * 16, rel=1e-4)


def test_ridge_chain_de_matches_monte_carlo_isotropic():
    """The collapse term through the deterministic equivalent, isotropic d = 24, T = 48, λ = 0.05, n = 2: the DE is
    not exact at finite d, so the test allows 3% + 4 SE. Wrong variant: no collapse term (c = 0), rejected at z >= 6."""
    d, T0, T, n, s, s0, lr, E = 24, 64, 48, 2, 0.5, 1.0, 0.05, 600
    lam, w0 = torch.ones(d, dtype=torch.float64), torch.full((d,), d ** -0.5, dtype=torch.float64)
    e = model.ridge_chain_errors([3] * E, range(E), d=d, T0=T0, n_values=[0, n], T_values=[T],
                                 ridges=torch.full((1, 2, 1), lr, dtype=torch.float64), sigma=s, sigma0=s0,
                                 lam=lam, w0=w0).numpy()[:, 0, :, 0]                  # [E, 2]
    c = n * s0 ** 2 / (T0 - d - 1)
    de = np.array([theory.ridge_chain_error(lam.numpy(), (lam * w0 ** 2).numpy(), [T], lr, s, cc)[0] for cc in (0, c)])
    z = _z(e, de)
    assert np.all(np.abs(e.mean(0) / de - 1) < 0.03 + 4 * e.std(0) / math.sqrt(E) / de), (e.mean(0), de, z)
    assert abs(_z(e[:, 1], de[0])) >= 6


def test_ridge_exponents():
    assert theory.critical_ridge_exponent(2.0, 0.5) == pytest.approx(2 / 3)
    assert theory.clean_rate(2.0, 0.5) == pytest.approx(2 / 3)
    assert theory.collapse_rate(2.0, 0.5) == pytest.approx(-1 / 3)
    # adaptive λ at c = 0 is the clean schedule
    assert theory.adaptive_ridge(100.0, 0.0, 1.0, 2.0, 0.5) == pytest.approx(100.0 ** (-2 / 3))


def test_limits_n_zero_is_clean():
    assert theory.ols_chain_error(8, 32, 9, 0, 0.5, 3.0) == pytest.approx(0.25 * 8 / 23)
    assert theory.overparam_chain_error(32, 8, 0) == 0.0
    assert theory.generations_error(2.0, [10, 100], 50, 0, 500) == pytest.approx(
        expected_error_infinite_capacity(500, 2.0, [10, 100]))


# ============================================================================ tails
def test_tail_limits():
    """k >= vocab is no cut; π = 1 is the clean law; π = 0 is the pure cut."""
    T = np.array([1, 10, 100, 1000])
    clean = expected_error_infinite_capacity(300, 2.0, T)
    assert theory.tail_cut_error(2.0, T, 300, 300) == pytest.approx(clean, rel=1e-12)
    assert theory.tail_cut_error(2.0, T, 10 ** 6, 300) == pytest.approx(clean, rel=1e-12)
    assert theory.mix_error(2.0, T, 7, 1.0, 300) == pytest.approx(clean, rel=1e-12)
    assert theory.mix_error(2.0, T, 7, 0.0, 300) == pytest.approx(theory.tail_cut_error(2.0, T, 7, 300), rel=1e-12)
    assert theory.narrowed_error(2.0, 2.0, T, 300) == pytest.approx(clean, rel=1e-12)
    # the cut floor: T → ∞ leaves the tail mass
    p = zipf_probs(300, 2.0)
    assert theory.tail_cut_error(2.0, 1e7, 7, 300) == pytest.approx(p[7:].sum(), rel=1e-9)


def test_tail_cut_matches_monte_carlo():
    """Exact Σ p(1−q)^T for a cut law. Wrong variant: the head trained on the unrenormalised p_i (i ≤ k)."""
    V, k, E, Ts = 2000, 3, 2000, [4, 8, 16, 32, 128]
    p = zipf_probs(V, 2.0)
    e = model.tail_stream_errors(list(range(E)), [0] * E, q=torch.tensor(theory.cut_law(V, 2.0, k)),
                                 p=torch.tensor(p), T_values=Ts, tag=90).numpy()
    T = np.array(Ts, float)
    wrong = (p[:k, None] * (1 - p[:k, None]) ** T).sum(0) + p[k:].sum()
    _check(e, theory.tail_cut_error(2.0, T, k, V), wrong, sd=theory.hutter_error_sd_bound(p, theory.cut_law(V, 2.0, k), T))


def test_mix_matches_monte_carlo():
    """Exact Σ p(1 − πp − (1−π)q)^T. Wrong variant: π applied to the sample count only, (πT) clean samples seen
    on p and the rest ignored: Σ p(1−p)^{πT}."""
    V, k, E, Ts, pi = 2000, 5, 2000, [16, 64, 256, 1024], 0.2
    p = zipf_probs(V, 2.0)
    e = model.mixed_stream_errors(list(range(E)), [0] * E, p=torch.tensor(p), q=torch.tensor(theory.cut_law(V, 2.0, k)),
                                  pis=[pi], T_values=Ts, tag=91).numpy()[:, 0]
    T = np.array(Ts, float)
    q = pi * p + (1 - pi) * theory.cut_law(V, 2.0, k)
    _check(e, theory.mix_error(2.0, T, k, pi, V), expected_error_infinite_capacity(V, 2.0, pi * T),
           sd=theory.hutter_error_sd_bound(p, q, T))


def test_generations_match_monte_carlo():
    """Exact Wright–Fisher expectation for n = 1, 3. Wrong variants: an off-by-one generation count (n + 1), and for
    n = 3 also n generations replaced by one generation of T0/n samples (the 'effective cut' picture)."""
    V, T0, E, Ts = 1000, 100, 2000, [16, 128, 1024]
    p = zipf_probs(V, 2.0)
    e = model.generations_errors(list(range(E)), [0] * E, p=torch.tensor(p), T0=T0, n_values=[1, 3], T_values=Ts,
                                 tag=92).numpy()
    T = np.array(Ts, float)
    for i, n in enumerate((1, 3)):
        right = theory.generations_error(2.0, T, T0, n, V)
        _check(e[:, i], right, theory.generations_error(2.0, T, T0, n + 1, V))
    _check(e[:, 1], theory.generations_error(2.0, T, T0, 3, V), theory.generations_error(2.0, T, T0 // 3, 1, V))


def test_generations_error_window_sum_is_exact():
    """The windowed binomial sums equal the full sums over every count (brute force, small V and T0)."""
    from scipy import stats

    V, T0, T = 50, 30, np.array([5.0, 40.0])
    p = zipf_probs(V, 1.5)
    c = np.arange(T0 + 1)
    f = (1 - c / T0)[:, None] ** T[None]
    M = stats.binom.pmf(c[None, :], T0, c[:, None] / T0)
    for n in (1, 2, 4):
        g = np.linalg.matrix_power(M, n - 1) @ f
        brute = (p[:, None] * (stats.binom.pmf(c[None, :], T0, p[:, None]) @ g)).sum(0)
        assert theory.generations_error(1.5, T, T0, n, V) == pytest.approx(brute, rel=1e-10)


def test_sd_bound_holds():
    """The diagonal SD bound is >= the Monte-Carlo SD of the Hutter error (covariances are negative)."""
    V, k, E, Ts = 500, 10, 2000, [4, 16, 64]
    p = zipf_probs(V, 2.0)
    q = theory.cut_law(V, 2.0, k)
    e = model.tail_stream_errors(list(range(E)), [0] * E, q=torch.tensor(q), p=torch.tensor(p), T_values=Ts,
                                 tag=93).numpy()
    assert np.all(e.std(0) <= 1.1 * theory.hutter_error_sd_bound(p, q, np.array(Ts, float)))


def test_asymptotic_laws():
    assert theory.hutter_exponent(2.0) == 0.5
    assert theory.narrowed_exponent(2.0, 3.0) == pytest.approx(1 / 3)
    assert theory.cut_floor_exponent(2.5) == 1.5
    assert theory.generations_floor_exponent(2.0) == -0.5
    # the two-term law tracks the exact sum at large V within a constant factor
    T = np.array([1e2, 1e3, 1e4])
    ratio = theory.tail_cut_error(2.0, T, 10 ** 5, 10 ** 6) / theory.tail_cut_law(2.0, T, 10 ** 5)
    assert np.all((ratio > 0.9) & (ratio < 1.1))


@pytest.mark.parametrize("call, match", [
    (lambda: theory.ols_chain_error(8, 32, 9, 1, 1.0, 1.0), "T0 must be >= d \\+ 2"),
    (lambda: theory.ols_chain_error(8, 9, 32, 0, 1.0, 1.0), "T must be >= d \\+ 2"),
    (lambda: theory.overparam_chain_error(8, 8, 1), "T0 must be < d"),
    (lambda: theory.tail_cut_error(1.0, 10, 5, 100), "beta must be"),
    (lambda: theory.tail_cut_error(2.0, 10, 0, 100), "k must be"),
    (lambda: theory.mix_error(2.0, 10, 5, 1.5, 100), "pi"),
    (lambda: theory.mix_error(2.0, 10, 5, -0.1, 100), "pi"),
    (lambda: theory.ols_chain_error(8, 32, 32, 1, float("nan"), 1.0), "sigma"),
    (lambda: theory.narrowed_error(2.0, 1.5, 10, 100), "beta_prime"),
])
def test_theory_refuses_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_generations_sd_bound_holds():
    """The diagonal SD of the generation-n Hutter error is >= its Monte-Carlo SD (n = 2)."""
    V, T0, E, Ts = 500, 60, 1500, [4, 16, 64]
    p = zipf_probs(V, 2.0)
    e = model.generations_errors(list(range(E)), [0] * E, p=torch.tensor(p), T0=T0, n_values=[2], T_values=Ts,
                                 tag=94).numpy()[:, 0]
    assert np.all(e.std(0) <= 1.1 * theory.generations_error_sd_bound(2.0, np.array(Ts, float), T0, 2, V))


# ============================================================================ properties of the closed forms
from hypothesis import example, given, strategies as st  # noqa: E402


@given(d=st.integers(1, 40), extra=st.integers(2, 200), n=st.integers(0, 30), s=st.floats(0, 3), s0=st.floats(0.01, 3))
def test_ols_chain_error_properties(d, extra, n, s, s0):
    """Linear in n with slope σ0²d/(T0−d−1); decreasing in T0; n = 0 independent of σ0."""
    T0 = T = d + extra
    e0, e1 = theory.ols_chain_error(d, T, T0, n, s, s0), theory.ols_chain_error(d, T, T0, n + 1, s, s0)
    assert e1 - e0 == pytest.approx(s0 ** 2 * d / (T0 - d - 1), rel=1e-9)
    assert theory.ols_chain_error(d, T, T0 + 1, n + 1, s, s0) < e1
    assert theory.ols_chain_error(d, T, T0, 0, s, s0) == theory.ols_chain_error(d, T, T0, 0, s, 2 * s0)


@given(d=st.integers(2, 200), frac=st.floats(0.01, 0.99), n=st.integers(0, 20))
@example(d=7, frac=0.25, n=20)     # (1/7)^20 < 2^-53: 1 - (T0/d)^n rounds to exactly 1.0 in float64
def test_overparam_error_in_unit_interval_and_increasing(d, frac, n):
    """1 − (T0/d)^n lies in [0, 1) exactly; in float64 it may round up to 1.0 once (T0/d)^n < 2^-53, so the
    float property is 0 ≤ e ≤ 1, = 0 only at n = 0, and nondecreasing in n."""
    T0 = max(1, min(d - 1, int(frac * d)))
    e = theory.overparam_chain_error(d, T0, n)
    assert 0 <= e <= 1 and (e == 0) == (n == 0) and theory.overparam_chain_error(d, T0, n + 1) >= e
    assert e < 1 or (T0 / d) ** n < 2.0 ** -53


@given(n=st.integers(1, 200))
def test_accumulate_below_replace_and_limit(n):
    acc, rep = theory.accumulate_error(8, 32, [n], 1.0)[0], theory.replace_error(8, 32, [n], 1.0)[0]
    assert acc <= rep + 1e-12 and acc < theory.accumulate_limit(8, 32, 1.0)


@given(beta=st.floats(1.2, 4.0), T0=st.integers(5, 60), n=st.integers(0, 5))
def test_generations_error_nondecreasing_in_n(beta, T0, n):
    """C_n is a martingale and c ↦ (1 − c/T0)^T convex, so E_n(T) is nondecreasing in n (Jensen)."""
    T = np.array([3.0, 30.0])
    a = theory.generations_error(beta, T, T0, n, 200)
    b = theory.generations_error(beta, T, T0, n + 1, 200)
    assert np.all(b >= a - 1e-12)


@given(beta=st.floats(1.2, 4.0), k=st.integers(1, 300))
def test_tail_cut_error_decreases_in_T_to_the_tail_mass(beta, k):
    T = np.array([1.0, 10.0, 100.0, 1e4, 1e9])
    e = theory.tail_cut_error(beta, T, k, 300)
    p = zipf_probs(300, beta)
    assert np.all(np.diff(e) <= 1e-15) and e[-1] >= p[min(k, 300):].sum() - 1e-12
