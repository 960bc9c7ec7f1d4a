"""Batched two-layer nets f(x) = Σ_i v_i σ(w_i x + b_i) + c, trained by full-batch Adam all at once.

Layout: nets are grouped by width (one `TwoLayerNets` bucket per width N, instance axis E = the seeds of
that width). One optimiser step updates every bucket: K widths → K batched forward/backward calls per
step, never one call per net. Both matmuls go through `kernels.bmm_epilogue` (fused bias + activation):
the first layer is a K=1 matmul [E, T, 1] @ [E, 1, N] with bias b and activation σ; the output layer is
[E, T, N] @ [E, N, 1] + c. That is the module's definition and the autograd engine; `train_adam`'s
default engine is a hand-written gradient + Adam step (optionally torch.compile'd) in an [E, N, T] layout,
applied to each bucket in chunks of instances whose dense buffers stay cache-sized on CPU (`chunk_plan`).

Independence: the loss is summed over instances, Adam is per-element and the learning-rate schedule is a
function of the step only, so net e's trajectory does not depend on its batch-mates (test:
`test_lottery_batched_matches_single`). Initialisation is drawn for all nets of a bucket in one call from
their Philox streams (seed, ROLE_INIT, N) (`simulators._rng`, float64 on the run's device, then cast), so
float32 and float64 runs and CPU and CUDA runs start from the same numbers.

Init: PyTorch's default `nn.Linear` (kaiming-uniform with a=√5 ⇒ U(±1/√fan_in) for weights and biases):
w, b ~ U(−1, 1) (fan_in 1), v, c ~ U(±1/√N), all times `init_scale`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

import kernels
from simulators import _rng
from simulators._batch import ROLE_INIT, chunk_ranges

from .config import TARGETS, LotteryConfig


# --------------------------------------------------------------------------- data
def grids(cfg: LotteryConfig, dtype=torch.float32, device="cpu") -> dict[str, torch.Tensor]:
    """Training grid linspace(lo, hi, P) and the offset test grid lo + (k + 1/2)(hi − lo)/n_test.

    The test grid never coincides with a training point except by accident of P, so test MSE measures
    the function between grid points. Returns x_train, y_train [P] and x_test, y_test [n_test]."""
    lo, hi = map(float, cfg.interval)
    g = TARGETS[cfg.target]
    x_tr = torch.linspace(lo, hi, cfg.n_train, dtype=torch.float64)
    x_te = lo + (torch.arange(cfg.n_test, dtype=torch.float64) + 0.5) * (hi - lo) / cfg.n_test
    out = {"x_train": x_tr, "y_train": g(x_tr), "x_test": x_te, "y_test": g(x_te)}
    return {k: v.to(dtype=dtype, device=device) for k, v in out.items()}


# --------------------------------------------------------------------------- model
class TwoLayerNets(nn.Module):
    """E independent width-N nets. Parameters w, b, v: [E, N]; c: [E].

    Args:
        width: N (>= 1).
        seeds: one seed per instance (its init depends only on (seed, N)).
        activation: "silu" | "tanh" | "gelu" | "relu".
        init_scale: multiplier on the nn.Linear default init.
    """

    def __init__(self, width: int, seeds: Sequence[int], activation: str, *, init_scale: float = 1.0,
                 dtype=torch.float32, device="cpu", backend: str | None = None):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        if activation not in ("silu", "tanh", "gelu", "relu"):
            raise ValueError(f"activation must be one of silu, tanh, gelu, relu, got {activation!r}")
        self.width, self.activation, self.backend = int(width), activation, backend
        self.seeds = [int(s) for s in seeds]
        E, N = len(self.seeds), self.width
        u = _rng.uniform(self.seeds, ROLE_INIT, (3 * N + 1,), keys=[(N,)] * E, device=device,
                         dtype=torch.float64)                          # [E, 3N + 1] in (0, 1)
        u = (2 * u - 1) * init_scale                                   # U(−1, 1) · scale
        bound2 = 1.0 / math.sqrt(N)
        self.w = nn.Parameter(u[:, :N].to(dtype=dtype, device=device))
        self.b = nn.Parameter(u[:, N:2 * N].to(dtype=dtype, device=device))
        self.v = nn.Parameter((u[:, 2 * N:3 * N] * bound2).to(dtype=dtype, device=device))
        self.c = nn.Parameter((u[:, 3 * N] * bound2).to(dtype=dtype, device=device))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """σ(w x + b): x [T] -> [E, T, N]."""
        E = self.w.shape[0]
        xa = x.reshape(1, -1, 1).expand(E, -1, 1)                      # [E, T, 1]
        return kernels.bmm_epilogue(xa, self.w[:, None, :], self.b, self.activation, backend=self.backend)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): x [T] -> [E, T]."""
        h = self.hidden(x)                                             # [E, T, N]
        out = kernels.bmm_epilogue(h, self.v[:, :, None], self.c[:, None], None, backend=self.backend)
        return out[..., 0]                                             # [E, T]

    def state(self) -> dict[str, torch.Tensor]:
        """Detached copies of (w, b, v, c)."""
        return {k: getattr(self, k).detach().clone() for k in ("w", "b", "v", "c")}


