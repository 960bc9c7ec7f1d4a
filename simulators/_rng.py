"""Counter-based randomness on the run's device: Philox4x32-10 in pure torch integer ops.

Every random number toyscale draws comes from here. The generator is Philox4x32-10 (Salmon, Moraes, Dror &
Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11; the Random123 library), a keyed bijection of a
128-bit counter: `philox4x32_10(counter, key)` maps four 32-bit counter words and two 32-bit key words to four
32-bit output words. Words are held in int64 tensors (values in [0, 2**32)); the 32x32 -> 64-bit products are
computed as c * (m - 2**32) (|.| < 2**63 because both Philox multipliers exceed 2**31) with c * 2**32 folded
into the high word (`_mulhilo`; the 16-bit split form `_mulhilo_split` is kept as its tested reference):
no int64 overflow anywhere, the same words on every device.

Mapping (RNG_VERSION = "philox4x32-10/2"; any change to it, or to the numbers an implementation of it draws,
changes RNG_VERSION. /1 -> /2: the mapping is unchanged, but /1's eager CPU path took torch.sqrt, which on x86
CPUs is 1 ulp off for ~1 % of arguments, so ~1 % of its float64 normals (almost never a float32 one) differed
by 1 ulp from the mapping and from CUDA; /2 computes the mapping exactly on every device, see `_sqrt`):

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
  (u1, u2): r = sqrt(-2 ln u1), z_{2b} = r cos(2 pi u2), z_{2b+1} = r sin(2 pi u2). ln and (cos, sin) are
  computed here (`_neg2log`, `_sincos_turn`: exact bit-level range reduction, then fixed polynomials, ~5e-16
  relative) from +, -, *, /, sqrt only -- IEEE-754 correctly rounded on every device -- instead of
  torch.log/cos/sin, whose last bit differs between CPU (SLEEF) and CUDA (libdevice). (torch.sqrt itself is
  not correctly rounded on x86 CPUs: `_sqrt` corrects its last bit exactly.)
* **Cast last**: the float64 values are cast to the requested dtype, so float32 numbers are the float64 numbers
  rounded (for uniforms, a float64 value that rounds to 1.0 in a narrower dtype is clamped to the largest value
  below 1 in that dtype, to stay inside (0, 1)).

Integer arithmetic up to the bits, exact conversions and correctly rounded float ops after them make the bits,
the uniforms and the float64 normals identical on every device by construction (tested: the op set of a draw;
the CUDA comparison runs where a GPU is present).

Speed: one call draws every instance (and, with `steps`, several counters) at once. On CPU (outside a
TorchDispatchMode) the whole draw runs in `simulators._rng_native`: the same integer and float64 operations in
C, compiled once with the system C compiler and cached; the same numbers by construction (checked at load and
in the tests): 5.8 ns per float32 normal and 4.2 per uniform on one x86 core (torch.randn: 7.6), against 168
and 73 for the eager torch ops (benchmarks/bench_rng.py, 2026-12-01). The
eager torch path is the reference: it runs on GPUs (one chunk up to 2**24 blocks), under dispatch audits, with
TOYSCALE_RNG_NATIVE=0 or without a C compiler (in cache-sized chunks of blocks on CPU).

A (seed, role, keys, counter) tuple names one stream of blocks: use a different role (or key) for draws that
must be independent (uniform and normal draws with the same arguments share their bits).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

RNG_VERSION = "philox4x32-10/2"

M32 = 0xFFFFFFFF
PHILOX_M0 = 0xD2511F53
PHILOX_M1 = 0xCD9E8D57
PHILOX_W0 = 0x9E3779B9
PHILOX_W1 = 0xBB67AE85
ROUNDS = 10
KEY_IV = (0x746F7973, 0x63616C65)

_CHUNK_BLOCKS = 1 << 16            # CPU chunk of one eager call (see `_chunk_blocks`)


def _mulhilo_split(c: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hi, lo) 32-bit words of c * m for int64 tensors c in [0, 2**32) and a constant m < 2**32, in int64
    without overflow: m = m_hi * 2**16 + m_lo, partial products < 2**48."""
    p_hi = c * (m >> 16)
    t = c * (m & 0xFFFF)
    t += (p_hi & 0xFFFF) << 16
    hi = (p_hi >> 16) + (t >> 32)
    return hi, t & M32


