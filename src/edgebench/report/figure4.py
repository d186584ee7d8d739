"""Figure 4: inference-time speedup per model over the run's baseline, a bar each with its 95%
interval, a line at 1x, and under the plot what qualifies it: contended cells, quick timing, an
interrupted run and the models that have no bar because they failed."""
from __future__ import annotations

import textwrap
from pathlib import Path

from edgebench.report.render.text import CONTENDED_MARK, QUICK_MARK, footnotes, run_flags
from edgebench.report.table1 import Table1

FASTER, SLOWER = "#2b7bba", "#d95f02"  # slower models stand out
WRAP = 110  # characters per footnote line


def plot_speedup(table: Table1, path: Path) -> Path:
    """Write Figure 4 (see `draw_speedup`) as a PNG at `path`."""
    fig = draw_speedup(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def draw_speedup(table: Table1):
    """Figure 4 as a matplotlib Figure. Bars: pre p50 / post p50 per model. Error bars: the 95% interval
    of that ratio from `statistics.speedup_interval` (a percentile bootstrap of the ratio of the two
    cells' medians over their per-iteration samples); a bar without one (too few samples) has none.
    Hatched bars and a dagger mark models whose pre- or post-opt cell was contended. Built on a
    bare Figure, not pyplot: no GUI backend, no global figure state."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows = [r for r in table.rows if r.speedup is not None]
    values = [r.speedup for r in rows]
    # a model file's name, not its whole path: a long rotated label leaves no room for the notes
    labels = [Path(r.model).name + (CONTENDED_MARK if r.pre_contended or r.post_contended else "") + (QUICK_MARK if r.quick else "")
              for r in rows]
    notes = _notes(table)
    fig_h = 4.5 + 0.17 * len(notes)
    fig = Figure(figsize=(max(7, 0.8 * len(rows) + 2), fig_h))
    ax = fig.subplots()
    x = range(len(rows))
    bars = ax.bar(x, values, color=[FASTER if v >= 1 else SLOWER for v in values])
    for bar, r in zip(bars, rows):
        if r.pre_contended or r.post_contended:
            bar.set_hatch("//")
            bar.set_edgecolor("black")
    with_ci = [(i, r) for i, r in enumerate(rows) if r.speedup_ci]
    if with_ci:
        ax.errorbar([i for i, _ in with_ci], [r.speedup for _, r in with_ci],
                    yerr=[[max(0.0, r.speedup - r.speedup_ci[0]) for _, r in with_ci],
                          [max(0.0, r.speedup_ci[1] - r.speedup) for _, r in with_ci]],
                    fmt="none", ecolor="black", elinewidth=1, capsize=3, label="95% interval (bootstrap)")
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--", label="1x (no change)")
    for i, r in enumerate(rows):
        top = max(r.speedup, r.speedup_ci[1] if r.speedup_ci else r.speedup)
        ax.annotate(f"{r.speedup:.2f}x", (i, top), ha="center", va="bottom", fontsize=8)
    handles, _ = ax.get_legend_handles_labels()
    if any(r.pre_contended or r.post_contended for r in rows):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//", label=f"{CONTENDED_MARK} contended"))
    if rows:  # headroom above the tallest bar and its label, so the legend never covers a bar
        ax.set_ylim(0, 1.3 * max(max(r.speedup, r.speedup_ci[1] if r.speedup_ci else r.speedup) for r in rows))
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, rotation=35, ha="right")
    if not rows:
        ax.text(0.5, 0.5, "no model has a speedup (see the notes below)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_ylabel("speedup (pre p50 / post p50)")
    posts = sorted({r.post_backend for r in rows})
    flags = run_flags(table)
    ax.set_title(
        (f"{' | '.join(flags)}\n" if flags else "")
        + f"Inference speedup over {table.baseline_title} on {table.device_name}\n(post-opt: {', '.join(posts) or 'none'}; "
        f"batch {table.batch_size}; mean {table.mean_speedup or 0:.2f}x)",
        fontsize=10, color="#b00000" if flags else "black",
    )
    if notes:
        fig.text(0.01, 0.01, "\n".join(notes), ha="left", va="bottom", fontsize=7, family="monospace")
    fig.tight_layout(rect=(0, (0.17 * len(notes) + 0.15) / fig_h if notes else 0, 1, 1))
    return fig


def _notes(table: Table1) -> list[str]:
    """The footnote lines printed under the plot, wrapped."""
    lines = []
    for note in footnotes(table):
        if note.startswith("Not used for"):  # per-cell failures: Table 1 lists them; the figure lists failed models
            continue
        lines += textwrap.wrap(note, WRAP, subsequent_indent="  ")
    return lines
