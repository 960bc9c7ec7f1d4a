"""Reports: report.json (machine-readable), report.md (table + notes + figures), PNG figures.

All matplotlib lives here (Agg backend); one function per figure type, called by the runner, the CLI
and notebooks alike.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .compare import Comparison, _clean
from .fit import aggregate
from .store import _plain

ROW_COLUMNS = ("quantity", "axis", "measured_exponent", "ci95", "theory_exponent", "theory_window_slope",
               "abs_error", "tolerance", "pass", "fit_window", "n_points")


def build_report(exp, scale: str, cfg, analysis, dtype, backend: str, env: dict, timings: dict) -> dict:
    """The report.json dict (schema of the foundation issue, plus notes/tables/description)."""
    return _clean({
        "experiment": exp.name,
        "description": exp.description,
        "scale": scale,
        "config": _plain(cfg),
        "dtype": str(dtype).replace("torch.", ""),
        "backend": backend,
        "device": env["device"],
        "versions": env["versions"],
        "timestamp": env["timestamp"],
        "rows": [r.to_json() for r in analysis.rows],
        "notes": list(analysis.notes),
        "tables": analysis.tables,
        "timings": timings,
    })


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "PASS" if v else "FAIL"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.{nd}f}"
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return f"[{_fmt(v[0], nd)}, {_fmt(v[1], nd)}]"
    return str(v)


def md_cell(v: Any) -> str:
    """One GFM table cell: pipes escaped (`|θ-θ0|` would split the cell), newlines flattened."""
    return " ".join(str(v).split()).replace("\\|", "|").replace("|", "\\|")


def md_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"


def md_table(head: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[str]:
    """GFM table lines: header, delimiter, rows (every cell escaped by `md_cell`)."""
    return [md_row(head), "|" + "---|" * len(head)] + [md_row(r) for r in rows]


def format_table(rows: Sequence[dict], experiment_column: bool = False) -> str:
    """Markdown table: quantity | axis | measured [95% CI] | theory | window slope | |diff| | tol | verdict."""
    head = (["experiment"] if experiment_column else []) + [
        "quantity", "axis", "measured exponent [95% CI]", "theory exponent", "theory slope (window)",
        "|difference|", "tolerance", "verdict", "fit window", "points"]
    body = []
    for r in rows:
        cells = ([r.get("experiment", "")] if experiment_column else []) + [
            r["quantity"], r["axis"], f"{_fmt(r['measured_exponent'])} {_fmt(r['ci95'])}",
            _fmt(r["theory_exponent"]), _fmt(r.get("theory_window_slope")), _fmt(r["abs_error"]),
            _fmt(r["tolerance"]), _fmt(bool(r["pass"])) if r["theory_exponent"] is not None else "measured",
            f"[{r['fit_window'][0]:.4g}, {r['fit_window'][1]:.4g}]", str(r["n_points"])]
        body.append(cells)
    return "\n".join(md_table(head, body))


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()[:60]


def save_figure(fig, path: str | Path, dpi: int = 110) -> str:
    """tight_layout, save as PNG, close (so long sweeps do not accumulate open figures); returns the path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return str(path)


