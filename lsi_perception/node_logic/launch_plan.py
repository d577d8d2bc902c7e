"""What ``launch/lsi_detector.launch.py`` starts, decided without ROS (no rclpy, launch or launch_ros import).

The launch file only declares ``LAUNCH_ARGUMENTS``, reads their values and turns the plans below into
launch_ros actions, so everything that can go wrong is here and tested on any machine:

* ``detector_plan``: which launch arguments become which parameters and remaps of the node. Topics are
  chosen by remapping only (the node's inputs are ``rgb/image_raw`` and ``thermal/image_raw``), and an
  empty argument keeps what the params file says.
* ``params_file_sections``: which sections of a params file apply to a node, with rcl's rules (``/**``
  any node, ``*`` one namespace token, ``**`` any number of them, nested namespace maps), so a file that
  would be silently ignored under the chosen namespace is reported.
* ``rviz_plan``: RViz only when ``rviz2`` is installed (else a warning, and the detector runs alone), in
  the node's namespace with the same remaps, so it shows this node's topics.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lsi_perception.child_processes import tied_child_env
from lsi_perception.pipeline.defaults import RGB_TOPIC, THERMAL_TOPIC

PACKAGE = "lsi_perception"
EXECUTABLE = "lsi_detector"
NODE_NAME = "lsi_detector"
PARAMS_FILE_NAME = "lsi_detector.yaml"
RVIZ_CONFIG_NAME = "lsi_perception.rviz"
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


@dataclass(frozen=True)
class LaunchArgument:
    name: str
    default: str
    description: str


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("params_file", "", "ROS params file for the node; empty = the package's config/lsi_detector.yaml. "
                                      "Key its section /**: (or /**/lsi_detector:) so it applies under any namespace"),
    LaunchArgument("namespace", "", "Namespace of the node and its topics (and of RViz)"),
    LaunchArgument("checkpoint", "", "Checkpoint path; empty = the params file's"),
    LaunchArgument("device", "", "auto | cpu | cuda | cuda:N; empty = the params file's"),
    LaunchArgument("use_sim_time", "false", "Use /clock (bag playback)"),
    LaunchArgument("autostart", "true", "Configure and activate at start; false = wait for a lifecycle manager"),
    LaunchArgument("rgb_topic", "", f"Remap the RGB input {RGB_TOPIC} to this topic (empty = no remap)"),
    LaunchArgument("thermal_topic", "", f"Remap the thermal input {THERMAL_TOPIC} to this topic (empty = no remap)"),
    LaunchArgument("rviz", "false", "Also open RViz (overlay + thermal image) when rviz2 is installed"),
)


@dataclass(frozen=True)
class NodePlan:
    """One node to start: what launch_ros' Node / LifecycleNode takes."""

    package: str
    executable: str
    name: str
    namespace: str
    parameters: list[Any] = field(default_factory=list)  # params-file paths and dicts, in order (later wins)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # added to the process's environment
    warnings: list[str] = field(default_factory=list)  # to log at launch


def parse_bool(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"launch argument {name}:={value!r} must be true or false")


def normalize_namespace(namespace: str) -> str:
    """'' or '/' -> '/'; 'robot1' or '/robot1/' -> '/robot1' (launch_ros prefixes a relative one with '/')."""
    parts = [p for p in namespace.strip().split("/") if p]
    return "/" + "/".join(parts)


def node_fqn(namespace: str, name: str = NODE_NAME) -> str:
    ns = normalize_namespace(namespace)
    return f"{ns.rstrip('/')}/{name}"


