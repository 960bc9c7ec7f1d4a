"""Ahead-of-time compilation of every Triton kernel for real GPU targets, on a machine without a GPU (issue 13, §4).

`triton.compile(ASTSource(...), target=GPUTarget("cuda", cc, 32))` runs the whole GPU pipeline
(ttir → ttgir → llir → ptx → cubin, ptxas included) without a driver. It catches what the interpreter cannot:
dot tiles under 16, shared memory over the device limit, dtype combinations the backend rejects.

What is compiled, derived from the code (nothing re-typed here):
- **Launch variants**: the public dispatcher's tables (`kernels.bmm_epilogue.DTYPES` × `ACTIVATIONS`) × bias
  on/off × forward-only / forward+backward × TF32 allowed or not, plus every other floating `out_dtype`, are
  driven through the real wrapper and autograd Function (`bmm_epilogue_triton`, `BmmEpilogueFunction`) with
  the kernel replaced by a recorder. Each recorded launch is specialised exactly as Triton's launcher would
  specialise it (the JIT's own binder: pointer dtypes, 16-divisibility, stride-1 constants) and deduplicated:
  every distinct (signature, constexprs, attributes) the code can launch at a 64³ problem — forward with and
  without the stored pre-activation, backward on transposed views, fp32 with TF32 and IEEE dot, fp64.
- **Autotune configs**: `_autotune_configs()`, the list the autotuner is built from.
- **Targets**: sm_80 (A100, 163 KB = 166,912 B of shared memory per block) and sm_90 (H100, 227 KB = 232,448 B).

Every launch variant × config × target would be ~1,000 compiles (1–5 s each here). Measured once on this
CPU: a kernel's shared memory depends only on (config, accumulation path, target), not on the epilogue
(bias, activation, stored pre-activation, output dtype: identical `.metadata.shared` for all five epilogues
tried at 128×128×32 on both targets and all three paths). So the rows below cover **every (config, target,
path) cell** — the shared-memory check is exhaustive — and **every launch variant at least once**, assigned to
the cells round-robin within its path (about 80 compiles). `TOYSCALE_AOT_FULL=1` compiles the full product.
Compiled kernels land in Triton's on-disk cache (`TRITON_CACHE_DIR`, default ~/.triton/cache), so a rerun or
a CI job that keeps that folder costs seconds; the session fixture compiles each row once, in a subprocess
without TRITON_INTERPRET (triton imported in interpreter mode builds its own library for the interpreter and
its code generator then fails on some configs).

Not covered: launches with a size equal to 1 (Triton then specialises that size to a constant, e.g. the
lottery's K = 1 first layer); they are the same code with a trip count fixed, compiled on the GPU at first use.
"""
from __future__ import annotations

import contextlib
import importlib
import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

triton = pytest.importorskip("triton", reason="triton is not installed (the [gpu] extra); nothing to compile")

from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource, make_backend  # noqa: E402
from triton.runtime.jit import JITFunction, create_function_from_signature  # noqa: E402

import kernels._bmm_epilogue_triton as kt  # noqa: E402
kb = importlib.import_module("kernels.bmm_epilogue")  # the module (the package re-exports the function's name)

pytestmark = pytest.mark.slow

SHARED_LIMIT = {80: 166912, 90: 232448}          # bytes of shared memory per block: sm_80 163 KB, sm_90 227 KB
TARGETS = {cc: GPUTarget("cuda", cc, 32) for cc in SHARED_LIMIT}
OUT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)  # floating outputs the dispatcher accepts
_SHAPE = (2, 64, 64, 64)                         # E, M, N, K: sizes divisible by 16, like paper-scale launches


def jit_function(kernel) -> JITFunction:
    """The compilable JITFunction behind a @triton.jit kernel (under TRITON_INTERPRET=1 it is wrapped)."""
    return kernel if isinstance(kernel, JITFunction) else JITFunction(kernel.fn)


KERNELS = {"bmm_epilogue": jit_function(kt._bmm_epilogue_kernel)}
CONFIGS = {"bmm_epilogue": kt._autotune_configs()}
BLOCK_KEYS = {k for c in CONFIGS["bmm_epilogue"] for k in c.kwargs}


@contextlib.contextmanager
def _recording(calls: list):
    """Replace the kernel (and the autotuner) by a recorder of (args, meta); the wrapper believes it may launch."""
    class Recorder:
        def __getitem__(self, grid):
            return lambda *args, **meta: calls.append((args, meta))

    saved = (kt._bmm_epilogue_kernel, kt._tuned, kt.interpreting, torch.backends.cuda.matmul.allow_tf32)
    kt._bmm_epilogue_kernel, kt._tuned, kt.interpreting = Recorder(), None, lambda: True
    try:
        yield
    finally:
        kt._bmm_epilogue_kernel, kt._tuned, kt.interpreting, torch.backends.cuda.matmul.allow_tf32 = saved


