"""Flows run durably over the store: runs and step checkpoints (``runs.py``), the engine that
executes map, filter, call and publish steps with retries and saga compensation and resumes
pending runs (``engine.py``), a System call (``calls.py``), publishing through the mesh
(``publish.py``), and what operators do to runs: pages, counts, cancel, retry (``control.py``).
`interlink serve` runs them (``runtime/flows.py``); `interlink flows run` runs one by hand."""
