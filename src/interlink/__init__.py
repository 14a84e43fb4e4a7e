"""Interlink: an integration estate as code, and the runtime that runs it."""

from interlink._native import guard

guard()  # before anything imports a compiled module (see _native.py)

from interlink.errors import InterlinkError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["InterlinkError", "__version__"]
