"""The four registered pruning experiments run end to end at smoke scale through the harness runner."""
import pytest

from simulators.harness import run_experiment
from simulators.harness.registry import RunContext, get_experiment

NAMES = ["pruning.unpruned", "pruning.keep_hard_vs_easy", "pruning.frontier", "pruning.metric_angle"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_experiment_runs_at_smoke_scale(name, tmp_path):
    res = run_experiment(name, scale="smoke", out=tmp_path, device="cpu")
    rep = res.report
    assert rep["rows"] and res.figures
    solver_notes = [n for n in rep["notes"] if n.startswith("Solver:")]
    assert solver_notes and "did not pass the KKT check at the config's solver_tol: 0;" in solver_notes[0]
    pointwise = [r for r in rep["rows"] if r["quantity"].startswith("ε vs theory pointwise")]
    assert pointwise and all(r["measured_exponent"] is not None for r in pointwise)


def test_bad_set_value_is_refused_before_work():
    exp = get_experiment("pruning.metric_angle")
    with pytest.raises(ValueError, match="thetas"):
        exp.config("smoke", {"thetas": (95.0,)})


def test_run_batch_subset_gives_the_same_numbers():
    """A resumed subset of a planned batch gives the metrics it had inside the full batch."""
    exp = get_experiment("pruning.metric_angle")
    cfg = exp.config("smoke")
    batch = max(exp.plan(cfg), key=len)
    full = exp.run_batch(cfg, batch, RunContext())
    sub = exp.run_batch(cfg, batch[3:5], RunContext())
    assert [m["eps"] for m in sub] == pytest.approx([m["eps"] for m in full[3:5]], abs=1e-12)
