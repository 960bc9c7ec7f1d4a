"""CPU acceleration of `simulators._rng`: the whole Philox draw (key derivation, integer rounds, bits -> float64,
Box-Muller, the cast) in a few dozen lines of C, compiled once with the system C compiler and loaded with ctypes.

This is an acceleration, not a second backend: it computes the numbers of the eager torch path bit for bit, by
construction, and the eager path stays the reference (and runs whenever this one is unavailable).

* The integer part (key cascade, Philox4x32-10 rounds, the 52-bit integers) is exact uint32/uint64 arithmetic.
* The float part performs the SAME IEEE-754 double operations, in the same order, as `_rng._to_unit`,
  `_rng._neg2log`, `_rng._sincos_turn` and `_rng._box_muller` (+, -, *, /, sqrt, exact conversions, bit
  moves; the constants are `_rng`'s own Python floats written into the source as hex literals). Every such op is
  correctly rounded, so the results are the eager ones as long as the compiler neither contracts a*b+c into an
  FMA nor reassociates: compiled with `-ffp-contract=off` and without -ffast-math (`-fno-math-errno` only drops
  errno writes of sqrt; x86-64 / AArch64 evaluate doubles in double precision).
* The float64 -> float32 cast is the C conversion, round-to-nearest-even like torch's copy; other dtypes go
  through a float64 buffer and torch's own copy, as the eager path does.
* Belt and braces: after loading, a self-check compares a small native draw with the eager one (normals and
  uniforms, float64 and float32, a key column, a counter >= 2**32, an odd size); on any difference the native
  path is disabled for the process with one warning.

Build and cache: the source (generated here from the `_rng` constants) and the compiler flags are hashed into
the file name <cache>/rng_native-<hash>.so; <cache> = $TOYSCALE_CACHE_DIR, else $XDG_CACHE_HOME/toyscale, else
~/.cache/toyscale (a temp-dir fallback when that is not writable). `flag_sets` lists the builds to try, widest
vector ISA first (AVX-512, AVX2, then plain FLAGS; the next one if a build fails): the width changes the
speed, never the numbers. A build is compiled in a private temporary directory and renamed into place with a
SHA-256 of its bytes beside it (<path>.sha256; atomic renames, so concurrent processes at worst compile twice).
A cached file is dlopen-ed only when its bytes match that checksum (dlopen of a truncated ELF can kill the
process with SIGBUS), and it must carry the source hash and the entry points; otherwise (corrupt, partial,
stale) it is deleted and rebuilt. Compiling takes ~0.3-0.9 s, once per machine and flag set.

Switches: TOYSCALE_RNG_NATIVE=0 disables it (the eager torch path runs); $CC picks the compiler (default: cc,
gcc, clang on PATH). Without a compiler the eager path runs. `status()` says which and why.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings

FLAGS = ("-O3", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno", "-std=c99")


_AVX512 = ("-mavx2", "-mavx512f", "-mavx512dq", "-mavx512vl", "-mprefer-vector-width=512")


def flag_sets() -> list[tuple[str, ...]]:
    """Compiler flags to try, best first: on an x86-64 CPU with AVX-512 (F, DQ, VL) 8-wide loops (~1.4x the
    AVX2 build), with AVX2 4-wide (~1.5x SSE2), then FLAGS alone (SSE2, any compiler). Never -mfma, and FMA
    contraction is off anyway: the vector width changes the speed, not the numbers. The flags are part of the
    cache key, so a cache shared by different CPUs keeps one build per kind."""
    cpu = ""
    if platform.machine() in ("x86_64", "AMD64"):
        try:
            with open("/proc/cpuinfo") as f:
                cpu = next((line for line in f if line.startswith("flags")), "") + " "
        except OSError:
            pass
    sets = []
    if all(f" {x} " in cpu for x in ("avx512f", "avx512dq", "avx512vl")):
        sets.append(FLAGS + _AVX512)
    if " avx2 " in cpu:
        sets.append(FLAGS + ("-mavx2",))
    return sets + [FLAGS]


_C_TEMPLATE = r"""
#include <stdint.h>
#include <string.h>
#include <math.h>

#define M0 0x%(M0)XU
#define M1 0x%(M1)XU
#define W0 0x%(W0)XU
#define W1 0x%(W1)XU
#define IV0 0x%(IV0)XU
#define IV1 0x%(IV1)XU
#define MANT ((int64_t)0xFFFFFFFFFFFFF)

static const double ATANH_C[%(n_atanh)d] = {%(atanh)s};
static const double SIN_C[%(n_sin)d] = {%(sin)s};
static const double LN2 = %(ln2)s;
#define SQRT_HALF_BITS ((int64_t)0x%(sqrt_half_bits)XLL)
static const double TWO_PI = %(two_pi)s;
static const double TWO_M52 = %(two_m52)s;

