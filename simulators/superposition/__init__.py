"""Toy model of superposition (Elhage et al. 2022) and its scaling law (Liu, Liu & Gore 2025)."""
from . import theory
from .config import SuperpositionConfig
from .model import TrainSpec, sample_active, simulate, train

Config = SuperpositionConfig

__all__ = ["Config", "SuperpositionConfig", "TrainSpec", "sample_active", "simulate", "theory", "train"]
