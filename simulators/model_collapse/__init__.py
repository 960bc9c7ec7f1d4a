"""Model collapse (Dohmatob, Feng & Kempe 2024; Dohmatob, Feng, Yang, Charton & Kempe 2024): regression
chains and Zipf tails, simulated in batch against exact finite-sample theory.

Exports the configs, the batched simulators and the theory module; `experiments` registers collapse.* and
tails.* with the harness. Exports resolve lazily (PEP 562, `simulators._lazy`): importing `.config` alone
does not import torch.
"""
from simulators._lazy import lazy_exports

_WHERE = {
    "theory": "theory",
    **{c: f"config:{c}" for c in ("OLSGenConfig", "OverparamConfig", "ReplaceConfig", "RidgeScalingConfig",
                                  "TailCutConfig", "TailGenConfig", "TailMixConfig")},
    **{f: f"model:{f}" for f in ("generations_errors", "mixed_stream_errors", "ols_chain_errors",
                                 "overparam_chain_errors", "replace_accumulate_errors", "ridge_chain_errors",
                                 "tail_stream_errors")},
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)
