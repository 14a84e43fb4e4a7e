"""Helpers shipped for tests: service checks, real processes, receivers, upstreams and a clock."""
