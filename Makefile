VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck serve clean system-deps

# What the browser and PDF tests use; installed when this runs as root with apt (CI does), skipped otherwise.
SYSTEM_PACKAGES := chromium poppler-utils

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/trellis demo --db var/trellis.duckdb

serve: $(STAMP)
	$(VENV)/bin/trellis serve --db var/trellis.duckdb

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

system-deps:
	@if command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $(SYSTEM_PACKAGES) for the browser and PDF tests..."; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES)) >/dev/null 2>&1 \
	    || echo "could not install $(SYSTEM_PACKAGES): the browser and PDF tests will be skipped"; \
	else echo "chromium or pdftoppm is missing and cannot be installed here: the browser and PDF tests will be skipped"; fi

test: lint typecheck system-deps
	$(VENV)/bin/pytest -q -n 2 --dist loadfile; rc=$$?; if [ $$rc -eq 5 ]; then echo 'pytest collected no tests'; exit 0; fi; exit $$rc

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
