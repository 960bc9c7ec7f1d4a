"""simulators.harness.fieldcheck, the shared range and kind checks of every config: each helper accepts exactly
its documented set (bounds inclusive unless opened, bools are not integers, non-finite numbers never pass even
without bounds, strictly increasing means no repeats) and refuses with one line naming the field. These are the
unit checks behind the CLI fuzzing of tests/harness/test_fuzz_cli.py, cheap enough to pin each boundary."""
import math

import pytest

from simulators.harness import fieldcheck as fc


def _refused(fn, *args, field="fld", **kw):
    with pytest.raises(fc.ConfigError) as e:
        fn(field, *args, **kw)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{field} must be "), msg
    return msg


def test_integer_bounds_inclusive_and_bools_refused():
    assert fc.integer("fld", 2, 2, 5) == 2 and fc.integer("fld", 5, 2, 5) == 5 and fc.integer("fld", -7) == -7
    for bad in (1, 6, True, False, 2.0, 2.5, "3", None, float("nan")):
        _refused(fc.integer, bad, 0 if bad is False else 2, 5)
    assert "got True" in _refused(fc.integer, True, 0, 5)


@pytest.mark.parametrize("lo_open, hi_open", [(False, False), (True, False), (False, True), (True, True)])
def test_num_open_and_closed_ends(lo_open, hi_open):
    assert fc.num("fld", 0.5, 0.0, 1.0, lo_open=lo_open, hi_open=hi_open) == 0.5
    for v, refused in ((0.0, lo_open), (1.0, hi_open), (-1e-12, True), (1 + 1e-12, True)):
        if refused:
            _refused(fc.num, v, 0.0, 1.0, lo_open=lo_open, hi_open=hi_open)
        else:
            assert fc.num("fld", v, 0.0, 1.0, lo_open=lo_open, hi_open=hi_open) == v


def test_num_refuses_non_finite_and_non_numbers_even_without_bounds():
    assert fc.num("fld", -1e300) == -1e300 and fc.num("fld", 3) == 3
    for bad in (float("nan"), math.inf, -math.inf, True, "1.0", None, (1.0,)):
        _refused(fc.num, bad)
    _refused(fc.num, float("nan"), 0.0, 1.0)        # NaN compares False with both bounds: refused explicitly


def test_ints_and_floats_tuples():
    assert fc.ints("fld", (1, 2, 5), 1, 5) == (1, 2, 5)
    assert fc.ints("fld", [3, 3, 1], 1, 5, increasing=False) == (3, 3, 1)
    for bad in ((1, 1, 2), (2, 1), (0, 1), (1, 6), (1, True), (1, 2.0), (), "12", 3):
        _refused(fc.ints, bad, 1, 5)
    _refused(fc.ints, (1, 2, 3), 1, 5, max_len=2)
    assert fc.floats("fld", (0.5, 0.25), 0.0, 1.0) == (0.5, 0.25)
    for bad in ((0.5, float("nan")), (math.inf,), (0.0,), (1.5,), (0.5, True), ("0.5",), ()):
        _refused(fc.floats, bad, 0.0, 1.0, lo_open=True)
    _refused(fc.floats, (0.2, 0.2), 0.0, 1.0, increasing=True)
    assert fc.floats("fld", (0.0, 1.0), 0.0, 1.0) == (0.0, 1.0)                      # closed ends included


def test_choice_and_choices():
    assert fc.choice("fld", "b", ("a", "b")) == "b"
    for bad in ("c", "", None, ("a",)):
        _refused(fc.choice, bad, ("a", "b"))
    assert fc.choices("fld", ("b", "a"), ("a", "b")) == ("b", "a")
    for bad in (("a", "a"), ("a", "c"), (), "ab", ("a", 1)):
        _refused(fc.choices, bad, ("a", "b"))


@pytest.mark.parametrize("default, good, bad", [
    (3, [0, -5, 2 ** 53], [True, 2.0, "3", 2 ** 53 + 1, None]),
    (0.5, [1, 0.0, -1e300], [math.inf, float("nan"), True, "0.5", 2 ** 60]),
    (True, [False], [1, 0, "true", None]),
    ("x", ["", "y"], [1, None, ("x",)]),
    ((1, 2), [(), (5,), [1, 2]], [(1.5,), (True,), ("1",), 3, ((1,),)]),
    ((0.5, 1), [(1, 2.5)], [(math.inf,), (float("nan"), 1.0), (True,)]),
    (((1.0, 0.7),), [((2.0, 0.5), (1.0, 1.0))], [(1.0, 0.7), ((math.inf, 1.0),), ((True, 1.0),)]),
])
def test_check_value_by_kind_of_the_default(default, good, bad):
    kind = fc.kind_of(default)
    for v in good:
        fc.check_value("fld", v, kind)
    for v in bad:
        _refused(fc.check_value, v, kind)
