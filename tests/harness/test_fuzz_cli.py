"""Issue 15: hostile values for every field of every registered experiment (iterated from the registry, so new
families are covered when they register) are refused by `toyscale run X --set field=value` with ONE stderr
line naming the field, exit 2, no traceback, nothing written.

Hostile means invalid for ANY field of that kind: non-finite (1e999), huge (|x| >= 1e300, ints > 2**53),
wrong types (text, None, dicts, nested tuples where flat ones belong), malformed tuples. The systematic sweep
tries every (experiment, field, hostile value); the hypothesis test adds generated huge/non-finite numbers and
random malformed tuples. `--dry-run` stops after validation (an accepted value would otherwise start a run),
and a handful of real runs (test_cli_defects.py) check that nothing is written. Counts are printed (-s).
"""
import dataclasses
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.harness.cli import main
from simulators.harness.fieldcheck import kind_of
from simulators.harness.registry import list_experiments

HUGE_INT = "1" + "0" * 30
HOSTILE_SCALAR = ["1e999", "-1e999", "1e300", "-1e300", HUGE_INT, "-" + HUGE_INT, "None", "{1: 2}", "[[[]]]",
                  "(1,", "\x00bogus"]
HOSTILE = {
    "int": HOSTILE_SCALAR + ["abc", "1.5", "(1, 2)", "True"],
    "float": HOSTILE_SCALAR + ["abc", "(1, 2)", "True"],
    "bool": ["maybe", "2", "(1,)", "None", "1e999"],
    "str": ["1e999", "", "\x00bogus", "(1, 2)", "None"],
    "tuple": ["(1e999,)", "(-1e999,)", "(None,)", "({},)", f"({HUGE_INT},)", "(1e300,)", "(-1e300, 1)", "(1,",
              "[1, {}]", "1e999", "None"],
    "tuple_str": ["(1e999,)", "(None,)", "(1,)", "({},)", "(('a',),)", "1e999", "None", "('\x00bogus',)"],
    "tuple_tuple": ["(1.0, 0.7)", "((1.0,),)", "((1e999, 1.0),)", "((None, 1.0),)", "(((1.0, 0.7),),)", "((1e300, 1e300),)",
                    "None", "1e999"],
}


def _group(kind) -> str | None:
    if kind in ("int", "float", "bool", "str"):
        return kind
    if isinstance(kind, tuple):
        elem = kind[1]
        if isinstance(elem, tuple):
            return "tuple_tuple"
        return "tuple_str" if elem == "str" else "tuple"
    return None


def _cases():
    out = []
    for exp in list_experiments():
        for f in dataclasses.fields(exp.config_cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            g = _group(kind_of(default))
            if g is not None:
                out.append((exp.name, f.name, g))
    return out


CASES = _cases()
COUNT = {"tried": 0, "refused": 0}


def _refused_cleanly(capsys, name: str, field: str, value: str) -> tuple[bool, str]:
    rc = main(["run", name, "--scale", "smoke", "--dry-run", "--no-progress", "--set", f"{field}={value}"])
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    ok = (rc == 2 and len(lines) == 1 and lines[0].startswith("toyscale: error:") and "Traceback" not in cap.err
          and re.search(rf"(?<!\w){re.escape(field)}(?!\w)", lines[0]) is not None)
    return ok, f"{name} --set {field}={value!r}: rc={rc} err={cap.err.strip()[:300]!r} out={cap.out.strip()[:120]!r}"


def test_every_field_of_every_experiment_refuses_hostile_values(capsys):
    assert {n for n, _, _ in CASES} >= {"synthetic.power_law", "rf.time", "superposition.strong", "lottery.silu",
                                        "memory.data"}
    bad = []
    for name, field, group in CASES:
        extra = ["1000000", "0", "-1"] if field == "seeds" else []   # every experiment bounds its seeds
        for value in HOSTILE[group] + extra:
            ok, what = _refused_cleanly(capsys, name, field, value)
            COUNT["tried"] += 1
            COUNT["refused"] += ok
            if not ok:
                bad.append(what)
    with capsys.disabled():
        print(f"\nfuzz sweep: {COUNT['refused']}/{COUNT['tried']} hostile inputs refused cleanly over "
              f"{len({n for n, _, _ in CASES})} experiments, {len(CASES)} fields")
    assert not bad, f"{len(bad)} not refused cleanly:\n" + "\n".join(bad[:40])


_numbers = st.one_of(st.floats(min_value=1e300, allow_infinity=True, allow_nan=False),
                     st.floats(max_value=-1e300, allow_infinity=True, allow_nan=False),
                     st.integers(min_value=2 ** 60), st.integers(max_value=-(2 ** 60)))


def _text(x) -> str:
    return "1e999" if x == float("inf") else "-1e999" if x == float("-inf") else repr(x)


_junk = st.sampled_from(["None", "{}", "'x'", "()", "[]", "{1}"])
_elem = st.one_of(_numbers.map(_text), _junk)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(CASES), data=st.data())
def test_generated_hostile_values_are_refused(capsys, case, data):
    name, field, group = case
    if group in ("int", "float"):
        value = data.draw(_numbers.map(_text) | _junk.filter(lambda s: s not in ("()", "[]")))
    elif group in ("tuple", "tuple_tuple"):
        elems = data.draw(st.lists(_elem, min_size=1, max_size=4))
        value = "(" + ", ".join(elems) + ",)"
    elif group == "tuple_str":
        value = "(" + ", ".join(data.draw(st.lists(_numbers.map(_text) | _junk, min_size=1, max_size=3))) + ",)"
    else:
        value = data.draw(st.sampled_from(HOSTILE[group]))
    ok, what = _refused_cleanly(capsys, name, field, value)
    assert ok, what
