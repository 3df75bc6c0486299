# The two commands a person needs are `make run` and `make test`; the rest are for developers.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
GEN := build/gen
PROTOS := $(shell find protos -name '*.proto')
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: setup protos browser run test test-unit test-integration lint bench load clean k8s-validate

setup: $(VENV)/.installed $(GEN)/.stamp

$(VENV)/.installed: requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	@$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	@# Make the repository root and the generated code importable from every entry point.
	@$(BIN)/python scripts/link_venv.py
	@touch $@

$(GEN)/.stamp: $(PROTOS) $(VENV)/.installed
	@rm -rf $(GEN) && mkdir -p $(GEN)
	@$(BIN)/python -m grpc_tools.protoc -I protos \
		--python_out=$(GEN) --grpc_python_out=$(GEN) \
		--mypy_out=$(GEN) --mypy_grpc_out=$(GEN) $(PROTOS)
	@touch $@

protos: $(GEN)/.stamp

run: setup
	$(BIN)/python -m devstack run

# The browser tests drive Debian's chromium through Playwright (no downloaded browser builds);
# the CJK fonts make the screenshots the tests save readable.
browser:
	@command -v chromium >/dev/null && test -d /usr/share/fonts/opentype/noto || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }
	@command -v chromium >/dev/null || { echo "chromium is missing and could not be installed" >&2; exit 1; }

# One pytest run over every tier: the session starts PostgreSQL and S3 once (tests/conftest.py).
test: setup browser
	$(BIN)/python -m pytest tests -q

test-unit: setup
	$(BIN)/python -m pytest tests/unit -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services devstack
	$(BIN)/lint-imports
	cd protos && ../$(BIN)/buf lint
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:protos/buf.yaml 2>/dev/null; then \
		cd protos && ../$(BIN)/buf breaking --against '../.git#branch=main,subdir=protos'; \
	else echo "buf breaking: no protos on main yet, nothing to compare"; fi

bench: setup
	$(BIN)/python -m load_tests.bench

load: setup
	$(BIN)/python -m load_tests.load

# Render every k8s overlay, validate it offline against the Kubernetes schemas, and run the
# manifest policy tests (they also run in `make test`). No cluster, kubectl or Docker needed.
k8s-validate: setup
	$(BIN)/python -m k8s.validate
	$(BIN)/python -m pytest tests/k8s -q

clean:
	rm -rf build .devstack