def build_nets(cfg: LotteryConfig, points: Sequence[dict], *, dtype, device, backend=None) -> list[TwoLayerNets]:
    """One bucket per distinct width among `points` (dicts with "width", "seed"), in first-seen order."""
    by_width: dict[int, list[int]] = {}
    for p in points:
        by_width.setdefault(int(p["width"]), []).append(int(p["seed"]))
    return [TwoLayerNets(N, s, cfg.activation, init_scale=cfg.init_scale, dtype=dtype, device=device,
                         backend=backend) for N, s in by_width.items()]


# --------------------------------------------------------------------------- training
def lr_factor(step: int, steps: int, warmup: int, schedule: str) -> float:
    """Multiplier of the peak lr before update `step` (0-based): linear warm-up, then cosine to 0 at `steps`."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    t = (step - warmup) / max(steps - warmup, 1)
    return 0.5 * (1.0 + math.cos(math.pi * t))


def checkpoint_steps(steps: int, n: int) -> list[int]:
    """Geometric step checkpoints from min(10, steps) to `steps` (distinct ints; the last is always `steps`)."""
    if n == 1:
        return [int(steps)]
    pts = np.unique(np.round(np.geomspace(min(10, steps), steps, n)).astype(int))
    return [int(p) for p in pts]


@torch.no_grad()
def measure_mse(nets: Sequence[TwoLayerNets], x: torch.Tensor, y: torch.Tensor, chunk: int = 4096) -> list[torch.Tensor]:
    """Mean squared error of every net on (x, y): list (per bucket) of [E] tensors."""
    out = []
    for net in nets:
        se = torch.zeros(net.w.shape[0], dtype=x.dtype, device=x.device)
        for i in range(0, len(x), chunk):
            se += ((net(x[i:i + chunk]) - y[i:i + chunk]) ** 2).sum(1)
        out.append(se / len(x))
    return out


# --------------------------------------------------------------------------- fused fast path
# Why: the autograd path through bmm_epilogue materialises [E, T, N] several times and torch.bmm with
# K = 1 / N = 1 is slow on CPU. The hand-written gradient below, compiled by torch.compile (inductor fuses
# the activation with the reductions over N and T), is checked against autograd in the tests. Two things
# decide its speed on CPU (issue 8 workload: 4 widths 8…512 × 128 seeds, T = 1024, 2 threads, under the lock):
#   * layout [E, N, T], T innermost: the reductions over T are contiguous and small widths vectorise (the
#     [E, T, N] layout ran N = 8 at ~1.5 ms vs ~0.35 ms, its 16-lane vectors half empty);
#   * chunks of instances (`chunk_plan`): inductor still stores two [E_c, N, T] buffers per call. A whole
#     bucket's buffers (128 MiB each at N = 512) stream through DRAM and, above glibc's 32 MiB mmap
#     threshold, are mmapped and page-faulted afresh every call (65k minor faults per step at N = 512).
#     Whole compiled step, [E, N, T] layout: one chunk per bucket 125 ms; chunks of 2 / 4 / 8 / 12 MiB per
#     buffer 35-50 / 30-34 / 37-46 / 47 ms. At 8 MiB the two freed buffers still exceed glibc's trim
#     threshold now and then (3-9k faults per step at N = 512); 4 MiB gave none. Before both changes: 241 ms.
CHUNK_BYTES_CPU = 4 << 20


def chunk_plan(E: int, width: int, n_points: int, itemsize: int, chunk_bytes: int | None) -> list[tuple[int, int]]:
    """How the fused step splits a bucket of E instances: (start, stop) per chunk of consecutive instances.

    Each chunk holds as many instances as fit `chunk_bytes` of one dense [E_c, N, T] buffer (at least one);
    None: one chunk. The last chunk may be shorter (ragged)."""
    return chunk_ranges(E, width * n_points * itemsize, chunk_bytes)


def default_chunk_bytes(device) -> int | None:
    """CHUNK_BYTES_CPU on CPU; None (one chunk per bucket: fewer, larger launches) elsewhere."""
    return CHUNK_BYTES_CPU if torch.device(device).type == "cpu" else None


def act_and_grad(z: torch.Tensor, activation: str) -> tuple[torch.Tensor, torch.Tensor]:
    """σ(z) and σ'(z), elementwise, for the four activations (GELU in its exact erf form)."""
    if activation == "silu":
        s = torch.sigmoid(z)
        return z * s, s * (1 + z * (1 - s))
    if activation == "tanh":
        h = torch.tanh(z)
        return h, 1 - h * h
    if activation == "gelu":
        cdf = 0.5 * (1 + torch.erf(z * 0.7071067811865476))
        return z * cdf, cdf + z * torch.exp(-0.5 * z * z) * 0.3989422804014327
    if activation == "relu":
        return torch.relu(z), (z > 0).to(z.dtype)
    raise ValueError(f"activation must be one of silu, tanh, gelu, relu, got {activation!r}")


