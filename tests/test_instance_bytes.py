"""instance_bytes(cfg) of the lottery, random-feature/PLRF and synthetic experiments vs a measured peak (issue 13 §7).

Method: `simulators.harness.dispatch_audit.PeakBytes` counts the storage bytes of every tensor an aten op returns
during `run_batch` and releases them when the tensor dies (weakref finalizers; PyTorch keeps a tensor's Python
object alive as long as the tensor, e.g. while autograd saves it), so its peak is the peak of live tensor bytes
allocated by the run — what a CUDA caching allocator must hold, without its rounding. (torch has no CPU
allocator statistics, and the process RSS high-water mark mixes in the interpreter, numpy and allocator reuse.)

The run: the experiment's smoke config with E = 8 seeds, `run_batch` on the 8 points of the sweep's largest
point (one per seed: the instances `instance_bytes` describes), reference backend, eager. Pass: the estimate
for the 8 instances is within 2x of the measured peak, 0.5 <= 8·instance_bytes / peak <= 2. The fixed per-batch
workspace (the RNG's bounded chunk, shared grids) is inside the measured peak; E = 8 keeps it a minor part.
"""
import pytest
import torch

from simulators.harness.dispatch_audit import peak_bytes
from simulators.harness.registry import RunContext, get_experiment

E = 8


def _max(key):
    return lambda pts: max(pts, key=key)


# experiment -> (config overrides besides seeds, picks the largest point's non-seed values from the plan's points)
CASES = {
    "synthetic.power_law": ({}, lambda pts: pts[-1]),
    "rf.model_limited": ({}, _max(lambda p: (p["N"], p["activation"] == "relu"))),
    "rf.model_limited[tanh]": ({"activations": ("tanh",), "Ns": (16, 32)}, _max(lambda p: p["N"])),
    "rf.data_limited": ({}, _max(lambda p: (p["activation"] == "relu", p["P"]))),
    "rf.mrs_grid": ({"sizes": (8, 16, 32, 64, 128)}, _max(lambda p: (p["N"] + p["P"], p["ridge"] == 0))),
    "rf.variance_limited": ({}, _max(lambda p: (p["axis"] == "N", p["size"]))),
    "rf.time": ({}, lambda pts: pts[-1]),
    "rf.compute_optimal": ({}, _max(lambda p: p["N"])),
    "rf.four_regimes": ({"variance_seeds": E}, _max(lambda p: (p["regime"] == "variance", p.get("axis") == "N",
                                                            p.get("size", 0)))),
    "rf.data_reuse": ({"M": 2048, "N": 128}, _max(lambda p: p["P"])),
    "rf.width_gap": ({}, _max(lambda p: p["N"])),
    "plrf.loss_curves": ({"steps": 300}, _max(lambda p: p["d"])),
    "plrf.phases": ({}, _max(lambda p: (p.get("curve") is None, p["d"]))),
    "lottery.silu": ({"steps": 10}, _max(lambda p: p["width"])),
    "lottery.relu": ({"steps": 10}, _max(lambda p: p["width"])),
    "lottery.tickets": ({"steps": 10}, _max(lambda p: p["width"])),
    "lottery.histogram": ({"steps": 10}, _max(lambda p: p["width"])),
    "lottery.recipe": ({"steps": 10, "step_budgets": (5, 10)}, _max(lambda p: (p["width"], p.get("recipe") == "base"))),
}


def measure(case):
    name = case.split("[")[0]
    over, pick = CASES[case]
    exp = get_experiment(name)
    cfg = exp.config("smoke", dict(over, seeds=E))
    pts = [p for b in exp.plan(cfg) for p in b]
    big = {k: v for k, v in pick(pts).items() if k != "seed"}
    sel = [p for p in pts if {k: v for k, v in p.items() if k != "seed"} == big]
    assert len(sel) == E, (case, big, len(sel))
    ctx = RunContext(dtype=exp.default_dtype, backend="reference")
    peak, _ = peak_bytes(exp.run_batch, cfg, sel, ctx)
    return exp.instance_bytes(cfg), peak


@pytest.mark.parametrize("case", list(CASES))
def test_instance_bytes_within_2x_of_measured_peak(case):
    est, peak = measure(case)
    assert peak > 0, f"{case}: no tensor allocated by run_batch (numbers drawn outside torch?)"
    ratio = E * est / peak
    assert 0.5 <= ratio <= 2, f"{case}: {E} x instance_bytes = {E * est / 1e6:.3f} MB vs measured peak " \
                              f"{peak / 1e6:.3f} MB (ratio {ratio:.2f})"


def test_every_family_experiment_has_the_hook():
    from simulators.harness.registry import list_experiments

    names = [e.name for e in list_experiments() if e.name.split(".")[0] in ("lottery", "rf", "plrf", "synthetic")]
    assert names and all(get_experiment(n).instance_bytes is not None for n in names)
    assert {n.split("[")[0] for n in CASES} == set(names)


def test_the_measurement_can_fail():
    """Negative control: an estimate that forgets the [N, T] activations (parameters and state only) is far
    below the measured peak of the lottery step, so the 2x band rejects it."""
    exp = get_experiment("lottery.silu")
    est, peak = measure("lottery.silu")
    cfg = exp.config("smoke", {"seeds": E})
    params_only = 4 * 10 * (3 * max(cfg.widths) + 1)
    assert E * params_only / peak < 0.5 <= E * est / peak
    assert torch.get_num_threads() >= 1
