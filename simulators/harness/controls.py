"""Verdict margins and negative controls for a family's comparison rows.

A PASS is evidence only if (a) it sits inside its tolerance by several standard errors (so another draw of the
seeds would not flip it) and (b) a nearby wrong theory, held against the same measurement, FAILS (so the verdict
can fail at all). This module measures both from stored results, without a second simulation:

    from simulators.harness import run_experiment
    from simulators.harness import controls

    res = run_experiment("rf.time", scale="smoke", overrides={"seeds": 16}, out="runs/x")
    row = controls.row(res.report["rows"], "loss (gradient flow")
    controls.margin_se(row)                                     # > 0: inside the tolerance, in bootstrap SEs
    wrong = controls.shifted_row("rf.time", "smoke", {"seeds": 16}, res.records,
                                 "simulators.random_features.experiments", "loss (gradient flow", delta=0.1)
    controls.margin_se(wrong)                                   # < 0: outside (a FAIL), in SEs

`shifted_row` re-runs the family's `analyze` on the same records with the theory of the rows named `prefix` shifted
by δ: the asymptotic exponent AND the theory curve's slope over the fit window (i.e. the curve times x^-δ). It does
so by wrapping the `compare` that the family's experiment module calls (patched for the duration of the call only),
and checks that the re-analysis kept the measured exponent (same records, same fit). The tests of
`tests/test_e2e_*.py` use these functions with the rule: PASS rows >= 4 SE inside, shifted theories >= 3 SE outside.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib
import math
from typing import Any, Iterable, Mapping

__all__ = ["row", "stderr", "target", "margin_se", "shifted_theory", "reanalyse", "shifted_row",
           "require_pass", "require_fail"]


def _plain(r: Any) -> dict:
    return r if isinstance(r, dict) else r.to_json()


def row(rows: Iterable[Any], prefix: str) -> dict:
    """The one row whose quantity equals `prefix`, else the one that starts with it (AssertionError otherwise)."""
    rows = [_plain(r) for r in rows]
    hits = [r for r in rows if r["quantity"] == prefix] or [r for r in rows if r["quantity"].startswith(prefix)]
    if len(hits) != 1:
        raise AssertionError(f"{len(hits)} rows match {prefix!r}: {[r['quantity'] for r in rows]}")
    return hits[0]


def stderr(r: Mapping) -> float:
    """The bootstrap standard error implied by the row's 95% interval: (hi − lo) / (2 · 1.96)."""
    lo, hi = r["ci95"]
    return (hi - lo) / (2 * 1.96)


def target(r: Mapping) -> float:
    """What the verdict holds the measurement against: the theory curve's window slope if given, else the exponent."""
    return r["theory_window_slope"] if r["theory_window_slope"] is not None else r["theory_exponent"]


def margin_se(r: Mapping) -> float:
    """(tolerance − |measured − target|) / stderr: positive inside the tolerance, negative outside, in SEs."""
    m = r["tolerance"] - abs(r["measured_exponent"] - target(r))
    se = stderr(r)
    if se > 0:
        return m / se
    return math.copysign(math.inf, m) if m else 0.0


def require_pass(r: Mapping, k: float) -> float:
    """Assert the row PASSES with its measurement >= k SEs inside the tolerance; return the margin in SEs."""
    z = margin_se(r)
    if not (r["pass"] and z >= k):
        raise AssertionError(f"expected PASS by >= {k} SE, got pass={r['pass']} at {z:.2f} SE: {dict(r)}")
    return z


def require_fail(r: Mapping, k: float) -> float:
    """Assert the row FAILS with its measurement >= k SEs outside the tolerance; return that distance in SEs."""
    z = -margin_se(r)
    if not (not r["pass"] and z >= k):
        raise AssertionError(f"expected FAIL by >= {k} SE, got pass={r['pass']} at {z:.2f} SE outside: {dict(r)}")
    return z


@contextlib.contextmanager
def shifted_theory(module: str, prefix: str, delta: float):
    """Within the block, `module.compare` shifts the theory of rows whose quantity starts with `prefix` by δ."""
    mod = importlib.import_module(module)
    real = mod.compare

    def shifted(fit, prediction, **kw):
        if prediction is not None and kw["quantity"].startswith(prefix):
            prediction = dataclasses.replace(prediction, value=prediction.value + delta)
            if kw.get("theory_window_slope") is not None:
                kw["theory_window_slope"] = kw["theory_window_slope"] + delta
        return real(fit, prediction, **kw)

    mod.compare = shifted
    try:
        yield
    finally:
        mod.compare = real


def reanalyse(name: str, scale: str, overrides: Mapping, records) -> list[dict]:
    """The rows of experiment `name` analysed afresh from stored `records` (no simulation)."""
    from . import get_experiment

    exp = get_experiment(name)
    return [_plain(r) for r in exp.analyze(exp.config(scale, dict(overrides)), records).rows]


def shifted_row(name: str, scale: str, overrides: Mapping, records, module: str, prefix: str,
                delta: float, base_rows: Iterable[Any] | None = None) -> dict:
    """The row named `prefix` re-analysed from `records` with its theory shifted by δ (see `shifted_theory`).

    `base_rows` (e.g. the run's `report["rows"]`) saves the unshifted re-analysis the consistency checks compare with.
    """
    base = row(base_rows if base_rows is not None else reanalyse(name, scale, overrides, records), prefix)
    with shifted_theory(module, prefix, delta):
        out = row(reanalyse(name, scale, overrides, records), prefix)
    if not math.isclose(out["theory_exponent"], base["theory_exponent"] + delta, rel_tol=1e-9, abs_tol=1e-12):
        raise AssertionError(f"the shift did not reach the row: {base['theory_exponent']} -> {out['theory_exponent']}")
    if not math.isclose(out["measured_exponent"], base["measured_exponent"], rel_tol=1e-9, abs_tol=1e-12):
        raise AssertionError("the re-analysis changed the measured exponent (same records must give the same fit)")
    return out