def forward_fused(x: torch.Tensor, theta: torch.Tensor, c: torch.Tensor, activation: str) -> torch.Tensor:
    """f(x) for theta = stack(w, b, v) [3, E, N], c [E], x [T] -> [E, T]."""
    z = theta[0][:, :, None] * x[None, None, :] + theta[1][:, :, None]          # [E, N, T]
    h, _ = act_and_grad(z, activation)
    return (h * theta[2][:, :, None]).sum(1) + c[:, None]                       # [E, T]


def loss_and_grad(x, y, theta, c, activation: str):
    """MSE per net and its exact gradient, by hand (no autograd).

    With z = w x + b, r = f(x) − y and g = 2r/T: ∂L/∂w = v Σ_t g_t x_t σ'(z_t), ∂L/∂b = v Σ_t g_t σ'(z_t),
    ∂L/∂v = Σ_t g_t σ(z_t), ∂L/∂c = Σ_t g_t. Computed in the [E, N, T] layout (T innermost).

    Args: x, y [T]; theta = stack(w, b, v) [3, E, N]; c [E].
    Returns: loss [E], grad_theta [3, E, N], grad_c [E].
    """
    w, b, v = theta[0], theta[1], theta[2]
    z = w[:, :, None] * x[None, None, :] + b[:, :, None]                       # [E, N, T]
    h, dh = act_and_grad(z, activation)
    r = (h * v[:, :, None]).sum(1) + c[:, None] - y                             # [E, T] residual
    g = r * (2.0 / x.shape[0])                                                  # dL/df  [E, T]
    gx = g * x[None, :]                                                         # [E, T]
    grad = torch.stack([v * (dh * gx[:, None, :]).sum(2), v * (dh * g[:, None, :]).sum(2),
                        (h * g[:, None, :]).sum(2)])                            # [3, E, N]
    return (r * r).mean(1), grad, g.sum(1)


