"""`toyscale doctor` runs on CPU in the test suite, so it cannot rot (issue 13, §6).

One run through the CLI (`toyscale doctor --device cpu --json PATH`) at CPU sizes; the tests read its JSON.
"""
import json

import pytest
import torch

from simulators.harness import doctor
from simulators.harness.cli import main
from simulators.harness.registry import get_experiment, list_experiments

CUDA = torch.cuda.is_available()   # the same run on a GPU machine (--device cpu) must also pass


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("doctor") / "doctor.json"
    rc = main(["doctor", "--device", "cpu", "--json", str(path)])
    rep = json.loads(path.read_text())
    return rc, rep


@pytest.mark.slow
def test_doctor_passes_on_cpu_and_writes_every_section(report, capsys):
    rc, rep = report
    assert rc == 0 and rep["ok"], rep.get("failed")
    for key in ("environment", "gpu_tests", "kernels", "kernel_vs_bmm", "family_steps", "sweep"):
        assert key in rep
    env = rep["environment"]["result"]
    assert env["versions"]["torch"] and env["device"] == "cpu" and env["cuda_available"] is CUDA
    assert rep["total_s"] < 120   # the budget is a minute on CPU; 2x slack for a loaded CI box


@pytest.mark.slow
def test_doctor_checks_ran_for_real(report):
    _, rep = report
    gt = rep["gpu_tests"]["result"]
    assert gt["counts"]["failed"] == 0
    if not CUDA:
        assert gt["counts"]["skipped"] > 0 and "no CUDA" in gt["status"]
    kern = rep["kernels"]["result"]
    if not CUDA:
        assert kern["mode"] == "interpreter"
    assert {r["mode"] for r in kern["checks"]} == {"fp64", "fp32"}
    assert all(r["max_rel_rms"] <= r["tol"] for r in kern["checks"])
    assert len(rep["kernel_vs_bmm"]["result"]["rows"]) == 5
    assert rep["families_without_probe"] == []
    assert set(rep["family_steps"]) == {e.name.split(".")[0] for e in list_experiments()}
    for fam, res in rep["family_steps"].items():
        r = res["result"]
        assert r["instances"] >= 1 and r["time_per_step_ms"] > 0 and r["gpu_busy_fraction"] == "n/a (CPU)", fam
    sw = rep["sweep"]["result"]
    assert sw["points_computed"] == sw["points_stored"] > 0 and sw["resume_recomputed"] == 0


def test_every_family_has_a_step_probe():
    """A new family must be added to doctor.FAMILY_STEPS (else its GPU step is never validated)."""
    families = {e.name.split(".")[0] for e in list_experiments()}
    assert families <= set(doctor.FAMILY_STEPS), f"missing: {families - set(doctor.FAMILY_STEPS)}"
    for fam, (name, cpu_over, gpu_over, gpu_scale) in doctor.FAMILY_STEPS.items():
        assert name.split(".")[0] == fam
        if fam in families:   # the CUDA configuration is valid and plans (checked here: no GPU needed)
            exp = get_experiment(name)
            assert exp.plan(exp.config(gpu_scale, gpu_over))
    name, scale, over = doctor.SWEEP["cuda"]
    assert get_experiment(name).plan(get_experiment(name).config(scale, over))


def test_a_failing_check_is_reported_not_raised(monkeypatch):
    monkeypatch.setitem(doctor.FAMILY_STEPS, "bogus", ("bogus.none", {}, {}, "paper"))
    lines = []
    res = doctor._check("step: bogus", lambda: doctor.family_step("bogus", doctor.torch.device("cpu")), lines.append)
    assert res["ok"] is False and "bogus.none" in res["error"] and "FAIL" in lines[0]
