"""Associative memories on Zipf tokens (Cabannes, Dohmatob & Bietti 2023) and Hopfield references.

Exports the configs, the batched simulators and the theory module; `experiments` registers
memory.data, memory.dim, memory.learned and memory.hopfield with the harness. Exports resolve lazily
(PEP 562, `simulators._lazy`): importing `.config` alone does not import torch.
"""
from simulators._lazy import lazy_exports

_WHERE = {
    "theory": "theory",
    "Config": "config:DimConfig", "DataConfig": "config:DataConfig", "DimConfig": "config:DimConfig",
    "HopfieldConfig": "config:HopfieldConfig", "LearnedConfig": "config:LearnedConfig",
    "check_model": "config:check_model",
    "dense_bit_error": "hopfield:dense_bit_error", "retrieval_overlap": "hopfield:retrieval_overlap",
    "train_memory": "learned:train_memory",
    "measure_error": "model:measure_error", "simulate": "model:measure_error",
    "measure_error_per_trial": "model:measure_error_per_trial", "memory_weights": "model:memory_weights",
    "sample_counts": "model:sample_counts", "zipf_probs": "model:zipf_probs",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)
