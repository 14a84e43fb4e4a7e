"""Several gateway worker processes on one port: the worker, its supervisor, and what links them."""
