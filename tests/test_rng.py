"""simulators._rng: Philox4x32-10 known answers, the documented mapping, statistics, and the stream properties
the families rely on (batch independence, counter skip, dtype and device independence, GPU shape).

Statistical tests: every threshold is a z-score (or the p-value of one) under the null "the numbers are
i.i.d. with the stated law"; each docstring names the nearest plausible wrong variant and the z at which this
sample catches it. The samples are deterministic (fixed seeds): a test passes or fails the same way every run.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from scipy import stats

from simulators import _rng, _rng_native
from simulators._batch import ROLE_DATA, ROLE_INIT, ROLE_NOISE, stacked_randn
from simulators.harness.dispatch_audit import assert_gpu_shaped, audit

M32 = 0xFFFFFFFF

# Random123 known-answer vectors, verbatim from tests/kat_vectors of Random123
# (https://github.com/DEShawResearch/random123, file tests/kat_vectors, the "philox4x32 7" and "philox4x32 10"
# lines; commit 9545ff6413f258be2f04c1d319d99aaef7521150). Columns: rounds, counter[4], key[2], expected[4].
KAT = """
philox4x32 7 00000000 00000000 00000000 00000000 00000000 00000000   5f6fb709 0d893f64 4f121f81 4f730a48
philox4x32 7 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   5207ddc2 45165e59 4d8ee751 8c52f662
philox4x32 7 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   4dfccaba 190a87f0 c47362ba b6b5242a
philox4x32 10 00000000 00000000 00000000 00000000 00000000 00000000   6627e8d5 e169c58d bc57ac4c 9b00dbd8
philox4x32 10 ffffffff ffffffff ffffffff ffffffff ffffffff ffffffff   408f276d 41c83b0e a20bc7c6 6d5451fd
philox4x32 10 243f6a88 85a308d3 13198a2e 03707344 a4093822 299f31d0   d16cfe09 94fdcceb 5001e420 24126ea1
"""


def _kat():
    rows = []
    for line in KAT.strip().splitlines():
        f = line.split()
        w = [int(x, 16) for x in f[2:]]
        rows.append((int(f[1]), w[0:4], w[4:6], w[6:10]))
    return rows


def ref_philox(ctr, key, rounds=10):
    """Philox4x32-R in Python integers, written from Salmon et al. (SC'11) / Random123's philox.h."""
    c, k = list(ctr), list(key)
    for r in range(rounds):
        if r:
            k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
    return c


def ref_key(seed, role, keys=()):
    """The key derivation stated in the module docstring, in Python integers."""
    n = len(keys)
    k = [0x746F7973, 0x63616C65]
    for x, tag in [(seed, role)] + [(x, j + 1) for j, x in enumerate(keys)]:
        k = ref_philox([x & M32, x >> 32, tag, n], k)[:2]
    return k


def ref_uniforms(seed, role, keys, counter, n):
    """The first n uniforms of a stream, from the documented mapping (Python integers and floats)."""
    k = ref_key(seed, role, keys)
    out = []
    for b in range((n + 1) // 2):
        w = ref_philox([b & M32, b >> 32, counter & M32, counter >> 32], k)
        for wa, wb in ((w[0], w[1]), (w[2], w[3])):
            out.append((((wa >> 6) << 26 | (wb >> 6)) + 0.5) * 2.0 ** -52)
    return out[:n]


def _force_eager(monkeypatch):
    """Every draw of the test runs the eager torch ops (the reference path)."""
    monkeypatch.setattr(_rng, "_native_lib", lambda device: None)


def _need_native():
    """The native library, loaded; skips only where the machine has no C compiler (then the eager path is the
    only path and there is nothing to compare); a compiler that is there but fails to build is a failure."""
    if _rng_native.load() is None and _rng_native.compiler() is None:
        pytest.skip("no C compiler: the eager torch path is the only path")
    assert _rng_native.load() is not None, _rng_native.status()
    return _rng_native.load()


@pytest.fixture(params=["native", "eager"])
def path(request, monkeypatch):
    if request.param == "eager":
        _force_eager(monkeypatch)
    else:
        _need_native()
    return request.param


# ----------------------------------------------------------------------------- known answers and the mapping
@pytest.mark.parametrize("rounds,ctr,key,want", _kat())
def test_random123_known_answers(rounds, ctr, key, want, path):
    """Through the C path (CPU, 10 rounds) and the eager torch ops."""
    got = _rng.philox4x32_10(torch.tensor(ctr), torch.tensor(key), rounds=rounds).tolist()
    assert got == want
    assert ref_philox(ctr, key, rounds) == want          # the Python reference used below is right too


def test_known_answers_in_one_broadcast_call(path):
    rows = [r for r in _kat() if r[0] == 10]
    got = _rng.philox4x32_10(torch.tensor([r[1] for r in rows]), torch.tensor([r[2] for r in rows]))
    assert got.tolist() == [r[3] for r in rows]


def test_philox_matches_the_python_reference_on_random_and_edge_words(path):
    """Any 32-bit input, incl. words whose products need all 64 bits (the split multiply must not overflow)."""
    g = np.random.default_rng(12345)
    ctr = g.integers(0, 1 << 32, (200, 4)).tolist() + [[M32, 0, M32, 0], [1, M32, 1, M32], [0x80000000] * 4]
    key = g.integers(0, 1 << 32, (200, 2)).tolist() + [[M32, M32], [0, 0], [0x80000000, 1]]
    got = _rng.philox4x32_10(torch.tensor(ctr), torch.tensor(key)).tolist()
    assert got == [ref_philox(c, k) for c, k in zip(ctr, key)]


def test_key_derivation_is_the_documented_mapping(path):
    seeds = [0, 2 ** 40 + 5, 2 ** 63 - 1]
    keys = [(1, 2), (0, 7), (2 ** 62, 5)]
    k0, k1 = _rng.derive_key(seeds, 3, keys)
    assert list(zip(k0.tolist(), k1.tolist())) == [tuple(ref_key(s, 3, kk)) for s, kk in zip(seeds, keys)]
    k0, k1 = _rng.derive_key([9], 2)
    assert [k0.item(), k1.item()] == ref_key(9, 2)


def test_uniforms_are_the_documented_mapping_exactly(path):
    u = _rng.uniform([3, 2 ** 33], 7, (5,), keys=[(11,), (12,)], counter=2 ** 32 + 3, dtype=torch.float64)
    assert u[0].tolist() == ref_uniforms(3, 7, (11,), 2 ** 32 + 3, 5)
    assert u[1].tolist() == ref_uniforms(2 ** 33, 7, (12,), 2 ** 32 + 3, 5)


def test_normals_are_box_muller_of_the_documented_uniforms(path):
    """z_2b = sqrt(-2 ln u1) cos(2π u2), z_2b+1 = ... sin(...), to 4e-15 absolute (|z| < 9)."""
    n = 4000
    u = ref_uniforms(5, ROLE_DATA, (), 9, n)
    z = _rng.normal([5], ROLE_DATA, (n,), counter=9, dtype=torch.float64)[0].tolist()
    for b in range(n // 2):
        r = math.sqrt(-2 * math.log(u[2 * b]))
        assert abs(z[2 * b] - r * math.cos(2 * math.pi * u[2 * b + 1])) < 4e-15
        assert abs(z[2 * b + 1] - r * math.sin(2 * math.pi * u[2 * b + 1])) < 4e-15


def ref_normals(seed, role, keys, counter, n):
    """The first n float64 normals of a stream from the mapping in Python floats (every Python float op and
    math.sqrt is correctly rounded): the same op sequence as `_rng._neg2log` / `_sincos_turn` / `_box_muller`."""
    import struct
    u = ref_uniforms(seed, role, keys, counter, n + (n & 1))
    out = []
    for b in range(len(u) // 2):
        ma, mb = int(u[2 * b] * 2.0 ** 52 - 0.5), int(u[2 * b + 1] * 2.0 ** 52 - 0.5)
        bits = struct.unpack("<q", struct.pack("<d", (ma + 0.5) * 2.0 ** -52))[0]
        e = (bits >> 52) - 1022
        m = struct.unpack("<d", struct.pack("<q", (bits & ((1 << 52) - 1)) | (1022 << 52)))[0]
        if m < _rng._SQRT_HALF:
            m, e = m * 2.0, e - 1
        f = m - 1.0
        s = f / (f + 2.0)
        x, p = s * s, _rng._ATANH_C[-1]
        for c in reversed(_rng._ATANH_C[:-1]):
            p = p * x + c
        r = math.sqrt((s * 2.0 * p + e * _rng._LN2) * -2.0)
        q = (mb + (1 << 49)) >> 50
        th = ((mb - (q << 50)) + 0.5) * 2.0 ** -52 * _rng._TWO_PI
        t2, p = th * th, _rng._SIN_C[-1]
        for c in reversed(_rng._SIN_C[:-1]):
            p = p * t2 + c
        sn = p * th
        cs = math.sqrt(1.0 - sn * sn)
        c, s_ = (sn, cs) if q & 1 else (cs, sn)
        c = -c if ((q & 3) + 1) >> 1 & 1 else c
        s_ = -s_ if (q & 3) >> 1 else s_
        out += [c * r, s_ * r]
    return out[:n]


def test_normals_are_the_documented_mapping_exactly(path):
    """float64 normals bit for bit equal to the mapping computed in Python floats (native and eager paths).
    Wrong variant it catches: an op that is not correctly rounded, e.g. the uncorrected torch.sqrt (1 ulp off
    for ~1.3 % of normals on x86: ~27 of these 2001 expected to differ; P(none) = e^-27), or a reordered
    polynomial."""
    z = _rng.normal([5, 2 ** 40], ROLE_DATA, (2001,), keys=[(3,), (4,)], counter=2 ** 32 + 9, dtype=torch.float64)
    assert z[0].tolist() == ref_normals(5, ROLE_DATA, (3,), 2 ** 32 + 9, 2001)
    assert z[1].tolist() == ref_normals(2 ** 40, ROLE_DATA, (4,), 2 ** 32 + 9, 2001)


def test_float_path_uses_only_correctly_rounded_ops():
    """The device independence 'by construction': after the integer rounds, the float64 work of `normal` and
    `uniform` is made only of IEEE-754 correctly rounded ops (+, -, *, /, sqrt), exact conversions and bit
    ops; no libm function (log, sin, cos, exp, ...) whose last bit differs between CPU and CUDA. (sqrt is
    allowed because `_sqrt` corrects torch.sqrt's last bit exactly: test_correctly_rounded_sqrt.)"""
    res_n = audit(lambda: _rng.normal([1, 2], 3, (64,), dtype=torch.float32))
    res_u = audit(lambda: _rng.uniform([1, 2], 3, (64,), dtype=torch.float32))
    allowed = {"mul", "add", "sub", "div", "sqrt", "rsub", "neg", "where", "lt", "le", "gt", "eq", "bitwise_and", "bitwise_or",
               "bitwise_xor", "__rshift__", "__lshift__", "bitwise_left_shift", "bitwise_right_shift", "_to_copy",
               "copy_", "full", "full_like", "fill_", "empty", "arange", "view", "_unsafe_view", "unsqueeze",
               "slice", "select", "expand", "clone", "reshape", "lift_fresh", "clamp", "clamp_max",
               "lift_fresh_copy", "t", "transpose", "alias", "detach", "zeros", "zeros_like", "empty_like",
               "add_", "mul_", "sqrt_", "clamp_", "clamp_max_", "sub_", "bitwise_and_", "view_as", "squeeze", "stack",
               "cat"}
    used = {str(op).split(".")[1] for op in list(res_n.counts) + list(res_u.counts)}
    assert used, "the audit saw no ops"
    assert used <= allowed, f"not correctly rounded or not reviewed: {sorted(used - allowed)}"


def test_bad_arguments_fail_with_one_clear_line():
    with pytest.raises(ValueError, match="seed must be in"):
        _rng.normal([1, -2], ROLE_DATA, (3,))
    with pytest.raises(ValueError, match="keys must be"):
        _rng.normal([1, 2], ROLE_DATA, (3,), keys=[(1,)])
    with pytest.raises(ValueError, match="role must be"):
        _rng.normal([1], -1, (3,))
    with pytest.raises(ValueError, match="counter must be"):
        _rng.normal([1], 1, (3,), counter=-1)
    with pytest.raises(ValueError, match="counter must be"):
        _rng.normal([1, 2], 1, (3,), counter=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="steps must be"):
        _rng.normal([1], 1, (3,), steps=0)
    with pytest.raises(ValueError, match="shape must be"):
        _rng.normal([1], 1, (3, -1))


# ----------------------------------------------------------------------------- statistics
N_STAT = 1 << 20


@pytest.fixture(scope="module")
def uniforms():
    return _rng.uniform(range(16), ROLE_DATA, (N_STAT // 16,), dtype=torch.float64)      # [16, 65536]


@pytest.fixture(scope="module")
def normals():
    return _rng.normal(range(16), ROLE_DATA, (N_STAT // 16,), dtype=torch.float64)


def test_uniform_distribution(uniforms):
    """KS and chi² (1024 bins) of 2**20 uniforms, each at p > 1e-6 (z ≈ 4.9). Wrong variant: a density off by
    2 % on half of (0, 1) (a biased bit): sqrt(n)·D = 1024·0.01 = 10 against the p = 1e-6 critical 2.7, chi²
    shift n·Σδp²/p = 2**20·0.02² = 419 (z ≈ 9). Low bits: chi² of the 10 lowest of the 52 bits catches a
    second word that is not used or a shift that drops it (all mass in one bin, z > 1000)."""
    u = uniforms.flatten().numpy()
    assert 0.0 < u.min() and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-6
    counts = np.bincount((u * 1024).astype(int), minlength=1024)
    assert stats.chisquare(counts).pvalue > 1e-6
    m = (u * 2.0 ** 52 - 0.5).astype(np.int64)                       # the exact 52-bit integers
    assert np.all((m + 0.5) * 2.0 ** -52 == u)
    assert stats.chisquare(np.bincount(m & 1023, minlength=1024)).pvalue > 1e-6
    assert stats.chisquare(np.bincount((m >> 26) & 1023, minlength=1024)).pvalue > 1e-6   # the seam of the two words


def test_normal_moments_and_law(normals):
    """2**20 normals: |mean|, |var − 1|, |skew|, |excess kurtosis| each within 5.5 standard errors
    (1/sqrt n, sqrt(2/n), sqrt(6/n), sqrt(24/n)); KS against Φ at p > 1e-6; the count beyond |z| > 4 within 5.5 σ
    of its binomial mean (66). Wrong variants: r = sqrt(−ln u) (var ½: z = 0.5/sqrt(2/n) = 360); angles on half
    a turn or a quadrant sign slip (the sin half has mean 0.8: z = 0.8·sqrt(n/2) = 580); a tail-truncated law
    (nothing beyond |z| = 4, e.g. u1 floored at 3e-4): tail count 0 against 66, z = 8."""
    z = normals.flatten().numpy()
    n = z.size
    assert abs(z.mean()) < 5.5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5.5 * math.sqrt(2 / n)
    assert abs(stats.skew(z)) < 5.5 * math.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5.5 * math.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-6
    p4 = 2 * stats.norm.sf(4)
    assert abs((np.abs(z) > 4).sum() - n * p4) < 5.5 * math.sqrt(n * p4)
    for part in (z[0::2], z[1::2]):                                   # the cos and the sin halves separately
        assert abs(part.mean()) < 5.5 / math.sqrt(part.size)
        assert abs(part.var() - 1) < 5.5 * math.sqrt(2 / part.size)


def _corr_z(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()) * math.sqrt(a.size))


def test_independence_within_a_stream(normals):
    """Lag-1 and lag-2 correlations (within a Box-Muller pair, across pairs) of 16 streams, |z| < 5.5 each.
    Wrong variant: both outputs of a pair from cos (corr = 1 or a sign pattern): z = 724 per stream."""
    for row in normals.numpy():
        assert abs(_corr_z(row[0::2], row[1::2])) < 5.5
        assert abs(_corr_z(row[1:-1:2], row[2::2])) < 5.5
        assert abs(_corr_z(row[:-2], row[2:])) < 5.5


def test_independence_across_seeds_roles_keys_and_counters():
    """Streams that differ in one of seed, role, an instance key, its position, or the counter:
    (1) no 52-bit uniform value is shared between any two streams (under independence the expected number of
    coincidences is 2**32/2**52 < 1e-6; any overlap or shifted copy, e.g. a seed or a counter added to the
    block index, shares almost every value); (2) pairwise correlation |z| < 5.5 over the 66 pairs of 12 streams
    of 2**16 (a per-pair false alarm 4e-8; all 66: < 3e-6); a variant that ignores one input gives z = 256."""
    n = 1 << 16
    base = dict(seeds=[4], role=ROLE_DATA, keys=[(8, 9)], counter=0)
    variants = [base, dict(base, seeds=[5]), dict(base, seeds=[4 + (1 << 32)]), dict(base, role=ROLE_INIT),
                dict(base, role=ROLE_NOISE), dict(base, keys=[(8, 10)]), dict(base, keys=[(9, 8)]),
                dict(base, keys=[(8,)]), dict(base, keys=[(8, 9, 0)]), dict(base, counter=1),
                dict(base, counter=1 << 32), dict(base, seeds=[ROLE_DATA], role=4)]
    streams = [_rng.uniform(v["seeds"], v["role"], (n,), keys=v["keys"], counter=v["counter"],
                            dtype=torch.float64)[0].numpy() for v in variants]
    for i in range(len(streams)):
        for j in range(i):
            assert np.intersect1d(streams[i], streams[j]).size == 0, (variants[i], variants[j])
            assert abs(_corr_z(streams[i], streams[j])) < 5.5, (variants[i], variants[j])


def test_independence_across_many_seeds(uniforms):
    """All 120 pairs of 16 consecutive seeds: |correlation z| < 5.5 (family-wise false alarm < 5e-6); a key
    schedule that ignored the seed gives z = 256 (identical streams)."""
    u = uniforms.numpy()
    for i in range(16):
        for j in range(i):
            assert abs(_corr_z(u[i], u[j])) < 5.5


# ----------------------------------------------------------------------------- stream properties
@given(st.lists(st.integers(0, 2 ** 63 - 1), min_size=1, max_size=6), st.integers(0, 5), st.integers(0, 2 ** 40))
def test_batch_independence(seeds, pick, counter):
    """An instance's numbers do not depend on which instances share the call (any seeds, position, counter)."""
    e = pick % len(seeds)
    keys = [(len(seeds) + i, 3) for i in range(len(seeds))]
    full = _rng.normal(seeds, ROLE_DATA, (3, 5), keys=keys, counter=counter, dtype=torch.float64)
    alone = _rng.normal([seeds[e]], ROLE_DATA, (3, 5), keys=[keys[e]], counter=counter, dtype=torch.float64)
    assert torch.equal(full[e], alone[0])
    cnt = torch.arange(len(seeds)) + counter
    per = _rng.uniform(seeds, ROLE_DATA, (7,), keys=keys, counter=cnt, dtype=torch.float64)
    assert torch.equal(per[e], _rng.uniform([seeds[e]], ROLE_DATA, (7,), keys=[keys[e]],
                                            counter=counter + e, dtype=torch.float64)[0])


def test_counter_skip_equals_the_sequence():
    """Step k drawn directly equals the k-th step of a multi-step draw (and of `steps` chunked anyhow)."""
    seq = _rng.normal([1, 2, 3], ROLE_DATA, (4, 3), counter=10, steps=7, dtype=torch.float64)   # [3, 7, 4, 3]
    assert seq.shape == (3, 7, 4, 3)
    for k in range(7):
        assert torch.equal(seq[:, k], _rng.normal([1, 2, 3], ROLE_DATA, (4, 3), counter=10 + k, dtype=torch.float64))
    assert torch.equal(seq[:, 3:], _rng.normal([1, 2, 3], ROLE_DATA, (4, 3), counter=13, steps=4, dtype=torch.float64))
    key = _rng.derive_key([1, 2, 3], ROLE_DATA)
    assert torch.equal(seq[:, 5], _rng.normal_from_key(key, (4, 3), counter=15, dtype=torch.float64))


def test_chunking_and_prefix_do_not_change_numbers(monkeypatch):
    """The numbers do not depend on the eager path's chunk size (rows and blocks), and a shorter draw is a prefix
    of a longer one (odd sizes: the last block's second number is dropped)."""
    _force_eager(monkeypatch)
    ref_n = _rng.normal([1, 2, 3], ROLE_DATA, (3, 7), steps=2, dtype=torch.float64)
    ref_u = _rng.uniform([1, 2, 3], ROLE_DATA, (21,), steps=2, dtype=torch.float32)
    for chunk in (1, 3, 5, 64):
        monkeypatch.setattr(_rng, "_CHUNK_BLOCKS", chunk)
        assert torch.equal(_rng.normal([1, 2, 3], ROLE_DATA, (3, 7), steps=2, dtype=torch.float64), ref_n)
        assert torch.equal(_rng.uniform([1, 2, 3], ROLE_DATA, (21,), steps=2, dtype=torch.float32), ref_u)
    monkeypatch.undo()
    assert torch.equal(_rng.normal([1, 2, 3], ROLE_DATA, (20,), steps=2, dtype=torch.float64), ref_n.flatten(2)[..., :20])
    assert torch.equal(ref_n.flatten(2), _rng.normal([1, 2, 3], ROLE_DATA, (21,), steps=2, dtype=torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_dtype_independence(dtype):
    """A narrower dtype holds the float64 numbers rounded (uniforms: clamped below 1 after rounding)."""
    z64 = _rng.normal([1, 2], ROLE_DATA, (999,), dtype=torch.float64)
    assert torch.equal(_rng.normal([1, 2], ROLE_DATA, (999,), dtype=dtype), z64.to(dtype))
    u64 = _rng.uniform([1, 2], ROLE_DATA, (999,), dtype=torch.float64)
    u = _rng.uniform([1, 2], ROLE_DATA, (999,), dtype=dtype)
    assert torch.equal(u, u64.to(dtype).clamp(max=1 - torch.finfo(dtype).eps / 2))
    assert float(u.max()) < 1 and float(u.min()) > 0
    assert torch.equal(stacked_randn([1, 2], ROLE_DATA, (999,), dtype=dtype), z64.to(dtype))


def test_uniform_never_rounds_to_one(monkeypatch):
    """The largest float64 uniform, 1 − 2**-53, rounds to 1.0 in float32; the clamp keeps it inside (0, 1)
    (eager path, whose bits can be planted; the native path's numbers are the eager ones, tested below)."""
    _force_eager(monkeypatch)
    monkeypatch.setattr(_rng, "_bits52", lambda a, b: torch.full(torch.broadcast_shapes(a.shape, b.shape), (1 << 52) - 1,
                                                                 dtype=torch.int64))
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        u = _rng.uniform([1], 1, (4,), dtype=dtype)
        assert float(u.max()) < 1.0


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (5,), (2, 3, 4)])
def test_shapes_dtype_device(shape):
    for fn in (_rng.normal, _rng.uniform):
        x = fn([0, 1, 2], ROLE_DATA, shape, device="cpu", dtype=torch.float32)
        assert x.shape == (3, *shape) and x.dtype == torch.float32 and x.device.type == "cpu"
        x = fn(torch.tensor([0, 1]), ROLE_DATA, shape, steps=3, dtype=torch.float64)
        assert x.shape == (2, 3, *shape) and x.dtype == torch.float64
    assert _rng.normal([], ROLE_DATA, (4,)).shape == (0, 4)


def test_a_draw_is_gpu_shaped():
    """One draw is one batched computation: the same op multiset for E and 8E instances, and no host sync
    (from Python seeds and from precomputed device keys)."""
    def make(E):
        seeds = list(range(E))
        return lambda: _rng.normal(seeds, ROLE_DATA, (16, 8), keys=[(3,)] * E, counter=5)

    def make_k(E):
        key = _rng.derive_key(list(range(E)), ROLE_DATA)
        t = torch.arange(E)
        return lambda: _rng.normal_from_key(key, (16, 8), counter=t, steps=2)

    small, _ = assert_gpu_shaped(make, E_small=2)
    assert small.n_ops > 0
    assert_gpu_shaped(make_k, E_small=2)


@pytest.mark.gpu
def test_cpu_and_cuda_give_the_same_numbers():
    """Bits, uniforms and normals (float64 and float32) identical on CPU and CUDA."""
    for fn in (_rng.normal, _rng.uniform):
        for dtype in (torch.float64, torch.float32):
            a = fn(range(5), ROLE_DATA, (1001,), keys=[(7,)] * 5, counter=3, steps=2, dtype=dtype)
            b = fn(range(5), ROLE_DATA, (1001,), keys=[(7,)] * 5, counter=3, steps=2, dtype=dtype, device="cuda")
            assert torch.equal(a, b.cpu())


def test_both_multiply_forms_give_the_same_words():
    """The 4-op product c·(m − 2**32) (`_mulhilo`) and the 16-bit split form agree with the exact 64-bit
    product on every word, incl. the extremes, and through whole draws; no intermediate reaches 2**63."""
    g = np.random.default_rng(7)
    c = torch.tensor(g.integers(0, 1 << 32, 4096).tolist() + [0, 1, M32, M32 - 1, 1 << 31])
    for m in (_rng.PHILOX_M0, _rng.PHILOX_M1):
        assert 1 << 31 < m < 1 << 32 and M32 * abs(m - (1 << 32)) < 1 << 63
        exact = [int(x) * m for x in c]
        for f in (_rng._mulhilo, _rng._mulhilo_split):
            assert [(int(h) << 32) | int(lo) for h, lo in zip(*f(c, m))] == exact
    key = _rng.derive_key([1, 2], ROLE_DATA)
    t = torch.tensor([[3], [4]])
    words = [_rng._int_blocks(5, 100, t, t * 0, key[0][:, None], key[1][:, None], mulhilo=f)
             for f in (_rng._mulhilo, _rng._mulhilo_split)]
    assert all(torch.equal(a, b) for a, b in zip(*words))


def test_plrf_sgd_draws_step_t_at_counter_t():
    """The PLRF one-pass SGD data of step t is the Philox draw at counter t: any chunking of the steps (a
    resumed or chunked run) gives the same trajectory bit for bit, and an instance's features do not depend on
    its batch-mates' widths (column-major draw)."""
    from simulators.random_features import model as mdl
    W = mdl.plrf_features([0, 1, 0], [16, 32, 32], 64, dtype=torch.float64, device="cpu")
    assert torch.equal(W[0, :, :16], mdl.plrf_features([0], [16], 64, dtype=torch.float64, device="cpu")[0])
    assert float(W[0, :, 16:].abs().max()) == 0.0
    D, b = mdl.plrf_problem(64, 1.0, 0.7)
    ref = mdl.plrf_sgd(W, D, b, [0, 1, 0], 0.1, 2, [0, 5, 40], chunk=256)
    for chunk in (1, 7):
        assert torch.equal(mdl.plrf_sgd(W, D, b, [0, 1, 0], 0.1, 2, [0, 5, 40], chunk=chunk), ref)


# ----------------------------------------------------------------------------- the native CPU path
def _both(kind, key, shape, counter, steps, dtype, monkeypatch):
    nat = _rng._draw(kind, key, shape, counter, steps, dtype)
    eag = _rng._draw(kind, key, shape, counter, steps, dtype, native=False)
    return nat, eag


@given(st.lists(st.integers(0, 2 ** 63 - 1), min_size=1, max_size=5), st.integers(0, 2 ** 32 - 1),
       st.integers(0, 2), st.lists(st.integers(0, 40), min_size=0, max_size=3),
       st.one_of(st.integers(0, 2 ** 62), st.just(2 ** 32 - 1), st.just(2 ** 32)), st.booleans(),
       st.one_of(st.none(), st.integers(1, 3)), st.sampled_from(["normal", "uniform"]),
       st.sampled_from([torch.float32, torch.float64]), st.integers(0, 2 ** 40))
def test_native_draws_are_the_eager_numbers_bit_for_bit(seeds, role, n_keys, shape, counter, per_instance, steps,
                                                         kind, dtype, key_salt):
    """The C path gives the eager torch path's numbers exactly: any E, role, key columns, shape (incl. 0, odd
    and empty), counter (incl. 2**32 - 1, 2**32, per-instance tensors), steps, kind and dtype; and the native
    key derivation is the eager one. (An exact comparison: any changed op order, an FMA contraction or another
    rounding shows as a differing bit in some of the 100s of numbers per example; measured before `_sqrt`:
    4 of 1204 float64 normals differed by 1 ulp.)"""
    _need_native()
    E = len(seeds)
    keys = [[(key_salt + 7 * e + j) % 2 ** 63 for j in range(n_keys)] for e in range(E)] if n_keys else None
    key = _rng.derive_key(seeds, role, keys)
    kx = torch.tensor(keys) if keys else torch.zeros((E, 0), dtype=torch.int64)
    ek = _rng._derive_key_eager(torch.tensor(seeds), role, kx)
    assert torch.equal(key[0], ek[0]) and torch.equal(key[1], ek[1])
    ctr = torch.tensor([counter + 3 * e for e in range(E)]) if per_instance else counter
    nat = _rng._draw(kind, key, tuple(shape), ctr, steps, dtype)
    eag = _rng._draw(kind, key, tuple(shape), ctr, steps, dtype, native=False)
    assert nat.shape == eag.shape and nat.dtype == eag.dtype == dtype
    assert torch.equal(nat, eag)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_native_large_draw_is_the_eager_numbers(dtype):
    """One draw of 2 x 3 x 40001 numbers per kind (past the C chunk of 128 blocks and the eager chunk), and the
    narrow dtypes through the float64 buffer: identical to the eager path."""
    _need_native()
    key = _rng.derive_key([5, 2 ** 40], ROLE_DATA, [(1,), (2 ** 33,)])
    for kind in ("normal", "uniform"):
        nat = _rng._draw(kind, key, (40001,), torch.tensor([0, 2 ** 32 + 1]), 3, dtype)
        eag = _rng._draw(kind, key, (40001,), torch.tensor([0, 2 ** 32 + 1]), 3, dtype, native=False)
        assert torch.equal(nat, eag), kind


def test_correctly_rounded_sqrt():
    """`_sqrt` is the nearest double to the square root (Python's math.sqrt is correctly rounded) over 2**18
    values on the ranges the draws use ((0, 75] for -2 ln u, [1/2, 1] for 1 - sin²), plus binade edges. The
    uncorrected torch.sqrt is the wrong variant: on the x86 wheels it is 1 ulp off for ~0.8 % of these values
    (≈ 2000 failures here); where torch.sqrt happens to be correctly rounded both agree."""
    g = np.random.default_rng(3)
    x = np.concatenate([g.uniform(0, 75, 1 << 17), g.uniform(0.5, 1, 1 << 17),
                        [2.0 ** -52, 0.5, 1.0, 1 - 2.0 ** -53, 2.0, 4.0, 3.0, 74.99999999999999]])
    x = x[x > 0]
    got = _rng._sqrt(torch.from_numpy(x)).numpy()
    want = np.array([math.sqrt(v) for v in x])
    assert np.array_equal(got, want), int((got != want).sum())


def test_fallback_without_native_gives_the_same_numbers(monkeypatch, tmp_path):
    """TOYSCALE_RNG_NATIVE=0, and a missing compiler with an empty cache, both run the eager path (the status
    says why) and draw the same numbers as the native path."""
    _need_native()
    args = ([1, 2 ** 41], ROLE_NOISE, (3, 7))
    ref_n = _rng.normal(*args, keys=[(4,), (5,)], counter=2 ** 33, steps=2, dtype=torch.float64)
    ref_u = _rng.uniform(*args, keys=[(4,), (5,)], counter=2 ** 33, steps=2, dtype=torch.float32)
    for env in ({"TOYSCALE_RNG_NATIVE": "0"}, {"CC": str(tmp_path / "no-such-cc"), "TOYSCALE_CACHE_DIR": str(tmp_path)}):
        monkeypatch.setattr(_rng_native, "_STATE", {})
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert _rng_native.load() is None
        assert _rng_native.status().startswith("eager: "), _rng_native.status()
        assert torch.equal(_rng.normal(*args, keys=[(4,), (5,)], counter=2 ** 33, steps=2, dtype=torch.float64), ref_n)
        assert torch.equal(_rng.uniform(*args, keys=[(4,), (5,)], counter=2 ** 33, steps=2, dtype=torch.float32), ref_u)
        monkeypatch.undo()
    monkeypatch.setattr(_rng_native, "_STATE", {})
    assert "no C compiler" not in _rng_native.status()


def test_corrupt_or_partial_cached_library_is_rebuilt(monkeypatch, tmp_path):
    """A cached shared object that is garbage, or the first half of a real one (an interrupted copy; dlopen of
    it would die with SIGBUS), with or without its checksum file, is deleted and rebuilt at first use instead
    of crashing; the rebuilt library draws the eager numbers."""
    lib = _need_native()
    good = _rng_native.status().split("native: ", 1)[1]
    _, digest = _rng_native._source(_rng_native.flag_sets()[0])
    blob = open(good, "rb").read()
    cases = [(b"not an ELF file\n" * 64, False), (blob[: len(blob) // 2], False), (blob[: len(blob) // 2], True)]
    for i, (bad, with_sum) in enumerate(cases):
        d = tmp_path / f"cache{i}"
        d.mkdir()
        so = d / f"rng_native-{digest}.so"
        so.write_bytes(bad)
        if with_sum:
            (d / (so.name + ".sha256")).write_text(hashlib.sha256(blob).hexdigest())
        monkeypatch.setenv("TOYSCALE_CACHE_DIR", str(d))
        monkeypatch.setattr(_rng_native, "_STATE", {})
        lib = _rng_native.load()
        assert lib is not None and _rng_native.status() == f"native: {so}", _rng_native.status()
        assert so.stat().st_size > len(bad) // 2 and so.read_bytes() != bad
        assert sorted(p.name for p in d.iterdir()) == [so.name, so.name + ".sha256"]     # no build leftovers
        key = _rng.derive_key([9], ROLE_DATA)
        assert torch.equal(_rng._draw("normal", key, (99,), 4, None, torch.float64),
                           _rng._draw("normal", key, (99,), 4, None, torch.float64, native=False))
    monkeypatch.undo()
    monkeypatch.setattr(_rng_native, "_STATE", {})


def test_native_is_not_used_under_a_dispatch_mode():
    """Audits see the eager torch ops of a draw (the C path would hide them)."""
    _need_native()
    res = audit(lambda: _rng.normal([1, 2], ROLE_DATA, (64,)))
    assert sum(res.counts.values()) > 100


def test_a_flag_set_the_compiler_rejects_falls_back_to_the_next(monkeypatch, tmp_path):
    """A build that fails (here: a flag the compiler does not know, as an old compiler would reject the AVX-512
    flags) falls back to the next flag set instead of to the eager path; the result draws the eager numbers."""
    _need_native()
    sets = [_rng_native.FLAGS + ("-mno-such-flag-xyz",), _rng_native.FLAGS]
    monkeypatch.setattr(_rng_native, "flag_sets", lambda: sets)
    monkeypatch.setenv("TOYSCALE_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_rng_native, "_STATE", {})
    assert _rng_native.load() is not None
    assert _rng_native.status() == f"native: {tmp_path / ('rng_native-' + _rng_native._source(sets[1])[1] + '.so')}"
    key = _rng.derive_key([9, 10], ROLE_DATA)
    assert torch.equal(_rng._draw("normal", key, (77,), 4, None, torch.float32),
                       _rng._draw("normal", key, (77,), 4, None, torch.float32, native=False))
    monkeypatch.undo()
    monkeypatch.setattr(_rng_native, "_STATE", {})
