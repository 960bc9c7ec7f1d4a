"""Learned memories (C23 §5): W trained by one pass of SGD or Adam on cross-entropy, batched over instances.

Logits of token x: z(x) = LN(e_xᵀ W) Uᵀ ∈ R^M, with LN(h) = h/‖h‖ optional (argmax is unchanged by LN, so the
error of a trained W is scored exactly as for outer-product memories). W starts at 0; the embeddings
(e_x, u_y) are the same per-seed draws as in `model.py` and stay fixed. One pass over T samples in
steps of B samples, per-instance loss = batch mean of the cross-entropy, total loss = Σ over instances.

Gradients are written by hand (no autograd) so that all instances of a bucket take one batched step:
with g = (softmax(z) − onehot(y))/B [E, B, M]: ∂/∂W = E_bᵀ (g U) (no LN), or E_bᵀ (Π_h g U)/‖h‖ with LN.
Learning rates: SGD uses lr = γ (the logit change per step, ‖e_x‖²·γ, is already d-independent);
Adam uses lr = γ/d (its elementwise-normalised step moves a logit by ≈ γ·d·(2/π) otherwise).
Adam with betas = (0, 0) is sign descent: ΔW = −lr·g/(|g| + eps).

Randomness: embeddings as in `model.py`; the T tokens of a trial are the inverse-CDF images of the sample
stream (seed, ROLE_DATA, 7, data_key) of `model.sample_uniforms` (Philox4x32-10, drawn on the run's device
for all trials in one call). One training step (`dense_step`, `coef_step`) is one batched computation over
the instances and never waits on the host.
"""
from __future__ import annotations

from typing import Sequence

import torch

import kernels

from .model import _seed_tensor, input_embeddings, inverse_cdf, labels, output_embeddings, sample_uniforms

OPTIMIZERS = ("sgd", "adam")


_TOKENS: dict = {}    # the last token streams drawn (one entry): consecutive batches of memory.learned share them


def _cached_tokens(sd: torch.Tensor, p: torch.Tensor, T: int, data_key: int) -> torch.Tensor:
    """`sample_tokens(sd, p, T, data_key)`, reused when the previous call had the same arguments (every method and
    d of a sweep trains on the same streams: drawing them once per (seeds, a) instead of once per batch). The
    cached tensor is read only."""
    key = (tuple(sd.tolist()), str(sd.device), int(T), int(data_key), p.numpy().tobytes() if p.device.type == "cpu"
           else p.cpu().numpy().tobytes())
    if _TOKENS.get("key") != key:
        _TOKENS.clear()
        _TOKENS.update(key=key, tokens=sample_tokens(sd, p, T, data_key))
    return _TOKENS["tokens"]


def sample_tokens(seeds, p: torch.Tensor, T: int, *keys: int, device=None) -> torch.Tensor:
    """T i.i.d. token indices from p for every trial, [R, T] long on `device`: the sample streams
    (seeds[r], ROLE_DATA, 7, *keys) of `model.sample_uniforms`, inverse-CDF."""
    return inverse_cdf(p.to(device), sample_uniforms(seeds, 0, T, (7, *keys), device=device))


