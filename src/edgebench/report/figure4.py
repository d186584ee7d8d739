"""Figure 4: inference-time speedup per model, a bar each, with a line at 1x."""
from __future__ import annotations

from pathlib import Path

from edgebench.report.table1 import Table1


def plot_speedup(table: Table1, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in table.rows if r.speedup is not None]
    names = [r.model for r in rows]
    values = [r.speedup for r in rows]
    colors = ["#2b7bba" if v >= 1 else "#d95f02" for v in values]  # slower models stand out
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(rows) + 2), 4.5))
    bars = ax.bar(range(len(rows)), values, color=colors)
    ax.axhline(1.0, color="black", linewidth=1, linestyle="--", label="1x (no change)")
    for bar, v in zip(bars, values):
        ax.annotate(f"{v:.2f}x", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(names, rotation=35, ha="right")
    ax.set_ylabel("speedup (pre p50 / post p50)")
    posts = sorted({r.post_backend for r in rows})
    ax.set_title(f"Inference speedup over PyTorch eager on {table.device_name}\n(post-opt: {', '.join(posts) or 'none'}; "
                 f"batch {table.batch_size}; mean {table.mean_speedup or 0:.2f}x)", fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
