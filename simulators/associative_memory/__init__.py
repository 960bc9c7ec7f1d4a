"""Associative memories on Zipf tokens (Cabannes, Dohmatob & Bietti 2023) and Hopfield references.

Exports the configs, the batched simulators and the theory module; `experiments` registers
memory.data, memory.dim, memory.learned and memory.hopfield with the harness.
"""
from . import theory
from .config import DataConfig, DimConfig, HopfieldConfig, LearnedConfig, check_model
from .hopfield import dense_bit_error, retrieval_overlap
from .learned import train_memory
from .model import measure_error, measure_error_per_trial, memory_weights, sample_counts, zipf_probs

Config = DimConfig
simulate = measure_error

__all__ = ["Config", "DataConfig", "DimConfig", "HopfieldConfig", "LearnedConfig", "check_model", "dense_bit_error",
           "measure_error", "measure_error_per_trial", "memory_weights", "retrieval_overlap", "sample_counts",
           "simulate", "theory", "train_memory", "zipf_probs"]
