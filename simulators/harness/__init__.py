"""The scaling harness: registry -> runner (resumable SQLite store) -> fit -> compare -> report."""
from .compare import Comparison, Prediction, compare
from .fit import FitResult, fit_power_law, fit_saturating, window_slope
from .registry import Analysis, ConfigError, Experiment, Record, RunContext, get_experiment, list_experiments, register
from .report import format_table, plot_comparison, write_report
from .runner import ExperimentResult, report_run_dir, run_experiment

__all__ = [
    "Analysis", "Comparison", "ConfigError", "Experiment", "ExperimentResult", "FitResult", "Prediction", "Record",
    "RunContext", "compare", "fit_power_law", "fit_saturating", "format_table", "get_experiment",
    "list_experiments", "plot_comparison", "register", "report_run_dir", "run_experiment", "window_slope",
    "write_report",
]
