"""The lottery.* experiments end to end at smoke scale, and the run_batch subset contract."""
import numpy as np
import pytest

from simulators.harness.registry import RunContext, get_experiment
from simulators.lottery.experiments import find_peaks, recipes
from simulators.lottery.config import RecipeConfig

NAMES = ("lottery.silu", "lottery.relu", "lottery.histogram", "lottery.tickets", "lottery.recipe")


def test_lottery_run_batch_subset_gives_the_same_numbers():
    """A resumed subset of a planned batch gives the metrics it had inside the full batch."""
    exp = get_experiment("lottery.silu")
    cfg = exp.config("smoke", {"steps": 30, "widths": (3, 6), "seeds": 3})
    batch = exp.plan(cfg)[0]
    full = exp.run_batch(cfg, batch, RunContext())
    sub = exp.run_batch(cfg, batch[4:5], RunContext())
    assert sub[0]["test_mse"] == pytest.approx(full[4]["test_mse"], rel=1e-5)
    assert sub[0]["ckpt_test_mse"] == pytest.approx(full[4]["ckpt_test_mse"], rel=1e-5)


def test_lottery_recipe_plan_changes_one_axis_at_a_time():
    cfg = RecipeConfig(lrs=(1e-3, 3e-3), step_budgets=(100, 5000), schedules=("cosine",), precisions=("float32", "float64"))
    r = recipes(cfg)
    assert r == {"base": {}, "lr=0.001": {"lr": 1e-3}, "steps=100": {"steps": 100},
                 "precision=float64": {"precision": "float64"},
                 "lbfgs-float64": {"optimizer": "lbfgs", "precision": "float64"}}


def test_lottery_histogram_peak_finder_finds_planted_modes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-5, 0.05, 300), rng.normal(-3, 0.05, 200), rng.normal(-1, 0.05, 100)])
    peaks = find_peaks(x)
    assert len(peaks) == 3
    assert np.allclose([p["log10_mse"] for p in peaks], [-5, -3, -1], atol=0.15)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_lottery_experiment_runs_end_to_end_at_smoke(name, tmp_path):
    from simulators.harness.runner import run_experiment

    res = run_experiment(name, scale="smoke", out=tmp_path / name, device="cpu")
    rep = res.report
    assert rep["experiment"] == name and res.computed > 0
    assert any("recipe" in n for n in rep["notes"])                       # the recipe is in the report
    assert all(np.isfinite(r["measured_exponent"]) for r in rep["rows"])
    assert res.figures and all((tmp_path / name / f).exists() or __import__("os").path.exists(f) for f in res.figures)
    if name == "lottery.silu":
        assert any("NOT CONVERGED" in n for n in rep["notes"])
        assert rep["tables"]["slope vs training step"]
