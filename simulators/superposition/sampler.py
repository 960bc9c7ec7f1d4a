"""Exact sparse data of the superposition model, drawn on the run's device by counter-based Philox.

x_{b,i} = u_{b,i} v_{b,i} with u ~ Bernoulli(p_i) independent over samples b and features i, v ~ U(0, 2)
([LLG25] Sec. 2). Only the active (b, i) pairs are drawn, for S streams (one per (seed, law)) at once:

**Grouped thinning.** Features are cut into contiguous groups g whose frequencies lie within a factor
`ratio` of the group's largest, q_g = max_{i in g} p_i. The n_g·B trials (feature-major: trial
j -> feature i0 + j // B, sample j % B) of a group are scanned by Geometric(q_g) gaps,
    gap = floor(ln(1 − u_1)/ln(1 − q_g)) + 1,
which mark each trial a candidate independently with probability q_g; a candidate is kept with
probability p_i/q_g (u_2 < p_i/q_g) and then gets v = 2 u_2 / (p_i/q_g), which, given u_2 < p_i/q_g, is
U(0, 2) and independent of the rest. So every (b, i) is active independently with probability exactly
p_i and carries U(0, 2): the definition, not an approximation. Each draw is one Philox block (u_1, u_2).

**Static layout.** Group g gets c_g draws, the smallest count with P(Binomial(n_g B, q_g) >= c_g) <= `delta`
(1e-12): the draws run past the group's last trial unless that happens ("shortfall"). The layout [S, C]
(C = max_s Σ_g c_{s,g}) depends only on (p, B), so a step's draws are one `_rng.uniform` call of static
shape, counter = the step: step t's batch is a pure function of (stream, t), whatever was drawn before
(a resumed or chunked run draws what an uninterrupted one draws), and a stream's numbers never depend on
the other streams of the call. Typical cost: ~1.2-1.5 B + O(G √B) draws per stream instead of today's
n·10 + B (the former per-feature margin).

**Shortfall** (probability <= delta per group and step; `overflow_probability`): `draw_active` (the CPU
path) draws the group's trials after its last gap densely from their own key (role ROLE_DATA, keys
(law, 1, g), counter t): exact, as geometric gaps are memoryless (a full redraw would not be: the kept
draws would be conditioned on not falling short);
`draw_padded` (the device path) only flags it in a device tensor, and the trainer reruns on the exact path
if a flag was ever raised (see model.train): exact either way, with no host sync per step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from scipy import stats

from .. import _rng
from .._batch import ROLE_DATA

DELTA = 1e-12          # per group and step: probability that a group's draws fall short of its trials
RATIOS = (1.25, 1.5, 2.0, 3.0, 4.0)   # candidate group ratios; the plan takes the one with fewest draws


def law_key(law: str) -> int:
    """A deterministic integer key for a law string (no salted hash()): its bytes as a base-257 number mod 2^31."""
    k = 0
    for ch in law.encode():
        k = (k * 257 + ch) % (2 ** 31 - 1)
    return k


def _count_bound(trials: int, q: float, delta: float) -> int:
    """Smallest c with P(Binomial(trials, q) >= c) <= delta (0 if q = 0)."""
    if q <= 0.0:
        return 0
    if q >= 1.0:
        return trials + 1
    return int(stats.binom.isf(delta, trials, q)) + 1


def _groups(p: np.ndarray, ratio: float) -> list[tuple[int, int, float]]:
    """Contiguous groups (start, stop, q) with max/min frequency <= ratio; zero frequencies form q = 0 groups."""
    out, i, n = [], 0, len(p)
    while i < n:
        j, hi, lo = i + 1, p[i], p[i]
        while j < n and (p[j] > 0) == (hi > 0) and (hi == 0 or max(hi, p[j]) <= ratio * min(lo, p[j])):
            hi, lo, j = max(hi, p[j]), min(lo, p[j]), j + 1
        out.append((i, j, float(hi)))
        i = j
    return out


def _layout(p: np.ndarray, batch: int, delta: float):
    """Groups and draw counts of one stream, at the ratio with the fewest draws."""
    best = None
    for r in RATIOS:
        gs = _groups(p, r)
        cs = [_count_bound((j - i) * batch, q, delta) for i, j, q in gs]
        if best is None or sum(cs) < sum(best[1]):
            best = (gs, cs)
    return best


@dataclass
class SamplerPlan:
    """Static layout of S streams' draws (all tensors on the run's device; built once per run).

    seeds [S], keys [S, 1] (law key); per draw slot [S, C]: group index `grp`, first slot of its group
    `seg0`, first feature `f0`, trial count `trials`, log(1 − q) `logq`, q `q`, slot used `used`;
    per group [S, G]: last slot `glast`, trials `gtrials`, group used `gused`, start/stop features (CPU).
    `rows_bound` [S]: a bound on active samples per stream, P(exceeded) <= delta (the static row count)."""
    n: int
    batch: int
    delta: float
    p: torch.Tensor
    seeds: torch.Tensor
    keys: torch.Tensor
    grp: torch.Tensor
    seg0: torch.Tensor
    f0: torch.Tensor
    trials: torch.Tensor
    q: torch.Tensor
    logq: torch.Tensor
    used: torch.Tensor
    glast: torch.Tensor
    gtrials: torch.Tensor
    gused: torch.Tensor
    groups: list            # per stream: list of (start, stop, q)
    rows_bound: torch.Tensor

    def __post_init__(self):
        self.trials_f = self.trials.double()
        self.key = _rng.derive_key(self.seeds, ROLE_DATA, self.keys, device=self.seeds.device)   # once per run

    @property
    def n_streams(self) -> int:
        return int(self.seeds.shape[0])

    @property
    def slots(self) -> int:
        return int(self.grp.shape[1])

    def overflow_probability(self) -> float:
        """Upper bound on P(any shortfall or row-bound excess in one step, over all streams)."""
        return self.delta * (sum(len(g) for g in self.groups) + self.n_streams)


def make_plan(p: torch.Tensor | np.ndarray, batch: int, seeds: Sequence[int], laws: Sequence[str], *,
              device=None, delta: float = DELTA) -> SamplerPlan:
    """The static layout for streams (seeds[s], laws[s]) with frequencies p [S, n] (float64)."""
    p = np.asarray(torch.as_tensor(p, dtype=torch.float64).cpu().numpy(), dtype=np.float64)
    S, n = p.shape
    if not (0.0 < delta < 1.0):
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    lays = [_layout(p[s], batch, delta) for s in range(S)]
    C = max(1, max(sum(cs) for _, cs in lays))
    G = max(len(gs) for gs, _ in lays)
    arr = {k: np.zeros((S, C), np.int64) for k in ("grp", "seg0", "f0", "trials")}
    qa, used = np.zeros((S, C)), np.zeros((S, C), bool)
    glast, gtr, gused = np.zeros((S, G), np.int64), np.ones((S, G), np.int64), np.zeros((S, G), bool)
    rows = np.zeros(S, np.int64)
    for s, (gs, cs) in enumerate(lays):
        k = 0
        for g, ((i, j, q), c) in enumerate(zip(gs, cs)):
            sl = slice(k, k + c)
            arr["grp"][s, sl], arr["seg0"][s, sl], arr["f0"][s, sl] = g, k, i
            arr["trials"][s, sl], qa[s, sl], used[s, sl] = (j - i) * batch, q, True
            glast[s, g], gtr[s, g], gused[s, g] = k + c - 1, (j - i) * batch, c > 0
            k += c
        # P(a sample has an active feature) = 1 − Π(1 − p_i)
        q_act = 1.0 if np.any(p[s] >= 1.0) else float(-np.expm1(np.sum(np.log1p(-p[s]))))
        rows[s] = min(batch, _count_bound(batch, float(q_act), delta))
    t = lambda a, dt=torch.int64: torch.as_tensor(a, dtype=dt, device=device)   # noqa: E731
    qt = t(qa, torch.float64)
    return SamplerPlan(
        n=n, batch=batch, delta=delta, p=t(p, torch.float64),
        seeds=t(list(seeds)), keys=t([[law_key(l)] for l in laws]),
        grp=t(arr["grp"]), seg0=t(arr["seg0"]), f0=t(arr["f0"]), trials=t(arr["trials"]), q=qt,
        logq=torch.log1p(-qt), used=t(used, torch.bool), glast=t(glast), gtrials=t(gtr), gused=t(gused, torch.bool),
        groups=[gs for gs, _ in lays], rows_bound=t(rows))


@dataclass
class PaddedBatch:
    """Step t's draws in the static [S, C] layout: sample, feature (clamped into range where unused), value
    (0 where `valid` is False: such a slot is a no-op in every product), valid, and `short` [S, G] (a group's
    draws fell short of its trials), `pos` [S, C] the trial index of each slot within its group.""" 
    sample: torch.Tensor
    feature: torch.Tensor
    value: torch.Tensor
    valid: torch.Tensor
    short: torch.Tensor
    pos: torch.Tensor


def uniforms(plan: SamplerPlan, step: int, steps: int | None = None) -> torch.Tensor:
    """The Philox uniforms of step `step` [S, C, 2] (with `steps`: of steps step .. step + steps − 1,
    [S, steps, C, 2], the same numbers: the CPU path draws several steps per call to spread the per-call
    overhead of the eager integer ops)."""
    return _rng.uniform_from_key(plan.key, (plan.slots, 2), counter=step, steps=steps, dtype=torch.float64)


def draw_padded(plan: SamplerPlan, step: int, dtype=torch.float64, u: torch.Tensor | None = None) -> PaddedBatch:
    """Step `step`'s batch of every stream in the static layout: one Philox call, no host sync.
    u: step `step`'s uniforms if already drawn (`uniforms`)."""
    if u is None:
        u = uniforms(plan, step)                                                       # [S, C, 2]
    u1, u2 = u[..., 0], u[..., 1]
    ratio = torch.log1p(-u1) / plan.logq                       # q = 1: 0 (gap 1); unused slots: set to 0
    ratio = torch.where(plan.used, torch.minimum(ratio, plan.trials_f), torch.zeros_like(ratio))
    gap = torch.floor(ratio).long() + 1                                                  # [S, C] in [1, L + 1]
    cum = torch.cumsum(gap, 1)
    pos = cum - (cum.gather(1, plan.seg0) - gap.gather(1, plan.seg0)) - 1               # trial in its group
    in_range = plan.used & (pos < plan.trials)
    posc = torch.minimum(pos, plan.trials - 1).clamp_(min=0)
    feature = (plan.f0 + torch.div(posc, plan.batch, rounding_mode="floor")).clamp_(max=plan.n - 1)
    sample = torch.remainder(posc, plan.batch)
    keep = plan.p.gather(1, feature) / plan.q.clamp_min(1e-300)                          # p_i / q_g
    valid = in_range & (u2 < keep)
    value = torch.where(valid, 2.0 * u2 / keep, torch.zeros_like(u2)).to(dtype)
    short = plan.gused & (pos.gather(1, plan.glast) < plan.gtrials - 1)                   # [S, G]
    return PaddedBatch(sample, feature, value, valid, short, pos)


