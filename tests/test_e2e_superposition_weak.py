"""End-to-end verdicts of superposition.weak (issue 14.6): the power:1.5 row is EXPECTED to FAIL, and does so for
its stated reason (partial superposition); the power:2.0 row's PASS is NOT pinned (why, with numbers, below).

Rules as in tests/test_e2e_verdicts.py, margins through simulators.harness.controls (bootstrap SEs over seeds).

Pinned: power:1.5, γ = 0.1 (docs/reproduce-default.md: 0.931 vs the finite-n window slope 0.672 at default, FAIL;
"the a = 1.5 weak-superposition partial representation"). The weak theory assumes only the m most frequent features
are represented; at γ = 0.1 up to ~3× m rows keep ‖W_i‖ > 1/2, so the loss falls below the 'm most frequent' tail
curve, and ever more so as m grows: the fitted exponent is far steeper than the curve's. Overrides: default scale,
laws power:1.5, n = 128, widths (4, 32, 64) (the default span 4..64 in three widths), 4 seeds (4000 steps, batch 256,
lr 0.01 as default). Measured 2026-12-01 (one core): exponent 1.392 vs window slope 0.814, stderr 0.059: FAIL by 8.05
SE; a second stream (seeds 4-7 of an 8-seed run, re-analysed as seeds 0-3) gave 1.353, stderr 0.055: FAIL by 8.05 SE
(8-seed run: 1.373, stderr 0.040, 11.6 SE). Fixture ≈ 36-45 s on one core (slow).

NOT pinned: the power:2.0 PASS (tolerance 0.1, target the finite-n curve's window slope). Its seed-to-seed spread is
large and heavy-tailed: at small m a seed sometimes loses one of the top features (n = 128, m = 4, seed 13 of 16:
3 rows represented, loss_sum 0.31 vs 0.13-0.18 for the other 15), and at m = 8..16 the represented count is bimodal
(n = 256, m = 8: 6 vs 13 rows, loss 0.143 vs 0.072). Measured (power:2.0 alone, γ = 0.1, 4000 steps, batch 256;
measured - target = bias; margin = (0.1 - |bias|)/SE):
  default n = 256, m = 4..64,  3 seeds: 1.034 vs 1.051, stderr 0.029, PASS by 2.9 SE, 47 s (both laws, 6 seeds: 1.2 SE, 93 s)
  n = 128,        m = 4..64,  8 seeds: 1.171 vs 1.181, stderr 0.019, PASS by 4.7 SE, 86 s
  n = 128,  m = (4, 32, 64), 16 seeds: 1.176 vs 1.165, stderr 0.024, PASS by 3.8 SE, 110 s (its first 8 seeds alone
            suggested 6.8 SE: the outlier sits in seeds 8-15, so 8-seed SEs are optimistic)
  n = 128,  m = (4, 32, 64), 8 seeds, γ = 0.3: 0.871 vs 1.165, FAIL (decay erases features: represented/m 0.65 at m = 64)
  n = 128,  m = 4..64, 8 seeds, 2000 steps, lr 0.02: 0.995 vs 1.181, stderr 0.023, FAIL by 3.8 SE (m = 64 not learned:
            local slope 32->64 0.63), 44 s
  other law, power:2.5 (a - 1 = 1.5), n = 128, m = 4..64, 8 seeds: 1.060 vs 1.581, FAIL by 16 SE (rare features at
            m >= 32 not learned in 4000 steps: represented/m 1.01 / 0.67 at m = 32 / 64), 90 s
Smaller windows do not help: m in [4, 32] has bias +0.10 to +0.15 (partial superposition at m = 16-32 steepens the
curve) and windows starting at m >= 8 have per-seed sd 0.14-0.25. At γ = 0.1 the default PASS rests on a balance of
partial superposition (steeper) against unlearned rare features at m = 64 (flatter: local slope 32->64 0.66 vs the
curve's 1.21 at default). An expected margin >= 5.5 SE needs stderr <= 0.016 (n = 128, 4..64; per-seed sd ≈ 0.06-0.095)
i.e. ~12-35 seeds, 130-240 s on one core: over this file's 80 s budget. Left for the lead's decision.
"""
import numpy as np
import pytest

from simulators.harness import controls, run_experiment
from simulators.superposition import theory

SCALE = "default"
FAIL_OVER = dict(laws=("power:1.5",), n=128, widths=(4, 32, 64), seeds=4)
FAIL_ROW = "loss_sum (power:1.5, γ=0.1)"
PARTIAL = 1.3          # analyze_weak's threshold: max(n_represented / m) >= 1.3 -> "partial superposition" note


@pytest.fixture(scope="module")
def weak15(tmp_path_factory):
    out = tmp_path_factory.mktemp("superposition_weak15")
    return run_experiment("superposition.weak", scale=SCALE, overrides=FAIL_OVER, out=out, device="cpu")


def _per_seed(res, key, m):
    return np.array([r.metrics[key] for r in res.records if int(r.point["m"]) == m], float)


@pytest.mark.slow
def test_weak_power15_row_fails_too_steep(weak15):
    """The power:1.5 row FAILS by >= 4 SE (measured 8.05 SE on both streams, expected ≈ 8) on the steep side: the
    measured exponent exceeds the finite-n curve's window slope by more than the tolerance (too steep, as partial
    representation makes it, not too shallow as erased features would). The report states the reason: the row's
    note says "partial superposition" (the analysis' own diagnostic, max represented/m >= 1.3)."""
    row = controls.row(weak15.report["rows"], FAIL_ROW)
    controls.require_fail(row, 4)
    assert row["measured_exponent"] > row["theory_window_slope"] + row["tolerance"], row
    assert "partial superposition" in row["note"], row["note"]


@pytest.mark.slow
@pytest.mark.parametrize("m", [32, 64])
def test_weak_power15_fails_for_the_stated_reason(weak15, m):
    """The stated reason, asserted on its own quantities at the two large fit widths (per seed, 4 seeds):
    (1) more than PARTIAL·m = 1.3 m rows keep ‖W_i‖ > 1/2 (the theory assumes m): measured 93.8 / 121.5 rows at
    m = 32 / 64 (of n = 128), z vs 1.3 m = 23 / 21 (second stream 17 / 18); the nearest wrong variant, the theory's
    own assumption (≈ m rows), is further still. Asserted at z >= 6.
    (2) the loss lies BELOW the 'm most frequent features' tail curve (n · predicted_loss_weak): mean log(L / curve)
    = -1.01 (se 0.075) / -1.85 (se 0.12), second stream -0.93 (0.083) / -1.71 (0.21): z = 8-13; the curve itself
    (log ratio 0) is the nearest wrong variant. Asserted below 0 by >= 6 se."""
    nrep = _per_seed(weak15, "n_represented", m)
    assert len(nrep) == FAIL_OVER["seeds"]
    se = nrep.std(ddof=1) / np.sqrt(len(nrep))
    assert nrep.mean() - PARTIAL * m >= 6 * se, (nrep, m)
    j = FAIL_OVER["widths"].index(m)
    curve = theory.predicted_loss_weak(FAIL_OVER["n"], FAIL_OVER["widths"], "power:1.5")[j] * FAIL_OVER["n"]
    lr = np.log(_per_seed(weak15, "loss_sum", m) / curve)
    assert lr.mean() <= -6 * lr.std(ddof=1) / np.sqrt(len(lr)), (lr, curve)
