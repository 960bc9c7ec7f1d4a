"""Every benchmarks/bench_*.py runs once at its tiny size (never asserting a speed), so none rots."""
import importlib
from pathlib import Path

import pytest

BENCHES = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("bench_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHES)
def test_benchmark_runs_at_tiny_size(name):
    mod = importlib.import_module(f"benchmarks.{name}")
    rows = mod.run("tiny")
    assert rows and all("benchmark" in r and "provider" in r for r in rows)
    timed = [r for r in rows if "time_s" in r]
    assert timed and all(r["time_s"] > 0 for r in timed)


def test_suite_writes_json_and_markdown(tmp_path):
    from benchmarks.suite import run_suite

    jpath, mpath = run_suite("tiny", ["bmm_epilogue"], out_dir=tmp_path)
    import json

    data = json.loads(jpath.read_text())
    assert data["rows"] and data["env"]["versions"]["torch"]
    assert "| benchmark | provider |" in mpath.read_text()
