"""Toy model of superposition (Elhage et al. 2022) and its scaling law (Liu, Liu & Gore 2025)."""
from . import theory
from .config import SuperpositionConfig
from .model import TrainSpec, simulate, train
from .sampler import draw_active, draw_padded, make_plan

Config = SuperpositionConfig

__all__ = ["Config", "SuperpositionConfig", "TrainSpec", "draw_active", "draw_padded", "make_plan", "simulate",
           "theory", "train"]
