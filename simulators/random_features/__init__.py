"""Random-feature regression and power-law random features (PLRF): batched simulators and their exact theory.

`Config` classes live in `config`, the batched simulators in `model` (`simulate` = its functions), the closed
forms in `theory`; `experiments` registers rf.* and plrf.* with the harness. Exports resolve lazily (PEP 562,
`simulators._lazy`): importing `.config` alone does not import torch.
"""
from simulators._lazy import lazy_exports

_WHERE = {
    "config": "config", "model": "model", "simulate": "model", "theory": "theory",
    "Config": "config:ModelLimitedConfig",
    **{c: f"config:{c}" for c in ("ComputeOptimalConfig", "DataLimitedConfig", "ModelLimitedConfig",
                                  "MRSGridConfig", "PLRFCurvesConfig", "PLRFPhasesConfig", "TimeConfig",
                                  "VarianceLimitedConfig", "FourRegimesConfig")},
}
__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
__all__ = sorted(_WHERE)
