"""The event mesh: CloudEvents ingestion, the log behind one bus interface, and delivery."""
