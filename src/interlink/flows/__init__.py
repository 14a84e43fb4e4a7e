"""Flows run durably over the store: runs and step checkpoints (``runs.py``), their store calls
batched into shared transactions (``commits.py``), the engine that runs a flow's steps (a
split's as child runs) with retries, onError steps and saga compensation and resumes pending
and due waiting runs (``engine.py``), the step kinds (``steps/``), the flat step numbering that
lets one pointer resume inside a branch (``layout.py``), idempotency keys (``keys.py``), a
System call (``calls.py``), publishing through the mesh (``publish.py``), the schedule trigger
(``scheduler.py``, ``schedules.py``), the polling and queue triggers connectors plug into
(``triggers/``), and what operators do to runs: pages, counts, cancel, retry
(``control.py``); the call transport and the timer the engine waits on are pluggable
(``calls.py``, ``timing.py``), which `interlink flows test` uses to run a flow's test cases on
mocks and a virtual clock (``mocks.py``, ``harness.py``). `interlink serve` runs them
(``runtime/flows.py``); `interlink flows run` runs one by hand."""
