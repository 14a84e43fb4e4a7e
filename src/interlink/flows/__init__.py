"""Flows run durably over the store: runs and step checkpoints (``runs.py``), the engine that
executes map, filter, call and publish steps with retries and saga compensation and resumes
pending runs (``engine.py``), a System call (``calls.py``), and publishing through the mesh
(``publish.py``). Runs start by hand (`interlink flows run`); serve does not start them yet."""
