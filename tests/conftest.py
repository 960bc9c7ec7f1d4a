"""Shared test configuration: environment, hypothesis profiles, markers, the interpreter fixture.

The environment is fixed here before triton is imported by any test module: OPENBLAS_NUM_THREADS=1 (the
numpy/torch thread-pool fight, FEASIBILITY.md), MPLBACKEND=Agg, and TRITON_INTERPRET=1 (kernels run on CPU
tensors in the interpreter) ONLY when torch sees no CUDA device. With CUDA the compiled, autotuned kernels are
left alone, so the `gpu` tests test them (they fail, not skip, if the interpreter is forced on there); the
interpreter tests (`triton_interpreter` fixture) then skip with the reason, their checks being the gpu tests'.
An explicit TRITON_INTERPRET in the environment is respected either way.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("TOYSCALE_BACKEND", None)  # tests choose backends explicitly


def _cuda_present() -> bool:
    """torch.cuda.is_available(): the predicate the kernels' backend and the gpu marker use. Importing torch
    here costs ~1 s once, which the first test module pays anyway; cheaper proxies (/dev/nvidia0, nvidia-smi,
    CUDA_VISIBLE_DEVICES) disagree with torch for a CPU-only torch on a GPU box or a container without the
    driver. torch does not import triton, so TRITON_INTERPRET can still be set after this."""
    import torch

    return torch.cuda.is_available()


CUDA_PRESENT = _cuda_present()
if not CUDA_PRESENT:
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# Hypothesis seed rule (README "Tests"): the "ci" profile (default) is reproducible per commit yet explores new
# examples from commit to commit. The seed is TOYSCALE_HYPOTHESIS_SEED if set, else the first 8 hex digits of
# the commit under test ($GITHUB_SHA / $CI_COMMIT_SHA, else `git rev-parse HEAD`), else 0; an explicit
# `pytest --hypothesis-seed=N` overrides it. No example database in CI (a run depends on the seed only).
# "dev" draws fresh random examples every run. Pure-theory properties ask for >= THEORY_EXAMPLES examples.
def _commit_seed() -> int:
    env = os.environ.get("TOYSCALE_HYPOTHESIS_SEED")
    if env:
        return int(env, 0)
    sha = os.environ.get("GITHUB_SHA") or os.environ.get("CI_COMMIT_SHA")
    if not sha:
        import subprocess

        try:
            sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=os.path.dirname(__file__), capture_output=True,
                                 text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            sha = ""
    try:
        return int(sha[:8], 16)
    except ValueError:
        return 0


HYPOTHESIS_SEED = _commit_seed()
settings.register_profile(
    "ci", derandomize=False, database=None, deadline=None, print_blob=True, max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
if settings.get_current_profile_name() == "ci":
    import hypothesis.core

    hypothesis.core.global_force_seed = HYPOTHESIS_SEED   # the plugin's --hypothesis-seed, set later, wins


def pytest_report_header(config):
    return f"hypothesis: profile {settings.get_current_profile_name()!r}, commit-derived seed {HYPOTHESIS_SEED} " \
           "(set TOYSCALE_HYPOTHESIS_SEED or --hypothesis-seed to change it)"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a statistical or end-to-end test taking more than ~10 s")
    config.addinivalue_line("markers", "gpu: needs a CUDA device (skips with a reason when absent)")


def pytest_collection_modifyitems(config, items):
    if CUDA_PRESENT:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The whole suite runs torch on one thread. Why: on the 2-core CI box two OpenMP threads spin-wait for
    each other whenever anything else runs (measured: a 150-step superposition smoke training 55 s with 2
    threads next to one busy process vs 1.2 s with 1; a lottery sweep > 5 min of CPU vs 20 s), and the
    tests' tensors are small. Session scope also covers module-scoped fixtures."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def triton_interpreter():
    """Skip (with the reason) when triton is not installed; otherwise the kernels run in the interpreter."""
    from kernels._backend import interpreting, triton_available

    ok, why = triton_available()
    if not ok:
        pytest.skip(why)
    if CUDA_PRESENT and not interpreting():
        pytest.skip("CUDA present: the compiled kernels run instead of the interpreter; the gpu-marked tests "
                    "(tests/kernels/test_bmm_epilogue_gpu.py) make these checks on them")
    assert interpreting(), "TRITON_INTERPRET must be set before triton is imported"
    return True
