"""The superposition sampler (`simulators/superposition/sampler.py`): exact Bernoulli(p_i) × U(0, 2) data
drawn by counter-based Philox in a static layout. Statistical tests state the z-score at which the nearest
plausible wrong variant would be caught; each test asserts that power before it asserts the fit."""
import math

import numpy as np
import pytest
import torch

from simulators.superposition import model as M, theory as T
from simulators.superposition.sampler import draw_active, draw_padded, make_plan, padded_dense, uniforms


def _counts(plan, steps, t0=0):
    """Per-feature active counts [n], values, pair co-activation of features (0, 1) over steps x B samples."""
    n, B = plan.n, plan.batch
    counts = torch.zeros(n, dtype=torch.float64)
    vals, pair = [], 0
    for t in range(t0, t0 + steps):
        x = draw_active(plan, t, torch.float64)
        key = x.sample * n + x.feature
        assert len(torch.unique(key)) == len(key)                        # no (b, i) drawn twice
        counts += torch.bincount(x.feature, minlength=n).double()
        vals.append(x.value)
        on = torch.zeros(B, n, dtype=torch.bool)
        on[x.sample, x.feature] = True
        pair += int((on[:, 0] & on[:, 1]).sum())
    return counts, torch.cat(vals), pair


def _chi2_power(p, p_wrong, N):
    """(threshold, z) of the chi² test Σ z_i² < d + 5√(2d): z at which a sampler with rates p_wrong is caught
    (noncentral chi²: mean d + λ, sd √(2d + 4λ), λ = Σ N (p'_i − p_i)² / (p_i (1 − p_i)))."""
    d = len(p)
    lam = float(np.sum(N * (p_wrong - p) ** 2 / (p * (1 - p))))
    thr = d + 5 * math.sqrt(2 * d)
    return thr, (d + lam - thr) / math.sqrt(2 * d + 4 * lam)


def _linear_off_by_one(n):
    w = (n - np.arange(1, n + 1)) / n
    return w / w.sum()


# (law, density, steps, nearest wrong variant's rates, its name); z of the variant at these sizes (n = 64,
# B = 1024): 19 (power), 41 (exp, density 0.3: Σp = 5.6), 9.5 (linear)
CASES = [
    ("power:1.2", 0.0, 200, lambda p, n: -np.expm1(-p), "exponential instead of geometric gaps: rate 1 − e^−p"),
    ("exp:4", 0.3, 100, lambda p, n: -np.expm1(-p), "exponential instead of geometric gaps: rate 1 − e^−p"),
    ("linear", 0.0, 300, lambda p, n: np.maximum(_linear_off_by_one(n), 1e-300), "the former linear law (p_n = 0)"),
]


@pytest.mark.parametrize("law,density,steps,wrong,name", CASES, ids=[c[0] for c in CASES])
def test_activation_rates_values_and_pairs_are_exact(law, density, steps, wrong, name):
    """Per-feature activation rates vs p_i (chi², threshold d + 5√(2d), ~5 sd of the null), E v = 1 and
    E v² = 4/3 (5 SE each), and co-activation of features 1 and 2 in a sample at rate p_1 p_2 (5 SE).
    Power (asserted): the nearest wrong variant of each case (see CASES) gives z >= 6 against the chi²
    threshold; values drawn as 2 u_2 without the 1/(p_i/q) rescale would shift E v by > 10 SE; mutually
    exclusive features (a categorical sampler) would miss the pair rate by > 6 SE."""
    n, B = 64, 1024
    p = T.frequencies(n, law, density)
    plan = make_plan(torch.tensor(p)[None], B, [5], [law])
    N = steps * B
    thr, z = _chi2_power(p, wrong(p, n), N)
    assert z >= 6, f"test too weak against {name}: z = {z:.1f}"
    counts, v, pair = _counts(plan, steps)
    zz = (counts.numpy() / N - p) / np.sqrt(p * (1 - p) / N)
    assert float(np.sum(zz ** 2)) < thr
    assert float(np.sum(((counts.numpy() / N - wrong(p, n)) ** 2) / (p * (1 - p) / N))) > thr   # caught
    se1, se2 = math.sqrt(1 / 3 / len(v)), math.sqrt((16 / 5 - 16 / 9) / len(v))
    assert abs(float(v.mean()) - 1.0) < 5 * se1 and abs(float((v * v).mean()) - 4 / 3) < 5 * se2
    assert float(v.min()) > 0 and float(v.max()) < 2
    q = p[0] * p[1]
    assert abs(pair - N * q) < 5 * math.sqrt(N * q) and N * q > 6 * math.sqrt(N * q) + 5 * math.sqrt(N * q)


