"""Replica theory of the pruned max-margin perceptron: the limits of issue 16 and internal consistency.

Deterministic tests (quadrature + root finding): tolerances are numerical, far below the effects they separate."""
import math

import numpy as np
import pytest
from scipy import integrate, stats

from simulators.data_pruning import theory


def test_gardner_capacity_from_quadrature_and_r_to_zero_limit():
    """α_c(κ) = 1/∫Dz(κ−z)₊² (closed form vs quadrature), α_c(0) = 2; and eq. (1) at R = 0 vanishes exactly at
    α_c(κ): Ψ(R=0, κ) = 1 − α ∫Dz (κ − z)₊² (a wrong normalisation, e.g. a missing ½, is off by a factor 2)."""
    assert theory.gardner_capacity(0.0) == pytest.approx(2.0, abs=1e-12)
    for k in (0.0, 0.5, 1.0, 2.0):
        q = integrate.quad(lambda z: (k - z) ** 2 * stats.norm.pdf(z), -np.inf, k)[0]
        assert theory.gardner_capacity(k) == pytest.approx(1 / q, rel=1e-9)
        prob = theory._Problem(1.0, "random", 0.0)
        assert prob.moments(0.0, 0.0, 1.0, k, theory.gardner_capacity(k), need_grad=False) == pytest.approx(0, abs=1e-9)


def test_small_alpha_student_decouples_and_kappa_follows_gardner():
    """As α → 0 the max-margin student decorrelates (R → 0: ε → 1/2) and κ*(α) → the inverse of Gardner's α_c(κ)."""
    s = theory.solve(0.02, 1.0, "random")
    assert s["eps"] > 0.45
    assert theory.gardner_capacity(s["kappa"]) == pytest.approx(0.02, rel=0.05)


def test_unpruned_maximal_stability_values_and_asymptote():
    """ε(α = 2) = 0.1885 (≈ 0.189, the classical maximal-stability value) and α ε → 0.5005 (Opper et al. 1990).
    The Gibbs-learning value ε(2) ≈ 0.25 or the Hebb rule's ≈ 0.28 would miss by > 0.06."""
    assert theory.unpruned_error(2.0) == pytest.approx(0.1885, abs=5e-4)
    assert 1000 * theory.unpruned_error(1000.0) == pytest.approx(0.5005, abs=2e-4)
    assert 100 * theory.unpruned_error(100.0) == pytest.approx(0.5004, abs=5e-4)


def test_keep_hard_perfect_metric_keeps_support_vectors():
    """Keep-hard, θ = 0, α_prune above a few: ε ≈ 0.5·f/α_prune = the unpruned ε at α_tot (within 2%)."""
    for f, a_tot in ((0.1, 50.0), (0.3, 20.0)):
        e = theory.pruned_error(a_tot, f, "hard")
        assert e == pytest.approx(0.5 * f / (f * a_tot), rel=0.02)
        assert e == pytest.approx(theory.unpruned_error(a_tot), rel=0.02)


def test_random_pruning_is_unpruned_at_alpha_prune_and_f_one_is_rule_free():
    assert theory.pruned_error(10.0, 0.3, "random") == pytest.approx(theory.unpruned_error(3.0), rel=1e-10)
    for rule in theory.RULES:
        assert theory.pruned_error(4.0, 1.0, rule, 20.0) == pytest.approx(theory.unpruned_error(4.0), rel=1e-9)


def test_easy_wins_scarce_hard_wins_abundant():
    """Paper's qualitative claim: keep-easy below the crossover, keep-hard above it (differences ≫ 1e-3)."""
    f = 0.25
    assert theory.pruned_error(3.0, f, "easy") < theory.pruned_error(3.0, f, "hard") - 0.1
    assert theory.pruned_error(40.0, f, "hard") < theory.pruned_error(40.0, f, "easy") - 0.005


def test_frontier_in_alpha_prune_beats_power_law_with_perfect_metric():
    """min over f of ε at fixed α_prune (pool α_prune/f), f down to 0.02: between α_prune = 1.5 and 3 the frontier
    falls with a local decay rate > 4 (unpruned: ~0.6; a power law keeps one rate), ending ≥ 30× below unpruned;
    past the smallest f it rejoins 0.5·f_min/α_prune. An imperfect metric (θ = 10°) keeps a rate < 2.5."""
    fs = (0.02, 0.05, 0.1, 0.2, 0.4, 1.0)
    aps = np.array([1.5, 3.0])
    front = np.array([min(theory.pruned_error(a / f, f, "hard") for f in fs) for a in aps])
    rate = -np.diff(np.log(front))[0] / np.diff(np.log(aps))[0]
    unp = np.array([theory.unpruned_error(a) for a in aps])
    assert rate > 4.0 and -np.diff(np.log(unp))[0] / np.log(2) < 0.7
    assert front[1] * 30 < unp[1]
    bad = np.array([min(theory.pruned_error(a / f, f, "hard", 10.0) for f in fs) for a in aps])
    assert -np.diff(np.log(bad))[0] / np.log(2) < 2.5


def test_imperfect_metric_makes_aggressive_pruning_fail():
    """At α_tot = 6, keep-hard with f = 0.4: θ = 0 → ε ≈ unpruned (0.089 vs 0.080); θ = 30° → 0.20, worse than
    keeping everything; ε grows monotonically with θ."""
    e = [theory.pruned_error(6.0, 0.4, "hard", t) for t in (0.0, 10.0, 20.0, 30.0)]
    assert all(np.diff(e) > 0.01)
    assert e[0] < 1.2 * theory.unpruned_error(6.0) < e[-1] / 2


def test_small_theta_continuous_with_theta_zero():
    """The θ > 0 (two-order-parameter) solver at θ = 1e-3° equals the θ = 0 solver (same kept set to O(θ))."""
    for rule in ("hard", "easy"):
        for a in (4.0, 10.0):
            assert theory.pruned_error(a, 0.5, rule, 1e-3) == pytest.approx(theory.pruned_error(a, 0.5, rule, 0.0), abs=1e-6)


def test_saddle_point_is_the_max_margin_over_overlaps():
    """κ* is the maximum over (R, ρ) of κ(R, ρ) solving Ψ = 0: perturbing the solved overlaps lowers κ (θ = 20°)."""
    f, rule, th, a = 0.4, "hard", 20.0, 2.0
    s = theory.solve(a, f, rule, th)
    prob = theory._Problem(f, rule, th)
    for dR, dr in ((0.02, 0), (-0.02, 0), (0, 0.02), (0, -0.02)):
        R, rho = s["R"] + dR, s["rho"] + dr
        k = theory._kappa_at(prob, a, R, rho, math.sqrt(1 - R * R - rho * rho))
        assert k < s["kappa"] - 1e-7
    assert s["residual"] < 1e-9


@pytest.mark.parametrize("bad", [dict(f=0.0), dict(f=1.5), dict(theta_deg=90.0), dict(theta_deg=-1.0),
                                 dict(alpha_tot=0.0), dict(alpha_tot=float("nan")), dict(rule="medium"),
                                 dict(alpha_tot=True)])
def test_bad_input_one_line(bad):
    kw = dict(alpha_tot=2.0, f=0.5, rule="hard", theta_deg=0.0) | bad
    with pytest.raises(ValueError) as e:
        theory.pruned_error(**kw)
    assert "\n" not in str(e.value) and list(bad)[0].split("_deg")[0] in str(e.value)
