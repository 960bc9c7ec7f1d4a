"""tests/conftest.py leaves the compiled Triton path alone when CUDA is present (issue 13, §5).

Run in a fresh interpreter (the env var must be decided before triton is imported), with
torch.cuda.is_available stubbed to each answer: TRITON_INTERPRET is set to 1 without CUDA, left unset with it,
and a value the user set is kept either way."""
import os
import subprocess
import sys

import pytest

CONFTEST = os.path.join(os.path.dirname(os.path.dirname(__file__)), "conftest.py")
PROBE = ("import torch, runpy, os; torch.cuda.is_available = lambda: {cuda}; "
         "runpy.run_path({path!r}); print(repr(os.environ.get('TRITON_INTERPRET')))")


def _interpret_after_conftest(cuda: bool, preset: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if preset is not None:
        env["TRITON_INTERPRET"] = preset
    out = subprocess.run([sys.executable, "-c", PROBE.format(cuda=cuda, path=CONFTEST)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("cuda,preset,want", [
    (False, None, "'1'"),          # no GPU: kernels run in the interpreter
    (True, None, "None"),          # GPU: compiled, autotuned kernels (the gpu tests test them)
    (True, "1", "'1'"),            # the user's explicit choice is kept (the gpu tests then fail loudly)
    (False, "0", "'0'"),
])
def test_conftest_sets_interpreter_only_without_cuda(cuda, preset, want):
    assert _interpret_after_conftest(cuda, preset) == want
