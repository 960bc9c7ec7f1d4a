"""Experiment registry: the one contract every model family plugs into.

An experiment is a named, declarative spec. A family registers one by calling `register(Experiment(...))`
at import time of its `experiments.py`; `simulators.harness.registry.load_all()` imports every
family listed in `FAMILY_MODULES`, so the CLI sees them.

The contract (all functions pure; no prints):

- `config_cls`: a frozen dataclass validated in `__post_init__` (bad values raise `ValueError`
  naming the field and the allowed range). It must have an int field `seeds` (number of seeds;
  seeds are `0 .. seeds-1`). `--set key=value` accepts exactly its fields.
- `scales`: {"smoke" | "default" | "paper": dict of config kwargs}. `smoke` runs in seconds (tests),
  `default` in minutes on 2 CPU cores, `paper` at the papers' sizes (meant for a GPU).
- `plan(cfg) -> list[list[dict]]`: the sweep as batches of points. A point is a JSON-able dict of
  the swept values and its `"seed"`; a batch is the group of points that trains as ONE batched
  computation. The store keys a point by (experiment, config, point, dtype).
- `run_batch(cfg, points, ctx) -> list[dict]`: simulate the given points (a subset of one planned
  batch: on resume only the missing ones are passed) and return one JSON-able metrics dict per
  point, in order. Instances must be independent (per-instance RNG keyed by seed), so a subset
  gives the same numbers as the full batch.
- `analyze(cfg, records) -> Analysis`: fit and compare, using `fit.fit_power_law` and
  `compare.compare`. `records` are `Record`s for the planned points.
- `figures(cfg, records, analysis, outdir) -> list[str]` (optional): extra PNGs beyond the
  per-row log-log plots that `report.py` draws for every comparison.
- `instance_bytes(cfg) -> int` (optional): peak device bytes of ONE instance of the largest point of
  the sweep (parameters, gradients, optimizer state, activations of one step). On CUDA the runner then
  cuts batches to at most ~80% of free device memory / instance_bytes (`--max-instances-per-batch`
  overrides it).
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

SCALES = ("smoke", "default", "paper")


from .fieldcheck import ConfigError  # noqa: E402,F401  (defined torch-free so configs and the CLI import it cheaply)

# Family modules whose import registers their experiments. A new family adds one line here.
FAMILY_MODULES = (
    "simulators.synthetic",
    "simulators.random_features.experiments",
    "simulators.random_features.claims",
    "simulators.random_features.data_reuse",
    "simulators.random_features.width_gap",
    "simulators.superposition.experiments",
    "simulators.lottery.experiments",
    "simulators.associative_memory.experiments",
    "simulators.data_pruning.experiments",
    "simulators.model_collapse.experiments",
)


@dataclass(frozen=True)
class RunContext:
    """Where and how a batch runs. `backend` is the kernels backend ("reference" | "triton" | None=auto)."""

    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    backend: str | None = None


@dataclass(frozen=True)
class Record:
    """One stored point: the swept values (incl. seed) and the metrics `run_batch` returned."""

    key: str
    point: Mapping[str, Any]
    metrics: Mapping[str, Any]
    device: str = "cpu"
    backend: str = "reference"
    wall_s: float = 0.0


@dataclass
class Analysis:
    """What `analyze` returns: comparison rows, free-text notes for the report, extra tables."""

    rows: list = field(default_factory=list)          # list[compare.Comparison]
    notes: list[str] = field(default_factory=list)    # sentences printed under the table
    tables: dict[str, list[dict]] = field(default_factory=dict)  # name -> list of flat dict rows


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    config_cls: type
    scales: Mapping[str, Mapping[str, Any]]
    plan: Callable[[Any], list[list[dict]]]
    run_batch: Callable[[Any, Sequence[dict], RunContext], list[dict]]
    analyze: Callable[[Any, Sequence[Record]], Analysis]
    predictions: str = ""                     # one line for `toyscale list`
    default_dtype: torch.dtype = torch.float32
    figures: Callable[..., list[str]] | None = None
    instance_bytes: Callable[[Any], int] | None = None

    def __post_init__(self):
        missing = [s for s in SCALES if s not in self.scales]
        if missing:
            raise ValueError(f"experiment {self.name!r}: scales must define {SCALES}, missing {missing}")
        if not dataclasses.is_dataclass(self.config_cls):
            raise TypeError(f"experiment {self.name!r}: config_cls must be a dataclass")
        if "seeds" not in {f.name for f in dataclasses.fields(self.config_cls)}:
            raise TypeError(f"experiment {self.name!r}: config_cls needs an int field 'seeds'")

    def config(self, scale: str = "default", overrides: Mapping[str, Any] | None = None):
        """Build the validated config for `scale` with `overrides` (field name -> value) applied."""
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
        kwargs = dict(self.scales[scale])
        fields = {f.name: f for f in dataclasses.fields(self.config_cls)}
        for k, v in (overrides or {}).items():
            if k not in fields:
                raise ValueError(f"unknown parameter {k!r} for {self.name}; allowed: {', '.join(sorted(fields))}")
            kwargs[k] = v
        return self.config_cls(**kwargs)


_REGISTRY: dict[str, Experiment] = {}


def register(exp: Experiment) -> Experiment:
    """Add `exp` to the registry (re-registering the same name replaces it, so reloads are harmless)."""
    _REGISTRY[exp.name] = exp
    return exp


def load_all() -> None:
    """Import every family module so its experiments register. Missing families are skipped."""
    for mod in FAMILY_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a family not written yet; anything else is a real error
            if not (e.name and mod.startswith(e.name)):
                raise ImportError(f"family module {mod} failed to import: {e}") from e


def get_experiment(name: str) -> Experiment:
    load_all()
    if name not in _REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(_REGISTRY)) or '(none)'}")
    return _REGISTRY[name]


def list_experiments() -> list[Experiment]:
    load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
