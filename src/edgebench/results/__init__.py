"""Results: runs, their records and the SQLite store."""
from edgebench.results.record import Record, Status
from edgebench.results.run import Run, RunStatus
from edgebench.results.store import Store

__all__ = ["Record", "Run", "RunStatus", "Status", "Store"]
