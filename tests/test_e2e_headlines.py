"""End-to-end verdicts (issue 14.6) for README headline rows that had no e2e pin: rf.model_limited (loss vs N,
linear features, P = ∞), rf.data_limited (excess loss vs P, N = ∞), collapse.ridge_scaling (ridge error vs T after
4 generations, clean λ), tails.generations (error vs generations n, β = 2), rf.compute_optimal (L* vs C) and
pruning.frontier (Pareto frontier decay rate, perfect metric θ = 0 and noisy metric θ = 10°).

Rule (tests/test_e2e_verdicts.py, "other families"): the headline row PASSES by >= 4 bootstrap SEs inside its
tolerance (`controls.require_pass(row, 4)`) at overrides where the EXPECTED margin is >= 5.5 SE, and the same stored
records analysed against the theory shifted by ±2 tolerances (`controls.shifted_row`: exponent and window slope, no
second simulation) FAIL by >= 3 SE on both sides (`controls.require_fail(row, 3)`). ±2 rather than ±1.5 tolerances
throughout: most of these rows sit 0.05-0.4 tolerance off their target on one side, so a 1.5-tolerance shift there
would sit only 1.0-3.4 SE outside (numbers per test). No simulated number is hard-coded; the numbers in the
docstrings were measured 2026-12-01 on this 2-core CPU, one torch thread.

Cost: ≈ 140 s for the file (pytest --durations, one thread, under the CPU lock): 62-71 s for the first four
rows, 57-61 s for rf.compute_optimal + pruning.frontier at θ = 0 (fixtures 18-19 s and 28-32 s, the
compute-optimal shifted re-analyses 4-5 s each: the theory frontier is recomputed); θ = 10° adds ≈ 20 s. The runs skip the report files (`report=False`: the
verdict rows are the same analysis; the matplotlib figures cost 4-8 s per run here and are tested elsewhere).
Margins were checked on independent seed blocks of larger runs (no experiment here has a seed offset: one run of
2-4× the seeds, re-analysed on disjoint seed blocks; a margin is a property of the sizes, not of one draw): stated
per test.

Not pinned here (budget; numbers measured 2026-12-01, one thread):
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


# ---------------------------------------------------------------- rf.compute_optimal
CO = dict(seeds=24)
CO_ROW = "L*"


@pytest.fixture(scope="module")
def compute_optimal(tmp_path_factory):
    return _run(tmp_path_factory, "rf.compute_optimal", CO)


@pytest.mark.slow
def test_rf_compute_optimal_loss_frontier_passes(compute_optimal):
    """Compute-optimal frontier of gradient flow (a = 2, b = 1.5, M = 5120, N = 16..512, C = 2e3..2e5: default),
    L* vs C: per seed, min over the N grid of L(N, C/N) (parabola-refined), fit over the budgets where N* is
    interior, against the theory frontier's window slope (≈ 0.392; asymptotically m(a−1)/(a−1+bm) = 0.4), tolerance
    0.07 (default). 24 seeds (default 4: 0.337, 3.3 SE from a 4-seed bootstrap). Measured 2026-12-01: 0.3636 vs
    0.3922, SE 0.0065, margin 6.4 SE; seeds 24-47 (one 48-seed run re-analysed in blocks): 0.3737 vs 0.3913, SE
    0.0079, 6.6 SE; all 48: 0.3679 vs 0.3913, SE 0.0056, 8.3 SE. The simulation sits 0.023 ± 0.006 (48 seeds) BELOW
    the theory, on both blocks (−0.029 / −0.018; seeds 0-15 alone −0.038): a bias of the per-seed frontier
    estimator (min over N of one noisy draw's curve, E[min] < min E), not of the theory: the frontier of the
    48-seed MEAN loss curves has slope 0.399 (blocks 0.395 / 0.399) vs 0.391, and the mean loss is within 1% of the
    theory curve at N = 32, 128, 512. Expected margin (0.07 − 0.023) / 0.0072 ≈ 6.5 SE. Fixture ≈ 19 s."""
    controls.require_pass(controls.row(compute_optimal.report["rows"], CO_ROW), 4)


@pytest.mark.slow
@pytest.mark.parametrize("sign", [+1, -1])
def test_rf_compute_optimal_nearby_wrong_theory_fails(compute_optimal, sign):
    """δ = ±2 tolerances (0.14): measured FAIL margins 15.2 (+) and 6.4 (−) SE; ±1.5 tolerances would give
    9.8 / 1.0 SE (the − side is not resolved: the simulation sits 0.4 tolerance below). ≈ 4-5 s each (re-analysis)."""
    row = _shifted("rf.compute_optimal", CO, compute_optimal, RF, CO_ROW, sign * 2 * 0.07)
    controls.require_fail(row, 3)


# ---------------------------------------------------------------- pruning.frontier
PF = dict(seeds=48, thetas=(0.0, 10.0))
PF_ROW = "Pareto frontier ε (hard, θ = 0°)"
PF_ROW10 = "Pareto frontier ε (hard, θ = 10°)"
PRUNING = "simulators.data_pruning.experiments"


@pytest.fixture(scope="module")
def pruning_frontier(tmp_path_factory):
    return _run(tmp_path_factory, "pruning.frontier", PF)


@pytest.mark.slow
def test_pruning_frontier_perfect_metric_passes(pruning_frontier):
    """Keep-hard pruning with a perfect metric (θ = 0; N = 200, α_prune = 1, 2, 3, 4, f = 0.1, 0.3, 1: default):
    the Pareto frontier min_f ε (best f of the simulated means, per seed at that f) vs α_prune, its fitted decay
    rate against the theory frontier's window slope (≈ 2.311; the asymptotic 1 of the unpruned power law is what the
    frontier must beat), tolerance 0.1 (default). Overrides: 48 seeds (default 30); θ = 10° shares the run (next
    tests; the draws do not depend on which θ share the batch -- seeds 0-35 give the same 2.3025 with or
    without it). At default (30 seeds) the row passes by 5.2 SE (SE 0.016); 24-seed blocks of a 96-seed run give
    2.291 / 2.342 / 2.362 / 2.351 (SE 0.012-0.019, margins 4.3 / 3.9 / 3.9 / 5.2): 24-30 seeds do not meet the
    rule. Measured 2026-12-01: 2.3163 vs 2.3111, SE 0.0130, margin 7.3 SE; seeds 48-95: 2.3563, SE 0.0085, 6.5 SE;
    all 96: 2.3315, SE 0.0091, 8.7 SE: the simulation sits 0.020 ± 0.009 above the theory (2.2 SE, not resolved),
    expected margin (0.1 − 0.020) / 0.0129 ≈ 6.2 SE. Fixture ≈ 50 s with θ = 10° (max-margin solves up to P = 800;
    ≈ 30 s for θ = 0 alone)."""
    controls.require_pass(controls.row(pruning_frontier.report["rows"], PF_ROW), 4)


@pytest.mark.slow
@pytest.mark.parametrize("sign", [+1, -1])
def test_pruning_frontier_nearby_wrong_theory_fails(pruning_frontier, sign):
    """δ = ±2 tolerances (0.2): measured FAIL margins 7.3 (+) and 8.1 (−) SE; ±1.5 tolerances: 3.4 / 4.2 SE, but
    with the 96-seed offset (+0.020) the + side would be expected at only ≈ 2.3 SE. ≈ 1 s each."""
    row = _shifted("pruning.frontier", PF, pruning_frontier, PRUNING, PF_ROW, sign * 2 * 0.1)
    controls.require_fail(row, 3)


@pytest.mark.slow
def test_pruning_frontier_noisy_metric_passes(pruning_frontier):
    """The same frontier with an imperfect pruning metric, θ = 10° between the metric's teacher and the true one
    (README headline: 1.370 at default), against the theory frontier's window slope (≈ 1.357), tolerance 0.1.
    Measured (2026-12-01, one thread, before this fixture shared the run): 72 seeds 1.3809, SE 0.0088 (8.7 SE);
    36-seed blocks 1.3672 (SE 0.0117, 7.7 SE) / 1.3946 (SE 0.0120, 5.2 SE); at 48 seeds the expected margin is
    (0.1 − 0.024) / 0.0107 ≈ 7 SE; measured on this fixture (seeds 0..47): 1.3736 vs 1.3574, SE 0.0101,
    8.3 SE. The nearest wrong theory, the perfect-metric frontier (≈ 2.31), is ≈ 9
    tolerances away; the unpruned power law (≈ 0.74) ≈ 6."""
    controls.require_pass(controls.row(pruning_frontier.report["rows"], PF_ROW10), 4)


@pytest.mark.slow
@pytest.mark.parametrize("sign", [+1, -1])
def test_pruning_frontier_noisy_metric_nearby_wrong_theory_fails(pruning_frontier, sign):
    """δ = ±2 tolerances (0.2) on the θ = 10° row: expected FAIL margins ≈ (0.1 ∓ 0.024) / 0.0107 ≈ 7 / 11 SE;
    measured 8.3 (+) / 11.5 (−)."""
    row = _shifted("pruning.frontier", PF, pruning_frontier, PRUNING, PF_ROW10, sign * 2 * 0.1)
    controls.require_fail(row, 3)
