"""Config of rf.width_gap (issue 18 part 2): torch-free (dataclasses, math and the harness's field checks only),
so the CLI's fast path validates it without importing torch or the simulator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from simulators.harness import fieldcheck as fc

MAX_SIZE = 10 ** 6
MAX_M = 10 ** 7
MAX_SEEDS = 100_000


@dataclass(frozen=True)
class WidthGapConfig:
    """Finite-width gap L(t, N) − L(t, ∞) of gradient flow at P = ∞ vs N, at an early and a late time.

    a, b: teacher (λ_k w_k² = k^-a) and spectrum (λ_k = k^-b), k ≤ M. Ns: widths (nested features: the
    N-feature model uses the first N rows of one draw at max(Ns)). t_early / t_late: the two fitted times;
    the crossover is read off a log grid of n_times times in [t_min, t_max] (t_early, t_late added to it).
    t_cv: the control variate (zero-mean linear term) is applied at times ≤ t_cv (at later times the linear
    term is small and the quadrature behind the fast control variate loses accuracy). seeds: feature draws.
    """
    a: float = 3.0
    b: float = 1.5
    M: int = 1280
    Ns: tuple = (16, 23, 32, 45, 64, 91, 128)
    t_early: float = 0.1
    t_late: float = 1e4
    t_min: float = 0.03
    t_max: float = 1e5
    n_times: int = 27
    t_cv: float = 10.0
    seeds: int = 1024

    def __post_init__(self):
        fc.check_types(self)
        fc.num("a", self.a, 1, 20, lo_open=True, note="(summable task power k^-a)")
        fc.num("b", self.b, 0, 20, lo_open=True, note="(decaying spectrum k^-b)")
        fc.ints("Ns", self.Ns, 2, MAX_SIZE, min_len=4)
        fc.integer("M", self.M, 2, MAX_M)
        if self.M < 10 * max(self.Ns):
            fc.fail("M", f">= 10 x max(Ns) = {10 * max(self.Ns)} (the projection plateau must stay out of the "
                    "window)", self.M)
        fc.num("t_min", self.t_min, 0, 1e15, lo_open=True)
        fc.num("t_max", self.t_max, self.t_min, 1e15, lo_open=True, note="(> t_min)")
        fc.num("t_early", self.t_early, self.t_min, self.t_max, note="(in [t_min, t_max])")
        fc.num("t_late", self.t_late, self.t_early, self.t_max, lo_open=True, note="(in (t_early, t_max])")
        if self.t_early > 10.0:
            fc.fail("t_early", "<= 10 (early: before the top modes are learned, t·λ_1 = t ≲ 1–10)", self.t_early)
        if self.t_late < max(self.Ns) ** self.b:
            fc.fail("t_late", f">= max(Ns)^b = {max(self.Ns) ** self.b:.4g} (late: every width has reached its "
                    "projection floor, t ≫ N^b)", self.t_late)
        fc.integer("n_times", self.n_times, 4, 1000)
        fc.num("t_cv", self.t_cv, self.t_early, 1000.0,
               note="(>= t_early: the early row needs the control variate; <= 1000: the fast control variate's "
                    "quadrature)")
        fc.integer("seeds", self.seeds, 2, MAX_SEEDS, note="(bootstrap over seeds)")
        if not math.isfinite(self.t_max / self.t_min):
            fc.fail("t_max", "a finite multiple of t_min", self.t_max)

    @property
    def c_theory(self) -> float:
        """Late-time exponent c = min(a − 1, b): the gap tends to the projection floor L_∞(N) ∝ N^-min(a−1, b)."""
        return min(self.a - 1.0, self.b)
