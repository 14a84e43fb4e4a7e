"""Resilience around each upstream call: retries, the circuit breaker and the bulkhead."""
