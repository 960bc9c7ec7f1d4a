"""End-to-end verdicts (issue 14.6) for README headline rows that had no e2e pin: rf.model_limited (loss vs N,
linear features, P = ∞), rf.data_limited (excess loss vs P, N = ∞), collapse.ridge_scaling (ridge error vs T after
4 generations, clean λ) and tails.generations (error vs generations n, β = 2).

Rule (tests/test_e2e_verdicts.py, "other families"): the headline row PASSES by >= 4 bootstrap SEs inside its
tolerance (`controls.require_pass(row, 4)`) at overrides where the EXPECTED margin is >= 5.5 SE, and the same stored
records analysed against the theory shifted by ±2 tolerances (`controls.shifted_row`: exponent and window slope, no
second simulation) FAIL by >= 3 SE on both sides (`controls.require_fail(row, 3)`). ±2 rather than ±1.5 tolerances
throughout: each of these rows sits 0.007-0.011 (0.15-0.25 tolerance) off its target on the side of the − shift,
so a 1.5-tolerance shift there would sit only 2.1-2.6 SE outside (numbers per test). No simulated number is
hard-coded; the numbers in the docstrings were measured 2026-12-01 on this 2-core CPU, one torch thread.

Cost: 62-71 s for the file (pytest --durations, one thread, under the CPU lock). The runs skip the report files
(`report=False`: the verdict rows are the same analysis; the matplotlib figures cost 4-8 s per run here and are
tested elsewhere). Margins were checked on independent seed blocks of larger runs (a margin is a property of the
sizes, not of one draw): stated per test.

Not pinned here (budget; numbers measured 2026-12-01, one thread):
- rf.compute_optimal L* vs C (tolerance 0.07): the simulation sits 0.03-0.04 BELOW the theory frontier's slope
  (16 seeds: 0.354 vs 0.392, SE 0.0071, margin 4.5 SE; 8-seed blocks 0.349 / 0.358; docs/rng-migration.md, 24 seeds:
  0.364, SE 0.0064). 24 seeds would give an expected ≈ 6 SE, at ≈ 20 s for the fixture (9.6 s of simulation per 16
  seeds + 4.2 s analysis) plus ≈ 4 s per shifted re-analysis: ≈ 28 s, over what this file had left of its 90 s.
- pruning.frontier (θ = 0 / 10°, tolerance 0.1): at default (30 seeds, 26 s of simulation) margins 5.2 / 6.5 SE
  (SE 0.016 / 0.0135); ≈ 36 seeds (≈ 32 s) for an expected 5.5 SE on θ = 0.
- rf.variance_limited (axis N, tolerance 0.05): at default (48 seeds, 6.7 s) SE 0.025, margin 1.6 SE; an expected
  5.5 SE needs SE <= 0.007, ≈ 12× the seeds (≈ 580 seeds, ≈ 80 s of simulation).
"""
import pytest

from simulators.harness import controls, run_experiment

RF = "simulators.random_features.experiments"
COLLAPSE = "simulators.model_collapse.experiments"


def _run(tmp_path_factory, name, over, scale="default", **kw):
    out = tmp_path_factory.mktemp(name.replace(".", "_"))
    return run_experiment(name, scale=scale, overrides=over, out=out, device="cpu", report=False, **kw)


def _shifted(name, over, res, module, prefix, delta, scale="default"):
    return controls.shifted_row(name, scale, over, res.records, module, prefix, delta, base_rows=res.report["rows"])


# ---------------------------------------------------------------- collapse.ridge_scaling
RIDGE = dict(seeds=128, n_values=(0, 4), T_values=(256, 512, 1024, 2048))
RIDGE_ROW = "ridge error (n = 4, clean λ)"


@pytest.fixture(scope="module")
def ridge(tmp_path_factory):
    return _run(tmp_path_factory, "collapse.ridge_scaling", RIDGE)


