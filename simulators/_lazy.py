"""PEP 562 lazy exports for the family packages, so `import simulators.<family>.config` (the CLI's range checks,
run before any work) does not import torch through the package's `__init__`.

    __getattr__, __dir__ = lazy_exports(__name__, {"PublicName": "submodule" | "submodule:attr"})

A name maps to a submodule ("theory": the module itself) or to an attribute of one ("model:simulate");
the first access imports the submodule and caches the value in the package's namespace.
"""
from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable, Callable]:
    def __getattr__(name: str):
        target = where.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod_name, _, attr = target.partition(":")
        mod = importlib.import_module(f"{package}.{mod_name}")
        value = getattr(mod, attr) if attr else mod
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
