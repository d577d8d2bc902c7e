# lsi_perception: make help lists the targets. Every target sets up .venv on first use.
# ROS_DISTRO=jazzy selects the ROS 2 Jazzy wheels and their own venv (.venv-jazzy); default Kilted (.venv).
ifeq ($(ROS_DISTRO),jazzy)
VENV ?= .venv-jazzy
else
VENV ?= .venv
endif
PY := $(VENV)/bin/python
SETUP := tools/setup_venv.sh
export LSI_VENV := $(abspath $(VENV))

.PHONY: help setup setup-gpu demo test test-ros check-colcon lint bench model experiment experiment-regime clean

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

setup:  ## build .venv: torch, timm, ROS 2 Kilted wheels (ROS_DISTRO=jazzy: Jazzy, .venv-jazzy), vision_msgs
	@bash $(SETUP)

setup-gpu: setup  ## swap onnxruntime for onnxruntime-gpu (CUDA/TensorRT providers; requirements/gpu.txt)
	$(PY) -m pip uninstall -y onnxruntime onnxruntime-gpu
	$(PY) -m pip install -r requirements/gpu.txt

demo: setup  ## synthetic drive -> bag -> lsi_detector node over DDS -> demo_out/
	$(PY) -m lsi_perception.cli demo

test: setup  ## the whole test suite (CPU, real ROS 2 over DDS) + lint
	$(PY) -m ruff check lsi_perception test launch setup.py
	$(PY) -m pytest

test-ros: setup  ## only the tests over ROS 2 / DDS (marker ros); fails if rclpy does not import
	LSI_REQUIRE_ROS=1 $(PY) -m pytest -m ros

check-colcon: setup  ## colcon build (no symlinks) + start the installed node + colcon test; removes the venv's editable install
	bash tools/check_colcon_install.sh $(VENV)

lint: setup  ## ruff
	$(PY) -m ruff check lsi_perception test launch setup.py

bench: setup  ## benchmarks: model latency/memory, train step, node overhead (writes bench_out/)
	$(PY) -m lsi_perception.cli bench all --out bench_out

model: setup  ## retrain the shipped model (2 CPU cores: ~36 min from a fresh clone, setup and data generation included) and export it to models/ (fp16)
	$(PY) -m lsi_perception.cli train --config config/train_synthetic_warm_mid.yaml
	$(PY) -m lsi_perception.cli train --export-shipped runs/synthetic_warm_mid_b0/best.safetensors

experiment: setup  ## delta=0 vs LSI vs modality dropout, 3 seeds + calibration (2 CPU cores, ~60 min) -> docs/experiment.md
	$(PY) -m lsi_perception.train.experiment --scale cpu $(ARGS)

experiment-regime: setup  ## does LSI help a model that neglects RGB? diagnostics + remedies, 3 seeds (2 CPU cores, <= 60 min) -> docs/experiment_regime.md
	$(PY) -m lsi_perception.train.regime --scale cpu $(ARGS)

clean:  ## remove generated outputs (keeps .venv)
	rm -rf demo_out bench_out runs .pytest_cache .ruff_cache
