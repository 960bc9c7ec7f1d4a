"""Lottery-ticket ensembles (Liu & Tegmark 2023): width-N two-layer nets on 1-D targets, trained as one batch.

Exports resolve lazily (PEP 562, `simulators._lazy`): importing `.config` alone does not import torch."""
from simulators._lazy import lazy_exports

_WHERE = {
    "theory": "theory", "Config": "config:LotteryConfig", "LotteryConfig": "config:LotteryConfig",
    "RecipeConfig": "config:RecipeConfig", "TwoLayerNets": "model:TwoLayerNets",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)


def simulate(cfg, *, dtype=None, device="cpu"):
    """Train every (width, seed) net of `cfg` as one batch; returns (nets, Trajectory)."""
    import torch

    from .model import build_nets, grids, train_adam

    dtype = dtype or torch.float32
    points = [{"width": n, "seed": s} for n in cfg.widths for s in range(cfg.seeds)]
    nets = build_nets(cfg, points, dtype=dtype, device=device)
    return nets, train_adam(nets, cfg, grids(cfg, dtype=dtype, device=device))


__all__ = sorted([*_WHERE, "simulate"])
