"""End-to-end verdicts that need more than smoke sizes (issue 14.6, the remainder of tests/test_e2e_verdicts.py):
one headline row per family whose row only resolves at (or near) the default scale, each run once at overrides
chosen from the default run's own statistics (default scale restricted to the one law / (α, β) point, seeds
scaled so the expected margin clears 4 SE; not minimised further) where the row PASSES by >= 4 bootstrap SEs at its own default tolerance, and the
nearby wrong theory (the same stored records re-analysed with the row's theory exponent AND its window slope
shifted by δ, the family's `compare` wrapped, no second simulation) FAILS by >= 3 SEs on BOTH sides.
Same rules and helpers as tests/test_e2e_verdicts.py (copied: test modules are not importable packages here).
No simulated number is hard-coded; the expected margins stated per test were measured once on the current
streams (Philox) and the asserted 4 / 3 SE sit below them.

Each test is marked slow (tens of seconds on one core); the file as a whole is budgeted to <= ~4 min CPU in CI.
Pinned: superposition.strong (exp:4) and plrf.phases (P* in phase Ia). Not pinned here, and why (statistics
and the ~90 s budget per family): memory.dim (its asymptotic exponents need d up to 2048, see
test_e2e_verdicts.py); superposition.weak (power:2.0 passes at default by 2.9 SE with 3 seeds, stderr 0.029;
with 6 seeds, 93 s on one core, it measured 0.995 vs the curve's 1.051, stderr 0.037: 1.2 SE, so the row is not
resolved to 4 SE within the ~90 s budget); plrf.phases d* in Ia (≈ 0.04 off
its target at default) and the phase II / III rows (1.8-3 SE at default's 12 seeds: >= 3× the seeds)."""
import dataclasses
import importlib

import pytest
import torch

from simulators.harness import get_experiment, run_experiment

pytestmark = pytest.mark.slow


def _se(row):
    lo, hi = row["ci95"]
    return (hi - lo) / (2 * 1.96)


def _target(row):
    return row["theory_window_slope"] if row["theory_window_slope"] is not None else row["theory_exponent"]


def _assert_pass_k(row, k):
    margin = row["tolerance"] - abs(row["measured_exponent"] - _target(row))
    print(f"PASS margin {margin / _se(row):.2f} SE (se {_se(row):.4f}): {row['quantity']}")
    assert row["pass"], row
    assert margin >= k * _se(row), (margin / _se(row), row)


def _assert_fail_k(row, k):
    margin = abs(row["measured_exponent"] - _target(row)) - row["tolerance"]
    print(f"FAIL margin {margin / _se(row):.2f} SE (se {_se(row):.4f}, theory {row['theory_exponent']:.3f}): "
          f"{row['quantity']}")
    assert not row["pass"], row
    assert margin >= k * _se(row), (margin / _se(row), row)


def _row(rows, prefix):
    hits = [r if isinstance(r, dict) else r.to_json() for r in rows]
    exact = [r for r in hits if r["quantity"] == prefix]
    hits = exact or [r for r in hits if r["quantity"].startswith(prefix)]
    assert len(hits) == 1, (prefix, [r["quantity"] for r in hits])
    return hits[0]


def _run(tmp_path_factory, name, scale, over):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp(name.replace(".", "_"))
    return run_experiment(name, scale=scale, overrides=over, out=out, device="cpu")


def _shifted_row(monkeypatch, name, scale, over, res, module, prefix, delta):
    """Re-analyse the stored records of `res` with the theory of the row named `prefix` shifted by δ (its
    exponent and, where the verdict uses one, the theory curve's window slope)."""
    mod = importlib.import_module(module)
    real = mod.compare

    def shifted(fit, prediction, **kw):
        if prediction is not None and kw["quantity"].startswith(prefix):
            prediction = dataclasses.replace(prediction, value=prediction.value + delta)
            if kw.get("theory_window_slope") is not None:
                kw["theory_window_slope"] = kw["theory_window_slope"] + delta
        return real(fit, prediction, **kw)

    monkeypatch.setattr(mod, "compare", shifted)
    exp = get_experiment(name)
    row = _row(exp.analyze(exp.config(scale, over), res.records).rows, prefix)
    base = _row(res.report["rows"], prefix)
    assert row["theory_exponent"] == pytest.approx(base["theory_exponent"] + delta)
    assert row["measured_exponent"] == pytest.approx(base["measured_exponent"])     # same records, same fit
    return row


