# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.protolens-installed
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: demo test test-main lint format proto bench browser-deps clean

include mk/ndb.mk

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(BIN)/python -m example_app demo $(ARGS)

# Debian's chromium drives the browser tests; install it where it is missing.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "make test: installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	} || echo "make test: could not install chromium; browser tests will say why they skip"

# The main suite on SQLite, PostgreSQL and MariaDB, then the ndb adapters in
# their own venvs. pytest exits 5 when it collected nothing: that fails here
# like any error.
test: test-main test-ndb

test-main: $(STAMP) browser-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate orm_ext/entity_pb2.py from orm_ext/entity.proto with grpcio-tools.
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. orm_ext/entity.proto

bench: $(STAMP)
	for f in bench/[!_]*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(AE_VENV) $(CN_VENV) .tox build *.egg-info test-artifacts
	rm -f protolens.db* protolens-django.db* pipelines-broker.db* pipelines-state.db*
