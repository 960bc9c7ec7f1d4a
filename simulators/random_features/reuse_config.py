"""Config of rf.data_reuse (issue 18 part 1): gradient flow on P reused samples with N linear random features.

Torch-free (imports only the harness's field checks), so the CLI validates it cheaply. Bad values raise
`ConfigError` (a ValueError) naming the field and the allowed range, before any work.
"""
from __future__ import annotations

from dataclasses import dataclass

from simulators.harness import fieldcheck as fc

MAX_SIZE = 10 ** 6
MAX_SEEDS = 10_000
PEAK_RATIO = 2.0   # every P must satisfy max(N, P) >= 2 min(N, P): away from the interpolation peak P = N


@dataclass(frozen=True)
class DataReuseConfig:
    a: float = 2.0                 # task power λ_k w_k² = k^-a
    b: float = 1.5                 # spectrum λ_k = k^-b
    M: int = 1024                  # latent dimension
    N: int = 256                   # random features
    Ps: tuple = (64, 128, 512, 1024, 2048)   # training-set sizes, reused by full-batch gradient flow
    t_min: float = 0.1
    t_max: float = 1e6
    n_times: int = 31              # geometric checkpoints in [t_min, t_max]
    seeds: int = 48

    def __post_init__(self):
        fc.check_types(self)
        fc.num("a", self.a, 1, 20, lo_open=True, note="(summable task power k^-a)")
        fc.num("b", self.b, 0, 20, lo_open=True, note="(decaying spectrum k^-b)")
        fc.integer("N", self.N, 8, MAX_SIZE)
        fc.ints("Ps", self.Ps, 8, MAX_SIZE, min_len=1, max_len=32)
        for P in self.Ps:
            if max(P, self.N) < PEAK_RATIO * min(P, self.N):
                fc.fail("Ps", f"sizes with P <= N/{PEAK_RATIO:g} or P >= {PEAK_RATIO:g}·N = {PEAK_RATIO * self.N:g} "
                        "(away from the interpolation peak P = N, where the mean late-time loss diverges)", self.Ps)
        fc.integer("M", self.M, 16, 10 ** 7)
        if self.M < PEAK_RATIO * self.N:
            fc.fail("M", f">= {PEAK_RATIO:g} x N = {int(PEAK_RATIO * self.N)} (the features' spectrum must stay "
                    "away from 0: rank N < M)", self.M)
        fc.num("t_max", self.t_max, 0, 1e12, lo_open=True)
        fc.num("t_min", self.t_min, 0, self.t_max / 10, lo_open=True, note="(<= t_max/10)")
        fc.integer("n_times", self.n_times, 4, 1000)
        fc.integer("seeds", self.seeds, 2, MAX_SEEDS, note="(bootstrap over seeds)")

    def times(self):
        import numpy as np
        return np.geomspace(self.t_min, self.t_max, self.n_times)
