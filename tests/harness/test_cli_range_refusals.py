"""Issue 15 (latency): range and cross-field refusals answer without importing torch.

The CLI refuses unknown names, keys and value kinds from the static index, and then runs the config's own
`__post_init__` (every range and cross-field check) by importing only the config's module, which must be
torch-free (`index.check_presets` refuses to write an index otherwise). Here, for EVERY experiment in the
index: one range refusal and, where the config has a cross-field constraint, one cross-field refusal, all in
ONE subprocess that calls `cli.main` per command and records after each: the exit code, stderr (one line naming
the parameter, no traceback), whether torch is in `sys.modules` (deterministic form of the latency bound:
importing torch alone takes ~2 s here) and that `--out` was not created. Two fresh processes then replay the
issue's slow commands against a generous wall bound (3 s; measured ~0.3 s, 4.8 s and 3.3 s before).
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.harness import index

ROOT = Path(__file__).resolve().parents[2]
STALE = f"simulators/harness/experiments_index.json is stale; regenerate it with: {index.REGENERATE}"

# experiment -> (--set item, the parameter its refusal must name): a value outside its own field's range.
RANGE = {
    "collapse.ols_generations": ("sigma0=0", "sigma0"),
    "collapse.overparam": ("d=2", "d"),
    "collapse.replace_vs_accumulate": ("n_max=3", "n_max"),
    "collapse.ridge_scaling": ("r=0", "r"),
    "lottery.histogram": ("n_train=1", "n_train"),
    "lottery.recipe": ("lbfgs_seeds=0", "lbfgs_seeds"),
    "lottery.relu": ("lr=11", "lr"),
    "lottery.silu": ("beta2=1", "beta2"),
    "lottery.tickets": ("ticket_tol=1", "ticket_tol"),
    "memory.data": ("a_values=(0.8,)", "a_values"),
    "memory.dim": ("c=0", "c"),
    "memory.hopfield": ("bit_error=0.5", "bit_error"),
    "memory.learned": ("sgd_gamma=0", "sgd_gamma"),
    "plrf.loss_curves": ("beta=21", "beta"),
    "plrf.phases": ("lr_frac=1", "lr_frac"),
    "pruning.frontier": ("N=1", "N"),
    "pruning.keep_hard_vs_easy": ("solver_tol=1", "solver_tol"),
    "pruning.metric_angle": ("thetas=(90.0,)", "thetas"),
    "pruning.unpruned": ("z_tol=-1", "z_tol"),
    "rf.compute_optimal": ("n_C=3", "n_C"),
    "rf.data_limited": ("noise=-1", "noise"),
    "rf.four_regimes": ("variance_seeds=1", "variance_seeds"),
    "rf.model_limited": ("a=1", "a"),
    "rf.mrs_grid": ("alpha=0", "alpha"),
    "rf.time": ("N=0", "N"),
    "rf.variance_limited": ("N_fixed=-5", "N_fixed"),
    "superposition.geometry": ("density=2", "density"),
    "superposition.phase": ("gammas=(11.0,)", "gammas"),
    "superposition.strong": ("n=7", "n"),
    "superposition.weak": ("steps=0", "steps"),
    "synthetic.power_law": ("noise=3", "noise"),
    "tails.cut": ("beta=1", "beta"),
    "tails.generations": ("T0=1", "T0"),
    "tails.mix": ("k=0", "k"),
}
# experiment -> (--set items, parameter): each value in its own range, the combination refused.
CROSS = {
    "collapse.ols_generations": (("d=8", "T0=9"), "T0"),            # T0 >= d + 2
    "collapse.overparam": (("d=8", "T0_values=(2,4,8)"), "T0_values"),   # T0 < d
    "collapse.replace_vs_accumulate": (("d=8", "T0=9"), "T0"),
    "collapse.ridge_scaling": (("d=8", "T0=9"), "T0"),
    "lottery.histogram": (("steps=10", "warmup_steps=10"), "warmup_steps"),    # warmup < steps
    "lottery.recipe": (("steps=10", "warmup_steps=10"), "warmup_steps"),
    "lottery.relu": (("steps=10", "warmup_steps=10"), "warmup_steps"),
    "lottery.silu": (("steps=10", "warmup_steps=10"), "warmup_steps"),
    "lottery.tickets": (("steps=10", "warmup_steps=10"), "warmup_steps"),
    "memory.data": (("M=10", "N=9"), "N"),                           # N >= M
    "memory.dim": (("M=10", "N=9"), "N"),
    "memory.learned": (("T=100", "sgd_batch=101"), "sgd_batch"),     # batches <= T
    "plrf.loss_curves": (("lr=5",), "lr"),                           # lr < stability bound(alpha, B, ds): theory
    "plrf.phases": (("v=64", "ds=(16,32)"), "v"),                    # v >= 4 max(ds)
    "pruning.frontier": (("N=20", "finite_N=(20,)"), "finite_N"),    # finite_N excludes N
    "pruning.keep_hard_vs_easy": (("N=20", "finite_N=(20,)"), "finite_N"),
    "pruning.metric_angle": (("N=20", "finite_N=(20,)"), "finite_N"),
    "pruning.unpruned": (("N=20", "finite_N=(20,)"), "finite_N"),
    "rf.compute_optimal": (("C_max=1000", "C_min=2000"), "C_min"),  # C_min < C_max
    "rf.data_limited": (("relu_N=8", "relu_Ps=(8,16)"), "relu_N"),   # relu_N >= 4 max(relu_Ps)
    "rf.four_regimes": (("M=10",), "M"),                             # M >= 10 max(sizes) (sub-configs)
    "rf.model_limited": (("M=100",), "M"),                           # M >= 10 max(Ns)
    "rf.mrs_grid": (("sizes=(8,16)",), "sizes"),                     # two sizes <= 1/4 of the largest below M
    "rf.time": (("N=1000", "M=5000"), "M"),                          # M >= 10 N
    "rf.variance_limited": (("N_fixed=1000",), "sizes"),             # sizes >= 4 max(N_fixed, P_fixed)
    "superposition.geometry": (("fit_min_m=100000",), "fit_min_m"),  # >= 2 widths in the fit window
    "superposition.phase": (("n=8", "widths=(4,8)"), "widths"),      # widths < n
    "superposition.strong": (("n=8", "widths=(4,8)"), "widths"),
    "superposition.weak": (("fit_min_m=100000",), "fit_min_m"),
    "synthetic.power_law": (("x_min=100", "x_max=50"), "x_max"),     # x_max > x_min
    "tails.cut": (("beta=3", "beta_prime=2"), "beta_prime"),         # beta_prime > beta
    "tails.generations": (("vocab=100",), "vocab"),                  # vocab >= 10 T_max^(1/beta)
    "tails.mix": (("vocab=100",), "vocab"),
}
NO_CROSS = {"memory.hopfield"}     # every check is on one field


def _cases(out: str) -> list[tuple[str, str, list[str], str]]:
    idx = index.load()
    assert idx is not None, STALE
    cases = []
    for i, name in enumerate(sorted(idx["experiments"])):
        item, param = RANGE.get(name, ("seeds=0", "seeds"))    # an experiment added since: seeds >= 1 everywhere
        cases.append((name, "range", ["--set", item], param))
        if name in CROSS:
            items, param = CROSS[name]
            cases.append((name, "cross", [x for it in items for x in ("--set", it)], param))
    return [(name, kind, ["run", name, "--scale", "smoke", *args, "--out", f"{out}/{i}"], param)
            for i, (name, kind, args, param) in enumerate(cases)]


DRIVER = r"""
import io, json, os, sys
from contextlib import redirect_stderr, redirect_stdout
from simulators.harness.cli import main
res = []
for argv in json.loads(sys.stdin.read()):
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        try:
            rc = main(argv)
        except BaseException as e:      # main must not raise
            rc = f"raised {type(e).__name__}: {e}"
    res.append({"rc": rc, "stderr": err.getvalue(), "torch": "torch" in sys.modules,
                "out_exists": os.path.exists(argv[-1])})
