"""Model collapse (Dohmatob, Feng & Kempe 2024; Dohmatob, Feng, Yang, Charton & Kempe 2024): regression
chains and Zipf tails, simulated in batch against exact finite-sample theory.

Exports the configs, the batched simulators and the theory module; `experiments` registers collapse.* and
tails.* with the harness.
"""
from . import theory
from .config import (OLSGenConfig, OverparamConfig, ReplaceConfig, RidgeScalingConfig, TailCutConfig, TailGenConfig,
                     TailMixConfig)
from .model import (generations_errors, mixed_stream_errors, ols_chain_errors, overparam_chain_errors,
                    replace_accumulate_errors, ridge_chain_errors, tail_stream_errors)

__all__ = ["OLSGenConfig", "OverparamConfig", "ReplaceConfig", "RidgeScalingConfig", "TailCutConfig", "TailGenConfig",
           "TailMixConfig", "generations_errors", "mixed_stream_errors", "ols_chain_errors", "overparam_chain_errors",
           "replace_accumulate_errors", "ridge_chain_errors", "tail_stream_errors", "theory"]
