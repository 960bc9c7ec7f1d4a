"""toyscale's superposition trainer vs an independent re-implementation of the authors' recipe (issue 19).

The reference below is written from the paper's model ([LLG25] Sec. 2) and the behaviour of its code
(liuyz0/SuperpositionScaling 35b08b0: exp/exp-10.py, exp/exp-17.py, exp/adamw.py), not copied: a dense
model y = ReLU(x W Wᵀ + b) with autograd, torch's MSE, the authors' AdamW (decay before the Adam update:
γ >= 0 multiplies by 1 − lr γ, γ < 0 adds lr γ (1 − 1/(‖W_i‖ + ε)) W_i; bias corrections as in adamw.py),
one model at a time, each script's learning-rate schedule evaluated as the script evaluates it (from
s = step + 1), exp-17's loss × 100 before backward with ε = 1e-8 (toyscale: adam_eps = 1e-10, the claimed
equivalent), and the final loss as the mean of the recorded per-step losses over the last window.
Both are fed identical data (toyscale's sampler, made dense) and identical initial weights, in float64,
over a whole short run: warm-up, cosine decay and the final-loss window. Tolerance 1e-8 (issue 19).
"""
import math

import pytest
import torch

from simulators.superposition import model as M
from simulators.superposition.sampler import draw_active, uniforms


def _paper_lr(rule: str, step: int, steps: int, base: float) -> float:
    """Each script's lr at 0-based loop index `step` (exp-10: get_lr(step, 1e-2, n_steps) with its fixed
    2000-step warm-up; exp-17: init_lr · get_lr(step, n_steps, warmup_ratio=.05)); toyscale's own rule as its
    documentation states it (warm-up over min(10%, 2000) steps, cosine from the step after to 0.05 at the last)."""
    if rule == "exp10":
        s, warm, lo = step + 1, 2000, 0.05 * base
        if warm < steps:
            if s < warm:
                return base * s / warm
            return (base - lo) * 0.5 * (1 + math.cos(math.pi * (s - warm) / (steps - warm))) + lo
        return (base - lo) * 0.5 * (1 + math.cos(math.pi * s / steps)) + lo
    if rule == "exp17":
        s, warm = step + 1, int(steps * 0.05)
        f = s / warm if s < warm else 0.95 * 0.5 * (1 + math.cos(math.pi * (s - warm) / (steps - warm))) + 0.05
        return base * f
    warm = max(1, min(int(0.1 * steps), 2000))
    if step < warm:
        return base * (step + 1) / warm
    t = min(1.0, (step - warm) / max(1, steps - warm - 1))
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def _paper_run(W0, b0, xs, gamma, rule, lr_W, lr_b, steps, window):
    """One model trained the authors' way on the given batches; returns (W, b, final-window mean loss)."""
    W = W0.clone().requires_grad_()
    b = b0.clone().requires_grad_()
    scale = 100.0 if rule == "exp17" else 1.0
    eps, (b1, b2) = 1e-8, (0.9, 0.999)
    state = {id(W): [torch.zeros_like(W), torch.zeros_like(W)], id(b): [torch.zeros_like(b), torch.zeros_like(b)]}
    losses = []
    for step in range(steps):
        x = xs(step)
        y = torch.relu(x @ W @ W.T + b)
        loss = torch.nn.functional.mse_loss(y, x) * scale
        losses.append(float(loss.detach()) / scale)
        W.grad = b.grad = None
        loss.backward()
        with torch.no_grad():
            for p, base, wd in ((W, lr_W, gamma), (b, lr_b, 0.0)):
                lr = _paper_lr(rule, step, steps, base)
                if wd >= 0:
                    p.mul_(1 - wd * lr)
                else:
                    p.add_(wd * p * (1 - 1 / (p.norm(dim=1, keepdim=True) + eps)), alpha=lr)
                m, v = state[id(p)]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                t = step + 1
                denom = v.sqrt() / math.sqrt(1 - b2 ** t) + eps
                p.addcdiv_(m, denom, value=-lr / (1 - b1 ** t))
    return W.detach(), b.detach(), sum(losses[-window:]) / window


