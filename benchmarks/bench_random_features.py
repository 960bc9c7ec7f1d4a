"""Random features. (1) Batched PLRF one-pass SGD (all instances in one computation) vs the per-model Python loop that the
papers' code writes (one model trained after another), same work: E models × R steps × batch B.

Providers: "python-loop" (E calls of the trainer with one instance each) and "batched" (one call with E
instances, through kernels.bmm_epilogue). Rows report model-steps/s and the speed-up ratio.
"""
from __future__ import annotations

import torch

from benchmarks._common import bmm_time, limit_fields, copy_bandwidth, peak_memory_per_instance, time_fn, write_rows
from simulators.random_features import model as mdl

POINTS = {"tiny": [dict(E=4, d=16, v=64, steps=64)],
          "full": [dict(E=16, d=64, v=256, steps=512), dict(E=64, d=64, v=256, steps=512),
                   dict(E=64, d=128, v=512, steps=256)]}


def setup(point, provider, device="cpu", dtype=torch.float64):
    E, d, v, R = point["E"], point["d"], point["v"], point["steps"]
    D, b = mdl.plrf_problem(v, 1.0, 0.7, dtype=dtype, device=device)
    seeds = list(range(E))
    W = mdl.plrf_features(seeds, [d] * E, v, dtype=dtype, device=device)
    cps = [0, R]
    if provider == "batched":
        return lambda: mdl.plrf_sgd(W, D, b, seeds, 0.3, 1, cps)
    return lambda: [mdl.plrf_sgd(W[e:e + 1], D, b, [e], 0.3, 1, cps) for e in range(E)]


def run(size: str = "full") -> list[dict]:
    if size not in POINTS:
        raise ValueError(f"size must be one of {sorted(POINTS)}, got {size!r}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    rows = []
    for point in POINTS[size]:
        t = {}
        for provider in ("python-loop", "batched"):
            fn = setup(point, provider, device)
            r = time_fn(fn, min_time=0.2 if size == "tiny" else 1.0, max_reps=3 if size == "tiny" else 20)
            t[provider] = r["time_s"]
            rows.append({"benchmark": "random_features.plrf_sgd", "provider": provider, "config": point,
                         **r, "models_steps_per_s": point["E"] * point["steps"] / r["time_s"]})
        for r in rows[-2:]:
            r["speedup_vs_loop"] = t["python-loop"] / t["batched"]
    return rows + ridge_rows(size, device) + curve_rows(size, device)


RIDGE = {"tiny": dict(Ns=(16, 32), seeds=2), "full": dict(Ns=(128, 256, 512, 1024), seeds=16)}


def _ridge_data(N, seeds, device):
    g = torch.Generator().manual_seed(N)
    Phi = torch.randn(seeds, N, N, generator=g, dtype=torch.float64).to(device)      # [E, P = N, N]
    y = torch.randn(seeds, N, generator=g, dtype=torch.float64).to(device)
    return Phi, y


def ridge_solves(pt, provider, device, ridge=1e-3):
    data = [_ridge_data(N, pt["seeds"], device) for N in pt["Ns"]]

    def run():
        out = []
        for Phi, y in data:
            E, P, N = Phi.shape
            if provider == "python-loop":
                out += [mdl.ridge_solve(Phi[e:e + 1], y[e:e + 1], ridge) for e in range(E)]
            elif provider == "lstsq":
                A = torch.cat([Phi, (ridge * P) ** 0.5 * torch.eye(N, dtype=Phi.dtype, device=device).expand(E, N, N)], 1)
                out.append(torch.linalg.lstsq(A, torch.cat([y, torch.zeros(E, N, dtype=y.dtype, device=device)], 1)[..., None]).solution)
            else:
                out.append(mdl.ridge_solve(Phi, y, ridge))
        return out
    return run


def ridge_rows(size, device) -> list[dict]:
    pt = RIDGE[size]
    E = pt["seeds"] * len(pt["Ns"])
    rows, t = [], {}
    for prov in ("batched", "lstsq", "python-loop"):
        fn = ridge_solves(pt, prov, device)
        mem = peak_memory_per_instance(fn, E)
        r = time_fn(fn, min_time=0.0, warmup=0, max_reps=3)
        t[prov] = r["time_s"]
        rows.append({"benchmark": "random_features.ridge", "provider": prov, "config": dict(pt, n_solves=E), **r,
                     "models_steps_per_s": E / r["time_s"], **mem})
    for r in rows:
        r["speedup_vs_loop"], r["speedup_vs_baseline"] = t["python-loop"] / r["time_s"], t["lstsq"] / r["time_s"]
    shapes = [(pt["seeds"], N, N, N) for N in pt["Ns"]]                   # the Gram ΦᵀΦ, the bulk of the FLOPs
    flops = sum(2.0 * e * a * k * c + e * c ** 3 / 3 for e, a, k, c in shapes)
    rows.append({"benchmark": "random_features.ridge_limit", "provider": "batched", "config": pt, "time_s": t["batched"],
                 **limit_fields(t["batched"], flops, sum(8.0 * 3 * e * N * N for e, N, *_ in shapes),
                                bmm_time(shapes, dtype=torch.float64, min_time=0.05),
                                copy_bandwidth(8 * pt["seeds"] * max(pt["Ns"]) ** 2)["copy_gbytes_per_s"])})
    return rows


CURVE = {"tiny": dict(d=16, v=64, steps=64, seeds=4), "full": dict(d=128, v=512, steps=2048, seeds=16)}


def curve_rows(size, device, dtype=torch.float64) -> list[dict]:
    pt = CURVE[size]
    D, b = mdl.plrf_problem(pt["v"], 1.0, 0.7, dtype=dtype, device=device)
    cps = mdl.log_checkpoints(pt["steps"], 20)
    seeds = list(range(pt["seeds"]))
    W = mdl.plrf_features(seeds, [pt["d"]] * pt["seeds"], pt["v"], dtype=dtype, device=device)
    W1 = W[:1]

    def volterra():
        lam, rho, pinf = mdl.plrf_volterra_inputs(W1, D, b, [pt["d"]])
        return mdl.plrf_volterra(lam, rho, pinf, 0.3, 1, cps)
    provs = {"volterra-exact": volterra, "sgd-batched-16-seeds": lambda: mdl.plrf_sgd(W, D, b, seeds, 0.3, 1, cps)}
    rows, t = [], {}
    for k, fn in provs.items():
        r = time_fn(fn, min_time=0.0, warmup=1, max_reps=3)
        t[k] = r["time_s"]
        rows.append({"benchmark": "random_features.plrf_curve", "provider": k, "config": pt, **r})
    for r in rows:
        r["speedup_vs_baseline"] = t["sgd-batched-16-seeds"] / r["time_s"]
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = run("full")
    for r in out:
        print(r["provider"], r["config"], f"{r['time_s'] * 1e3:.1f} ms", f"{r['models_steps_per_s']:.3g} model-steps/s",
              f"x{r['speedup_vs_loop']:.2f}")
    print(write_rows("random_features", out))
