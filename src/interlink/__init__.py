"""Interlink: an integration estate as code, and the runtime that runs it."""

from interlink.errors import InterlinkError

__version__ = "0.1.0"
__all__ = ["InterlinkError", "__version__"]