def test_collapse_ridge_scaling_after_four_generations_passes(ridge):
    """Ridge error vs T after n = 4 OLS generations, clean schedule λ = T^-ℓ_crit (d = 64, β = 2, r = ½, T0 = 256:
    default), the row's window T ∈ [256, 2048] (last decade, as at default), 128 seeds × 4 chains (default 16): the
    error GROWS with T (decay rate −1/3 asymptotically; target the ridge deterministic equivalent's window slope
    ≈ −0.189), tolerance 0.05 (default; max(0.05, 2 SE) by the row's rule, 0.05 here). At default (16 seeds) the
    row passes by 2.1 SE only (SE 0.021). Measured 2026-12-01: −0.198, SE 0.0067, margin 6.0 SE; the full default T
    grid (another stream: the chains depend on the grid) gave −0.193, SE 0.0069, 6.6 SE; 32-seed blocks: −0.190 /
    −0.210 / −0.197 / −0.197 (SE ≈ 0.013), so the DE sits ≈ 0.007 above the simulation (it is not exact at finite
    d): expected margin (0.05 − 0.007) / 0.0068 ≈ 6.3 SE. Fixture ≈ 4 s."""
    controls.require_pass(controls.row(ridge.report["rows"], RIDGE_ROW), 4)


@pytest.mark.parametrize("sign", [+1, -1])
def test_collapse_ridge_scaling_nearby_wrong_theory_fails(ridge, sign):
    """δ = ±2 tolerances (0.1; e.g. the collapse rate −1/3 read as the clean one's complement): measured FAIL margins
    8.9 (+) and 6.0 (−) SE; ±1.5 tolerances would give 5.2 / 2.3 SE (the − side is not resolved)."""
    row = _shifted("collapse.ridge_scaling", RIDGE, ridge, COLLAPSE, RIDGE_ROW, sign * 2 * 0.05)
    controls.require_fail(row, 3)


# ---------------------------------------------------------------- tails.generations
TGEN = dict(seeds=256, vocab=5000, T_values=(1024, 2048, 4096, 8192))
TGEN_ROW = "error at T = 8192 vs generations n"


@pytest.fixture(scope="module")
def tgen(tmp_path_factory):
    return _run(tmp_path_factory, "tails.generations", TGEN)


def test_tails_generations_floor_passes(tgen):
    """Hutter model trained on generation n of the T0 = 1000 empirical-law chain (Zipf β = 2, n = 1, 2, 4, 8, 16:
    default), error at the largest T vs n: the floor (n/T0)^(1−1/β) grows with n; target the exact Wright–Fisher
    expectation's window slope (≈ −0.395), tolerance 0.05 (default). Overrides: 256 seeds (default 32), T up to
    8192 (default 2^17) and vocab 5000 (default 1e5; >= 10·T^(1/β) as the config requires): the error at large T is
    the mass of the tokens the chain lost (the floor), so the row is the default's to 0.001 in the target (−0.3948
    here vs −0.3936 at default) and in the measurement (same chains: 2^17 and vocab 1e5 gave −0.4071 vs −0.4054
    here), at a tenth of the cost. At default (32 seeds) the row passes by 4.5 SE (SE 0.0106). Measured 2026-12-01:
    −0.4054, SE 0.0055, margin 7.2 SE; 64-seed blocks −0.405 / −0.414 / −0.408 / −0.395 (SE ≈ 0.011): the
    simulation sits ≈ 0.011 steeper than the exact curve (≈ 2 SE, not resolved; the pointwise check of the
    experiment holds every point within 3 SE), expected margin (0.05 − 0.011) / 0.0055 ≈ 7 SE. Fixture ≈ 4.5 s."""
    controls.require_pass(controls.row(tgen.report["rows"], TGEN_ROW), 4)


@pytest.mark.parametrize("sign", [+1, -1])
def test_tails_generations_nearby_wrong_theory_fails(tgen, sign):
    """δ = ±2 tolerances (0.1; e.g. the floor's −(1−1/β) = −0.5 asymptote in place of the window slope −0.395 is
    about this far): measured FAIL margins 11.1 (+) and 7.2 (−) SE; ±1.5 tolerances: 6.5 / 2.6 SE."""
    row = _shifted("tails.generations", TGEN, tgen, COLLAPSE, TGEN_ROW, sign * 2 * 0.05)
    controls.require_fail(row, 3)


# ---------------------------------------------------------------- rf.model_limited
ML = dict(seeds=48, activations=("linear",))
ML_ROW = "loss (linear features, P=∞)"