def adam_fused_step(x, y, theta, c, m, s, mc, sc, lr, bc1, bc2, beta1: float, beta2: float,
                    activation: str, eps: float = 1e-8):
    """One Adam update of every net of a bucket (torch.optim.Adam's formula, per element).

    m, s: first/second moments of theta [3, E, N]; mc, sc: of c [E]; lr, bc1 = 1 − β1^t, bc2 = 1 − β2^t
    are 0-d tensors (so a compiled graph is not re-specialised each step). Returns
    (loss [E], theta, c, m, s, mc, sc) updated."""
    loss, gt, gc = loss_and_grad(x, y, theta, c, activation)
    m = beta1 * m + (1 - beta1) * gt
    s = beta2 * s + (1 - beta2) * gt * gt
    mc = beta1 * mc + (1 - beta1) * gc
    sc = beta2 * sc + (1 - beta2) * gc * gc
    step = lr / bc1
    theta = theta - step * m / (torch.sqrt(s) / torch.sqrt(bc2) + eps)
    c = c - step * mc / (torch.sqrt(sc) / torch.sqrt(bc2) + eps)
    return loss, theta, c, m, s, mc, sc


_COMPILED: dict[str, object] = {}


def _maybe_compiled(fn, use_compile: bool):
    """torch.compile(fn, dynamic=True) once per process (one graph serves every width); eager if not asked."""
    if not use_compile:
        return fn
    if fn.__name__ not in _COMPILED:
        _COMPILED[fn.__name__] = torch.compile(fn, dynamic=True)
    return _COMPILED[fn.__name__]


def should_compile(nets: Sequence[TwoLayerNets], steps: int) -> bool:
    """Compile when it pays. A cold compile costs ~10–30 s on this CPU (~2 s with inductor's warm cache); the
    compiled step is ~10× faster than eager for the wide buckets. Threshold: steps × neurons >= 1e7
    (e.g. 5,000 steps of 2,000 neurons over all nets). TOYSCALE_COMPILE=0/1 forces the choice."""
    import os

    if os.environ.get("TOYSCALE_COMPILE") in ("0", "1"):
        return os.environ["TOYSCALE_COMPILE"] == "1"
    work = steps * sum(net.w.numel() for net in nets)
    return work >= 1e7


@dataclass
class Trajectory:
    """Training record. steps: checkpoint steps [K]; test_mse[k]: per bucket [E]; train_mse: per bucket [E]."""

    steps: list[int]
    test_mse: list[list[torch.Tensor]]
    train_mse: list[torch.Tensor]
    engine: str = "fused"


