"""The serving process: the compiled snapshot, reloads, the serve loop and the gateway it hosts."""
