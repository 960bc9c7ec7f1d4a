"""Random-feature regression and power-law random features (PLRF): batched simulators and their exact theory.

`Config` classes live in `config`, the batched simulators in `model` (`simulate` = its functions), the closed
forms in `theory`; `experiments` registers rf.* and plrf.* with the harness.
"""
from . import config, model, theory
from . import model as simulate
from .config import (ComputeOptimalConfig, DataLimitedConfig, ModelLimitedConfig, MRSGridConfig, PLRFCurvesConfig,
                     PLRFPhasesConfig, TimeConfig, VarianceLimitedConfig)

Config = ModelLimitedConfig

__all__ = ["config", "model", "simulate", "theory", "Config", "ComputeOptimalConfig", "DataLimitedConfig",
           "ModelLimitedConfig", "MRSGridConfig", "PLRFCurvesConfig", "PLRFPhasesConfig", "TimeConfig",
           "VarianceLimitedConfig"]
