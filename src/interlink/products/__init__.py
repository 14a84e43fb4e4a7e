"""products layer."""