def train_adam(nets: Sequence[TwoLayerNets], cfg: LotteryConfig, data: dict[str, torch.Tensor], *,
               engine: str = "fused", use_compile: bool | None = None, chunk_bytes: int | None | str = "auto",
               ) -> Trajectory:
    """Full-batch Adam on MSE for every net at once (cfg.lr, schedule, warm-up, steps, betas, eps 1e-8).

    Loss = Σ_buckets Σ_e mean_T (f_e(x) − y)². Test MSE of all nets is recorded after each of
    `checkpoint_steps(cfg.steps, cfg.n_checkpoints)` updates. The nets' parameters hold the final state.

    Args:
        engine: "fused" (hand-written gradient + Adam, optionally compiled) or "autograd"
            (TwoLayerNets.forward through kernels.bmm_epilogue + torch.optim.Adam): same numbers.
        use_compile: compile the fused step (None: `should_compile`).
        chunk_bytes: fused engine only: each bucket's instances are updated in chunks whose dense
            [E_c, N, T] buffer holds at most this many bytes (`chunk_plan`); "auto": `default_chunk_bytes`
            (4 MiB on CPU, one chunk on CUDA); None: one chunk per bucket. Exact for any value: Adam and
            the loss are per instance.
    """
    if engine not in ("fused", "autograd"):
        raise ValueError(f"engine must be 'fused' or 'autograd', got {engine!r}")
    ckpts = checkpoint_steps(cfg.steps, cfg.n_checkpoints)
    x, y = data["x_train"], data["y_train"]
    if engine == "autograd":
        return _train_autograd(nets, cfg, data, ckpts)
    if use_compile is None:
        use_compile = should_compile(nets, cfg.steps)
    step_fn = _maybe_compiled(adam_fused_step, use_compile)
    fwd = _maybe_compiled(forward_fused, use_compile)
    dt, dev = nets[0].w.dtype, nets[0].w.device
    if chunk_bytes == "auto":
        chunk_bytes = default_chunk_bytes(dev)
    st = []   # per bucket, per chunk: [theta [3, E_c, N], c [E_c], m, s, mc, sc], each contiguous
    for net in nets:
        th = torch.stack([net.w.detach(), net.b.detach(), net.v.detach()])       # [3, E, N]
        cc = net.c.detach()
        plan = chunk_plan(th.shape[1], net.width, len(x), th.element_size(), chunk_bytes)
        st.append([[th[:, i:j].clone(), cc[i:j].clone(), torch.zeros_like(th[:, i:j]), torch.zeros_like(th[:, i:j]),
                    torch.zeros_like(cc[i:j]), torch.zeros_like(cc[i:j])] for i, j in plan])

    def mse(xx, yy):   # per bucket [E]
        return [torch.cat([_mse_chunked(fwd, xx, yy, ch[0], ch[1], cfg.activation) for ch in chunks])
                for chunks in st]

    test = []
    for step in range(cfg.steps):
        lr = torch.tensor(cfg.lr * lr_factor(step, cfg.steps, cfg.warmup_steps, cfg.schedule), dtype=dt, device=dev)
        bc1 = torch.tensor(1 - cfg.beta1 ** (step + 1), dtype=dt, device=dev)
        bc2 = torch.tensor(1 - cfg.beta2 ** (step + 1), dtype=dt, device=dev)
        for chunks in st:
            for ch in chunks:
                _, *ch[:] = step_fn(x, y, *ch, lr, bc1, bc2, cfg.beta1, cfg.beta2, cfg.activation)
        if step + 1 in ckpts:
            test.append(mse(data["x_test"], data["y_test"]))
    with torch.no_grad():
        for net, chunks in zip(nets, st):
            th, cc = torch.cat([ch[0] for ch in chunks], 1), torch.cat([ch[1] for ch in chunks])
            net.w.copy_(th[0]), net.b.copy_(th[1]), net.v.copy_(th[2]), net.c.copy_(cc)
    return Trajectory(ckpts, test, mse(x, y), "fused-compiled" if use_compile else "fused")


def _mse_chunked(fwd, x, y, theta, c, activation, chunk: int = 256) -> torch.Tensor:
    se = torch.zeros(theta.shape[1], dtype=x.dtype, device=x.device)
    for i in range(0, len(x), chunk):
        se += ((fwd(x[i:i + chunk], theta, c, activation) - y[i:i + chunk]) ** 2).sum(1)
    return se / len(x)


def _train_autograd(nets, cfg, data, ckpts) -> Trajectory:
    params = [p for net in nets for p in net.parameters()]
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), foreach=False)
    x, y = data["x_train"], data["y_train"]
    test = []
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = cfg.lr * lr_factor(step, cfg.steps, cfg.warmup_steps, cfg.schedule)
        opt.zero_grad(set_to_none=True)
        loss = sum(((net(x) - y) ** 2).mean(1).sum() for net in nets)  # sum over instances: independent grads
        loss.backward()
        opt.step()
        if step + 1 in ckpts:
            test.append(measure_mse(nets, data["x_test"], data["y_test"]))
    return Trajectory(ckpts, test, measure_mse(nets, x, y), "autograd")


def train_lbfgs(net: TwoLayerNets, cfg: LotteryConfig, data: dict[str, torch.Tensor], steps: int) -> float:
    """L-BFGS (strong-Wolfe line search, history 50) on one net (E must be 1); returns final test MSE.

    Not batched on purpose: the line search and curvature pairs of L-BFGS are per problem, so training the
    summed loss of E nets would couple them. Used only for a few small nets in `lottery.recipe`."""
    if net.w.shape[0] != 1:
        raise ValueError(f"train_lbfgs trains one net (E = 1), got E = {net.w.shape[0]}")
    opt = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=steps, max_eval=2 * steps, history_size=50,
                            tolerance_grad=0.0, tolerance_change=0.0, line_search_fn="strong_wolfe")
    x, y = data["x_train"], data["y_train"]

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return float(measure_mse([net], data["x_test"], data["y_test"])[0][0])
