"""The scaling harness: registry -> runner (resumable SQLite store) -> fit -> compare -> report.

Names are imported lazily (PEP 562), so `import simulators.harness.fieldcheck` (configs, the CLI's fast
path) does not pay for torch, scipy and matplotlib.
"""
import importlib
import sys
import types

_WHERE = {
    "Comparison": "compare", "Prediction": "compare", "compare": "compare",
    "FitResult": "fit", "fit_power_law": "fit", "fit_saturating": "fit", "window_slope": "fit",
    "Analysis": "registry", "Experiment": "registry", "Record": "registry", "RunContext": "registry",
    "get_experiment": "registry", "list_experiments": "registry", "register": "registry",
    "ConfigError": "fieldcheck",
    "format_table": "report", "plot_comparison": "report", "write_report": "report",
    "ExperimentResult": "runner", "report_run_dir": "runner", "run_experiment": "runner",
}

__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        mod = importlib.import_module(f".{_WHERE[name]}", __name__)
        return getattr(mod, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


class _Package(types.ModuleType):
    """Importing the submodule `compare` (e.g. `from simulators.harness.compare import Prediction`) makes the
    import system set this package's attribute `compare` to the MODULE, after which `from simulators.harness
    import compare` returned the module instead of the function. Such assignments are dropped, so the name
    keeps resolving lazily to the function (as it did when this package imported it eagerly)."""

    def __setattr__(self, name, value):
        if name in _WHERE and isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
