"""estate layer."""