unsigned long long toyscale_rng_id(void) { return %(src_id)sULL; }

static inline void philox(uint32_t c[4], uint32_t k0, uint32_t k1)
{
    for (int r = 0; r < 10; r++) {
        if (r) { k0 += W0; k1 += W1; }
        uint64_t p0 = (uint64_t)M0 * c[0], p1 = (uint64_t)M1 * c[2];
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c[1] ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c[3] ^ k1;
        c[0] = n0; c[1] = (uint32_t)p1; c[2] = n2; c[3] = (uint32_t)p0;
    }
}

/* out[i, :] = Philox4x32-10(ctr[i, :], key[i, :]) for 32-bit words held in int64. */
void toyscale_rng_philox(int64_t n, const int64_t *ctr, const int64_t *key, int64_t *out)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t c[4] = {(uint32_t)ctr[4 * i], (uint32_t)ctr[4 * i + 1], (uint32_t)ctr[4 * i + 2],
                         (uint32_t)ctr[4 * i + 3]};
        philox(c, (uint32_t)key[2 * i], (uint32_t)key[2 * i + 1]);
        for (int k = 0; k < 4; k++) out[4 * i + k] = c[k];
    }
}

/* k0, k1 [E] of (seeds[e], role, *keys[e, :n]): the cascade of _rng.derive_key. */
void toyscale_rng_key(int64_t E, int64_t n, const int64_t *seeds, int64_t role, const int64_t *keys,
                      int64_t *k0, int64_t *k1)
{
    for (int64_t e = 0; e < E; e++) {
        uint32_t a = IV0, b = IV1;
        for (int64_t j = 0; j <= n; j++) {
            uint64_t x = (uint64_t)(j ? keys[e * n + j - 1] : seeds[e]);
            uint32_t c[4] = {(uint32_t)x, (uint32_t)(x >> 32), (uint32_t)(j ? j : role), (uint32_t)n};
            philox(c, a, b);
            a = c[0]; b = c[1];
        }
        k0[e] = a; k1[e] = b;
    }
}

/* Exact int -> double conversions without cvtsi2sd (so that the loops vectorise on SSE2/AVX2): for
   0 <= v < 2**52, the double with bits 0x4330000000000000 | v is 2**52 + v, and subtracting 2**52 is exact. */
static inline double u52_to_double(int64_t v)
{
    int64_t b = v | (int64_t)0x4330000000000000; double d; memcpy(&d, &b, 8); return d - 0x1p52;
}

static inline double to_unit(int64_t m) { double x = u52_to_double(m); x = x + 0.5; return x * TWO_M52; }

static inline double horner(double x, const double *c, int n)
{
    double p = c[n - 1];
    for (int k = n - 2; k >= 0; k--) { p = p * x; p = p + c[k]; }
    return p;
}

static inline double neg2log(double u)
{
    int64_t bits; memcpy(&bits, &u, 8);
    int64_t e = (bits >> 52) - 1022;
    int64_t mbits = (bits & MANT) | ((int64_t)1022 << 52);
    int64_t small = mbits < SQRT_HALF_BITS;          /* m < sqrt(1/2) (positive doubles order as integers) */
    mbits = mbits + (small << 52);                   /* m * 2, exactly: no branch, so the loop vectorises */
    double m; memcpy(&m, &mbits, 8);
    e = e - small;                                   /* e in [-52, 0] */
    double f = m - 1.0;
    double s = f / (f + 2.0);
    double p = horner(s * s, ATANH_C, %(n_atanh)d);
    double lg = s * 2.0;
    lg = lg * p;
    lg = lg + (u52_to_double(e + 64) - 64.0) * LN2;  /* (double)e, exactly */
    return lg * -2.0;
}

#define CH 128

/* rows r = 0..R-1, blocks 0..nb-1 of stream (k0[r], k1[r], counter t[r]) into out[r, 0 .. 2nb-1]
   (float64 if f32 == 0, float32 otherwise). Integer rounds, then the float ops, over chunks of CH blocks. */