def recorded_launches() -> list[tuple[tuple, dict, str]]:
    """Every kernel launch the dispatcher's code paths make: (args, meta without block sizes, label)."""
    E, M, N, K = _SHAPE
    out = []
    with _recording(calls := []):
        for dt, act, bias, grad, tf32 in itertools.product(kb.DTYPES, kb.ACTIVATIONS, (False, True), (False, True),
                                                           (False, True)):
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.randn(E, M, K, dtype=dt, requires_grad=grad)
            b = torch.randn(E, K, N, dtype=dt, requires_grad=grad)
            bb = torch.randn(E, N, dtype=dt, requires_grad=grad) if bias else None
            kb._check(a, b, bb, act, None)
            y = kb.BmmEpilogueFunction.apply(a, b, bb, act, None)
            if grad:
                y.sum().backward()
            label = f"{str(dt)[6:]} act={act} bias={bias} grad={grad} tf32={tf32}"
            out += [(args, meta, label) for args, meta in calls]
            calls.clear()
        for dt, od, tf32 in itertools.product(kb.DTYPES, OUT_DTYPES, (False, True)):
            if od == dt:
                continue
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a, b = torch.randn(E, M, K, dtype=dt), torch.randn(E, K, N, dtype=dt)
            kb._check(a, b, None, "gelu", od)
            kb.BmmEpilogueFunction.apply(a, b, torch.randn(E, N, dtype=dt), "gelu", od)
            out += [(args, meta, f"{str(dt)[6:]} out={str(od)[6:]} tf32={tf32}") for args, meta in calls]
            calls.clear()
    return [(args, {k: v for k, v in meta.items() if k not in BLOCK_KEYS}, label) for args, meta, label in out]


def specialise(fn: JITFunction, cc: int, args, meta, config):
    """(signature, constexprs, attrs, options) exactly as Triton's launcher builds them for this launch."""
    backend = make_backend(TARGETS[cc])
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    kw = dict(meta, **config.kwargs, num_warps=config.num_warps, num_stages=config.num_stages)
    bound, spec, opts = binder(*args, **kw)
    options, signature, constexprs, attrs = fn._pack_args(backend, kw, bound, spec, opts)
    return signature, constexprs, attrs, options


def path_of(meta) -> str:
    return "fp64" if meta["FP64"] else ("fp32-ieee" if meta["IEEE"] else "fp32-tf32")


def variants(fn: JITFunction, launches) -> dict[str, list]:
    """Distinct specialised launches, grouped by accumulation path: {path: [(args, meta, label), ...]}."""
    seen, by_path = set(), {}
    probe = CONFIGS["bmm_epilogue"][0]
    for args, meta, label in launches:
        sig, const, attrs, _ = specialise(fn, 80, args, meta, probe)
        key = repr((sig, sorted((k, v) for k, v in const.items() if k[0] < len(fn.params)
                                and fn.params[k[0]].name not in BLOCK_KEYS), sorted(attrs.items())))
        if key not in seen:
            seen.add(key)
            by_path.setdefault(path_of(meta), []).append((args, meta, label))
    return by_path


def plan_rows(by_path, configs, full: bool = False):
    """Rows (path, variant, config index, cc): every (config, target) cell of every path, every variant >= once."""
    rows = []
    cells = [(i, cc) for i in range(len(configs)) for cc in TARGETS]
    for path, vs in sorted(by_path.items()):
        if full:
            rows += [(path, v, i, cc) for v in vs for i, cc in cells]
        else:
            rows += [(path, vs[j % len(vs)], *cells[j % len(cells)]) for j in range(max(len(vs), len(cells)))]
    return rows


def compile_one(fn, cc, args, meta, config):
    signature, constexprs, attrs, options = specialise(fn, cc, args, meta, config)
    return triton.compile(ASTSource(fn, signature, constexprs, attrs), target=TARGETS[cc], options=options.__dict__)


def compile_all(full: bool = False) -> dict:
    """Compile every planned row (threads: Triton's compile is thread-safe, its async-compile mode relies on it)
    plus the negative controls; JSON-able results. Must run in a process where triton was imported WITHOUT
    TRITON_INTERPRET (its own library is then built for the interpreter and the code generator breaks on
    some configs), hence `main()` below, run by the session fixture in a subprocess."""
    fn, configs = KERNELS["bmm_epilogue"], CONFIGS["bmm_epilogue"]
    by_path = variants(fn, recorded_launches())
    rows = plan_rows(by_path, configs, full=full)

    def run(row):
        path, (args, meta, label), i, cc = row
        try:
            return compile_one(fn, cc, args, meta, configs[i]).metadata.shared, None
        except Exception as e:  # noqa: BLE001 - reported per row by the test
            return None, f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as ex:
        results = list(ex.map(run, rows))
    secs = time.perf_counter() - t0
    out = {"seconds": secs, "n_configs": len(configs),
           "rows": [{"path": p, "label": v[2], "config": i, "cc": cc, "shared": shm, "error": err,
                     "ACT": v[1]["ACT"], "HAS_BIAS": v[1]["HAS_BIAS"], "STORE_PRE": v[1]["STORE_PRE"],
                     "out_dtype": str(v[0][3].dtype), "variant": f"{p}/{k}"}
                    for (p, v, i, cc), (shm, err) in zip(rows, results)
                    for k in [next(j for j, w in enumerate(by_path[p]) if w is v)]],
           "variants": {p: len(vs) for p, vs in by_path.items()}}
    f64 = next(v for v in by_path["fp64"] if v[1]["ACT"] == 0)
    tf32 = next(v for v in by_path["fp32-tf32"] if v[1]["ACT"] == 0)
    tiny = triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}, num_warps=3, num_stages=2)
    huge = triton.Config({"BLOCK_M": 256, "BLOCK_N": 256, "BLOCK_K": 64}, num_warps=8, num_stages=3)
    neg = {}
    for tag, (args, meta, _), cfg in (("bad_config", tf32, tiny), ("huge_fp64", f64, huge)):
        try:
            neg[tag] = {"shared": compile_one(fn, 80, args, meta, cfg).metadata.shared, "error": None}
        except Exception as e:  # noqa: BLE001
            neg[tag] = {"shared": None, "error": f"{type(e).__name__}: {str(e)[:300]}"}
    out["negative"] = neg
    return out


