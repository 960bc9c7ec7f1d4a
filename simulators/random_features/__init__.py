"""Random-feature regression and power-law random features: batched simulators and their exact theory."""
from . import model, theory
