"""The suite's progress bar: tqdm on a terminal, a bar that shows nothing otherwise."""
from __future__ import annotations


class _NoBar:
    total = 0

    def update(self, n=1):
        pass

    def set_description(self, s):
        pass

    def close(self):
        pass


def progress_bar(total: int, enabled: bool):
    """A bar over `total` cells; without `enabled`, one with the same methods that shows nothing."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="cell", dynamic_ncols=True)
