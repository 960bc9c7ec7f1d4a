"""Toy model of superposition (Elhage et al. 2022) and its scaling law (Liu, Liu & Gore 2025).

Exports resolve lazily (PEP 562, `simulators._lazy`): importing `.config` alone does not import torch."""
from simulators._lazy import lazy_exports

_WHERE = {
    "theory": "theory", "Config": "config:SuperpositionConfig", "SuperpositionConfig": "config:SuperpositionConfig",
    "TrainSpec": "model:TrainSpec", "simulate": "model:simulate", "train": "model:train",
    "draw_active": "sampler:draw_active", "draw_padded": "sampler:draw_padded", "make_plan": "sampler:make_plan",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)