def test_dense_redraw_of_short_groups_is_exact_in_distribution():
    """delta = 0.5 makes groups fall short about half the time: the dense redraw keeps the rates exact
    (chi², same threshold; power against 'short groups silently truncated' asserted: z >= 6)."""
    n, B, steps = 16, 256, 150
    p = T.frequencies(n, "power:0.5")
    plan = make_plan(torch.tensor(p)[None], B, [1], ["power:0.5"], delta=0.5)
    shorts = sum(bool(draw_padded(plan, t).short.any()) for t in range(20))
    assert shorts >= 5
    N = steps * B
    counts, _, _ = _counts(plan, steps)
    thr, _ = _chi2_power(p, p, N)
    zz = (counts.numpy() / N - p) / np.sqrt(p * (1 - p) / N)
    assert float(np.sum(zz ** 2)) < thr
    # truncation variant: per feature, E min(K, c) < E K; measured from the padded draws without redraw
    trunc = torch.zeros(n, dtype=torch.float64)
    for t in range(steps):
        xp = draw_padded(plan, t)
        trunc += torch.bincount(xp.feature[xp.valid], minlength=n).double()
    thr2, z = _chi2_power(p, trunc.numpy() / N, N)
    assert z >= 6


def test_counter_based_streams_and_batch_independence():
    """Step t's batch is a pure function of (stream, t): drawn alone, inside a multi-step call, or with other
    streams beside it (a different layout width C), the entries are the same."""
    n, B = 32, 64
    pa, pb = T.frequencies(n, "power:1.2"), T.frequencies(n, "exp:4")
    both = make_plan(torch.tensor(np.stack([pa, pb])), B, [3, 4], ["power:1.2", "exp:4"])
    alone = make_plan(torch.tensor(pb)[None], B, [4], ["exp:4"])
    assert both.slots > alone.slots

    def entries(plan, t, s, u=None):
        x = draw_active(plan, t, torch.float64, u)
        sel = x.stream == s
        k = x.sample[sel] * n + x.feature[sel]
        o = torch.argsort(k)
        return k[o], x.value[sel][o]

    u = uniforms(both, 5, steps=4)
    for t in (5, 8):
        ka, va = entries(both, t, 1)
        kb, vb = entries(alone, t, 0)
        kc, vc = entries(both, t, 1, u[:, t - 5])
        assert torch.equal(ka, kb) and torch.equal(va, vb) and torch.equal(ka, kc) and torch.equal(va, vc)
    assert not torch.equal(entries(alone, 5, 0)[0], entries(alone, 6, 0)[0])
    assert not torch.equal(entries(both, 5, 0)[0][:5], entries(both, 5, 1)[0][:5])


def test_padded_and_compacted_forms_hold_the_same_batch():
    n, B = 24, 48
    plan = make_plan(torch.tensor(T.frequencies(n, "power:1.2", 0.2))[None], B, [2], ["power:1.2"])
    xp = draw_padded(plan, 7)
    x = draw_active(plan, 7, torch.float64)
    torch.testing.assert_close(padded_dense(xp, B, n), x.dense(1, B, n), rtol=0, atol=0)
    assert plan.overflow_probability() < 1e-10


def test_init_is_philox_keyed_by_seed_and_width_and_independent_of_batch_mates():
    """W ~ N(0, 1/m), b ~ N(0, 1), drawn on the device keyed (seed, m): an instance's init is the same alone
    and padded beside a wider instance; different seeds differ; moments within 5 SE."""
    spec = M.TrainSpec(n=400, batch=8, steps=1)
    a = M.BatchedModel([dict(m=3, gamma=-1.0, law="linear", seed=2)], spec, "cpu", torch.float64)
    b = M.BatchedModel([dict(m=64, gamma=-1.0, law="linear", seed=0), dict(m=3, gamma=-1.0, law="linear", seed=2)],
                       spec, "cpu", torch.float64)
    assert torch.equal(a.W[0], b.W[1, :, :3]) and torch.equal(a.b[0], b.b[1])
    assert torch.all(b.W[1, :, 3:] == 0)
    w = b.W[0] * math.sqrt(64)
    se = math.sqrt(2 / w.numel())
    assert abs(float(w.mean())) < 5 / math.sqrt(w.numel()) and abs(float(w.var()) - 1) < 5 * se
    assert not torch.equal(b.W[0, :, :3], a.W[0])
