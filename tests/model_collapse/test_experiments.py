"""The seven registered experiments run at smoke scale, compare fits with theory-curve slopes, and tabulate every
point against its expectation; one runs end to end through the harness (store, fit, report)."""
import math

import numpy as np
import pytest

from simulators.harness.registry import RunContext
from simulators.model_collapse import experiments as X  # noqa: F401  (registers the experiments)
from simulators.harness import registry

NAMES = ["collapse.ols_generations", "collapse.overparam", "collapse.replace_vs_accumulate", "collapse.ridge_scaling",
         "tails.cut", "tails.mix", "tails.generations"]


def _records(exp, cfg):
    pts = [p for b in exp.plan(cfg) for p in b]
    out = []
    for b in exp.plan(cfg):
        out += exp.run_batch(cfg, b, RunContext())
    return [registry.Record(key=str(i), point=p, metrics=m) for i, (p, m) in enumerate(zip(pts, out))]


@pytest.mark.parametrize("name", NAMES)
def test_experiment_runs_at_smoke_scale(name):
    exp = registry._REGISTRY[name]
    cfg = exp.config("smoke")
    an = exp.analyze(cfg, _records(exp, cfg))
    assert an.rows and all(math.isfinite(r.measured_exponent) for r in an.rows)
    assert all(r.theory_window_slope is not None and math.isfinite(r.theory_window_slope) for r in an.rows)
    (table,) = an.tables.values()
    assert table and all(math.isfinite(t["z"]) for t in table)
    assert any("SE" in n for n in an.notes)


def test_subset_of_a_batch_gives_the_same_numbers():
    """run_batch on part of a planned batch (what --resume passes) returns the same metrics."""
    exp = registry._REGISTRY["collapse.ols_generations"]
    cfg = exp.config("smoke")
    batch = exp.plan(cfg)[0]
    full = exp.run_batch(cfg, batch, RunContext())
    part = exp.run_batch(cfg, batch[3:7], RunContext())
    assert part == full[3:7]


def test_end_to_end_through_the_harness(tmp_path):
    from simulators.harness import run_experiment

    res = run_experiment("collapse.replace_vs_accumulate", scale="smoke", out=tmp_path, device="cpu")
    rows = res.report["rows"]
    assert len(rows) == 2 and all(r["theory_window_slope"] is not None for r in rows)
    assert (tmp_path / "report.md").exists()


def test_vocab_too_small_is_refused_before_work():
    exp = registry._REGISTRY["tails.cut"]
    with pytest.raises(ValueError, match="vocab"):
        exp.config("smoke", {"vocab": 50})


def test_pointwise_check_catches_a_wrong_curve():
    """Negative control: the same smoke records scaled by 1.25 (a 25% wrong prefactor, e.g. d/(T0−d−1) vs
    d/(T0−d−1)·1.25) must be reported outside 3 SE; the true records inside."""
    exp = registry._REGISTRY["collapse.replace_vs_accumulate"]
    cfg = exp.config("smoke", {"seeds": 16})
    recs = _records(exp, cfg)
    good = exp.analyze(cfg, recs)
    bad = exp.analyze(cfg, [registry.Record(r.key, r.point, {"error": 1.25 * r.metrics["error"]}) for r in recs])
    assert all("all within" in n for n in good.notes if "SE" in n)
    assert any("NOT all within" in n for n in bad.notes if "SE" in n)


@pytest.mark.parametrize("name", NAMES)
def test_every_scale_builds_a_valid_config(name):
    exp = registry._REGISTRY[name]
    for scale in ("smoke", "default", "paper"):
        assert exp.plan(exp.config(scale))
