"""contracts layer."""
