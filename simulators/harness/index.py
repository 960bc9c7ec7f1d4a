"""Static index of the registered experiments, so the CLI answers `--help`, `list` and most refusals without
importing torch and every family (~3-6 s on 2 busy cores; the index path answers in ~0.1 s).

`experiments_index.json` (committed beside this file) holds each experiment's name, description,
predictions, the kind of every config field and the full config at every scale, plus a hash of the source
files it was generated from. `load()` returns None when that hash no longer matches (a config or an
experiment changed): the CLI then falls back to the registry (correct, only slower), and
tests/harness/test_cli_latency.py fails until the index is regenerated with

    python -m simulators.harness.index
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .fieldcheck import kind_of

INDEX_PATH = Path(__file__).with_name("experiments_index.json")
REGENERATE = "python -m simulators.harness.index"
_ROOT = Path(__file__).resolve().parents[1]   # simulators/


def source_files() -> list[Path]:
    """The files the index is generated from: the registry, and for every module in its FAMILY_MODULES that
    module's file and its package's config.py (read from registry.py's text: no import)."""
    import ast

    reg = _ROOT / "harness" / "registry.py"
    files = [reg]
    for node in ast.walk(ast.parse(reg.read_text())):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "FAMILY_MODULES" for t in node.targets):
            for mod in ast.literal_eval(node.value):
                f = _ROOT.parent.joinpath(*mod.split(".")).with_suffix(".py")
                files += [f, f.with_name("config.py")]
    return sorted({f for f in files if f.exists()})


def source_hash() -> str:
    h = hashlib.sha1()
    for p in source_files():
        h.update(str(p.relative_to(_ROOT)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _kind_json(kind: Any) -> Any:
    return list(_kind_json(k) for k in kind) if isinstance(kind, tuple) else kind


def kind_from_json(kind: Any) -> Any:
    return tuple(kind_from_json(k) for k in kind) if isinstance(kind, list) else kind


def build() -> dict:
    """Generate the index from the registry (imports every family)."""
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
                          "scales": scales}
    return {"source_hash": source_hash(), "regenerate": REGENERATE, "experiments": exps}


def render(index: dict) -> str:
    return json.dumps(index, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def load() -> dict | None:
    """The committed index if it matches the sources, else None (fall back to the registry)."""
    try:
        index = json.loads(INDEX_PATH.read_text())
    except (OSError, ValueError):
        return None
    if index.get("source_hash") != source_hash():
        return None
    return index


def main() -> int:
    INDEX_PATH.write_text(render(build()))
    print(f"wrote {INDEX_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
