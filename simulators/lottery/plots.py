"""Figures of the lottery family (matplotlib, Agg). Called by the experiments' `figures` hooks and notebooks."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from simulators.harness.report import save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_budget(widths, steps, curves, table: Sequence[dict], path: str | Path) -> str:
    """Left: median test MSE vs N at every checkpoint (with N^-1 and N^-4 guides); right: fitted exponent vs step."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    cmap = plt.get_cmap("viridis")
    w = np.asarray(widths, float)
    for k, (st, c) in enumerate(zip(steps, curves)):
        a.plot(w, c, "o-", ms=3, color=cmap(k / max(len(steps) - 1, 1)), label=f"step {st}")
    last = np.asarray(curves[-1])
    a.plot(w, last[0] * (w / w[0]) ** -1.0, "k--", lw=1, label="N^-1")
    a.plot(w, last[0] * (w / w[0]) ** -4.0, "k:", lw=1, label="N^-4")
    a.set(xscale="log", yscale="log", xlabel="width N", ylabel="median test MSE", ylim=(last.min() / 10, None))
    a.legend(fontsize=6, ncol=2)
    st = [r["step"] for r in table]
    b.plot(st, [r["exponent_median"] for r in table], "o-", label="median")
    b.fill_between(st, [r["ci_lo"] for r in table], [r["ci_hi"] for r in table], alpha=0.3)
    b.plot(st, [r["exponent_meanlog"] for r in table], "s--", ms=3, label="geo-mean")
    b.axhline(1, color="k", ls="--", lw=1)
    b.axhspan(0.85, 1.15, color="C2", alpha=0.1, label="1 ± 0.15")
    b.set(xscale="log", xlabel="training step", ylabel="fitted exponent (all widths)",
          title="slope vs training step (not converged)")
    b.legend(fontsize=7)
    return save_figure(fig, path)


def plot_histogram(loss: np.ndarray, symmetric: np.ndarray, path: str | Path, bins: int = 60) -> str:
    """Histogram of log10 test MSE, mirror-symmetric nets stacked in a second colour."""
    plt = _plt()
    ll = np.log10(np.maximum(loss, 1e-300))
    edges = np.linspace(ll.min(), ll.max(), bins + 1)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.hist([ll[symmetric], ll[~symmetric]], bins=edges, stacked=True, label=["mirror pair", "other"],
            color=["C3", "C0"])
    ax.set(xlabel="log10 test MSE", ylabel="nets", title=f"{len(loss)} nets of width 2")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_tickets(table: Sequence[dict], path: str | Path) -> str:
    """Mirror vs duplicate pairs per neuron, movement, output variance, all vs N."""
    plt = _plt()
    n = np.array([t["N"] for t in table], float)
    fig, axs = plt.subplots(1, 3, figsize=(12, 3.6))
    axs[0].plot(n, [t["mirror pairs"] / t["N"] for t in table], "o-", label="mirror pairs / N")
    axs[0].plot(n, [t["duplicate pairs"] / t["N"] for t in table], "s--", label="duplicate pairs / N (control)")
    axs[0].set(xscale="log", xlabel="width N", ylabel="pairs per neuron")
    axs[0].legend(fontsize=7)
    axs[1].plot(n, [t["move hidden"] for t in table], "o-", label="hidden (w, b)")
    axs[1].plot(n, [t["move out"] for t in table], "s-", label="output v")
    axs[1].set(xscale="log", yscale="log", xlabel="width N", ylabel="|θ-θ0| / |θ0|", title="movement (lazy vs rich)")
    axs[1].legend(fontsize=7)
    var = np.array([t["output variance"] for t in table])
    axs[2].plot(n, var, "o-", label="Var_seeds f(x)")
    axs[2].plot(n, var[0] * (n / n[0]) ** -1.0, "k--", lw=1, label="N^-1")
    axs[2].plot(n, [t["median test MSE"] for t in table], "s-", label="median test MSE")
    axs[2].set(xscale="log", yscale="log", xlabel="width N")
    axs[2].legend(fontsize=7)
    return save_figure(fig, path)


def plot_recipe_map(table: Sequence[dict], path: str | Path) -> str:
    """Fitted exponent (with CI) per recipe against the 1 ± 0.15 band."""
    plt = _plt()
    rows = [t for t in table if np.isfinite(t.get("exponent", float("nan")))]
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(rows) + 1.5))
    y = np.arange(len(rows))
    e = np.array([t["exponent"] for t in rows])
    err = np.array([[t["exponent"] - t["ci_lo"], t["ci_hi"] - t["exponent"]] for t in rows]).T
    ax.errorbar(e, y, xerr=np.clip(err, 0, None), fmt="o", color="C0")
    ax.axvspan(0.85, 1.15, color="C2", alpha=0.15, label="N^-1 ± 0.15")
    ax.axvline(4, color="k", ls=":", lw=1, label="N^-4")
    ax.set_yticks(y, [t["recipe"] for t in rows])
    ax.set(xlabel="fitted exponent (median over seeds)", title="where MSE ∝ N^-1 holds")
    ax.legend(fontsize=7)
    return save_figure(fig, path)
