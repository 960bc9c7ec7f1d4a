"""Data pruning beyond power laws (Sorscher et al. 2022): the pruned teacher–student max-margin perceptron.

Exports the config, the batched simulator (`simulate(cfg)`: ε per instance over the config's grid), the exact
batched max-margin solver and the replica theory (`theory.pruned_error`); `experiments` registers pruning.unpruned,
pruning.keep_hard_vs_easy, pruning.frontier and pruning.metric_angle with the harness.
"""
from . import theory
from .config import PruningConfig
from .experiments import simulate
from .model import build_examples, kkt_report, max_margin, reference_max_margin, solve_instances

Config = PruningConfig

__all__ = ["Config", "PruningConfig", "build_examples", "kkt_report", "max_margin", "reference_max_margin",
           "simulate", "solve_instances", "theory"]
