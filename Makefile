# make book            set up .venv if needed, execute every chapter (full profile), build _build/html
# make book PROFILE=quick
# make test            set up .venv if needed, run the test suite
# make test-fast       the tests not marked slow (no book builds)
# make lint            ruff on lib/, tests/ and benchmarks/
# make bench           run the benchmark scripts
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= full
ARGS    ?=
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed

.PHONY: book test test-fast lint bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Optional system packages: Chromium for the browser test, the Fashion-MNIST files.
# Installed with apt where we are root on Debian/Ubuntu; skipped elsewhere.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=""; \
	  command -v chromium >/dev/null || missing="$$missing chromium"; \
	  [ -d /usr/share/datasets/fashion-mnist ] || missing="$$missing dataset-fashion-mnist"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) \
	      || echo "warning: could not install$$missing; the tests that need them will be skipped"; \
	  fi; \
	fi

book: $(STAMP) system-deps
	$(PY) -m lib build --profile $(PROFILE) $(ARGS)

test: $(STAMP) system-deps
	$(PY) -m pytest $(ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests benchmarks

bench: $(STAMP)
	for script in benchmarks/[!_]*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf _build
