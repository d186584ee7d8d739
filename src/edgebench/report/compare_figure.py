"""The compare view's figure: each matched cell's p50 ratio to the first run, with its 95%
bootstrap interval, on a logarithmic axis with a line at 1 (no change)."""
from __future__ import annotations

import math

from edgebench.report.distribution import log_ticks

VERDICT_COLORS = {"faster": "#2b7bba", "slower": "#d95f02", "no significant change": "#777777"}


def ratio_rows(comparison) -> list[tuple]:
    """(label, ratio, (lo, hi) or None, verdict) per cell and later run with a ratio, in the order
    of `comparison.cells` (a report.compare.Comparison, or anything with its fields)."""
    rows = []
    several = len(comparison.labels) > 2
    for cell in comparison.cells:
        for i in range(1, len(comparison.labels)):
            ratio = cell.ratio[i] if i < len(cell.ratio) else None
            if ratio is None:
                continue
            label = f"{cell.model} {cell.backend} {cell.precision}" + (f" ({comparison.labels[i]})" if several else "")
            ci = cell.ci[i] if i < len(cell.ci) else None
            rows.append((label, ratio, ci, cell.verdict[i] if i < len(cell.verdict) else ""))
    return rows


def draw_ratios(comparison):
    """A matplotlib Figure of `ratio_rows`: a dot per ratio (run i p50 / first run p50; < 1 is
    faster), a bar for its interval, coloured by verdict. None when no cell has a ratio."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    rows = ratio_rows(comparison)
    if not rows:
        return None
    fig = Figure(figsize=(8.0, 1.1 + 0.3 * len(rows)))
    ax = fig.subplots()
    for y, (_, ratio, ci, verdict) in enumerate(rows):
        color = VERDICT_COLORS.get(verdict, "black")
        if ci:
            ax.plot([ci[0], ci[1]], [y, y], color=color, linewidth=3, solid_capstyle="butt")
        ax.plot([ratio], [y], "o", color=color, markersize=6)
    ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    # 1 in the middle: as far to the faster side as to the slower
    ends = [v for _, ratio, ci, _ in rows for v in ((ratio,) + (tuple(ci) if ci else ())) if v and v > 0]
    reach = 1.15 * max(abs(math.log(v)) for v in ends) or math.log(1.1)
    ax.set_xlim(math.exp(-reach), math.exp(reach))
    ticks = log_ticks(math.exp(-reach), math.exp(reach))
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(f"p50 ratio to {comparison.labels[0]} (< 1: faster; bars: 95% bootstrap interval)", fontsize=9)
    ax.legend(handles=[Line2D([], [], color=c, marker="o", linewidth=3, label=v) for v, c in VERDICT_COLORS.items()],
              fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=3, frameon=False)
    fig.tight_layout(pad=0.3)
    return fig
