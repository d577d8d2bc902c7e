# lsi_perception: make help lists the targets. Every target sets up .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
SETUP := tools/setup_venv.sh
export LSI_VENV := $(abspath $(VENV))

.PHONY: help setup demo test test-fast lint bench experiment clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup:  ## build .venv: torch, timm, ROS 2 Kilted wheels, vision_msgs (idempotent)
	@bash $(SETUP)

demo: setup  ## synthetic drive -> bag -> lsi_detector node over DDS -> demo_out/
	$(PY) -m lsi_perception.cli demo

test: setup  ## the whole test suite (CPU, real ROS 2 over DDS) + lint
	$(PY) -m ruff check lsi_perception test launch setup.py
	$(PY) -m pytest

lint: setup  ## ruff
	$(PY) -m ruff check lsi_perception test launch setup.py

bench: setup  ## benchmarks: model latency/memory, train step, node overhead (writes bench_out/)
	$(PY) -m lsi_perception.cli bench all --out bench_out

clean:  ## remove generated outputs (keeps .venv)
	rm -rf demo_out bench_out runs .pytest_cache .ruff_cache
