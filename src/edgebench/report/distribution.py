"""Each cell's latency distribution, for the HTML report: one panel per cell of a model, a
histogram of its stored per-iteration samples on a shared logarithmic time axis, with its p50,
p90 and p99 marked."""
from __future__ import annotations

from edgebench.results.record import Record

COLORS = ("#2b7bba", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#66a61e")
BINS = 60
#: the axis ends at this quantile of the slowest cell, so that a few outliers do not squash every
#: histogram into one bar; how many samples lie beyond it is written on the panel
AXIS_QUANTILE = 99.9
#: (field of LatencyStats, label, line style) of the marked percentiles
MARKS = (("p50_ms", "p50", "-"), ("p90_ms", "p90", "--"), ("p99_ms", "p99", ":"))


def cell_label(rec: Record) -> str:
    """"onnxruntime fp32", with its options when it has some ("pytorch fp16 (cuda_graphs=True)")."""
    opts = ", ".join(f"{k}={v}" for k, v in rec.options.items())
    return f"{rec.backend} {rec.precision}" + (f" ({opts})" if opts else "")


def plotted(records: list[Record]) -> list[Record]:
    """The cells of `records` that have samples to plot (timed cells; failed ones before timing have none)."""
    return [r for r in records if r.latency.samples_ms and r.latency.host is not None]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Plainly labelled ticks for a log axis from lo to hi: 1-2-5 steps, else every integer
    multiple of a power of ten, where either gives three ticks spread over most of the axis;
    else evenly spaced ones."""
    import math

    from matplotlib.ticker import MaxNLocator

    decades = range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
    for subs in ((1, 2, 5), tuple(range(1, 10))):
        ticks = [float(f"{s * 10.0 ** k:.12g}") for k in decades for s in subs if lo <= s * 10.0 ** k <= hi]
        if len(ticks) >= 3 and math.log(ticks[-1] / ticks[0]) >= 0.6 * math.log(hi / lo):
            return ticks
    return [float(f"{t:.12g}") for t in MaxNLocator(5, steps=[1, 2, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]


def draw_distribution(records: list[Record]):
    """One model's cells as a matplotlib Figure: a panel per cell with samples (see `plotted`),
    the histogram of its samples (ms, log-spaced bins on an axis shared by every panel), and
    vertical lines at the stored p50, p90 and p99 (LatencyStats: a tail percentile with too few
    samples to estimate it is not drawn, and the panel says "n/a"). Built on a bare Figure, not
    pyplot: no GUI backend, no global figure state."""
    import numpy as np
    from matplotlib.figure import Figure

    cells = plotted(records)
    samples = [np.asarray(r.latency.samples_ms, dtype=float) for r in cells]
    lo = min(float(s.min()) for s in samples)
    hi = max(float(np.percentile(s, AXIS_QUANTILE)) for s in samples)
    lo, hi = (lo * 0.97, hi * 1.03) if hi > lo else (lo * 0.9, lo * 1.1)
    edges = np.geomspace(lo, hi, BINS + 1)
    height = 0.55 + 1.1 * len(cells)  # inches: a panel per cell, and the axis' labels
    fig = Figure(figsize=(9.0, height))
    # fixed margins instead of tight_layout, which draws the figure once more to measure it
    fig.subplots_adjust(left=0.005, right=0.995, top=1 - 0.2 / height, bottom=0.5 / height, hspace=0.45)
    axes = fig.subplots(len(cells), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, rec, s) in enumerate(zip(axes, cells, samples)):
        color = COLORS[i % len(COLORS)]
        counts, _ = np.histogram(s, edges)
        ax.stairs(counts, edges, fill=True, color=color, alpha=0.35)
        ax.stairs(counts, edges, color=color, linewidth=0.8)
        stats = rec.latency.host
        marks = []
        for attr, label, style in MARKS:
            value = getattr(stats, attr)
            if value is None:
                marks.append(f"{label} n/a (too few samples)")
                continue
            ax.axvline(value, color="black", linestyle=style, linewidth=1)
            marks.append(f"{label} {value:.3f} ms")
        beyond = int((s > hi).sum())
        text = f"{cell_label(rec)}: n={len(s):,}; " + ", ".join(marks)
        if beyond:
            text += f" ({beyond:,} beyond the axis, max {float(s.max()):.3f} ms)"
        ax.set_title(text, loc="left", fontsize=9, pad=2)
        ax.set_yticks([])
        ax.spines[["left", "right", "top"]].set_visible(False)
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
    axes[-1].set_xlabel("latency per batch (ms, log scale; lines: p50 solid, p90 dashed, p99 dotted)", fontsize=9)
    ticks = log_ticks(lo, hi)
    for ax in axes:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xticks([], minor=True)
        ax.tick_params(axis="x", labelsize=8)
    return fig