@pytest.fixture(scope="module")
def model_limited(tmp_path_factory):
    # 8 instances per batch: one batch of 48 seeds at N = 512 would hold 2 × 48 × 512 × 5120 float64 (2 GB)
    return _run(tmp_path_factory, "rf.model_limited", ML, max_instances_per_batch=8)


@pytest.mark.slow
def test_rf_model_limited_passes(model_limited):
    """Random-feature projection at P = ∞, linear features, N = 32..512 (M = 5120, a = 2, b = 1.5: default), loss
    vs N against the projection theory curve's window slope (≈ 1.010; asymptotically min(a−1, b) = 1), tolerance
    0.05 (default). The README's default row FAILS (6 seeds: 0.946 [0.920, 0.972], a 6-seed bootstrap under-covers);
    48 seeds (linear only; the ReLU row is descriptive) pass. Measured 2026-12-01: 0.9986, SE 0.0068, margin 5.8 SE;
    seeds 48-95: 0.9992, SE 0.0065, 6.1 SE; 96 seeds 0.9989, SE 0.0047 (8.3 SE); 24-seed blocks 0.992 / 1.005 /
    1.015 / 1.009 (SE ≈ 0.009): the simulation sits ≈ 0.008 below the curve's slope, expected margin
    (0.05 − 0.008) / 0.0067 ≈ 6.3 SE. Fixture ≈ 13 s."""
    controls.require_pass(controls.row(model_limited.report["rows"], ML_ROW), 4)


@pytest.mark.slow
@pytest.mark.parametrize("sign", [+1, -1])
def test_rf_model_limited_nearby_wrong_theory_fails(model_limited, sign):
    """δ = ±2 tolerances (0.1; e.g. min(a−1, b) confused with b − ½ or a − 1 + 0.1-ish readings of the spectrum):
    measured FAIL margins 9.0 (+) and 5.8 (−) SE; ±1.5 tolerances: 5.3 / 2.1 SE."""
    row = _shifted("rf.model_limited", ML, model_limited, RF, ML_ROW, sign * 2 * 0.05)
    controls.require_fail(row, 3)


# ---------------------------------------------------------------- rf.data_limited
DL = dict(seeds=96, relu_Ps=(8, 16), relu_N=64)
DL_ROW = "excess loss (latent regression, N=∞)"


@pytest.fixture(scope="module")
def data_limited(tmp_path_factory):
    return _run(tmp_path_factory, "rf.data_limited", DL, max_instances_per_batch=8)


@pytest.mark.slow
def test_rf_data_limited_passes(data_limited):
    """Ridgeless regression on the latents (N = ∞), P = 32..512 (M = 5120, a = 2, b = 1.5: default), excess loss vs
    P against the ridge deterministic equivalent's window slope (≈ 1.033; asymptotically min(a−1, 2b) = 1),
    tolerance 0.05 (default). 96 seeds (default 6); the descriptive ReLU row is shrunk to relu_N = 64, P = 8, 16
    (it has no verdict). At default the row passes by 1.1 SE (SE 0.0145 from a 6-seed bootstrap). Measured
    2026-12-01: 48 seeds 1.0232, SE 0.0077, 5.2 SE; 64 seeds 1.0179, SE 0.0067, 5.3 SE; 96 seeds 1.0220, SE 0.0057,
    6.8 SE; 24-seed blocks 1.027 / 1.019 (SE ≈ 0.0107): the simulation sits ≈ 0.011 below the curve's slope, so the
    expected margin at 96 seeds is (0.05 − 0.011) / 0.0057 ≈ 6.8 SE (64 seeds: ≈ 5.7, too close to the 5.5 rule).
    Fixture ≈ 34 s (the ridgeless solves at P = 512 over M = 5120 latents; the largest fixture of this file)."""
    controls.require_pass(controls.row(data_limited.report["rows"], DL_ROW), 4)


@pytest.mark.slow
@pytest.mark.parametrize("sign", [+1, -1])
def test_rf_data_limited_nearby_wrong_theory_fails(data_limited, sign):
    """δ = ±2 tolerances (0.1): measured FAIL margins 10.6 (+) and 6.8 (−) SE; ±1.5 tolerances: 6.3 / 2.5 SE (the
    − side is not resolved)."""
    row = _shifted("rf.data_limited", DL, data_limited, RF, DL_ROW, sign * 2 * 0.05)
    controls.require_fail(row, 3)
