"""The `interlink` command: a module per command group, and the assembly of the serving process."""
