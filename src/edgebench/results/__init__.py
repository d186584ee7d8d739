"""Results: records and the SQLite store."""
from edgebench.results.record import Record
from edgebench.results.store import Store

__all__ = ["Record", "Store"]