@dataclass
class ActiveBatch:
    """The active entries of a batch of B samples for S streams (x_{b,i} = v where listed, 0 elsewhere).

    stream [K], sample [K], feature [K] (int64), value [K] (float), sorted by stream."""
    stream: torch.Tensor
    sample: torch.Tensor
    feature: torch.Tensor
    value: torch.Tensor

    def dense(self, n_streams: int, batch: int, n: int) -> torch.Tensor:
        """x as a dense [S, B, n] tensor (for tests and the per-model baseline)."""
        x = torch.zeros(n_streams, batch, n, dtype=self.value.dtype, device=self.value.device)
        x[self.stream, self.sample, self.feature] = self.value
        return x


def padded_dense(xp: PaddedBatch, batch: int, n: int) -> torch.Tensor:
    """x as a dense [S, B, n] tensor from the padded layout (unused slots add 0)."""
    S = xp.value.shape[0]
    x = torch.zeros(S, batch * n, dtype=xp.value.dtype, device=xp.value.device)
    x.scatter_add_(1, xp.sample * n + xp.feature, xp.value)
    return x.view(S, batch, n)


def draw_active(plan: SamplerPlan, step: int, dtype=torch.float32, u: torch.Tensor | None = None) -> ActiveBatch:
    """Step `step`'s active entries, compacted (data-dependent length K: the CPU path). Exact: the trials a
    short group's draws did not reach (probability <= delta) are drawn densely from their own key."""
    xp = draw_padded(plan, step, torch.float64, u)
    st, j = torch.nonzero(xp.valid, as_tuple=True)
    sa, fe, va = xp.sample[st, j], xp.feature[st, j], xp.value[st, j]
    if bool(xp.short.any()):
        # rare: a group's draws ended before its last trial. Geometric gaps are memoryless, so the trials after
        # the last drawn position are fresh independent Bernoulli(p_i) trials: draw exactly those densely
        # (key (law, 1, g), counter t). (Redrawing the whole group instead would bias it: the kept draws would
        # be conditioned on not falling short.)
        extra = []
        for s, g in torch.nonzero(xp.short).tolist():
            i0, i1, _ = plan.groups[s][g]
            reached = int(xp.pos[s, int(plan.glast[s, g])])          # last trial covered by the gaps
            key = torch.tensor([[int(plan.keys[s, 0]), 1, g]], device=plan.seeds.device)
            ue = _rng.uniform(plan.seeds[s:s + 1], ROLE_DATA, ((i1 - i0) * plan.batch, 2), keys=key, counter=step,
                              device=plan.seeds.device, dtype=torch.float64)[0]
            j = torch.arange((i1 - i0) * plan.batch, device=plan.seeds.device)
            ff = i0 + torch.div(j, plan.batch, rounding_mode="floor")
            on = (j > reached) & (ue[:, 0] < plan.p[s, ff])
            extra.append((torch.full_like(j[on], s), torch.remainder(j[on], plan.batch), ff[on], 2.0 * ue[on, 1]))
        parts = [(st, sa, fe, va)] + extra
        st, sa, fe, va = (torch.cat(c) for c in zip(*parts))
        order = torch.argsort(st, stable=True)
        st, sa, fe, va = st[order], sa[order], fe[order], va[order]
    return ActiveBatch(st, sa, fe, va.to(dtype))


__all__ = ["ActiveBatch", "DELTA", "PaddedBatch", "SamplerPlan", "draw_active", "draw_padded", "law_key",
           "make_plan", "padded_dense"]
