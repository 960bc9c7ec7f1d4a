"""Exploratory check of the derived compute-optimal exponents below the PLRF high-dimensional line (2α < 1).

Not a registered experiment (no verdict): the derived exponents of `theory.plrf_compute_optimal` assume
v ∝ d and a learning rate at its stability scale γ ∝ d^(2α−1), so each size d here has its own v = c·d and
lr = ½ × the stability bound of its own sampled spectrum. "Simulation" is the exact expected one-pass SGD loss
given the sampled features (closed-form Volterra, `model.plrf_volterra_eig`), with features nested in rows and
columns within a seed (G[:c·d, :d] / √d), and the frontier rule of plrf.phases per seed.

Run: `OPENBLAS_NUM_THREADS=1 python -m tools.plrf_below_line "0.4,0.3;0.4,0.8;0.27,1.0;0.15,0.9" 4 2048`
(about 90 s per point on one CPU core). Prints, per (α, β), the theory exponents, the d* and loss slopes over
the last 1, 1.5 and 2 decades of the budgets where every seed's d* is interior, and local slopes.
"""
from __future__ import annotations

import math
import sys

import numpy as np
import torch

from simulators.random_features import model as mdl
from simulators.random_features import theory as th
from simulators.random_features.experiments import frontier


def run(points, c: int = 4, dmax: int = 2048, seeds: int = 6, steps: int = 200000, lr_frac: float = 0.5):
    ds = sorted(set(int(round(x)) for x in np.geomspace(16, dmax, 41)))
    cps = mdl.log_checkpoints(steps, 400)
    r = np.asarray(cps, float)[1:]
    fs = np.geomspace(10 * min(ds) ** 2, max(ds) * r[-1], 60)
    for al, be in points:
        co = th.plrf_compute_optimal(al, be)
        per = []
        for s in range(seeds):
            G = mdl.plrf_nested_columns(s, max(ds), c * max(ds))
            curves = []
            for d in ds:
                D, b = mdl.plrf_problem(c * d, al, be)
                W = G[:c * d, :d] / math.sqrt(d)
                lam, rho, pinf = mdl.plrf_volterra_inputs(W[None], D, b, [d])
                lr = lr_frac * th.plrf_lr_bound(lam[0].numpy(), 1)
                curves.append(mdl.plrf_volterra_eig(lam, rho, pinf, lr, 1, cps)[0].numpy()[1:])
            per.append(frontier(ds, curves, r, fs))
        dst = np.array([p[0] for p in per]); Lst = np.array([p[1] for p in per])
        ok = np.isfinite(dst).all(0)
        x = fs[ok]
        print(f"(α, β) = ({al}, {be}) phase {co['phase']}: theory ξ = {co['xi']:.3f}, η = {co['loss']:.3f} "
              f"[{co['source']}]; interior f in [{x[0]:.3g}, {x[-1]:.3g}] ({int(ok.sum())} budgets)", flush=True)
        gd, gL = np.exp(np.log(dst[:, ok]).mean(0)), np.exp(np.log(Lst[:, ok]).mean(0))
        for dec in (1.0, 1.5, 2.0):
            m = x >= x[-1] / 10 ** dec
            sd = np.polyfit(np.log(x[m]), np.log(gd[m]), 1)[0]
            sL = -np.polyfit(np.log(x[m]), np.log(gL[m]), 1)[0]
            print(f"   last {dec} decades: d* slope {sd:.3f}, loss decay {sL:.3f}", flush=True)
        sel = np.unique(np.linspace(0, len(x) - 1, 7).round().astype(int))
        print("   local (f_lo, d* slope, loss decay):",
              [(f"{x[i]:.2g}", round(float(np.log(gd[j] / gd[i]) / np.log(x[j] / x[i])), 3),
                round(float(-np.log(gL[j] / gL[i]) / np.log(x[j] / x[i])), 3)) for i, j in zip(sel[:-1], sel[1:])],
              flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    pts = [tuple(map(float, p.split(","))) for p in sys.argv[1].split(";")]
    run(pts, *(int(a) for a in sys.argv[2:4]))
