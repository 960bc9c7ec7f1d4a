"""The random-stream version (`simulators._rng.RNG_VERSION`) is recorded with every stored point and enters
its key; a run dir holding points drawn with other streams is refused with one clear line (exit 2), with or
without --resume, and nothing is added to it. `toyscale report` still re-fits such a dir from its own points."""
import hashlib
import json
import sqlite3

import pytest

from simulators._rng import RNG_VERSION
from simulators.harness import ConfigError, run_experiment
from simulators.harness.cli import main
from simulators.harness.store import canonical, point_key

EXP = "synthetic.power_law"


def _rows(d):
    con = sqlite3.connect(d / "results.sqlite")
    return con.execute("SELECT key, experiment, config, point, dtype, versions FROM points").fetchall()


def _rewrite_as(d, rng):
    """Turn a run dir into one written by a toyscale with random streams `rng` (None: from before the rng
    version was recorded: no `rng` entry, keys of (experiment, config, point, dtype))."""
    con = sqlite3.connect(d / "results.sqlite")
    with con:
        for key, exp, cfg, point, dtype, ver in _rows(d):
            v = json.loads(ver)
            v.pop("rng")
            if rng is not None:
                v["rng"] = rng
            parts = [exp, json.loads(cfg), json.loads(point), dtype] + ([rng] if rng is not None else [])
            new = hashlib.sha1(canonical(parts).encode()).hexdigest()
            con.execute("UPDATE points SET key = ?, versions = ? WHERE key = ?", (new, canonical(v), key))
    con.close()


def test_every_point_records_the_rng_version_and_it_enters_the_key(tmp_path):
    res = run_experiment(EXP, "smoke", out=tmp_path / "a", device="cpu")
    rows = _rows(tmp_path / "a")
    assert rows and all(json.loads(r[5])["rng"] == RNG_VERSION for r in rows)
    assert res.report["versions"]["rng"] == RNG_VERSION                     # and the report says so
    key, _, _, point, dtype, _ = rows[0]
    p, cfg = json.loads(point), res.config
    assert point_key(EXP, cfg, p, dtype) == key
    assert key != point_key(EXP, cfg, p, dtype, rng="philox4x32-10/0")
    assert point_key(EXP, cfg, p, dtype, rng=None) == hashlib.sha1(canonical([EXP, cfg, p, dtype]).encode()).hexdigest()


@pytest.mark.parametrize("old", [None, "philox4x32-10/0"])
def test_a_store_with_other_streams_is_refused_with_one_line(tmp_path, capsys, old):
    d = tmp_path / "r"
    assert main(["run", EXP, "--scale", "smoke", "--out", str(d), "--no-progress"]) == 0
    _rewrite_as(d, old)
    before = _rows(d)
    capsys.readouterr()
    for extra in (["--resume"], []):
        assert main(["run", EXP, "--scale", "smoke", "--out", str(d), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "random streams" in err and RNG_VERSION in err, err
        assert ("pre-Philox" in err) if old is None else (old in err)
    assert _rows(d) == before                                             # nothing added, nothing changed
    with pytest.raises(ConfigError, match="random streams"):
        run_experiment(EXP, "smoke", out=d, device="cpu", resume=True)
    # the old dir still reports from its own points (re-fit, no simulation)
    assert main(["report", str(d)]) == 0


def test_resume_on_a_store_of_the_current_streams_still_works(tmp_path):
    run_experiment(EXP, "smoke", out=tmp_path / "r", device="cpu")
    res = run_experiment(EXP, "smoke", out=tmp_path / "r", device="cpu", resume=True)
    assert res.computed == 0 and res.reused == len(res.records) > 0