def main(path: str) -> None:
    import json

    with open(path, "w") as f:
        json.dump(compile_all(full=os.environ.get("TOYSCALE_AOT_FULL") == "1"), f)


@pytest.fixture(scope="session")
def aot(tmp_path_factory):
    """Compile everything once per session in a fresh interpreter without TRITON_INTERPRET."""
    import json
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("aot") / "aot.json"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); " \
           f"import test_aot_compile as t; t.main({str(out)!r})"
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    assert p.returncode == 0, p.stderr[-3000:]
    res = json.loads(out.read_text())
    print(f"\nAOT: {len(res['rows'])} compiles ({sum(res['variants'].values())} launch variants, "
          f"{res['n_configs']} configs, {len(TARGETS)} targets): {res['seconds']:.1f} s compiling, "
          f"{time.perf_counter() - t0:.1f} s in all")
    return res


def _describe(r, configs):
    c = configs[r["config"]]
    return f"sm_{r['cc']} {r['path']} [{r['label']}] config {c.kwargs} warps={c.num_warps} stages={c.num_stages}"


def test_every_variant_and_config_compiles_for_sm80_and_sm90(aot):
    configs = CONFIGS["bmm_epilogue"]
    bad = [f"{_describe(r, configs)}: {r['error']}" for r in aot["rows"] if r["error"]]
    assert not bad, f"{len(bad)} of {len(aot['rows'])} compiles failed:\n" + "\n".join(bad[:20])


def test_shared_memory_within_target_limit(aot):
    configs = CONFIGS["bmm_epilogue"]
    ok = [r for r in aot["rows"] if r["error"] is None]
    over = [f"{_describe(r, configs)}: {r['shared']} B > {SHARED_LIMIT[r['cc']]} B" for r in ok
            if r["shared"] > SHARED_LIMIT[r["cc"]]]
    assert not over, "configs over the shared-memory limit (drop or guard them in _autotune_configs):\n" + "\n".join(over)
    assert ok and max(r["shared"] for r in ok) > 0


def test_rows_cover_every_cell_and_every_variant(aot):
    """The plan itself: every (path, config, target) cell compiled, every launch variant compiled, and the
    recorded variants span the dispatcher's whole table (so a new dtype/activation/config is picked up)."""
    rows, n_cfg = aot["rows"], len(CONFIGS["bmm_epilogue"])
    assert aot["n_configs"] == n_cfg
    cells = {(r["path"], r["config"], r["cc"]) for r in rows}
    assert cells == {(p, i, cc) for p in ("fp32-tf32", "fp32-ieee", "fp64") for i in range(n_cfg) for cc in TARGETS}
    assert {r["variant"] for r in rows} == {f"{p}/{k}" for p, n in aot["variants"].items() for k in range(n)}
    assert {r["ACT"] for r in rows} == set(kt._ACT_CODES.values())
    assert {(r["HAS_BIAS"], r["STORE_PRE"]) for r in rows} == {(False, False), (True, False), (False, True), (True, True)}
    assert {r["out_dtype"] for r in rows} == {str(d) for d in OUT_DTYPES}


def test_compile_check_can_fail(aot):
    """Negative controls through the same path: a config the GPU backend refuses must come back as an error
    (num_warps = 3; triton 3.9 no longer rejects tl.dot tiles under 16 — it lowers 8x8 fp32/TF32 and fp64 dots
    to FMA, measured here — so that is not a usable control any more), and an oversized fp64 config must report shared memory over the sm_80 limit
    (or be refused for it)."""
    tiny, huge = aot["negative"]["bad_config"], aot["negative"]["huge_fp64"]
    assert tiny["error"] is not None, tiny
    assert (huge["shared"] or 0) > SHARED_LIMIT[80] or "resource" in (huge["error"] or "").lower() \
        or "shared" in (huge["error"] or "").lower(), huge
