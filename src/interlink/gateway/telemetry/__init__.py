"""What the gateway records of each finished request: access log, metrics, connections."""