def _mulhilo(c: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(hi, lo) 32-bit words of c * m for int64 tensors c in [0, 2**32) and a constant 2**31 < m < 2**32, in
    4 int64 ops without overflow: p = c * (m - 2**32) has |p| < 2**63 (here |m - 2**32| < 0.2 * 2**32), and
    c * m = p + c * 2**32, so lo = p mod 2**32 and hi = c + floor(p / 2**32) (arithmetic shift)."""
    p = c * (m - (1 << 32))
    return (p >> 32) + c, p & M32


def _philox_words(c0, c1, c2, c3, k0, k1, rounds: int = ROUNDS, mulhilo=None):
    """Philox4x32-R (R = 10) on four broadcastable int64 word tensors (the counter) and two key-word tensors."""
    mulhilo = mulhilo or _mulhilo
    for r in range(rounds):
        if r:
            k0 = (k0 + PHILOX_W0) & M32
            k1 = (k1 + PHILOX_W1) & M32
        hi0, lo0 = mulhilo(c0, PHILOX_M0)
        hi1, lo1 = mulhilo(c2, PHILOX_M1)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def philox4x32_10(counter: torch.Tensor, key: torch.Tensor, *, rounds: int = ROUNDS) -> torch.Tensor:
    """Philox4x32-10 of `counter` [..., 4] and `key` [..., 2] (int64 tensors of 32-bit words, broadcastable
    over the leading dims) -> [..., 4] int64 words, Random123's philox4x32_R(10, ctr, key) (`rounds` is
    there for the known-answer tests of other round counts; every draw uses 10)."""
    counter = torch.as_tensor(counter, dtype=torch.int64)
    key = torch.as_tensor(key, dtype=torch.int64, device=counter.device)
    if counter.shape[-1] != 4 or key.shape[-1] != 2:
        raise ValueError(f"counter must be [..., 4] and key [..., 2], got {tuple(counter.shape)}, {tuple(key.shape)}")
    lib = _native_lib(counter.device) if rounds == ROUNDS else None
    if lib is not None:
        batch = torch.broadcast_shapes(counter.shape[:-1], key.shape[:-1])
        c = counter.expand(*batch, 4).contiguous()
        k = key.expand(*batch, 2).contiguous()
        out = torch.empty_like(c)
        lib.toyscale_rng_philox(out.numel() // 4, c.data_ptr(), k.data_ptr(), out.data_ptr())
        return out
    out = _philox_words(*counter.unbind(-1), *key.unbind(-1), rounds=rounds)
    return torch.stack(torch.broadcast_tensors(*out), dim=-1)


def _as_int64(x, device, name: str) -> torch.Tensor:
    """Python ints (checked >= 0 here, on the host) or an integer tensor (taken as given: no device-side check,
    that would be a host sync) -> int64 tensor on `device`."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device, dtype=torch.int64)
    if hasattr(x, "tolist"):          # numpy arrays / scalars
        x = x.tolist()
    vals = [list(map(int, r)) for r in x] if len(x) and not isinstance(x[0], (int, float)) and \
        hasattr(x[0], "__len__") else [int(v) for v in x]
    flat = [v for r in vals for v in r] if vals and isinstance(vals[0], list) else vals
    bad = [v for v in flat if not 0 <= v < 1 << 63]
    if bad:
        raise ValueError(f"{name} must be in [0, 2**63), got {bad[0]}")
    return torch.tensor(vals, dtype=torch.int64, device=device)


