"""A matplotlib Figure as an inline <svg> element for the HTML report: text as <text> (not glyph
outlines), ids salted per figure so several figures share one page, and no date, so re-rendering
the same records gives the same bytes."""
from __future__ import annotations

import io
import re


def figure_svg(fig, key: str) -> str:
    """`fig` as one <svg>...</svg> string to inline in HTML. `key` salts the element ids matplotlib
    makes (clip paths, markers), which must be unique on the page: give every figure its own."""
    import matplotlib

    rc = {
        # text stays text: a few hundred bytes a label instead of kilobytes of outlines, selectable
        # and searchable in the browser, in the page's own sans-serif when DejaVu is not installed
        "svg.fonttype": "none",
        "svg.hashsalt": f"edgebench-{key}",  # fixed salt: deterministic ids; per figure: unique ones
        # one family and the generic fallback, not matplotlib's list of ten, in every <text>
        "font.sans-serif": ["DejaVu Sans"],
    }
    buf = io.StringIO()
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    start = text.index("<svg")
    svg = text[start:]
    svg = svg.replace("<svg", f'<svg class="figure" data-figure="{key}" role="img"', 1)
    return _squeeze(svg)


def _squeeze(svg: str) -> str:
    """Drop the indentation, comments, RDF metadata and group names matplotlib writes."""
    svg = re.sub(r"<!--.*?-->|<metadata>.*?</metadata>", "", svg, flags=re.S)
    # groups are named after their artists ("axes_1", "patch_2"), the same in every figure and
    # never referenced: unnamed, ids stay unique on the page (clip paths' and markers' are salted)
    svg = re.sub(r'<g id="[^"]*"', "<g", svg)
    svg = re.sub(r"\n\s*", "\n", svg)
    # style blocks and path data keep their meaning without the line breaks either
    return svg.strip()
