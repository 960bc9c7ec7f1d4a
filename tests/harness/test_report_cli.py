"""report.json schema, report.md and figures; the CLI contract (exit codes, one-line errors)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.harness.cli import main

ROW_KEYS = {"quantity", "axis", "measured_exponent", "ci95", "theory_exponent", "abs_error", "tolerance", "pass",
            "fit_window", "n_points", "theory_window_slope"}


def test_run_writes_report_json_md_and_png(tmp_path, capsys):
    assert main(["run", "synthetic.power_law", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| loss | x |" in printed and "PASS" in printed
    rep = json.loads((tmp_path / "report.json").read_text())
    assert {"experiment", "scale", "config", "device", "versions", "rows", "timings"} <= set(rep)
    assert ROW_KEYS <= set(rep["rows"][0])
    assert rep["rows"][0]["pass"] is True and rep["config"]["exponent"] == 0.5
    md = (tmp_path / "report.md").read_text()
    assert "measured exponent [95% CI]" in md and ".png)" in md
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and pngs[0].read_bytes()[:4] == b"\x89PNG"


def test_report_rerenders_from_the_store(tmp_path, capsys):
    main(["run", "synthetic.power_law", "--scale", "smoke", "--out", str(tmp_path), "--no-progress"])
    before = json.loads((tmp_path / "report.json").read_text())["rows"]
    (tmp_path / "report.json").unlink()
    assert main(["report", str(tmp_path)]) == 0
    after = json.loads((tmp_path / "report.json").read_text())["rows"]
    assert [r["measured_exponent"] for r in after] == [r["measured_exponent"] for r in before]


def test_set_and_seeds_override_config(tmp_path):
    assert main(["run", "synthetic.power_law", "--scale", "smoke", "--out", str(tmp_path), "--no-progress",
                 "--set", "exponent=1.5", "--set", "n_sizes=5", "--seeds", "3"]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["config"]["exponent"] == 1.5 and rep["config"]["seeds"] == 3 and rep["rows"][0]["n_points"] <= 5


def test_failing_verdict_still_exits_zero(tmp_path, capsys):
    # tolerance 0 cannot be met by a noisy fit: the table says FAIL, the exit code stays 0.
    assert main(["run", "synthetic.power_law", "--scale", "smoke", "--out", str(tmp_path), "--no-progress",
                 "--set", "tolerance=0.0"]) == 0
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["run", "no.such"], "unknown experiment 'no.such'"),
    (["run", "synthetic.power_law", "--set", "colour=red"], "unknown parameter 'colour'"),
    (["run", "synthetic.power_law", "--set", "n_sizes=many"], "--set n_sizes: expected an integer"),
    (["run", "synthetic.power_law", "--set", "n_sizes=-4"], "n_sizes must be an integer in [3, 1000]"),
    (["run", "synthetic.power_law", "--seeds", "0"], "--seeds must be in [1, 100000]"),
    (["run", "synthetic.power_law", "--device", "cuda:7" if not __import__("torch").cuda.is_available() else "tpu"],
     "device"),
    (["report", "/nonexistent/dir"], "holds no results.sqlite"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, needle):
    assert main(argv + (["--out", str(tmp_path / "o")] if argv[0] == "run" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("toyscale: error:") and needle in err[0]
    assert not (tmp_path / "o").exists()


def test_list_shows_experiments(capsys):
    assert main(["list"]) == 0
    assert "synthetic.power_law" in capsys.readouterr().out


def test_console_script_runs(tmp_path):
    exe = Path(sys.executable).with_name("toyscale")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "simulators.harness.cli"]
    p = subprocess.run(cmd + ["run", "synthetic.power_law", "--scale", "smoke", "--out", str(tmp_path / "r"),
                              "--set", "exponent=-2"], capture_output=True, text=True, env=os.environ)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "exponent must be a finite number in (0, 10]" in p.stderr


def test_reproduce_writes_index_report(tmp_path, capsys):
    assert main(["reproduce", "--scale", "smoke", "--only", "synthetic", "--out", str(tmp_path), "--no-progress"]) == 0
    index = (tmp_path / "report.md").read_text()
    assert "synthetic.power_law" in index and "comparisons within tolerance" in index
    assert (tmp_path / "synthetic_power_law" / "report.json").exists()
    assert main(["reproduce", "--scale", "smoke", "--only", "nothing.like.this", "--out", str(tmp_path)]) == 2


def test_threads_flag(tmp_path, capsys):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)   # the suite runs on one thread (conftest): start elsewhere so the flag must act
    try:
        assert main(["run", "synthetic.power_law", "--scale", "smoke", "--out", str(tmp_path), "--no-progress",
                     "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert main(["run", "synthetic.power_law", "--threads", "0", "--out", str(tmp_path / "z")]) == 2
    assert "--threads must be in [1," in capsys.readouterr().err