def train_memory(seeds: Sequence[int], d: int, p: torch.Tensor, M: int, T: int, batch: int, optimizer: str,
                 gammas: Sequence[float], *, betas=(0.9, 0.999), eps: float = 1e-8, normalize: bool = False,
                 data_key: int = 0, device=None, dtype=torch.float32, backend: str | None = None) -> torch.Tensor:
    """Train E instances (one seed and one γ each, dimension d) for one pass and return their errors [E].

    Args:
        seeds, gammas: per-instance seed and learning-rate constant γ (lr = γ for SGD, γ/d for Adam).
        d: embedding dimension; p: token probabilities [N]; M: labels; T: samples; batch: B.
        optimizer: "sgd" or "adam" (betas, eps as in torch.optim.Adam; betas = (0, 0) is sign descent).
        normalize: LN(h) = h/‖h‖ before the unembedding.
        data_key: extra key of the data stream (instances with equal seed and key see the same samples).
    Returns:
        errors [E] float64: exact population error Σ_x p(x) 1{argmax_y z_y(x) ≠ f*(x)}.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if len(seeds) != len(gammas):
        raise ValueError(f"one γ per seed: got {len(seeds)} seeds and {len(gammas)} γ")
    device = torch.device(device or "cpu")
    R, N = len(seeds), len(p)
    sd = _seed_tensor(seeds, device)
    f = labels(N, M, device)
    Emb = input_embeddings(sd, d, N, dtype=dtype)                                        # [R, N, d]
    U = output_embeddings(sd, d, M, dtype=dtype)                                         # [R, M, d]
    tokens = _cached_tokens(sd, p, T, data_key)                                         # [R, T]
    lr = torch.tensor([g / (d if optimizer == "adam" else 1.0) for g in gammas], dtype=dtype).to(device)
    if optimizer == "sgd" and not normalize:
        W = _sgd_coefficients(Emb, U, tokens, f, lr, batch, backend)
        return _score(Emb, W, U, f, p, backend)
    W = torch.zeros(R, d, d, device=device, dtype=dtype)
    m = torch.zeros_like(W) if optimizer == "adam" else None
    v = torch.zeros_like(W) if optimizer == "adam" else None
    for step in range(T // batch):
        dense_step(W, m, v, Emb, U, f, tokens[:, step * batch:(step + 1) * batch], lr, step, optimizer=optimizer,
                   betas=betas, eps=eps, normalize=normalize, backend=backend)
    return _score(Emb, kernels.bmm_epilogue(W, U.transpose(1, 2), backend=backend), U, f, p, backend)


def dense_step(W, m, v, Emb, U, f, x, lr, step: int, *, optimizer: str, betas=(0.9, 0.999), eps: float = 1e-8,
               normalize: bool = False, backend: str | None = None) -> None:
    """One SGD/Adam step of every instance on its batch x [R, B] (token indices), in place on W (and m, v).

    W, m, v [R, d, d]; Emb [R, N, d]; U [R, M, d]; f labels [N]; lr [R]; step: 0-based (Adam bias correction)."""
    rows = torch.arange(W.shape[0], device=W.device)[:, None]
    gW = _grad(W, Emb[rows, x], U, f[x], normalize, backend)                          # [R, d, d]
    if optimizer == "sgd":
        W -= lr[:, None, None] * gW
        return
    b1, b2 = betas
    m.mul_(b1).add_(gW, alpha=1 - b1)
    v.mul_(b2).addcmul_(gW, gW, value=1 - b2)
    t = step + 1
    denom = (v / (1 - b2 ** t)).sqrt_().add_(eps)
    W -= lr[:, None, None] * (m / (1 - b1 ** t)) / denom


def _score(Emb, WUt, U, f, p, backend):
    """Exact population error from W Uᵀ [R, d, M]: Σ_x p(x) 1{argmax_y (E W Uᵀ)[x, y] ≠ f*(x)} -> [R]."""
    scores = kernels.bmm_epilogue(Emb, WUt, backend=backend)                             # [R, N, M]
    wrong = (scores.argmax(-1) != f).to(torch.float64)
    return (wrong * p.to(wrong.device, torch.float64)).sum(-1).cpu()


def _sgd_coefficients(Emb, U, tokens, f, lr, batch, backend):
    """SGD without LN from W = 0 in coefficient form, returning W Uᵀ [R, d, M].

    Every SGD gradient is Σ_b e_{x_b} (g_b U), so W = Σ_x e_x c_xᵀ U = Embᵀ C U with C [R, N, M]; a step
    adds −lr/B Σ_b g_b to the rows c_{x_b}. Exact reparametrisation (same iterates as the dense path up to
    rounding), at cost N·d·M per step instead of B·d²."""
    R, N, d = Emb.shape
    C = torch.zeros(R, N, U.shape[1], device=Emb.device, dtype=Emb.dtype)
    G = kernels.bmm_epilogue(U, U.transpose(1, 2), backend=backend)                     # [R, M, M]
    WUt = torch.zeros(R, d, U.shape[1], device=Emb.device, dtype=Emb.dtype)
    for step in range(tokens.shape[1] // batch):
        WUt = coef_step(C, WUt, Emb, G, f, tokens[:, step * batch:(step + 1) * batch], lr, backend)
    return WUt


def coef_step(C, WUt, Emb, G, f, x, lr, backend=None) -> torch.Tensor:
    """One coefficient-form SGD step of every instance on its batch x [R, B]: C [R, N, M] in place; returns the
    new W Uᵀ = Embᵀ C G [R, d, M]."""
    rows = torch.arange(C.shape[0], device=C.device)[:, None]
    logits = kernels.bmm_epilogue(Emb[rows, x], WUt, backend=backend)                   # [R, B, M]
    g = torch.softmax(logits, -1)
    g.scatter_add_(-1, f[x][..., None], -torch.ones_like(g[..., :1]))                   # softmax − onehot
    C.scatter_add_(1, x[..., None].expand_as(g), g * (-lr[:, None, None] / x.shape[1]))  # c_x -= lr/B Σ g
    return kernels.bmm_epilogue(Emb.transpose(1, 2), kernels.bmm_epilogue(C, G, backend=backend), backend=backend)


def _grad(W, Eb, U, y, normalize, backend):
    """∂(Σ_instances mean_batch CE)/∂W for logits LN(E_b W) Uᵀ. W [R, d, d], Eb [R, B, d], U [R, M, d], y [R, B]."""
    B = Eb.shape[1]
    h = kernels.bmm_epilogue(Eb, W, backend=backend)                                    # [R, B, d]
    if normalize:
        nrm = h.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        z = h / nrm
    else:
        z = h
    logits = kernels.bmm_epilogue(z, U.transpose(1, 2), backend=backend)                # [R, B, M]
    g = torch.softmax(logits, -1)
    g.scatter_add_(-1, y[..., None], -torch.ones_like(g[..., :1]))                      # softmax − onehot
    dz = kernels.bmm_epilogue(g / B, U, backend=backend)                                # [R, B, d]
    if normalize:
        dz = (dz - z * (z * dz).sum(-1, keepdim=True)) / nrm
    return kernels.bmm_epilogue(Eb.transpose(1, 2), dz, backend=backend)                # [R, d, d]


def lr_of(optimizer: str, gamma: float, d: int) -> float:
    """The learning rate used for (optimizer, γ, d): γ for SGD, γ/d for Adam."""
    return gamma / d if optimizer == "adam" else gamma

