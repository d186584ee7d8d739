"""Table 1 rendered: markdown, CSV, JSON and the terminal's plain text, from a built Table1."""
