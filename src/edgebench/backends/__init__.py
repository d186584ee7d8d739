"""Backends: artifact -> something runnable. Heavy libraries are imported only when a backend
is created (see registry.BACKENDS)."""
from edgebench.backends.base import Backend, BackendContext
from edgebench.backends.registry import BACKENDS, availability, backend_class, create_backend, list_availability

__all__ = ["BACKENDS", "Backend", "BackendContext", "availability", "backend_class", "create_backend", "list_availability"]
