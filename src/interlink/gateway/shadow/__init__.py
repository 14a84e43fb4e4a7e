"""Shadow upstreams: copies of requests sent beside the primary, and their answers compared."""
