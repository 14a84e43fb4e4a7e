"""The example estate (`retail/`) and the systems `interlink demo` runs beside it."""
