"""Flows run durably over the store: runs and step checkpoints (``runs.py``), the engine that
runs a flow's steps (a split's as child runs) with retries, onError steps and saga
compensation and resumes pending and due waiting runs (``engine.py``), the step kinds
(``steps/``), the flat step numbering that lets one pointer resume inside a branch
(``layout.py``), idempotency keys (``keys.py``), a System call (``calls.py``), and publishing
through the mesh (``publish.py``). Runs start by hand (`interlink flows run`); serve does not
start them yet."""
