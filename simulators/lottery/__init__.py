"""Lottery-ticket ensembles (Liu & Tegmark 2023): width-N two-layer nets on 1-D targets, trained as one batch."""
from . import theory
from .config import LotteryConfig, RecipeConfig
from .model import TwoLayerNets, build_nets, grids, train_adam

Config = LotteryConfig


def simulate(cfg: LotteryConfig, *, dtype=None, device="cpu"):
    """Train every (width, seed) net of `cfg` as one batch; returns (nets, Trajectory)."""
    import torch

    dtype = dtype or torch.float32
    points = [{"width": n, "seed": s} for n in cfg.widths for s in range(cfg.seeds)]
    nets = build_nets(cfg, points, dtype=dtype, device=device)
    return nets, train_adam(nets, cfg, grids(cfg, dtype=dtype, device=device))


__all__ = ["Config", "LotteryConfig", "RecipeConfig", "TwoLayerNets", "simulate", "theory"]