def derive_key(seeds, role: int, keys=None, *, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Key words (k0, k1), each [E] int64 on `device`, of every instance (seeds[e], role, *keys[e]); the
    mapping is in the module docstring. Vectorised over instances (a loop over the few key columns only)."""
    if not 0 <= int(role) <= M32:
        raise ValueError(f"role must be in [0, 2**32), got {role}")
    device = _device_of(seeds, device)
    s = _as_int64(seeds, device, "seed").reshape(-1)
    E = s.shape[0]
    if keys is None:
        kx = torch.zeros((E, 0), dtype=torch.int64, device=device)
    else:
        kx = _as_int64(keys, device, "keys")
        if kx.dim() != 2 or kx.shape[0] != E:
            raise ValueError(f"keys must be [E, k] with E = {E} instances, got shape {tuple(kx.shape)}")
    lib = _native_lib(device)
    if lib is None:
        return _derive_key_eager(s, int(role), kx)
    s, kx = s.contiguous(), kx.contiguous()
    k0, k1 = torch.empty_like(s), torch.empty_like(s)
    lib.toyscale_rng_key(E, kx.shape[1], s.data_ptr(), int(role), kx.data_ptr(), k0.data_ptr(), k1.data_ptr())
    return k0, k1


def _derive_key_eager(s: torch.Tensor, role: int, kx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`derive_key` in torch ops: s [E] seeds, kx [E, n] instance keys (int64, checked)."""
    E, n = kx.shape
    k0 = torch.full((E,), KEY_IV[0], dtype=torch.int64, device=s.device)
    k1 = torch.full((E,), KEY_IV[1], dtype=torch.int64, device=s.device)
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


def _to_unit(m: torch.Tensor) -> torch.Tensor:
    """(m + 0.5) * 2**-52 for 52-bit ints m: exact in float64, in [2**-53, 1 - 2**-53]."""
    return m.to(torch.float64).add_(0.5).mul_(2.0 ** -52)


# Box-Muller from IEEE-exact operations only. torch.log/cos/sin differ by an ulp between CPU (SLEEF) and CUDA
# (libdevice); +, -, *, /, sqrt are correctly rounded on both, and every eager op below is one of them (or an
# exact bit/integer operation), so the float64 normals are the same bits on every device.
_LN2 = math.log(2.0)
_SQRT_HALF = math.sqrt(0.5)
_TWO_PI = 2.0 * math.pi
_ATANH_C = [1.0 / (2 * k + 1) for k in range(12)]                          # log1p(f) = 2s Σ s^2k/(2k+1)
_SIN_C = [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(9)]      # |θ| <= π/4: error < 1e-17
_MANT = (1 << 52) - 1


def _horner(x: torch.Tensor, coefs) -> torch.Tensor:
    p = torch.full_like(x, coefs[-1])
    for c in reversed(coefs[:-1]):
        p.mul_(x).add_(c)
    return p


_SPLIT = float((1 << 27) + 1)                                             # Veltkamp's splitter


def _two_prod(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(p, e) with p = fl(a·b) and a·b = p + e exactly (Dekker's product from +, -, * only; no FMA; valid for
    |a|, |b| < 2**995 and products far from underflow, as everywhere here)."""
    p = a * b
    ca, cb = a * _SPLIT, b * _SPLIT
    ah, bh = ca - (ca - a), cb - (cb - b)
    al, bl = a - ah, b - bh
    return p, (((ah * bh).sub_(p)).add_(ah * bl).add_(al * bh)).add_(al * bl)


def _sqrt(x: torch.Tensor) -> torch.Tensor:
    """Correctly rounded sqrt of positive normal float64 x. torch.sqrt is not correctly rounded on every CPU
    (measured: ~0.8 % of values 1 ulp off with the MKL/SLEEF kernels of the x86 wheels; CUDA's is correctly
    rounded), so its result y (within 1 ulp) is corrected exactly: with y+ and y- the neighbouring doubles, the
    nearest double to sqrt(x) is y+ iff x > y·y+, y- iff x <= y·y-, else y. (The midpoint m = (y + y+)/2 has
    m² = y·y+ + u²/4 with u = y+ - y, and x - y·y+ is a multiple of u², so x > m² iff x > y·y+; likewise
    below with u = y - y-.) The comparison x vs a·b is exact: a·b = p + e (`_two_prod`), x - p is exact
    (Sterbenz: p is within a factor 2 of x), and x - p > e compares two doubles."""
    y = torch.sqrt(x)
    bits = y.view(torch.int64)
    up, dn = (bits + 1).view(torch.float64), (bits - 1).view(torch.float64)
    p, e = _two_prod(y, up)
    go_up = (x - p) > e
    p, e = _two_prod(y, dn)
    go_dn = (x - p) <= e
    return torch.where(go_up, up, torch.where(go_dn, dn, y))


def _neg2log(u: torch.Tensor) -> torch.Tensor:
    """-2 ln u for u in (0, 1) float64 (~1e-16 relative): u = 2^e m, m in [sqrt(1/2), sqrt(2)),
    ln m = 2 atanh(s), s = (m - 1)/(m + 1)."""
    bits = u.view(torch.int64)
    e = (bits >> 52) - 1022
    m = ((bits & _MANT) | (1022 << 52)).view(torch.float64)                # [0.5, 1)
    small = m < _SQRT_HALF
    m = torch.where(small, m * 2.0, m)
    e = e - small.to(torch.int64)
    f = m - 1.0
    s = f / (f + 2.0)
    p = _horner(s * s, _ATANH_C)
    lg = (s * 2.0).mul_(p).add_(e.to(torch.float64).mul_(_LN2))
    return lg.mul_(-2.0)


def _sincos_turn(mb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) of 2π(mb + 0.5)·2**-52 for 52-bit ints mb, reduced exactly to the nearest quarter turn."""
    q = (mb + (1 << 49)) >> 50                                               # nearest quarter turn, 0..4
    x = (mb - (q << 50)).to(torch.float64).add_(0.5).mul_(2.0 ** -52)      # turns in [-1/8, 1/8], exact
    th = x.mul_(_TWO_PI)
    t2 = th * th
    sn = _horner(t2, _SIN_C).mul_(th)
    cs = _sqrt(1.0 - sn * sn)                                               # cos >= sqrt(1/2) here: ~1 ulp
    qm = q & 3
    swap = (qm & 1) == 1
    c = torch.where(swap, sn, cs)
    s = torch.where(swap, cs, sn)
    sign_c = 1 - 2 * (((qm + 1) >> 1) & 1)                                  # q = 0, 1, 2, 3 -> +, -, -, +
    sign_s = 1 - 2 * (qm >> 1)                                              # q = 0, 1, 2, 3 -> +, +, -, -
    return c.mul_(sign_c), s.mul_(sign_s)


def _box_muller(ma: torch.Tensor, mb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two float64 normals per block from its two 52-bit integers: u1 = (ma + 0.5)·2**-52, u2 likewise,
    r = sqrt(-2 ln u1), (r cos 2πu2, r sin 2πu2)."""
    r = _sqrt(_neg2log(_to_unit(ma)))
    c, s = _sincos_turn(mb)
    return c.mul_(r), s.mul_(r)


def _bits52(w_a: torch.Tensor, w_b: torch.Tensor) -> torch.Tensor:
    return ((w_a >> 6) << 26) | (w_b >> 6)


def _device_of(seeds, device) -> torch.device:
    if device is None:
        device = seeds.device if isinstance(seeds, torch.Tensor) else torch.device("cpu")
    return torch.device(device)


def _chunk_blocks(device: torch.device) -> int:
    """Blocks per chunk of one call: bounds the int64 temporaries (~12 words of 8 bytes per block). On CPU
    a cache-sized chunk is also the fastest; on a GPU one chunk up to 2**24 blocks (~1.6 GB of temporaries)."""
    return _CHUNK_BLOCKS if device.type == "cpu" else 1 << 24


def _int_blocks(b0: int, nb: int, t_lo, t_hi, k0, k1, mulhilo=None) -> tuple[torch.Tensor, torch.Tensor]:
    """The two 52-bit integers [rows, nb] of blocks b0 .. b0 + nb − 1 of every row's stream (t_lo, t_hi, k0,
    k1: [rows, 1] int64): integer ops only, so any correct execution (eager, compiled) gives the same."""
    b = torch.arange(b0, b0 + nb, dtype=torch.int64, device=t_lo.device)[None, :]
    w0, w1, w2, w3 = _philox_words(b & M32, b >> 32, t_lo, t_hi, k0, k1, mulhilo=mulhilo)
    return _bits52(w0, w1), _bits52(w2, w3)


def _blocks(normal: bool, ints) -> torch.Tensor:
    """[rows, nb, 2] float64 numbers of a chunk from its 52-bit integers (eager: the fixed float ops)."""
    ma, mb = ints
    if normal:
        ua, ub = _box_muller(ma, mb)
    else:
        ua, ub = _to_unit(ma), _to_unit(mb)
    return torch.stack((ua, ub), dim=-1)


def _native_lib(device: torch.device):
    """The C fast path (`simulators._rng_native`) for a CPU draw outside any dispatch mode, else None. Under a
    TorchDispatchMode (the dispatch audits, FakeTensor tracing) the eager torch ops run so that they are seen."""
    if device.type != "cpu" or _current_dispatch_mode() is not None:
        return None
    from simulators import _rng_native
    return _rng_native.load()


def _current_dispatch_mode():
    from torch.utils._python_dispatch import _get_current_dispatch_mode
    return _get_current_dispatch_mode()


def _draw(kind: str, key, shape, counter, steps, dtype, native: bool = True) -> torch.Tensor:
    k0, k1 = key
    device = k0.device
    shape = tuple(int(x) for x in ((shape,) if isinstance(shape, int) else shape))
    if any(x < 0 for x in shape):
        raise ValueError(f"shape must be non-negative, got {shape}")
    E = k0.shape[0]
    t = _counter_words(E, counter, steps, device)                       # [E, C]
    C = t.shape[1]
    numel = math.prod(shape)
    nb = (numel + 1) // 2
    R = E * C
    out = torch.empty((R, 2 * nb), dtype=dtype, device=device)
    lib = _native_lib(device) if native and R and nb else None
    if lib is not None:                        # the C fast path: the same numbers (module docstring)
        kr0 = k0[:, None].expand(E, C).reshape(R).contiguous()
        kr1 = k1[:, None].expand(E, C).reshape(R).contiguous()
        t = t.reshape(R).contiguous()
        buf = out if dtype in (torch.float32, torch.float64) else torch.empty((R, 2 * nb), dtype=torch.float64)
        lib.toyscale_rng_draw(int(kind == "normal"), int(buf.dtype == torch.float32), buf.data_ptr(), R, nb,
                              kr0.data_ptr(), kr1.data_ptr(), t.data_ptr())
        if buf is not out:
            out.copy_(buf)                     # the eager path's float64 -> dtype copy
    elif R and nb:
        kr0 = k0[:, None].expand(E, C).reshape(R, 1)
        kr1 = k1[:, None].expand(E, C).reshape(R, 1)
        t = t.reshape(R, 1)
        t_lo, t_hi = t & M32, (t >> 32) & M32
        chunk = _chunk_blocks(device)
        rows = min(R, chunk)
        step = max(1, chunk // rows)
        for r0 in range(0, R, rows):            # chunks of elements (never one instance at a time unless
            r1 = min(R, r0 + rows)              # a single instance's draw exceeds a chunk)
            for b0 in range(0, nb, step):
                b1 = min(nb, b0 + step)
                vals = _blocks(kind == "normal", _int_blocks(b0, b1 - b0, t_lo[r0:r1], t_hi[r0:r1], kr0[r0:r1],
                                                             kr1[r0:r1]))
                out[r0:r1].view(r1 - r0, nb, 2)[:, b0:b1] = vals
    if R and nb and kind == "uniform" and dtype != torch.float64:
        out.clamp_(max=_below_one(dtype))
    return out[:, :numel].reshape(E, *(() if steps is None else (C,)), *shape)


def _below_one(dtype: torch.dtype) -> float:
    return 1.0 - torch.finfo(dtype).eps / 2


def uniform(seeds, role: int, shape, *, keys=None, counter=0, steps: int | None = None, device=None,
            dtype=torch.float32) -> torch.Tensor:
    """[E, *shape] uniforms strictly inside (0, 1) (with `steps`: [E, steps, *shape], step j drawn with
    counter + j, exactly what `steps` separate calls would draw). seeds: E ints >= 0 (sequence or 1-D
    tensor); role: int (ROLE_* in simulators/_batch.py); keys: None or [E, k] ints >= 0 (sequence of
    sequences or tensor); counter: int or [E] tensor >= 0 (e.g. the step). Drawn on `device` (default: the
    seeds' device, else CPU) in one call. In a loop over steps, derive the key once (`derive_key`) and call
    `uniform_from_key`."""
    return uniform_from_key(derive_key(seeds, role, keys, device=_device_of(seeds, device)), shape,
                            counter=counter, steps=steps, dtype=dtype)


def normal(seeds, role: int, shape, *, keys=None, counter=0, steps: int | None = None, device=None,
           dtype=torch.float32) -> torch.Tensor:
    """[E, *shape] standard normals (with `steps`: [E, steps, *shape]); arguments as `uniform`."""
    return normal_from_key(derive_key(seeds, role, keys, device=_device_of(seeds, device)), shape,
                           counter=counter, steps=steps, dtype=dtype)


def uniform_from_key(key: tuple[torch.Tensor, torch.Tensor], shape, *, counter=0, steps: int | None = None,
                     dtype=torch.float32) -> torch.Tensor:
    """`uniform` for precomputed keys (`derive_key(...)`), on the keys' device: no host-to-device copy."""
    return _draw("uniform", key, shape, counter, steps, dtype)


def normal_from_key(key: tuple[torch.Tensor, torch.Tensor], shape, *, counter=0, steps: int | None = None,
                    dtype=torch.float32) -> torch.Tensor:
    """`normal` for precomputed keys (`derive_key(...)`), on the keys' device: no host-to-device copy."""
    return _draw("normal", key, shape, counter, steps, dtype)
