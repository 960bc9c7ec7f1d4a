"""Counter-based randomness on the run's device: Philox4x32-10 in pure torch integer ops.

Every random number toyscale draws comes from here. The generator is Philox4x32-10 (Salmon, Moraes, Dror &
Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the Random123 library), a keyed bijection of a
128-bit counter: `philox4x32_10(counter, key)` maps four 32-bit counter words and two 32-bit key words to four
32-bit output words. Words are held in int64 tensors (values in [0, 2**32)); the 32x32 -> 64-bit products are
split into 16-bit halves of the multiplier so no intermediate exceeds 2**49 (no int64 overflow anywhere).

Mapping (RNG_VERSION = "philox4x32-10/1"; any change to it changes RNG_VERSION):

* **Key** of an instance, from (seed, role, *instance keys) -- computed on the device, vectorised over
  instances, by Philox itself used as a cascade PRF (prefix-free because every step carries the key count n):
      K  <- (0x746F7973, 0x63616C65)                                   ("toys", "cale")
      K  <- words 0, 1 of philox(ctr=(lo(seed), hi(seed), role, n), key=K)
      for j, x in enumerate(instance keys, start=1):
          K <- words 0, 1 of philox(ctr=(lo(x), hi(x), j, n), key=K)
  lo/hi are the low/high 32-bit words of a 64-bit integer; seed, role and keys are ints >= 0
  (seed, keys < 2**63; role < 2**32).
* **Counter** of a block: (lo(b), hi(b), lo(t), hi(t)) with b the element-block index inside the instance's draw
  and t the draw counter (e.g. the training step). The numbers of step t are a pure function of
  (seed, role, keys, t): any step's draws can be computed without drawing the earlier steps, so a resumed or
  chunked run draws exactly what an uninterrupted one draws, and an instance's numbers never depend on which
  other instances share the call (batch independence).
* **Bits -> uniform**: block b gives two uniforms, element 2b from words (0, 1) and element 2b + 1 from words
  (2, 3): m = (w_a >> 6) * 2**26 + (w_b >> 6) (52 bits), u = (m + 0.5) * 2**-52, exact in float64, strictly
  inside (0, 1): min 2**-53, max 1 - 2**-53. A draw of shape S uses elements 0 .. prod(S) - 1 in row-major order
  (so a shorter draw is a prefix of a longer one with the same arguments).
* **Uniform -> normal** (Box-Muller in float64): block b gives normals 2b and 2b + 1 from its two uniforms
  (u1, u2): r = sqrt(-2 ln u1), z_{2b} = r cos(2 pi u2), z_{2b+1} = r sin(2 pi u2).
* **Cast last**: the float64 values are cast to the requested dtype, so float32 numbers are the float64 numbers
  rounded (for uniforms, a float64 value that rounds to 1.0 in a narrower dtype is clamped to the largest value
  below 1 in that dtype, to stay inside (0, 1)).

Integer arithmetic up to the bits and the exact bits -> uniform mapping make the bits and the uniforms
identical on every device by construction.

A (seed, role, keys, counter) tuple names one stream of blocks: use a different role (or key) for draws that
must be independent (uniform and normal draws with the same arguments share their bits).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

RNG_VERSION = "philox4x32-10/1"

M32 = 0xFFFFFFFF
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
ROUNDS = 10
KEY_IV = (0x746F7973, 0x63616C65)

# Blocks per chunk of one call: bounds the int64 temporaries (~10 words of 8 bytes per block).
_CHUNK_BLOCKS = 1 << 16


def _mulhilo(c: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hi, lo) 32-bit words of c * m for int64 tensors c in [0, 2**32) and a constant m < 2**32, without
    overflow: m = m_hi * 2**16 + m_lo, partial products < 2**48."""
    p_hi = c * (m >> 16)
    t = c * (m & 0xFFFF)
    t += (p_hi & 0xFFFF) << 16
    hi = (p_hi >> 16) + (t >> 32)
    return hi, t & M32


