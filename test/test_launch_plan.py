"""What the launch file starts, decided by lsi_perception.node_logic.launch_plan (no launch_ros needed), and the
params file's reach under a namespace, checked against rcl's own parsing."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from lsi_perception.node_logic.launch_plan import (
    LAUNCH_ARGUMENTS,
    detector_plan,
    find_executable,
    node_fqn,
    params_file_sections,
    rviz_plan,
)
from lsi_perception.node_logic.node_config import defaults_as_ros_values


def _params_file(tmp_path: Path, key: str, **values) -> Path:
    """A params file whose one section is ``key``; a key with "/" in the middle may also be written nested."""
    path = tmp_path / f"params_{abs(hash(key))}.yaml"
    path.write_text(yaml.safe_dump({key: {"ros__parameters": values}}))
    return path


def test_defaults_start_the_node_on_the_shipped_params_file(repo_root):
    plan = detector_plan({}, repo_root)
    assert (plan.package, plan.executable, plan.name, plan.namespace) == \
        ("lsi_perception", "lsi_detector", "lsi_detector", "/")
    params_file, overrides = plan.parameters
    assert Path(params_file) == repo_root / "config" / "lsi_detector.yaml"
    assert overrides == {"use_sim_time": False, "autostart": True}
    assert plan.remappings == [] and plan.warnings == []


def test_arguments_become_parameters_and_remaps(repo_root, tmp_path):
    params = _params_file(tmp_path, "/**", slop=0.04)
    plan = detector_plan({"namespace": "robot1/", "params_file": str(params), "checkpoint": "/m/x.safetensors",
                          "device": "cuda:1", "use_sim_time": "True", "autostart": "false",
                          "rgb_topic": "/cam/color/image_raw", "thermal_topic": "flir/image"}, repo_root)
    assert plan.namespace == "/robot1"
    assert plan.parameters == [str(params), {"use_sim_time": True, "autostart": False,
                                             "checkpoint": "/m/x.safetensors", "device": "cuda:1"}]
    assert plan.remappings == [("rgb/image_raw", "/cam/color/image_raw"), ("thermal/image_raw", "flir/image")]
    assert plan.warnings == []


def test_bad_arguments_are_named(repo_root, tmp_path):
    with pytest.raises(ValueError, match="autostart"):
        detector_plan({"autostart": "maybe"}, repo_root)
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        detector_plan({"params_file": str(tmp_path / "nope.yaml")}, repo_root)


def test_a_params_file_keyed_by_bare_node_name_is_reported_under_a_namespace(repo_root, tmp_path):
    old_style = _params_file(tmp_path, "lsi_detector", slop=0.04)
    assert detector_plan({"params_file": str(old_style)}, repo_root).warnings == []
    [warning] = detector_plan({"params_file": str(old_style), "namespace": "robot1"}, repo_root).warnings
    assert "/robot1/lsi_detector" in warning and "/**" in warning


@pytest.mark.parametrize("namespace", ["", "robot1", "/fleet/robot7"])
def test_shipped_params_file_applies_under_any_namespace(repo_root, namespace):
    shipped = repo_root / "config" / "lsi_detector.yaml"
    assert params_file_sections(shipped, node_fqn(namespace)) == ["/**"]


def test_rviz_only_when_asked_and_installed(repo_root, tmp_path):
    assert rviz_plan({}, repo_root, environ={}) == (None, None)
    rviz, warning = rviz_plan({"rviz": "true", "namespace": "robot1"}, repo_root,
                              environ={"AMENT_PREFIX_PATH": str(tmp_path), "ROS_DISTRO": "jazzy"})
    assert rviz is None and "rviz2 is not installed" in warning and "ros-jazzy-rviz2" in warning
    assert "/robot1/detections/image" in warning

    prefix = tmp_path / "prefix"  # an installed rviz2, as the ament index shows it
    (prefix / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (prefix / "share" / "ament_index" / "resource_index" / "packages" / "rviz2").touch()
    exe = prefix / "lib" / "rviz2" / "rviz2"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    env = {"AMENT_PREFIX_PATH": os.pathsep.join([str(tmp_path / "empty"), str(prefix)])}
    assert find_executable("rviz2", "rviz2", env) == exe
    rviz, warning = rviz_plan({"rviz": "true", "namespace": "robot1", "thermal_topic": "/flir/image",
                               "use_sim_time": "true"}, repo_root, environ=env)
    assert warning is None
    assert rviz.namespace == "/robot1" and rviz.remappings == [("thermal/image_raw", "/flir/image")]
    assert rviz.parameters == [{"use_sim_time": True}]
    assert rviz.arguments[0] == "-d" and Path(rviz.arguments[1]).is_file()


def test_every_launch_argument_is_described():
    names = [a.name for a in LAUNCH_ARGUMENTS]
    assert len(names) == len(set(names))
    assert all(len(a.description) > 15 for a in LAUNCH_ARGUMENTS)


# ---------------------------------------------------------------------------------------------------
# The same questions answered by ROS itself


KEY_STYLES = ["/**", "lsi_detector", "/lsi_detector", "/**/lsi_detector", "/robot1/lsi_detector", "robot1/lsi_detector",
              "/robot2/lsi_detector", "/*/lsi_detector", "/**/other_node"]


@pytest.mark.ros
def test_shipped_params_file_applies_under_a_namespace_as_rclpy_reads_it(repo_root):
    rclpy = pytest.importorskip("rclpy")
    rclpy_parameter = pytest.importorskip("rclpy.parameter")

    shipped = str(repo_root / "config" / "lsi_detector.yaml")
    # rclpy's file reader (Jazzy and newer): everything sits in the wildcard section (Jazzy's reader cannot
    # match a namespaced node name against /**, Kilted's can)
    read = getattr(rclpy_parameter, "parameter_dict_from_yaml_file", None)
    if read is not None:
        assert set(read(shipped, use_wildcard=True)) == set(defaults_as_ros_values())
    # what a node under a namespace actually receives from --params-file (rcl's parser)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("lsi_detector", namespace="/robot1", context=context,
                                 cli_args=["--ros-args", "--params-file", shipped],
                                 automatically_declare_parameters_from_overrides=True)
        got = {name: node.get_parameter(name).value for name in defaults_as_ros_values()
               if node.has_parameter(name)}
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in got.items()} == defaults_as_ros_values()


@pytest.mark.ros
@pytest.mark.parametrize("key", KEY_STYLES)
def test_section_matching_agrees_with_rcl(tmp_path, key):
    """rcl parses --params-file for a node; the launch plan's matcher must agree on what applies."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    path = _params_file(tmp_path, key, slop=0.0421)
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        for namespace in ("/", "/robot1"):
            node = rclpy.create_node("lsi_detector", namespace=namespace, context=context,
                                     cli_args=["--ros-args", "--params-file", str(path)],
                                     automatically_declare_parameters_from_overrides=True)
            applied = node.get_parameter_or("slop", Parameter("slop", value=None)).value == 0.0421
            node.destroy_node()
            assert applied == bool(params_file_sections(path, node_fqn(namespace))), (key, namespace)
    finally:
        rclpy.try_shutdown(context=context)