void toyscale_rng_draw(int normal, int f32, void *out, int64_t R, int64_t nb,
                       const int64_t *k0, const int64_t *k1, const int64_t *t)
{
    int64_t ma[CH], mb[CH];
    double xs[CH], ys[CH];
    for (int64_t r = 0; r < R; r++) {
        uint32_t ka = (uint32_t)k0[r], kb = (uint32_t)k1[r];
        uint64_t tr = (uint64_t)t[r];
        uint32_t t0 = (uint32_t)tr, t1 = (uint32_t)(tr >> 32);
        for (int64_t j0 = 0; j0 < nb; j0 += CH) {
            int n = (int)(nb - j0 < CH ? nb - j0 : CH);
            for (int i = 0; i < n; i++) {
                uint64_t j = (uint64_t)(j0 + i);
                uint32_t c[4] = {(uint32_t)j, (uint32_t)(j >> 32), t0, t1};
                philox(c, ka, kb);
                ma[i] = ((int64_t)(c[0] >> 6) << 26) | (int64_t)(c[1] >> 6);
                mb[i] = ((int64_t)(c[2] >> 6) << 26) | (int64_t)(c[3] >> 6);
            }
            if (normal) {
                for (int i = 0; i < n; i++) {                /* r = sqrt(-2 ln u1) */
                    xs[i] = sqrt(neg2log(to_unit(ma[i])));
                }
                for (int i = 0; i < n; i++) {                /* (cos, sin) 2 pi u2 on the nearest quarter turn */
                    int64_t q = (mb[i] + ((int64_t)1 << 49)) >> 50;
                    double x = u52_to_double(mb[i] - (q << 50) + ((int64_t)1 << 51)) - 0x1p51;
                    x = x + 0.5; x = x * TWO_M52;
                    double th = x * TWO_PI;
                    double sn = horner(th * th, SIN_C, %(n_sin)d);
                    sn = sn * th;
                    double cs = sqrt(1.0 - sn * sn);
                    int64_t qm = q & 3;
                    double cc = (qm & 1) ? sn : cs, ss = (qm & 1) ? cs : sn;
                    cc = (((qm + 1) >> 1) & 1) ? -cc : cc;
                    ss = (qm >> 1) ? -ss : ss;
                    double rr = xs[i];
                    xs[i] = cc * rr; ys[i] = ss * rr;
                }
            } else {
                for (int i = 0; i < n; i++) { xs[i] = to_unit(ma[i]); ys[i] = to_unit(mb[i]); }
            }
            if (f32) {
                float *o = (float *)out + r * 2 * nb + 2 * j0;
                for (int i = 0; i < n; i++) { o[2 * i] = (float)xs[i]; o[2 * i + 1] = (float)ys[i]; }
            } else {
                double *o = (double *)out + r * 2 * nb + 2 * j0;
                for (int i = 0; i < n; i++) { o[2 * i] = xs[i]; o[2 * i + 1] = ys[i]; }
            }
        }
    }
}
"""


def _source(flags: tuple[str, ...] = FLAGS) -> tuple[str, str]:
    """(C source, its hash with the compiler flags) from `_rng`'s constants."""
    from simulators import _rng
    h = float.hex
    vals = dict(M0=_rng.PHILOX_M0, M1=_rng.PHILOX_M1, W0=_rng.PHILOX_W0, W1=_rng.PHILOX_W1,
                IV0=_rng.KEY_IV[0], IV1=_rng.KEY_IV[1], n_atanh=len(_rng._ATANH_C), n_sin=len(_rng._SIN_C),
                atanh=", ".join(map(h, _rng._ATANH_C)), sin=", ".join(map(h, _rng._SIN_C)),
                ln2=h(_rng._LN2), two_pi=h(_rng._TWO_PI), two_m52=h(2.0 ** -52),
                sqrt_half_bits=struct.unpack("<q", struct.pack("<d", _rng._SQRT_HALF))[0])
    assert _rng.ROUNDS == 10
    digest = hashlib.sha256((_C_TEMPLATE % dict(vals, src_id="0") + "\0".join(flags) + platform.machine())
                            .encode()).hexdigest()[:16]
    return _C_TEMPLATE % dict(vals, src_id="0x" + digest), digest


