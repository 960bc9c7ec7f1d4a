"""Issue 15: every command the report reproduced is refused with ONE line naming the parameter, exit 2, no
traceback, before any work and before anything is written (the run dir is never created)."""
import re

import pytest
import torch

from simulators.harness.cli import main

S = ["--scale", "smoke", "--threads", "1", "--no-progress"]

# (argv after `run`/`reproduce`, the parameter the one line must name)
CASES = [
    # 2. validation after the work was stored
    (["run", "synthetic.power_law", *S, "--set", "window=bogus"], "window"),
    (["run", "synthetic.power_law", *S, "--set", "window=last_decades:0"], "window"),
    (["run", "synthetic.power_law", *S, "--set", "tolerance=-1"], "tolerance"),
    (["run", "synthetic.power_law", *S, "--set", "floor=1e999"], "floor"),
    (["run", "synthetic.power_law", *S, "--set", "x_max=1e999"], "x_max"),
    (["run", "rf.time", *S, "--set", "t_max=1e999"], "t_max"),
    (["run", "rf.time", *S, "--set", "N=0"], "N"),
    (["run", "rf.time", *S, "--set", "N=-5"], "N"),
    (["run", "rf.compute_optimal", *S, "--set", "C_max=1e999"], "C_max"),
    (["run", "rf.data_limited", *S, "--set", "noise=1e999"], "noise"),
    (["run", "rf.variance_limited", *S, "--set", "N_fixed=-5"], "N_fixed"),
    (["run", "memory.data", *S, "--set", "a_values=(0.8,)"], "a_values"),
    # 3. non-finite or huge values
    (["run", "superposition.strong", *S, "--set", "widths=(4,1e999)"], "widths"),
    (["run", "rf.model_limited", *S, "--set", "Ns=(32,1e999)"], "Ns"),
    (["run", "memory.data", *S, "--set", "T_values=(16,1e999)"], "T_values"),
    (["run", "memory.hopfield", *S, "--set", "ks=(2,1e999)"], "ks"),
    (["run", "synthetic.power_law", *S, "--set", "n_sizes=1000000000000"], "n_sizes"),
    (["run", "synthetic.power_law", "--scale", "smoke", "--threads", "100000"], "--threads"),
    # 4. resource bombs
    (["run", "superposition.strong", *S, "--set", "n=1000000", "--set", "batch=1000000", "--set", "widths=(1,999999)",
      "--set", "fit_min_m=1"], "widths"),
    (["run", "rf.model_limited", *S, "--set", "M=1000000000000000"], "M"),
    (["run", "plrf.loss_curves", *S, "--set", "v=1000000000000"], "v"),
    (["run", "memory.data", *S, "--set", "N=1000000000000"], "N"),
    (["run", "memory.hopfield", *S, "--set", "N_classic=1000000000"], "N_classic"),
    (["run", "lottery.silu", *S, "--set", "widths=(1000000,)", "--set", "seeds=100000"], "seeds"),
    (["run", "synthetic.power_law", *S, "--seeds", "1000000000"], "--seeds"),
    (["run", "lottery.silu", *S, "--set", "widths=(1000000,)", "--set", "seeds=1", "--set", "n_test=1000000",
      "--set", "steps=1"], "widths"),
    # 10. refusals that did not name the parameter
    (["run", "superposition.strong", *S, "--set", "widths=abc"], "widths"),
    (["run", "superposition.strong", *S, "--set", "gammas=abc"], "gammas"),
    (["run", "superposition.strong", *S, "--set", "widths=(4,None)"], "widths"),
    (["run", "rf.model_limited", *S, "--set", 'Ns=(32,"x")'], "Ns"),
    (["run", "plrf.phases", *S, "--set", "points=((1.0,),)"], "points"),
    (["run", "plrf.phases", *S, "--set", "points=(1.0,0.7)"], "points"),
    (["run", "memory.data", *S, "--set", "a_values=abc"], "a_values"),
    (["run", "memory.dim", *S, "--set", 'schemes=("freq^abc",)'], "schemes"),
    # 11. accepted silently
    (["run", "superposition.strong", *S, "--set", "widths=[4,8.7,16]"], "widths"),
    (["run", "rf.model_limited", *S, "--set", "a=1e999"], "a"),
    (["run", "memory.dim", *S, "--set", 'schemes=("pop^1e999",)'], "schemes"),
    (["run", "synthetic.power_law", *S, "--out", ""], "--out"),
    (["reproduce", *S, "--only", ""], "--only"),
    (["reproduce", *S, "--only", "synthetic,bogus"], "bogus"),
    (["run", "synthetic.power_law", *S, "--device", "cpu:7"], "--device"),
    # 14. argparse refusals: one line, not a usage block
    (["run", "synthetic.power_law", "--scale", "huge"], "--scale"),
    (["run"], "experiment"),
    (["frobnicate"], "frobnicate"),
    (["run", "synthetic.power_law", "--seeds", "many"], "--seeds"),
]


def _assert_one_line(capsys, needle):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("toyscale: error:") and "Traceback" not in err
    assert re.search(rf"(?<![\w-]){re.escape(needle)}(?!\w)", lines[0]), (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize("argv,needle", CASES, ids=lambda v: " ".join(v)[:70] if isinstance(v, list) else v)
def test_issue15_command_is_refused_in_one_line_before_any_work(tmp_path, capsys, argv, needle):
    out = tmp_path / "o"
    if "--out" not in argv and argv[0] in ("run", "reproduce") and len(argv) > 1:
        argv = argv + ["--out", str(out)]
    assert main(argv) == 2
    _assert_one_line(capsys, needle)
    assert not out.exists()


def test_threads_two_ridge_solve_is_the_min_norm_interpolant():
    """Defect 1: the ridgeless solve at an exactly singular Gram (rank M < N = P) and at the N = P peak must not
    crash and must equal the pseudo-inverse solution at 1 and 2 threads (the LU solve raised 'Pivots given to
    lu_solve must be nonzero' at 2 threads). The tolerance 1e-8 is ~1e5 x the float64 error of either path; a
    non-min-norm solution (e.g. an LU solve that did not crash) differs by O(1) in the null-space directions."""
    from simulators.random_features import model as mdl

    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            g = torch.Generator().manual_seed(0)
            X = torch.randn(3, 64, 16, generator=g, dtype=torch.float64)
            F = torch.randn(3, 64, 16, generator=g, dtype=torch.float64)
            Phi = X @ F.transpose(1, 2)                      # [3, 64, 64], rank 16: Gram exactly singular
            y = torch.randn(3, 64, generator=g, dtype=torch.float64)
            for A in (Phi, torch.randn(3, 64, 64, generator=g, dtype=torch.float64)):
                v = mdl.ridge_solve(A, y)
                ref = torch.stack([torch.linalg.pinv(A[e]) @ y[e] for e in range(3)])
                assert torch.isfinite(v).all()
                assert float((v - ref).norm() / ref.norm()) < 1e-8
    finally:
        torch.set_num_threads(before)


def test_report_keeps_the_stored_device(tmp_path, capsys):
    """Defect 14: `report` used to overwrite report.json's device with its own thread count."""
    import json

    before = torch.get_num_threads()
    try:
        assert main(["run", "synthetic.power_law", *S, "--out", str(tmp_path)]) == 0
        dev = json.loads((tmp_path / "report.json").read_text())["device"]
        torch.set_num_threads(2)
        assert main(["report", str(tmp_path)]) == 0
        assert json.loads((tmp_path / "report.json").read_text())["device"] == dev
        assert "1 threads" in dev
    finally:
        torch.set_num_threads(before)
