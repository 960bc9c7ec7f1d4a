"""Theory of the lottery family: predicted exponents, their regimes, the mirror-pair expansion."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from simulators.harness.fit import window_slope
from simulators.lottery import theory
from simulators.lottery.config import LotteryConfig
from simulators.lottery.model import act_and_grad


def test_lottery_predicted_exponents_values_and_references():
    cfg = LotteryConfig()
    e, a = theory.predicted_exponent(cfg, "ensembling"), theory.predicted_exponent(cfg, "approximation")
    assert e.value == 1.0 and "Liu & Tegmark" in e.reference
    assert a.value == 4.0 and "Sharma & Kaplan" in a.reference
    assert theory.predicted_exponent(cfg, "approximation", d=2).value == 2.0


@pytest.mark.parametrize("kw,mech,match", [
    (dict(target="sin"), "ensembling", "even target"),
    (dict(target="abs"), "approximation", "C² target"),
    (dict(), "kernel", "mechanism must be"),
])
def test_lottery_theory_refuses_outside_regime(kw, mech, match):
    with pytest.raises(ValueError, match=match):
        theory.predicted_exponent(LotteryConfig(**kw), mech)


def test_lottery_theory_refuses_relu_taylor_and_bad_d():
    with pytest.raises(ValueError, match="smooth activation"):
        theory.mirror_pair_coefficients(1.0, 0.0, 1.0, "relu")
    with pytest.raises(ValueError, match="d"):
        theory.predicted_exponent(LotteryConfig(), "approximation", d=0)


@given(a=st.floats(0.1, 6.0), l0=st.floats(1e-8, 1e3), n0=st.integers(1, 100))
def test_lottery_predicted_loss_slope_is_the_exponent(a, l0, n0):
    n = np.geomspace(4, 4096, 11)
    curve = theory.predicted_loss(n, a, (n0, l0))
    assert abs(window_slope(n, curve, (n[0], n[-1])) - a) < 1e-9
    assert np.all(np.diff(curve) < 0)       # monotone decreasing in N


def _pair(x, w, b, v, act):
    return v * (act_and_grad(w * x + b, act)[0] + act_and_grad(-w * x + b, act)[0])


@pytest.mark.parametrize("act", ["silu", "tanh", "gelu"])
@given(w=st.floats(0.2, 2.0), b=st.floats(-2.0, 2.0), v=st.floats(-1.0, 1.0).filter(lambda t: abs(t) > 1e-3))
def test_lottery_mirror_pair_expansion_matches_the_pair(act, w, b, v):
    """c0 + c2 x² + c4 x⁴ matches v[σ(wx+b) + σ(−wx+b)] up to O(x⁶), and the pair is even in x."""
    c0, c2, c4 = (float(c) for c in theory.mirror_pair_coefficients(w, b, v, act))
    h = 0.04 / w
    xs = torch.tensor([h, 2 * h, 3 * h], dtype=torch.float64)
    f = _pair(xs, w, b, v, act)
    torch.testing.assert_close(f, _pair(-xs, w, b, v, act), rtol=1e-13, atol=1e-15)
    resid = (f - (c0 + c2 * xs ** 2 + c4 * xs ** 4)).abs()
    scale = abs(v) * (w * xs) ** 6                                    # O(x⁶) with σ^(6) = O(1)
    assert torch.all(resid <= scale + 1e-13), (resid, scale)   # 2|σ⁽⁶⁾|/720 < 1 for these σ
    # negative control: dropping the quartic residual leaves an error of order c4 x⁴ at the largest x
    if abs(c4) * (3 * h) ** 4 > 10 * float(scale[-1]) + 1e-12:
        assert abs(float(f[-1]) - (c0 + c2 * (3 * h) ** 2)) > 0.5 * abs(c4) * (3 * h) ** 4


def test_lottery_silu_pair_coefficients_closed_form_at_zero_bias():
    """SiLU = x/2 + x²/4 − x⁴/48 + …: σ(0) = 0, σ''(0) = 1/2, σ''''(0) = −1/2."""
    c0, c2, c4 = theory.mirror_pair_coefficients(1.3, 0.0, 0.7, "silu")
    assert abs(float(c0)) < 1e-15 and abs(float(c2) - 0.7 * 1.3 ** 2 / 2) < 1e-12
    assert abs(float(c4) + 0.7 * 1.3 ** 4 / 24) < 1e-12


@pytest.mark.parametrize("target", ["x2", "sin", "exp"])
def test_approximation_exponent_equals_the_slope_of_piecewise_linear_interpolation(target):
    """Independent of the exponent code: the best piecewise-linear fit of a C² target with N knots has error
    ∝ h² f'' ∝ N^(−2), i.e. MSE ∝ N^(−4) in d = 1 (Sharma & Kaplan's 4/d). Measured here as the local log-log
    slope of the interpolation MSE of the target on [−1, 1] between N = 64 and 128 pieces (fine-grid quadrature),
    which must equal `predicted_exponent(..., "approximation")` within 0.02 (4/(d+1) = 2 or 2/d = 2 are far off).
    The ensembling exponent 1 is the variance of a mean of N i.i.d. ticket residuals, Var ∝ N^(−1)."""
    f = {"x2": lambda x: x * x, "sin": np.sin, "exp": np.exp}[target]
    xs = np.linspace(-1, 1, 200_001)
    mse = []
    for n in (64, 128):                                   # n intervals (n + 1 knots): h = 2/n
        knots = np.linspace(-1, 1, n + 1)
        mse.append(np.mean((np.interp(xs, knots, f(knots)) - f(xs)) ** 2))
    slope = -np.log(mse[1] / mse[0]) / np.log(128 / 64)
    pred = theory.predicted_exponent(LotteryConfig(target=target), "approximation").value
    assert pred == pytest.approx(slope, abs=0.02)
    assert theory.ensemble_variance_exponent() == pytest.approx(
        -np.log(np.var(np.random.default_rng(0).standard_normal((4000, 64)).mean(1)) /
                np.var(np.random.default_rng(1).standard_normal((4000, 16)).mean(1))) / np.log(4), abs=0.15)
