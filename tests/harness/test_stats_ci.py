"""The confidence interval of `fit_power_law` is pinned: its level (95%, not 90% or 99%), its resampling unit
(the seed, all S of them, with replacement) and its two branches (seed bootstrap for S >= 2, OLS t-interval for
one seed). Each check is held against a second, independent computation, and each docstring states the z at
which the nearest wrong variant is rejected."""
import math

import numpy as np
import pytest
from scipy import stats

from simulators.harness.fit import fit_power_law

X = np.geomspace(4, 4096, 10)


def _seed_lines(slopes, x=X):
    """One exact power law per seed, L_s = 3·x^(−a_s): every seed's log-curve is linear, so with the geometric
    mean aggregate the window's OLS slope of ANY resample is exactly the mean of the resampled a_s (OLS is
    linear in y). The seed bootstrap of the exponent is therefore the bootstrap of a sample mean."""
    return 3.0 * x[None, :] ** (-np.asarray(slopes)[:, None])


def _reference_bootstrap_quantiles(a, qs, n=200_000, seed=12345):
    """Independent second method: quantiles of the mean of S draws with replacement from {a_s}, vectorised,
    n resamples (quantile noise ~0.2% of the width)."""
    rng = np.random.default_rng(seed)
    a = np.asarray(a, float)
    means = a[rng.integers(0, len(a), size=(n, len(a)))].mean(1)
    return np.quantile(means, qs)


def test_bootstrap_interval_is_the_95_percent_seed_bootstrap_over_all_seeds():
    """S = 40 seeds with per-seed exponents a_s, no within-seed noise. The fitted CI's half-width, in units of
    the reference bootstrap's 95% half-width, is averaged over 8 fits (rng_seed 0..7, n_boot = 2000 each);
    accepted within ±5%. Quantile noise: the 2.5% quantile of 2000 resamples has sd
    √(0.025·0.975/2000)/φ(1.96) = 0.06σ_boot per end, so the averaged ratio has sd ≈ 0.06/1.96/√16 = 0.8%.
    Wrong variants and their distance: a 90% interval (ratio 1.645/1.96 = 0.84: z ≈ 20), a 99% one
    (2.576/1.96 = 1.31: z > 30), resampling S/2 seeds (ratio √2: z ≈ 50), resampling the points or
    permuting the seeds (ratio 0). The centre must equal the mean exponent (the CI of the mean curve)."""
    rng = np.random.default_rng(7)
    a = 0.7 + 0.15 * rng.standard_normal(40)
    y = _seed_lines(a)
    lo_ref, hi_ref = _reference_bootstrap_quantiles(a, [0.025, 0.975])
    ratios, mids = [], []
    for r in range(8):
        fit = fit_power_law(X, y, window="all", n_boot=2000, rng_seed=r)
        assert fit.exponent == pytest.approx(a.mean(), abs=1e-12)
        ratios.append((fit.ci95[1] - fit.ci95[0]) / (hi_ref - lo_ref))
        mids.append(0.5 * (fit.ci95[0] + fit.ci95[1]))
        assert fit.stderr == pytest.approx(a.std() / math.sqrt(len(a)), rel=0.1)   # bootstrap sd of a mean
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.05), ratios
    assert np.mean(mids) == pytest.approx(0.5 * (lo_ref + hi_ref), abs=0.05 * (hi_ref - lo_ref))


@pytest.mark.parametrize("level", [0.90, 0.99])
def test_ci_argument_sets_the_level(level):
    """`ci` is honoured (so the default 0.95 is the only thing that makes the report's interval a 95% one):
    the same reference comparison at 90% and 99%, ±5% (z ≈ 6 against the neighbouring level's ratio)."""
    rng = np.random.default_rng(8)
    a = 0.7 + 0.15 * rng.standard_normal(40)
    q = (1 - level) / 2
    lo_ref, hi_ref = _reference_bootstrap_quantiles(a, [q, 1 - q])
    r = np.mean([np.diff(fit_power_law(X, _seed_lines(a), window="all", n_boot=2000, rng_seed=s, ci=level).ci95)[0]
                 for s in range(8)]) / (hi_ref - lo_ref)
    assert r == pytest.approx(1.0, abs=0.05)


def test_every_seed_is_a_resampling_unit():
    """One outlier seed among 12 (exponent +1.2 above the others): with replacement over all 12 seeds it is
    drawn in 1 − (11/12)^12 = 65% of resamples, so the upper 97.5% quantile must include it (CI upper end above
    the median + 0.05); a bootstrap over a subset of seeds that skips the last one, or over points, never sees
    it (width ≈ 0)."""
    a = np.full(12, 0.5)
    a[-1] = 1.7
    fit = fit_power_law(X, _seed_lines(a), window="all", n_boot=2000, rng_seed=1)
    lo_ref, hi_ref = _reference_bootstrap_quantiles(a, [0.025, 0.975])
    assert fit.ci95 == pytest.approx((lo_ref, hi_ref), abs=0.012)   # discrete: steps of 1.2/12 = 0.1 per draw
    assert fit.n_seeds == 12


def test_single_seed_t_interval_has_95_percent_coverage():
    """One seed: the OLS t-interval is exact for Gaussian log-noise. 4000 repeats; coverage accepted in
    [0.935, 0.965]. Binomial sd at 95%: 0.0034 (the window is ±4.3σ); a 90% interval (sd 0.0047) sits 7σ
    below the window, a 99% one (sd 0.0016) 16σ above it; a normal quantile in place of t's (dof = 8:
    coverage 0.915) 5.8σ below."""
    rng = np.random.default_rng(2024)
    R, a = 4000, 0.7
    noise = rng.standard_normal((R, len(X)))
    hits = 0
    for r in range(R):
        y = 2.0 * X ** (-a) * np.exp(0.2 * noise[r])
        fit = fit_power_law(X, y, window="all")
        hits += fit.ci95[0] <= a <= fit.ci95[1]
    assert 0.935 <= hits / R <= 0.965, hits / R


def test_single_seed_t_interval_matches_the_textbook_formula():
    """Second method: scipy.stats.linregress's slope standard error, times t_{0.975, n−2}."""
    rng = np.random.default_rng(3)
    y = 2.0 * X ** -0.7 * np.exp(0.2 * rng.standard_normal(len(X)))
    fit = fit_power_law(X, y, window="all")
    lr = stats.linregress(np.log(X), np.log(y))
    t = stats.t.ppf(0.975, len(X) - 2)
    assert fit.ci95 == pytest.approx((-lr.slope - t * lr.stderr, -lr.slope + t * lr.stderr), rel=1e-9)
    assert fit.stderr == pytest.approx(lr.stderr, rel=1e-9)


def test_bootstrap_ci_only_uses_the_fit_window():
    """The CI is of the window's slope: points outside the window (here wildly noisy) do not widen it."""
    rng = np.random.default_rng(5)
    a = 0.7 + 0.1 * rng.standard_normal(20)
    y = _seed_lines(a)
    y[:, -3:] *= np.exp(3.0 * rng.standard_normal((20, 3)))
    f_in = fit_power_law(X, y, window=(X[0], X[-4]), n_boot=1000)
    f_ref = fit_power_law(X[:-3], y[:, :-3], window="all", n_boot=1000)
    assert f_in.ci95 == pytest.approx(f_ref.ci95, abs=1e-12)