def input_remappings(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """rgb_topic / thermal_topic launch arguments -> remaps of the node's input names (empty: none)."""
    remaps = []
    for argument, topic in (("rgb_topic", RGB_TOPIC), ("thermal_topic", THERMAL_TOPIC)):
        target = values.get(argument, "").strip()
        if target:
            remaps.append((topic, target))
    return remaps


def detector_plan(values: Mapping[str, str], share_dir: Path, dds_env: Mapping[str, str] | None = None) -> NodePlan:
    """The lsi_detector node for the given launch argument values (missing ones take their defaults);
    ``dds_env``: the DDS variables for the node alone (``dds.large_frames_choice().set_env``)."""
    values = {**{a.name: a.default for a in LAUNCH_ARGUMENTS}, **values}
    params_file = Path(values["params_file"]).expanduser() if values["params_file"] else \
        share_dir / "config" / PARAMS_FILE_NAME
    overrides: dict[str, Any] = {
        "use_sim_time": parse_bool("use_sim_time", values["use_sim_time"]),
        "autostart": parse_bool("autostart", values["autostart"]),
    }
    for name in ("checkpoint", "device"):
        if values[name].strip():
            overrides[name] = values[name].strip()
    namespace = normalize_namespace(values["namespace"])
    warnings = []
    if not params_file.is_file():
        raise FileNotFoundError(f"params_file {params_file} does not exist")
    fqn = node_fqn(namespace)
    if not params_file_sections(params_file, fqn):
        warnings.append(
            f"params_file {params_file} has no section for {fqn} (sections: "
            f"{', '.join(_section_names(params_file)) or 'none'}), so the node runs on its defaults: key the "
            f"section /**: or /**/{NODE_NAME}: to apply it under any namespace")
    # The node ends itself when the launch process (this one) dies: launch exits at once on SIGTERM and
    # leaves its children running (lsi_perception.child_processes).
    return NodePlan(PACKAGE, EXECUTABLE, NODE_NAME, namespace, [str(params_file), overrides],
                    input_remappings(values), env={**tied_child_env({}), **(dds_env or {})}, warnings=warnings)


def rviz_plan(values: Mapping[str, str], share_dir: Path,
              environ: Mapping[str, str] | None = None) -> tuple[NodePlan | None, str | None]:
    """(RViz node or None, warning or None). RViz only with rviz:=true and rviz2 installed."""
    values = {**{a.name: a.default for a in LAUNCH_ARGUMENTS}, **values}
    if not parse_bool("rviz", values["rviz"]):
        return None, None
    environ = os.environ if environ is None else environ
    if find_executable("rviz2", "rviz2", environ) is None:
        distro = environ.get("ROS_DISTRO", "<distro>")
        return None, (f"rviz:=true but rviz2 is not installed (no rviz2 package in AMENT_PREFIX_PATH): the detector "
                      f"runs without it. Install it (apt install ros-{distro}-rviz2) or run RViz on another "
                      f"computer in the same ROS domain, showing {node_fqn(values['namespace']).rsplit('/', 1)[0]}"
                      f"/detections/image")
    namespace = normalize_namespace(values["namespace"])
    params = [{"use_sim_time": parse_bool("use_sim_time", values["use_sim_time"])}]
    return NodePlan("rviz2", "rviz2", "rviz2", namespace, params, input_remappings(values),
                    ["-d", str(share_dir / "rviz" / RVIZ_CONFIG_NAME)]), None


def find_executable(package: str, executable: str, environ: Mapping[str, str]) -> Path | None:
    """Where ``ros2 run``/launch_ros would find ``package``'s ``executable``: <prefix>/lib/<package>/ of the
    first prefix in AMENT_PREFIX_PATH whose ament index lists the package."""
    for prefix in filter(None, environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        marker = Path(prefix) / "share" / "ament_index" / "resource_index" / "packages" / package
        if marker.is_file():
            exe = Path(prefix) / "lib" / package / executable
            return exe if exe.is_file() and os.access(exe, os.X_OK) else None
    return None


# --------------------------------------------------------------------------------------------------
# Params files: which sections apply to a node (rcl's matching rules)


def params_file_sections(path: Path, fqn: str) -> list[str]:
    """The section names of the params file ``path`` that apply to the node ``fqn`` ("/ns/name")."""
    doc = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"params file {path} is not a mapping of node names to ros__parameters")
    target = [t for t in fqn.split("/") if t]
    return [name for name, _ in _sections(doc, []) if _matches(_pattern_tokens(name), target)]


def _section_names(path: Path) -> list[str]:
    doc = yaml.safe_load(Path(path).read_text()) or {}
    return [name for name, _ in _sections(doc, [])] if isinstance(doc, dict) else []


def _sections(doc: dict, prefix: list[str]) -> list[tuple[str, dict]]:
    """(node key as written, joined with its enclosing namespace keys; its ros__parameters) for each section."""
    out = []
    for key, value in doc.items():
        if not isinstance(value, dict):
            continue
        name = "/".join([*prefix, str(key).strip("/")]) if prefix else str(key)
        if "ros__parameters" in value:
            out.append((name if name.startswith("/") else "/" + name, value["ros__parameters"]))
        else:
            out.extend(_sections(value, [*prefix, str(key).strip("/")]))
    return out


def _pattern_tokens(name: str) -> list[str]:
    return [t for t in name.split("/") if t]


def _matches(pattern: list[str], target: list[str]) -> bool:
    """``**`` matches any number of tokens (also none), ``*`` exactly one; other tokens match literally."""
    if not pattern:
        return not target
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, target[i:]) for i in range(len(target) + 1))
    if not target:
        return False
    return (head == "*" or head == target[0]) and _matches(rest, target[1:])
