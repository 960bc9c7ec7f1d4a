"""`synthetic.power_law`'s config, in a torch-free module of its own: the CLI constructs it to refuse bad input
before importing torch (`simulators.synthetic` imports torch and registers the experiment)."""
from __future__ import annotations

import math
from dataclasses import dataclass

from .harness import fieldcheck as fc


@dataclass(frozen=True)
class SyntheticConfig:
    exponent: float = 0.5          # a (decay rate)
    prefactor: float = 1.0         # A
    noise: float = 0.1             # σ of the multiplicative log-normal noise
    floor: float = 0.0             # L∞ (a plateau the auto window must exclude)
    x_min: float = 10.0
    x_max: float = 1.0e4
    n_sizes: int = 12
    seeds: int = 8
    window: str = "auto"           # fit window rule (see fit.fit_power_law)
    tolerance: float = 0.05

    def __post_init__(self):
        fc.check_types(self)
        fc.num("exponent", self.exponent, 0, 10, lo_open=True)
        fc.num("prefactor", self.prefactor, 1e-100, 1e100)
        fc.num("noise", self.noise, 0, 2)
        fc.num("floor", self.floor, 0, 1e100)
        fc.num("x_min", self.x_min, 1e-6, 1e12)
        fc.num("x_max", self.x_max, self.x_min, 1e12, lo_open=True, note="(> x_min)")
        fc.integer("n_sizes", self.n_sizes, 3, 1000)
        fc.integer("seeds", self.seeds, 1, 10_000)
        fc.num("tolerance", self.tolerance, 0, 10)
        allowed = "'auto', 'all' or 'last_decades:k' with k > 0 keeping >= 2 sizes"
        if self.window not in ("auto", "all"):
            kind, _, k = self.window.partition(":")
            try:
                k = float(k)
            except ValueError:
                fc.fail("window", allowed, self.window)
            if kind != "last_decades" or not (k > 0 and k < float("inf")):
                fc.fail("window", allowed, self.window)
            if sum(x >= self.x_max / 10 ** min(k, 300) for x in self.sizes()) < 2:
                fc.fail("window", allowed + f" (sizes span {math.log10(self.x_max / self.x_min):.3g} decades)", self.window)

    def sizes(self):
        """The swept sizes x (numpy array, geometric from x_min to x_max)."""
        import numpy as np

        return np.geomspace(self.x_min, self.x_max, self.n_sizes)