def _philox_words(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on four broadcastable int64 word tensors (the counter) and two key-word tensors."""
    for r in range(ROUNDS):
        if r:
            k0 = (k0 + PHILOX_W0) & M32
            k1 = (k1 + PHILOX_W1) & M32
        hi0, lo0 = _mulhilo(c0, PHILOX_M0)
        hi1, lo1 = _mulhilo(c2, PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox4x32_10(counter: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Philox4x32-10 of `counter` [..., 4] and `key` [..., 2] (int64 tensors of 32-bit words, broadcastable
    over the leading dims) -> [..., 4] int64 words, Random123's philox4x32_R(10, ctr, key)."""
    counter = torch.as_tensor(counter, dtype=torch.int64)
    key = torch.as_tensor(key, dtype=torch.int64, device=counter.device)
    if counter.shape[-1] != 4 or key.shape[-1] != 2:
        raise ValueError(f"counter must be [..., 4] and key [..., 2], got {tuple(counter.shape)}, {tuple(key.shape)}")
    out = _philox_words(*counter.unbind(-1), *key.unbind(-1))
    return torch.stack(torch.broadcast_tensors(*out), dim=-1)


def _as_int64(x, device, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        t = x.to(device=device, dtype=torch.int64)
        if t.device.type == "cpu" and t.numel() and bool((t < 0).any()):
            raise ValueError(f"{name} must be >= 0")
        return t
    t = torch.as_tensor(x, dtype=torch.int64)
    if t.numel() and bool((t < 0).any()):
        raise ValueError(f"{name} must be >= 0, got {t.min().item()}")
    return t.to(device)


def derive_key(seeds, role: int, keys=None, *, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Key words (k0, k1), each [E] int64 on `device`, of every instance (seeds[e], role, *keys[e]); the
    mapping is in the module docstring. Vectorised over instances (a loop over the few key columns only)."""
    if not 0 <= int(role) <= M32:
        raise ValueError(f"role must be in [0, 2**32), got {role}")
    if device is None:
        device = seeds.device if isinstance(seeds, torch.Tensor) else torch.device("cpu")
    s = _as_int64(seeds, device, "seed").reshape(-1)
    E = s.shape[0]
    if keys is None:
        kx = torch.zeros((E, 0), dtype=torch.int64, device=device)
    else:
        kx = _as_int64(keys, device, "keys")
        if kx.dim() != 2 or kx.shape[0] != E:
            raise ValueError(f"keys must be [E, k] with E = {E} instances, got shape {tuple(kx.shape)}")
    n = kx.shape[1]
    k0 = torch.full((E,), KEY_IV[0], dtype=torch.int64, device=device)
    k1 = torch.full((E,), KEY_IV[1], dtype=torch.int64, device=device)
    cols = [(s, int(role))] + [(kx[:, j], j + 1) for j in range(n)]
    for x, tag in cols:
        w = _philox_words(x & M32, (x >> 32) & M32, torch.full_like(x, tag), torch.full_like(x, n), k0, k1)
        k0, k1 = w[0], w[1]
    return k0, k1


def _counter_words(E: int, counter, steps: int | None, device) -> torch.Tensor:
    """[E, C] int64 draw counters (C = steps, or 1)."""
    if isinstance(counter, torch.Tensor):
        t = counter.to(device=device, dtype=torch.int64)
        if t.dim() == 0:
            t = t.expand(E)
        if t.shape != (E,):
            raise ValueError(f"counter must be an int or an [E] tensor with E = {E}, got shape {tuple(t.shape)}")
    else:
        if int(counter) < 0:
            raise ValueError(f"counter must be >= 0, got {counter}")
        t = torch.full((E,), int(counter), dtype=torch.int64, device=device)
    if steps is None:
        return t[:, None]
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return t[:, None] + torch.arange(int(steps), dtype=torch.int64, device=device)


def _uniform_pair(w_a: torch.Tensor, w_b: torch.Tensor) -> torch.Tensor:
    """Exact 52-bit uniform in (0, 1), float64, from two 32-bit words."""
    m = ((w_a >> 6) << 26) | (w_b >> 6)
    return m.to(torch.float64).add_(0.5).mul_(2.0 ** -52)


def _draw(kind: str, seeds, role, shape, keys, counter, steps, device, dtype) -> torch.Tensor:
    if device is None:
        device = seeds.device if isinstance(seeds, torch.Tensor) else torch.device("cpu")
    device = torch.device(device)
    shape = tuple(int(x) for x in ((shape,) if isinstance(shape, int) else shape))
    if any(x < 0 for x in shape):
        raise ValueError(f"shape must be non-negative, got {shape}")
    k0, k1 = derive_key(seeds, role, keys, device=device)
    E = k0.shape[0]
    t = _counter_words(E, counter, steps, device)                       # [E, C]
    C = t.shape[1]
    numel = math.prod(shape)
    nb = (numel + 1) // 2
    out = torch.empty((E * C, 2 * nb), dtype=dtype, device=device)
    kr0 = k0.repeat_interleave(C)[:, None]
    kr1 = k1.repeat_interleave(C)[:, None]
    t = t.reshape(-1, 1)
    t_lo, t_hi = t & M32, (t >> 32) & M32
    R = E * C
    if R and nb:
        step = max(1, _CHUNK_BLOCKS // R)
        rows = min(R, _CHUNK_BLOCKS)
        for r0 in range(0, R, rows):
            r1 = min(R, r0 + rows)
            for b0 in range(0, nb, step):
                b1 = min(nb, b0 + step)
                b = torch.arange(b0, b1, dtype=torch.int64, device=device)[None, :]
                w0, w1, w2, w3 = _philox_words(b & M32, b >> 32, t_lo[r0:r1], t_hi[r0:r1],
                                               kr0[r0:r1], kr1[r0:r1])
                ua = _uniform_pair(w0, w1)
                ub = _uniform_pair(w2, w3)
                if kind == "normal":
                    r = ua.log_().mul_(-2.0).sqrt_()
                    th = ub.mul_(2.0 * math.pi)
                    ua, ub = r * torch.cos(th), r.mul_(torch.sin(th))
                dst = out[r0:r1].view(r1 - r0, nb, 2)[:, b0:b1]
                dst[..., 0] = ua
                dst[..., 1] = ub
    if kind == "uniform" and dtype != torch.float64:
        out.clamp_(max=_below_one(dtype))
    out = out[:, :numel].reshape(E, *(() if steps is None else (C,)), *shape)
    return out


def _below_one(dtype: torch.dtype) -> float:
    return 1.0 - torch.finfo(dtype).eps / 2


def uniform(seeds, role: int, shape, *, keys=None, counter=0, steps: int | None = None, device=None,
            dtype=torch.float32) -> torch.Tensor:
    """[E, *shape] uniforms strictly inside (0, 1) (with `steps`: [E, steps, *shape], step j drawn with
    counter + j, exactly what `steps` separate calls would draw). seeds: E ints >= 0 (sequence or 1-D
    tensor); role: int (ROLE_* in simulators/_batch.py); keys: None or [E, k] ints >= 0; counter: int or [E]
    tensor >= 0 (e.g. the step). Drawn on `device` (default: the seeds' device, else CPU) in one call."""
    return _draw("uniform", seeds, role, shape, keys, counter, steps, device, dtype)


def normal(seeds, role: int, shape, *, keys=None, counter=0, steps: int | None = None, device=None,
           dtype=torch.float32) -> torch.Tensor:
    """[E, *shape] standard normals (with `steps`: [E, steps, *shape]); arguments as `uniform`."""
    return _draw("normal", seeds, role, shape, keys, counter, steps, device, dtype)
