"""Field checks shared by every config's `__post_init__` and by the CLI's fast path (torch-free, numpy-free).

`check_types(cfg)` refuses, naming the field, any value whose kind differs from its field's default
(int / float / str / bool / tuples of them, nested tuples of numbers), any non-finite number and any
integer beyond ±2**53. The range checks are each config's own, written with `num`, `integer`, `ints`,
`floats` and `choice` below, which all raise `ConfigError("<field> must be ..., got ...")`.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Iterable

MAX_INT = 2 ** 53   # beyond this, JSON numbers and float products lose exactness


class ConfigError(ValueError):
    """Bad user input found before any work starts (the CLI prints it as one line and exits 2)."""


def _short(v: Any, n: int = 80) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def fail(field: str, allowed: str, got: Any) -> None:
    raise ConfigError(f"{field} must be {allowed}, got {_short(got)}")


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def kind_of(default: Any) -> Any:
    """The kind of a default value: 'int' | 'float' | 'str' | 'bool' | ('tuple', elem kind or None) | None."""
    if isinstance(default, bool):
        return "bool"
    if _is_int(default):
        return "int"
    if _is_num(default):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (tuple, list)):
        kinds = {kind_of(x) if not isinstance(x, (tuple, list)) else ("tuple", kind_of(x[0]) if x else None)
                 for x in default}
        if kinds == {"int", "float"}:
            kinds = {"float"}
        return ("tuple", kinds.pop() if len(kinds) == 1 else None)
    return None


def check_value(field: str, value: Any, kind: Any) -> None:
    """Refuse `value` for `field` unless it has `kind` (from `kind_of`); numbers must be finite, |int| <= 2**53."""
    if kind is None:
        return
    if kind == "bool":
        if not isinstance(value, bool):
            fail(field, "true or false", value)
    elif kind == "int":
        if not _is_int(value):
            fail(field, "an integer", value)
        if abs(value) > MAX_INT:
            fail(field, f"an integer of magnitude <= 2**53", value)
    elif kind == "float":
        if not _is_num(value):
            fail(field, "a number", value)
        if not math.isfinite(value) or (_is_int(value) and abs(value) > MAX_INT):
            fail(field, "a finite number", value)
    elif kind == "str":
        if not isinstance(value, str):
            fail(field, "a string", value)
    elif isinstance(kind, tuple):
        if not isinstance(value, (tuple, list)):
            fail(field, "a tuple", value)
        elem = kind[1]
        for x in value:
            if isinstance(elem, tuple):
                if not isinstance(x, (tuple, list)):
                    fail(field, "a tuple of tuples", value)
                for y in x:
                    _check_elem(field, y, elem[1], value)
            else:
                _check_elem(field, x, elem, value)


def _check_elem(field: str, x: Any, elem: Any, whole: Any) -> None:
    if elem is None:
        if _is_num(x) and not math.isfinite(x):
            fail(field, "a tuple of finite values", whole)
        return
    try:
        check_value(field, x, elem)
    except ConfigError:
        what = {"int": "integers", "float": "finite numbers", "str": "strings", "bool": "booleans"}.get(elem, "values")
        fail(field, f"a tuple of {what}", whole)


def check_types(cfg: Any) -> None:
    """Check every field of the dataclass instance `cfg` against the kind of its default (see module doc)."""
    for f in dataclasses.fields(cfg):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            continue
        check_value(f.name, getattr(cfg, f.name), kind_of(default))


# ---- range helpers (each raises ConfigError naming the field) ----------------------------------------
def num(field: str, v: Any, lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
        hi_open: bool = False, note: str = "") -> float:
    """A finite real number in [lo, hi] (open ends with lo_open / hi_open)."""
    lb = "(" if lo_open else "["
    rb = ")" if hi_open else "]"
    allowed = f"a finite number in {lb}{'-inf' if lo is None else _g(lo)}, {'inf' if hi is None else _g(hi)}{rb}"
    allowed += f" {note}" if note else ""
    if not _is_num(v) or not math.isfinite(v):
        fail(field, allowed, v)
    if lo is not None and (v < lo or (lo_open and v == lo)):
        fail(field, allowed, v)
    if hi is not None and (v > hi or (hi_open and v == hi)):
        fail(field, allowed, v)
    return v


def integer(field: str, v: Any, lo: int | None = None, hi: int | None = None, note: str = "") -> int:
    """An int (not bool) in [lo, hi]."""
    allowed = f"an integer in [{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
    allowed += f" {note}" if note else ""
    if not _is_int(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        fail(field, allowed, v)
    return int(v)


def ints(field: str, v: Any, lo: int, hi: int, *, min_len: int = 1, max_len: int = 1000,
         increasing: bool = True, note: str = "") -> tuple:
    """A tuple of min_len..max_len ints in [lo, hi] (strictly increasing unless increasing=False)."""
    allowed = (f"a tuple of {min_len} to {max_len} {'strictly increasing ' if increasing else ''}integers in "
               f"[{lo}, {hi}]") + (f" {note}" if note else "")
    if not isinstance(v, (tuple, list)) or not min_len <= len(v) <= max_len:
        fail(field, allowed, v)
    if any(not _is_int(x) or not lo <= x <= hi for x in v):
        fail(field, allowed, v)
    if increasing and any(a >= b for a, b in zip(v, v[1:])):
        fail(field, allowed, v)
    return tuple(v)


def floats(field: str, v: Any, lo: float | None, hi: float | None, *, lo_open: bool = False, hi_open: bool = False,
           min_len: int = 1, max_len: int = 1000, increasing: bool = False, note: str = "") -> tuple:
    """A tuple of min_len..max_len finite numbers in [lo, hi] (open ends with lo_open / hi_open)."""
    lb, rb = "(" if lo_open else "[", ")" if hi_open else "]"
    allowed = (f"a tuple of {min_len} to {max_len} {'strictly increasing ' if increasing else ''}finite numbers in "
               f"{lb}{'-inf' if lo is None else _g(lo)}, {'inf' if hi is None else _g(hi)}{rb}") + (f" {note}" if note else "")
    if not isinstance(v, (tuple, list)) or not min_len <= len(v) <= max_len:
        fail(field, allowed, v)
    for x in v:
        if not _is_num(x) or not math.isfinite(x):
            fail(field, allowed, v)
        if lo is not None and (x < lo or (lo_open and x == lo)):
            fail(field, allowed, v)
        if hi is not None and (x > hi or (hi_open and x == hi)):
            fail(field, allowed, v)
    if increasing and any(a >= b for a, b in zip(v, v[1:])):
        fail(field, allowed, v)
    return tuple(v)


def choice(field: str, v: Any, options: Iterable[str]) -> str:
    options = tuple(options)
    if not isinstance(v, str) or v not in options:
        fail(field, f"one of {', '.join(options)}", v)
    return v


def choices(field: str, v: Any, options: Iterable[str], *, min_len: int = 1) -> tuple:
    options = tuple(options)
    if not isinstance(v, (tuple, list)) or len(v) < min_len or any(not isinstance(x, str) or x not in options for x in v):
        fail(field, f"a tuple of >= {min_len} of {', '.join(options)}", v)
    if len(set(v)) != len(v):
        fail(field, "a tuple without repeats", v)
    return tuple(v)


def _g(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)
