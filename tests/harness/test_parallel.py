"""`reproduce --jobs`: experiments in worker processes give exactly the serial results (simulators/harness/parallel.py).

Exact checks (no statistics): the same stored numbers and the same report rows as the serial loop at the same
torch thread count, a worker's error reaches the caller, and the longest-first order."""
import sqlite3

import pytest
import torch

from simulators.harness import parallel
from simulators.harness.runner import run_experiment

NAMES = ["synthetic.power_law", "collapse.overparam"]


def _stored(path):
    with sqlite3.connect(path / "results.sqlite") as db:
        return sorted(db.execute("SELECT key, metrics FROM points").fetchall())


def _rows(report):
    return [(r["quantity"], r["measured_exponent"], tuple(r["ci95"]), r["pass"]) for r in report["rows"]]


@pytest.mark.slow
def test_workers_store_and_report_exactly_what_the_serial_loop_does(tmp_path):
    reports = parallel.run_parallel(NAMES, lambda n: dict(scale="smoke", out=tmp_path / "par" / n, device="cpu"),
                                    jobs=2, threads=1)
    assert sorted(reports) == sorted(NAMES)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for n in NAMES:
            ser = run_experiment(n, "smoke", out=tmp_path / "ser" / n, device="cpu").report
            assert _rows(ser) == _rows(reports[n])
            assert _stored(tmp_path / "ser" / n) == _stored(tmp_path / "par" / n)
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_a_workers_error_reaches_the_caller(tmp_path):
    with pytest.raises(Exception, match="unknown|not registered|experiment"):
        parallel.run_parallel(["no.such_experiment"], lambda n: dict(scale="smoke", out=tmp_path / n, device="cpu"),
                              jobs=1, threads=1)


def test_longest_first_and_ties_keep_their_order():
    order = parallel.lpt_order(["synthetic.power_law", "superposition.weak", "zzz.new", "superposition.strong"])
    assert order[:2] == ["superposition.strong", "superposition.weak"]
    assert order[2:] == ["synthetic.power_law", "zzz.new"]          # both unhinted: the given order is kept


def test_default_jobs_is_one_on_ray_and_bounded_by_the_cpus():
    assert parallel.default_jobs("cpu", "ray", 30) == 1
    assert parallel.default_jobs("cuda", "local", 30) == 1
    assert 1 <= parallel.default_jobs("cpu", "local", 30) <= min(4, parallel.cpu_count())
    assert parallel.default_jobs("cpu", "local", 1) == 1