print(json.dumps(res))
"""


def test_tables_name_real_experiments_and_fields():
    idx = index.load()
    assert idx is not None, STALE
    exps = idx["experiments"]
    for table in (RANGE, CROSS):
        for name, (items, param) in table.items():
            assert name in exps, f"{name} is no longer registered: drop its row"
            items = (items,) if isinstance(items, str) else items
            for it in items:
                assert it.split("=")[0] in exps[name]["fields"], (name, it)
            assert param in exps[name]["fields"], (name, param)
    assert not (NO_CROSS & set(CROSS))


def test_every_experiment_refuses_range_and_cross_field_values_without_torch(tmp_path):
    cases = _cases(str(tmp_path))
    p = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps([c[2] for c in cases]), cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    bad = []
    for (name, kind, argv, param), r in zip(cases, res):
        lines = r["stderr"].strip().splitlines()
        msg = lines[0].removeprefix("toyscale: error: ") if len(lines) == 1 else ""
        names = re.match(rf"{param}\b", msg) or f"{param}=" in msg     # "N must be ..." / "..., got sgd_batch=101"
        ok = (r["rc"] == 2 and len(lines) == 1 and lines[0].startswith("toyscale: error: ") and names
              and "Traceback" not in r["stderr"] and not r["torch"] and not r["out_exists"])
        if not ok:
            bad.append(f"{name} {kind} {argv[4:-2]}: rc={r['rc']} torch={r['torch']} out={r['out_exists']} "
                       f"stderr={r['stderr'].strip()[:300]!r} (expected one line naming {param!r})")
    assert not bad, "\n".join(bad)
    assert len(res) == len(cases) >= 2 * len(RANGE) - len(NO_CROSS)


@pytest.mark.parametrize("argv", [["run", "rf.time", "--set", "N=0"],
                                  ["run", "memory.data", "--set", "a_values=(0.8,)"],
                                  ["run", "plrf.loss_curves", "--set", "lr=5"]])
def test_range_refusal_in_a_fresh_process_is_fast(argv, tmp_path):
    """Generous bound 3 s for a fresh process (measured ~0.3-0.4 s on 2 busy cores; the torch import the
    refusal used to pay takes 3-5 s here, so the bound fails if it comes back)."""
    assert index.load() is not None, STALE
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "simulators.harness.cli", *argv, "--out", str(tmp_path / "o")],
                       cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert p.stderr.startswith(f"toyscale: error: {argv[-1].split('=')[0]} ")
    assert not (tmp_path / "o").exists()
    assert wall < 3.0, f"{argv}: {wall:.2f} s"