CASES = [  # (rule, steps, lr, adam_eps): each rule's warm-up branch, exp-10 also without warm-up
    ("toyscale", 240, "large_run", 1e-8),
    ("exp17", 240, "large_run", 1e-10),
    ("exp10", 240, 0.01, 1e-8),
    pytest.param("exp10", 2100, 0.01, 1e-8, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("rule,steps,lr,eps", CASES, ids=["toyscale", "exp17", "exp10-nowarmup", "exp10-warmup"])
def test_whole_run_matches_the_papers_recipe(rule, steps, lr, eps):
    """Final W, b and the final-window loss agree to 1e-8 (float64) for γ = −1 (strong) and γ = 0.3 (weak).
    Wrong variants move the final weights by far more than 1e-8 (measured at the 240-step cases): toyscale's
    rule against the exp-17 reference 0.10-0.16, exp-10's against toyscale's 0.07-0.11, and exp-17 with
    ε = 1e-8 instead of the ×100-equivalent 1e-10: 4e-7 (γ = 0.3) and 9e-6 (γ = −1)."""
    n, B = 12, 16
    insts = [dict(m=3, gamma=-1.0, law="power:1.2", seed=0), dict(m=3, gamma=0.3, law="power:1.2", seed=1)]
    spec = M.TrainSpec(n=n, batch=B, steps=steps, lr=lr, warmup=rule, adam_eps=eps)
    assert M.warmup_steps(steps, rule) == {"toyscale": 24, "exp17": 12, "exp10": 2000 if steps > 2000 else 0}[rule]
    init = M.BatchedModel(insts, spec, "cpu", torch.float64)
    models, groups, final, _ = M.train(insts, spec, dtype=torch.float64)
    sidx, plan = M.stream_plan(insts, spec)
    data = []
    for t0 in range(0, steps, 64):                              # 64 steps' draws per call (the same numbers)
        u = uniforms(plan, t0, steps=min(64, steps - t0))
        data += [draw_active(plan, t0 + k, torch.float64, u[:, k]).dense(plan.n_streams, B, n)
                 for k in range(u.shape[1])]
    window = max(100, steps // 20)
    for e, inst in enumerate(insts):
        row = groups[0].index(e)

        def xs(step, s=sidx[e]):
            return data[step][s]

        lr_W, lr_b = M.learning_rates(inst["m"], lr)
        W, b, fin = _paper_run(init.W[e], init.b[e], xs, inst["gamma"], rule, lr_W, lr_b, steps, window)
        torch.testing.assert_close(models[0].W[row], W, rtol=0, atol=1e-8)
        torch.testing.assert_close(models[0].b[row], b, rtol=0, atol=1e-8)
        assert abs(float(final[e]) - fin) <= 1e-8 * max(1.0, abs(fin))


def test_schedule_rules_differ_where_the_scripts_do():
    """The three rules coincide nowhere in general: at 20000 steps exp-10 and toyscale both warm up 2000 steps
    but exp-10 peaks one step earlier (it counts from s = step + 1); exp-17 at 40000 steps warms 2000 too."""
    f = {r: [M.lr_factor(s, 20000, r) for s in (0, 1998, 1999, 2000, 19999)] for r in M.WARMUP_RULES}
    assert f["exp10"][2] == 1.0 and f["toyscale"][2] == 1.0 and f["exp10"][3] < 1.0 == f["toyscale"][3]
    assert f["exp10"][-1] == pytest.approx(0.05) and f["toyscale"][-1] == pytest.approx(0.05)
    assert M.warmup_steps(40000, "exp17") == 2000 and M.warmup_steps(20000, "exp17") == 1000
    assert M.warmup_steps(2000, "exp10") == 0 and M.lr_factor(0, 2000, "exp10") < 1.0
    with pytest.raises(ValueError, match="warmup"):
        M.warmup_steps(10, "cosine")
