"""Runner + store: an interrupted sweep resumes without recomputing or losing points; same seed, same numbers."""
import dataclasses
import sqlite3

import pytest

import simulators.synthetic as syn
from simulators.harness import ConfigError, register, run_experiment


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_without_recomputing(tmp_path):
    calls = []
    real = syn.EXPERIMENT.run_batch

    def flaky(cfg, points, ctx):
        calls.append(len(points))
        if len(calls) == 3:
            raise Interrupt("killed mid-sweep")
        return real(cfg, points, ctx)

    register(dataclasses.replace(syn.EXPERIMENT, run_batch=flaky))   # same name: replaces it in the registry
    try:
        with pytest.raises(Interrupt):
            run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu")
        n_sizes = syn.EXPERIMENT.config("smoke").n_sizes
        stored = sqlite3.connect(tmp_path / "r" / "results.sqlite").execute("SELECT COUNT(*) FROM points").fetchone()[0]
        assert stored == 2 * n_sizes          # two finished batches, nothing of the interrupted one
        with pytest.raises(ConfigError, match="--resume"):
            run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu")
        calls.clear()
        res = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "r", device="cpu", resume=True)
        assert res.reused == 2 * n_sizes and res.computed == len(calls) * n_sizes == 2 * n_sizes
    finally:
        register(syn.EXPERIMENT)
    fresh = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "fresh", device="cpu")
    assert [r.metrics for r in res.records] == [r.metrics for r in fresh.records]
    assert res.report["rows"][0]["measured_exponent"] == fresh.report["rows"][0]["measured_exponent"]


def test_same_seed_same_numbers_and_records_carry_provenance(tmp_path):
    a = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "a", device="cpu")
    b = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "b", device="cpu")
    assert [r.metrics for r in a.records] == [r.metrics for r in b.records]
    row = sqlite3.connect(tmp_path / "a" / "results.sqlite").execute(
        "SELECT config, seed, device, backend, versions, wall_s FROM points LIMIT 1").fetchone()
    assert '"exponent":0.5' in row[0] and row[1] is not None and row[2].startswith("cpu")
    assert row[3] == "reference" and '"torch"' in row[4] and row[5] >= 0


def test_points_are_independent_of_batch_mates(tmp_path):
    """A point's numbers do not depend on which points share its batch (per-instance RNG)."""
    cfg = syn.EXPERIMENT.config("smoke")
    pts = syn.plan(cfg)[1]
    full = syn.run_batch(cfg, pts, None)
    alone = [syn.run_batch(cfg, [p], None)[0] for p in pts]
    assert full == alone


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="nope"), "unknown experiment"),
    (dict(overrides={"bogus": 1}), "unknown parameter 'bogus'"),
    (dict(overrides={"n_sizes": -3}), r"n_sizes must be an integer in \[3, 1000\]"),
    (dict(device="tpu"), "device must be"),
    (dict(dtype="float16"), "dtype must be float32 or float64"),
    (dict(scale="huge"), "scale must be one of"),
    (dict(backend="fast"), "backend must be one of"),
])
def test_bad_input_is_refused_before_any_work(tmp_path, kwargs, match):
    args = dict(name="synthetic.power_law", scale="smoke", out=tmp_path / "x", device="cpu")
    args.update(kwargs)
    with pytest.raises(ConfigError, match=match):
        run_experiment(**args)
    assert not (tmp_path / "x").exists()


def test_max_instances_per_batch_splits_without_changing_numbers(tmp_path):
    whole = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "w", device="cpu")
    split = run_experiment("synthetic.power_law", "smoke", out=tmp_path / "s", device="cpu", max_instances_per_batch=3)
    assert [r.metrics for r in split.records] == [r.metrics for r in whole.records]
    with pytest.raises(ConfigError, match="max_instances_per_batch must be >= 1"):
        run_experiment("synthetic.power_law", "smoke", out=tmp_path / "z", device="cpu", max_instances_per_batch=0)
    with pytest.raises(ConfigError, match="executor must be one of"):
        run_experiment("synthetic.power_law", "smoke", out=tmp_path / "z", device="cpu", executor="slurm")
