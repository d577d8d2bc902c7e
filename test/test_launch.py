"""The launch file where launch_ros imports (a ROS distro); static checks live in test_ros_foundation.py."""
from __future__ import annotations

import importlib.util

import pytest


def test_launch_description_builds(repo_root):
    pytest.importorskip("launch_ros", reason="launch_ros has no pip wheel; runs on a machine with a ROS 2 distro")
    from launch.actions import DeclareLaunchArgument

    from launch import LaunchContext

    spec = importlib.util.spec_from_file_location("lsi_launch", repo_root / "launch" / "lsi_detector.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    names = {a.name for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert {"params_file", "checkpoint", "device", "namespace", "use_sim_time", "rgb_topic", "thermal_topic",
            "rviz"} <= names
    context = LaunchContext()
    for action in description.entities:
        if isinstance(action, DeclareLaunchArgument):
            action.visit(context)
    context.launch_configurations["checkpoint"] = "/tmp/model.safetensors"
    nodes = module._detector(context)
    assert len(nodes) == 1