# ---------------------------------------------------------------- superposition.strong
STRONG = dict(laws=("exp:4",))
STRONG_ROW = "loss_sum (exp:4, γ=-1)"
SUP = "simulators.superposition.experiments"


@pytest.fixture(scope="module")
def strong(tmp_path_factory):
    return _run(tmp_path_factory, "superposition.strong", "default", STRONG)


def test_superposition_strong_passes(strong):
    """Strong superposition (γ = −1), exp:4 law (τ = n/4) at the default scale with that one law (n = 512, m =
    4..64, 3000 steps, 3 seeds): loss ∝ m^-1 (Welch-bound interference), tolerance 0.1 (default). Expected: measured
    ≈ 0.93, stderr ≈ 0.004, margin ≈ 7 SE. (The other laws: power:1.2 / power:1.5 pass at default by 1.4 / 2.5 SE, and
    exp:10.24 FAILS at default, steepened by the n-limited tail, see docs/reproduce-default.md.) Measured
    (2026-12-01, one core): 7.2 SE, stderr 0.0044; the fixture takes ≈ 56 s."""
    _assert_pass_k(_row(strong.report["rows"], STRONG_ROW), 4)


@pytest.mark.parametrize("sign", [+1, -1])
def test_superposition_strong_nearby_wrong_theory_fails(strong, sign, monkeypatch):
    """δ = ±2 tolerances (0.2; 1.5 tolerances would not fail on the − side: the measurement sits ≈ 0.07 below 1, so
    a theory of 0.85 is within 0.1 of it). Expected FAIL margins ≈ 7 SE (−) and > 30 SE (+); measured 7.2 / 37.9."""
    row = _shifted_row(monkeypatch, "superposition.strong", "default", STRONG, strong, SUP, STRONG_ROW, sign * 2 * 0.1)
    _assert_fail_k(row, 3)


# ---------------------------------------------------------------- plrf.phases
PH = dict(points=((1.0, 0.35),), seeds=24)
PH_ROW = "P* [phase Ia, α=1.0, β=0.35]"
RF = "simulators.random_features.experiments"


@pytest.fixture(scope="module")
def phases(tmp_path_factory):
    return _run(tmp_path_factory, "plrf.phases", "default", PH)


def test_plrf_phase_ia_loss_exponent_passes(phases):
    """PLRF compute-optimal frontier in phase Ia (α = 1, β = 0.35) at the default scale for that one point with 24
    seeds (v = 4096, d = 16..512, 10^5 steps, exact Volterra loss per feature draw): the optimal loss P* ∝ f^-η
    against the W-free deterministic equivalent's slope over the fit window (→ η of the phase), tolerance 0.07
    (default). At the default 12 seeds the row sits on its target with stderr ≈ 0.018 (3.9 SE margin); 24 seeds:
    stderr ≈ 0.013, expected margin ≈ 5.5 SE (measured 2026-12-01: 6.1 SE, stderr 0.0106; the fixture
    takes ≈ 63 s on one core, most of it the deterministic-equivalent theory curve). (d* in phase Ia sits ≈ 0.04 off its target at default, and the
    phase II / III rows pass at default by 1.8-3 SE only: they need >= 3× the seeds to clear 4 SE.)"""
    _assert_pass_k(_row(phases.report["rows"], PH_ROW), 4)


@pytest.mark.parametrize("sign", [+1, -1])
def test_plrf_phase_ia_nearby_wrong_theory_fails(phases, sign, monkeypatch):
    """δ = ±2 tolerances (0.14; 1.5 tolerances would sit only ≈ 2.7 SE outside): expected FAIL margins ≈ 5.5 SE (measured 7.2 (+),
    6.1 (−))."""
    row = _shifted_row(monkeypatch, "plrf.phases", "default", PH, phases, RF, PH_ROW, sign * 2 * 0.07)
    _assert_fail_k(row, 3)
