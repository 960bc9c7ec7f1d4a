"""Data pruning beyond power laws (Sorscher et al. 2022): the pruned teacher–student max-margin perceptron.

Exports the config, the batched simulator (`simulate(cfg)`: ε per instance over the config's grid), the exact
batched max-margin solver and the replica theory (`theory.pruned_error`); `experiments` registers pruning.unpruned,
pruning.keep_hard_vs_easy, pruning.frontier and pruning.metric_angle with the harness. Exports resolve lazily
(PEP 562, `simulators._lazy`): importing `.config` alone does not import torch.
"""
from simulators._lazy import lazy_exports

_WHERE = {
    "theory": "theory", "Config": "config:PruningConfig", "PruningConfig": "config:PruningConfig",
    "simulate": "experiments:simulate", "build_examples": "model:build_examples", "kkt_report": "model:kkt_report",
    "max_margin": "model:max_margin", "reference_max_margin": "model:reference_max_margin",
    "solve_instances": "model:solve_instances",
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)
