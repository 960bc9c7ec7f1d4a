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