def cache_dir() -> str:
    d = os.environ.get("TOYSCALE_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "toyscale")
    try:
        os.makedirs(d, exist_ok=True)
        if os.access(d, os.W_OK | os.X_OK):
            return d
    except OSError:
        pass
    d = os.path.join(tempfile.gettempdir(), f"toyscale-{os.getuid() if hasattr(os, 'getuid') else 'user'}")
    os.makedirs(d, exist_ok=True)
    return d


def compiler() -> str | None:
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or (cc if os.path.isfile(cc) else None)
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _build(src: str, so_path: str, cc: str, flags: tuple[str, ...]) -> None:
    tmp = tempfile.mkdtemp(prefix="build-", dir=os.path.dirname(so_path))
    try:
        c_path, out = os.path.join(tmp, "rng_native.c"), os.path.join(tmp, "rng_native.so")
        with open(c_path, "w") as f:
            f.write(src)
        subprocess.run([cc, *flags, "-o", out, c_path, "-lm"], check=True, capture_output=True, timeout=120)
        with open(out + ".sha256", "w") as f:
            f.write(_sha256(out))
        os.replace(out, so_path)                      # atomic: readers see the old file or the whole new one,
        os.replace(out + ".sha256", so_path + ".sha256")    # and load only a file that matches its checksum
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _open(so_path: str, digest: str):
    """Load a cached library whose bytes match the checksum written beside it (dlopen of a truncated ELF can
    crash the process with SIGBUS, so a partial file must never reach it)."""
    try:
        with open(so_path + ".sha256") as f:
            want = f.read().strip()
    except OSError:
        raise OSError("no checksum") from None
    if _sha256(so_path) != want:
        raise OSError("checksum mismatch")
    lib = ctypes.CDLL(so_path)
    lib.toyscale_rng_id.restype = ctypes.c_ulonglong
    if lib.toyscale_rng_id() != int(digest, 16):
        raise OSError("stale shared object")
    i64, p = ctypes.c_int64, ctypes.c_void_p
    lib.toyscale_rng_draw.argtypes = [ctypes.c_int, ctypes.c_int, p, i64, i64, p, p, p]
    lib.toyscale_rng_draw.restype = None
    lib.toyscale_rng_key.argtypes = [i64, i64, p, i64, p, p, p]
    lib.toyscale_rng_key.restype = None
    lib.toyscale_rng_philox.argtypes = [i64, p, p, p]
    lib.toyscale_rng_philox.restype = None
    return lib


_STATE: dict = {}


def status() -> str:
    """Why the native path is on or off in this process ('native: <path>' or 'eager: <reason>')."""
    load()
    return _STATE["status"]


def load():
    """The loaded library, or None (eager path); decided once per process (see the module docstring)."""
    if "lib" in _STATE:
        return _STATE["lib"]
    lib, why = None, ""
    if os.environ.get("TOYSCALE_RNG_NATIVE", "1") == "0":
        why = "eager: TOYSCALE_RNG_NATIVE=0"
    elif sys.platform == "win32":
        why = "eager: no native build on Windows"
    else:
        try:
            lib, why = _load_or_build()
        except Exception as exc:                            # noqa: BLE001 - any failure: the eager path
            lib, why = None, f"eager: native build failed ({type(exc).__name__}: {str(exc)[:200]})"
    _STATE["lib"], _STATE["status"] = lib, why
    if lib is not None and not _self_check():
        _STATE["lib"], _STATE["status"] = None, "eager: native self-check differed from the eager path"
        warnings.warn("toyscale: the native Philox path differs from the eager one on this machine; using eager "
                      "torch ops (same numbers, slower)", RuntimeWarning, stacklevel=2)
    return _STATE["lib"]


def _load_or_build():
    """(lib, status) from the first flag set whose cached build loads, else the first that builds and loads."""
    sets = flag_sets()
    d = cache_dir()
    paths = []
    for fl in sets:                                     # a good cached build of any flag set: no compiler needed
        src, digest = _source(fl)
        so_path = os.path.join(d, f"rng_native-{digest}.so")
        paths.append((fl, src, digest, so_path))
        try:
            return _open(so_path, digest), f"native: {so_path}"
        except (OSError, AttributeError):
            pass
    cc = compiler()
    if cc is None:
        return None, "eager: no C compiler (set CC)"
    errors = []
    for fl, src, digest, so_path in paths:
        try:
            try:
                os.unlink(so_path)                      # corrupt, partial or stale: rebuilt
            except FileNotFoundError:
                pass
            _build(src, so_path, cc, fl)
            return _open(so_path, digest), f"native: {so_path}"
        except (OSError, AttributeError, subprocess.SubprocessError) as exc:
            msg = exc.stderr.decode(errors="replace").strip().splitlines() if getattr(exc, "stderr", None) else []
            errors.append(f"{type(exc).__name__}: {(msg[-1] if msg else str(exc))[:160]}")
    return None, "eager: native build failed (" + "; ".join(errors) + ")"


def _self_check() -> bool:
    import torch
    from simulators import _rng
    key = _rng.derive_key([3, 2 ** 40 + 7], 5, [(1, 2 ** 33), (0, 9)])
    ek = _rng._derive_key_eager(torch.tensor([3, 2 ** 40 + 7]), 5, torch.tensor([(1, 2 ** 33), (0, 9)]))
    if not (torch.equal(key[0], ek[0]) and torch.equal(key[1], ek[1])):
        return False
    t = torch.tensor([2 ** 32 + 5, 0])
    for kind in ("normal", "uniform"):
        for dtype in (torch.float64, torch.float32):
            a = _rng._draw(kind, key, (301,), t, 2, dtype)
            b = _rng._draw(kind, key, (301,), t, 2, dtype, native=False)
            if not torch.equal(a, b):
                return False
    return True
