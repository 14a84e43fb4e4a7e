# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)

.PHONY: demo test lint typecheck unit bench clean native screenshots

# A line per stage, so a first run that takes minutes never looks stuck.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing pip 25.3 into $(VENV)"
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip==25.3
	@echo "==> installing interlink and its dependencies into $(VENV) (a minute or two)"
	@$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@
	@echo "==> installed; '. $(VENV)/bin/activate' puts interlink on your PATH"

# The gateway's request path compiled with mypyc (src/interlink/_native.py); a no-op when the
# build matches the sources, and until it runs again an edited module runs as plain Python.
native: $(STAMP)
	$(BIN)/python -m interlink._build_native

demo: $(STAMP) native
	$(BIN)/interlink demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs on several worker processes (pytest-xdist): its tests mostly wait on services
# and on the `interlink` processes they start, so more workers than cores pays off. Each worker
# is a process of its own, and every test names its schema, stream prefix, keys and ports
# afresh, so workers never share state. WORKERS=0 runs it in this one process.
WORKERS ?= 4

# Compiled bytecode kept under .venv even where PYTHONDONTWRITEBYTECODE is set: without it every
# worker and every `interlink` process a test starts compiles the sources (and pytest rewrites
# each test module's asserts) again, a second or more of CPU each, thousands of times a run.
PYCACHE := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(abspath $(VENV))/pycache

unit: $(STAMP)
	$(PYCACHE) $(BIN)/pytest -n auto tests/unit

# The coverage floor is a point or two under the total when it was set. The request path runs
# compiled here (native), as C that coverage cannot trace, so its modules count as missed: the
# same suite in plain Python covers 87%, with the build about 73%.
test: lint typecheck native
	$(PYCACHE) $(BIN)/pytest -n $(WORKERS) --cov=interlink --cov-report= --cov-fail-under=71

bench: $(STAMP)
	$(BIN)/python bench/check_estate.py

# The console's pages as PNGs in docs/console/, from a demo run (Debian's /usr/bin/chromium).
screenshots: $(STAMP) native
	$(BIN)/python bench/console_screenshots.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis src/interlink/_native.json
	find src -name '*.so' -delete
