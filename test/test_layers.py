"""Every import points down the layers of docs/architecture.md, and the ROS-free layers load no ROS.

The import graph is read from the modules' import statements (function-local imports included) with
``ast``; the second test imports the ROS-free packages in a fresh interpreter and looks at what got loaded.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lsi_perception"
# Lowest first; a module may import only from layers with a smaller number (same layer: its own unit only).
LAYERS = {
    "lsi_perception": 0, "resources": 0,
    "config": 1, "cpu_threads": 1, "dds": 1, "dds_shm": 1, "child_processes": 1, "device": 1,
    "model": 2, "imaging": 2, "eval": 2,
    "losses": 3, "data": 3, "checkpoint": 3, "training_data": 3,
    "testing": 4,
    "onnx_export": 5,
    "backends": 6,
    "inference": 7, "train": 7,
    "pipeline": 8,
    "node_logic": 9, "predict": 9, "calibration": 9,
    "bag": 10, "ros": 10,
    "demo": 11, "bench": 11,
    "cli": 12,
}
ROS_PACKAGES = {"rclpy", "sensor_msgs", "std_msgs", "vision_msgs", "diagnostic_msgs", "rcl_interfaces",
                "message_filters", "cv_bridge", "builtin_interfaces", "geometry_msgs", "rosgraph_msgs", "launch",
                "launch_ros"}
MAY_IMPORT_ROS = {"bag", "ros", "demo", "bench"}  # rclpy adapters and tools (bag: player and recorder)


def _unit(module: str) -> str:
    parts = module.removesuffix(".__init__").split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement of ``path``, relative imports resolved."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.removesuffix(".__init__") if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                found.append((".".join(base + ([node.module] if node.module else [])), node.lineno))
            else:
                found.append((node.module, node.lineno))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


def test_every_unit_has_a_layer():
    units = {_unit(".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)) for p in _modules()}
    assert units <= set(LAYERS), f"add {sorted(units - set(LAYERS))} to LAYERS (and docs/architecture.md)"


def test_no_import_points_up_a_layer_and_ros_stays_in_the_adapters():
    upward, ros = [], []
    for path in _modules():
        source = _unit(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
        for target, line in _imports(path):
            top = target.split(".")[0]
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            if top == "lsi_perception":
                unit = _unit(target)
                if unit != source and LAYERS[unit] >= LAYERS[source]:
                    upward.append(where)
            elif top in ROS_PACKAGES and source not in MAY_IMPORT_ROS:
                ros.append(where)
    assert not upward, "imports pointing up (or sideways) the layers:\n" + "\n".join(upward)
    assert not ros, "ROS imports outside the adapters:\n" + "\n".join(ros)


@pytest.mark.parametrize("modules", [
    "lsi_perception.pipeline.processor, lsi_perception.pipeline.sync, lsi_perception.pipeline.detection_codec",
    "lsi_perception.node_logic.node_config, lsi_perception.node_logic.monitor, lsi_perception.node_logic.launch_plan",
    "lsi_perception.bag.detect, lsi_perception.bag.ground_truth",
    "lsi_perception.predict.runner, lsi_perception.predict.sources, lsi_perception.predict.writers",
])
def test_ros_free_layers_load_no_ros(modules):
    code = (f"import sys, {modules}\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(ROS_PACKAGES)!r} "
            "or m.startswith('lsi_perception.ros'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"importing {modules} loaded {proc.stdout.strip()} {proc.stderr[-2000:]}"
