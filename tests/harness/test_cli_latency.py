"""Issue 15: `--help`, `list` and refusals answer without importing torch (static index), well under a second;
the committed index matches the registry (regenerate with the command in the failure message)."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulators.harness import index

ROOT = Path(__file__).resolve().parents[2]
STALE = (f"simulators/harness/experiments_index.json is stale (a config, an experiment or FAMILY_MODULES "
         f"changed); regenerate it with: {index.REGENERATE}")


def test_committed_index_matches_the_registry():
    assert index.load() is not None, STALE
    assert index.render(index.build()) == index.INDEX_PATH.read_text(), STALE


def test_index_presets_rebuild_the_registry_configs_from_torch_free_modules():
    """The CLI validates `--set` through `index.make_config` (the config class the index names, imported alone):
    every preset must rebuild exactly the registry's config, and no config module may import torch."""
    idx = index.load()
    assert idx is not None, STALE
    assert index.check_presets(idx) == []


PROBE = r"""
import json, sys
from contextlib import redirect_stderr, redirect_stdout
import io
from simulators.harness.cli import main
cases = [["list"], ["run", "synthetic.power_law", "--set", "bogus=1"], ["run", "synthetic.power_law", "--set", "n_sizes=abc"],
         ["run", "superposition.strong", "--set", "widths=(4,1e999)"], ["run", "no.such"], ["reproduce", "--only", "bogus"],
         ["run", "synthetic.power_law", "--scale", "huge"], ["run", "synthetic.power_law", "--out", ""],
         ["run", "synthetic.power_law", "--threads", "100000"], ["--help"]]
codes = []
for c in cases:
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
        codes.append(main(c))
print(json.dumps({"codes": codes, "torch": "torch" in sys.modules, "numpy": "numpy" in sys.modules}))
"""


def test_fast_paths_do_not_import_torch():
    """Deterministic form of the latency target: importing torch alone takes ~2 s on this machine, so a path
    that never imports it cannot be the 3.6-6.5 s `list` of the issue."""
    if index.load() is None:
        pytest.fail(STALE)
    p = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["codes"] == [0, 2, 2, 2, 2, 2, 2, 2, 2, 0]
    assert not res["torch"] and not res["numpy"]


@pytest.mark.parametrize("args", [["--help"], ["list"], ["run", "synthetic.power_law", "--set", "bogus=1"]])
def test_console_answers_under_the_generous_bound(args):
    """Bound 3 s for a fresh process (measured ~0.2 s here; the registry path it replaces takes 3.6-6.5 s, and
    3 s stays below it even on a loaded machine)."""
    if index.load() is None:
        pytest.fail(STALE)
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "simulators.harness.cli", *args], cwd=ROOT, capture_output=True,
                       text=True)
    wall = time.perf_counter() - t0
    assert p.returncode == (2 if "bogus=1" in args else 0) and "Traceback" not in p.stderr
    assert wall < 3.0, f"{args}: {wall:.2f} s"
