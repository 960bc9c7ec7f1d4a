"""Static index of the registered experiments, so the CLI answers `--help`, `list` and most refusals without
importing torch and every family (~3-6 s on 2 busy cores; the index path answers in ~0.1 s).

`experiments_index.json` (committed beside this file) holds each experiment's name, description,
predictions, its config class (`module:qualname`, a torch-free module: `config_class()` imports it alone, so
the CLI runs the config's own range and cross-field checks without torch), the kind of every config field and
the full config at every scale, plus a hash of the source files it was generated from (the registry, the
FAMILY_MODULES and every config module the index names). `load()` returns None when that hash no longer matches (a config or an
experiment changed): the CLI then falls back to the registry (correct, only slower), and
tests/harness/test_cli_latency.py fails until the index is regenerated with

    python -m simulators.harness.index
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

from .fieldcheck import kind_of

INDEX_PATH = Path(__file__).with_name("experiments_index.json")
REGENERATE = "python -m simulators.harness.index"
_ROOT = Path(__file__).resolve().parents[1]   # simulators/


def _module_file(mod: str) -> Path | None:
    base = _ROOT.parent.joinpath(*mod.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.exists():
            return f
    return None


def source_files(config_modules: Sequence[str] = ()) -> list[Path]:
    """The files the index is generated from: the registry, every module in its FAMILY_MODULES with its
    package's config.py (read from registry.py's text: no import), and the given config modules (those the
    index records for its experiments' config classes)."""
    import ast

    reg = _ROOT / "harness" / "registry.py"
    files = [reg]
    for node in ast.walk(ast.parse(reg.read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "FAMILY_MODULES" for t in node.targets):
            for mod in ast.literal_eval(node.value):
                f = _ROOT.parent.joinpath(*mod.split(".")).with_suffix(".py")
                files += [f, f.with_name("config.py")]
    files += [f for f in map(_module_file, config_modules) if f is not None]
    return sorted({f for f in files if f.exists()})


def _config_modules(exps: dict) -> list[str]:
    return sorted({e["config"].partition(":")[0] for e in exps.values() if e.get("config")})


def source_hash(config_modules: Sequence[str] = ()) -> str:
    h = hashlib.sha1()
    for p in source_files(config_modules):
        h.update(str(p.relative_to(_ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _kind_json(kind: Any) -> Any:
    return list(_kind_json(k) for k in kind) if isinstance(kind, tuple) else kind


def kind_from_json(kind: Any) -> Any:
    return tuple(kind_from_json(k) for k in kind) if isinstance(kind, list) else kind


def build() -> dict:
    """Generate the index from the registry (imports every family). The CLI's fallback when the committed
    index is stale, and `main()`'s source."""
    import dataclasses

    from .registry import SCALES, list_experiments

    exps = {}
    for exp in list_experiments():
        kinds, scales = {}, {}
        for f in dataclasses.fields(exp.config_cls):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
            kinds[f.name] = _kind_json(kind_of(default))
        for s in SCALES:
            try:
                cfg = exp.config(s)
                scales[s] = _plain({f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})
            except Exception:   # a preset that does not validate: the CLI then asks the registry
                scales[s] = None
        exps[exp.name] = {"description": exp.description, "predictions": exp.predictions, "fields": kinds,
                          "scales": scales,
                          "config": f"{exp.config_cls.__module__}:{exp.config_cls.__qualname__}"}
    return {"source_hash": source_hash(_config_modules(exps)), "regenerate": REGENERATE, "experiments": exps}


def tuplify(v: Any) -> Any:
    """JSON lists back to the tuples the configs hold."""
    return tuple(tuplify(x) for x in v) if isinstance(v, (list, tuple)) else v


def config_class(entry: dict) -> type:
    """The config dataclass an index entry names, imported from its own (torch-free) module alone."""
    import importlib

    mod, _, qual = entry["config"].partition(":")
    obj: Any = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def make_config(entry: dict, scale: str, overrides: dict[str, Any] | None = None):
    """entry's config at `scale` with `overrides`, constructed (validated by its `__post_init__`) from the
    index alone; None when the index holds no valid preset for that scale."""
    preset = entry["scales"].get(scale)
    if preset is None or not entry.get("config"):
        return None
    return config_class(entry)(**{**{k: tuplify(v) for k, v in preset.items()}, **(overrides or {})})


def check_presets(index: dict) -> list[str]:
    """Problems that would make the CLI's index path differ from the registry (imports every family): a preset
    that does not rebuild to the registry's config, or a config module that imports torch. [] when sound."""
    import subprocess
    import sys

    from .registry import get_experiment

    bad = []
    for name, entry in index["experiments"].items():
        exp = get_experiment(name)
        for s, preset in entry["scales"].items():
            if preset is not None and make_config(entry, s) != exp.config(s):
                bad.append(f"{name} ({s}): the index preset does not rebuild the registry's config")
    mods = _config_modules(index["experiments"])
    probe = ("import importlib, sys\n"
             f"for m in {mods!r}:\n"
             "    importlib.import_module(m)\n"
             "    assert 'torch' not in sys.modules, m\n")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=_ROOT.parent)
    if p.returncode != 0:
        bad.append(f"a config module imports torch (the CLI's range checks must not): {p.stderr.strip().splitlines()[-1:]}")
    return bad


def render(index: dict) -> str:
    return json.dumps(index, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def load() -> dict | None:
    """The committed index if it matches the sources, else None (fall back to the registry)."""
    try:
        index = json.loads(INDEX_PATH.read_text())
        if index.get("source_hash") != source_hash(_config_modules(index["experiments"])):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return index


def main() -> int:
    index = build()
    bad = check_presets(index)
    if bad:
        print("index not written:\n" + "\n".join(bad))
        return 1
    INDEX_PATH.write_text(render(index))
    print(f"wrote {INDEX_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