def plot_comparison(row: Comparison | dict, path: str | Path, title: str = "") -> str:
    """Log-log: per-seed points, seed aggregate, fitted line over its window, theory curve and slope."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = row.to_json() if isinstance(row, Comparison) else row
    p = r["plot"]
    x = np.asarray(p["x"], float)
    y = np.atleast_2d(np.asarray(p["y"], float))
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for s in range(y.shape[0]):
        ax.scatter(x, y[s], s=8, color="0.6", alpha=0.5, lw=0, label="seeds" if s == 0 else None)
    agg = p.get("agg", "mean_log")
    curve = aggregate(np.where(y > 0, y, np.nan), agg)
    ax.plot(x, curve, "o-", color="C0", ms=4,
            label=f"simulation ({ {'mean_log': 'geo-mean', 'median': 'median', 'mean': 'mean'}[agg] } over seeds)")
    lo, hi = r["fit_window"]
    xw = np.geomspace(lo, hi, 50)
    ax.plot(xw, r["prefactor"] * xw ** (-r["measured_exponent"]), "-", color="C3", lw=2,
            label=f"fit: {r['measured_exponent']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]")
    if "theory_x" in p:
        ax.plot(p["theory_x"], p["theory_y"], "--", color="k", lw=1.2,
                label="theory curve" + (f" (slope {r['theory_window_slope']:.3f})" if r.get("theory_window_slope") else ""))
    if r["theory_exponent"] is not None:
        xm = np.sqrt(lo * hi)
        ym = r["prefactor"] * xm ** (-r["measured_exponent"])
        ax.plot(xw, ym * (xw / xm) ** (-r["theory_exponent"]), ":", color="C2", lw=1.5,
                label=f"theory exponent {r['theory_exponent']:.3f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels (3×10¹, 4×10¹, ...) collide on short ranges
    ax.set_xlabel(r["axis"])
    ax.set_ylabel(r["quantity"])
    ax.set_title(title or f"{r['quantity']} vs {r['axis']}", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def write_report(out_dir: str | Path, rep: dict, exp, cfg, records, analysis) -> list[str]:
    """Write report.json, report.md and the figures into `out_dir`; return the figure paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _slug(rep["experiment"])
    figs = []
    for i, row in enumerate(analysis.rows):
        if row.plot.get("x"):
            figs.append(plot_comparison(row, out / f"{stem}_{i:02d}_{_slug(row.quantity + '_' + row.axis)}.png",
                                        title=f"{rep['experiment']}: {row.quantity} vs {row.axis}"))
    if exp.figures is not None:
        figs += [str(f) for f in exp.figures(cfg, records, analysis, out)]
    rep = {**rep, "figures": [Path(f).name for f in figs]}
    md = render_markdown(rep)
    (out / f"{stem}.report.json").write_text(json.dumps(rep, indent=1))
    (out / f"{stem}.report.md").write_text(md)
    if _single_experiment(out, rep):
        (out / "report.json").write_text(json.dumps(rep, indent=1))
        (out / "report.md").write_text(md)
    return figs


def _single_experiment(out: Path, rep: dict) -> bool:
    """report.json/report.md name the run dir's one experiment; multi-experiment dirs keep per-experiment files."""
    others = [p for p in out.glob("*.report.json") if p.name != f"{_slug(rep['experiment'])}.report.json"]
    return not others


def render_markdown(rep: dict) -> str:
    lines = [f"# {rep['experiment']} ({rep['scale']} scale)", "", rep.get("description", ""), "",
             format_table(rep["rows"]), ""]
    for n in rep.get("notes", []):
        lines.append(f"- {n}")
    refs = sorted({r.get("reference") for r in rep["rows"] if r.get("reference")})
    if refs:
        lines += ["", "References: " + "; ".join(refs)]
    for name, table in (rep.get("tables") or {}).items():
        if table:
            cols = list(table[0])
            lines += ["", f"### {name}", ""] + md_table(cols, [[_fmt(t.get(c)) for c in cols] for t in table])
    lines += ["", f"Device: {rep['device']}; dtype {rep['dtype']}; backend {rep['backend']}; "
              f"torch {rep['versions'].get('torch')}; git {rep['versions'].get('git_sha')}; {rep['timestamp']}.",
              "Timings: " + ", ".join(f"{k} = {_fmt(v)}" for k, v in rep["timings"].items()), "",
              "Config: `" + json.dumps(rep["config"], sort_keys=True) + "`", ""]
    lines += [f"![{f}]({f})" for f in rep.get("figures", [])]
    return "\n".join(lines) + "\n"


def write_index(out_dir: str | Path, reports: Sequence[dict], scale: str) -> Path:
    """The `toyscale reproduce` summary: one table over every experiment, linking each report."""
    out = Path(out_dir)
    rows = [{**r, "experiment": f"[{rep['experiment']}]({_slug(rep['experiment'])}/report.md)"}
            for rep in reports for r in rep["rows"]]
    n_pass = sum(1 for r in rows if r["theory_exponent"] is not None and r["pass"])
    n_cmp = sum(1 for r in rows if r["theory_exponent"] is not None)
    # stored_simulate_s: the batches' own wall times from the store, so a resumed run reports the full cost
    total_s = sum(rep["timings"].get("stored_simulate_s", rep["timings"].get("simulate_s", 0.0)) for rep in reports)
    md = [f"# toyscale reproduce ({scale} scale)", "",
          f"{n_pass}/{n_cmp} comparisons within tolerance; simulation time {total_s:.1f} s.", "",
          format_table(rows, experiment_column=True), ""]
    for rep in reports:
        for n in rep.get("notes", []):
            md.append(f"- **{rep['experiment']}**: {n}")
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    (out / "report.json").write_text(json.dumps({"scale": scale, "experiments": list(reports)}, indent=1))
    return path


def slug(name: str) -> str:
    return _slug(name)
