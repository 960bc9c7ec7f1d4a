"""End to end: every memory.* experiment runs at smoke scale through the runner and reports finite exponents."""
import math

import pytest

from simulators.harness import run_experiment


@pytest.mark.slow
@pytest.mark.parametrize("name", ["memory.data", "memory.dim", "memory.learned", "memory.hopfield"])
def test_memory_experiment_runs_at_smoke_and_resumes(name, tmp_path):
    res = run_experiment(name, scale="smoke", out=tmp_path, device="cpu")
    assert res.report["rows"] and all(math.isfinite(r["measured_exponent"]) for r in res.report["rows"])
    again = run_experiment(name, scale="smoke", out=tmp_path, device="cpu", resume=True)
    assert again.computed == 0 and again.reused == res.computed
    assert [r["measured_exponent"] for r in again.report["rows"]] == [r["measured_exponent"] for r in res.report["rows"]]
