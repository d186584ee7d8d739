"""Table 1 rendered: markdown, CSV, JSON, the terminal's plain text and one self-contained HTML
page (with the compare view's), from a built Table1."""
