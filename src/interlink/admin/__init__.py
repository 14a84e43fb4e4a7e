"""admin layer."""
