"""Launch the lsi_detector node with its params file (and optionally RViz).

    ros2 launch lsi_perception lsi_detector.launch.py namespace:=robot1 \
        rgb_topic:=/cam/color/image_raw thermal_topic:=/flir/image_raw device:=cuda rviz:=true

Arguments (``ros2 launch lsi_perception lsi_detector.launch.py --show-args``): params_file, namespace,
checkpoint, device, use_sim_time, autostart, rgb_topic, thermal_topic, rviz. The topic arguments remap the
node's inputs ``rgb/image_raw`` / ``thermal/image_raw`` (the only way topics are chosen). Defaults live in
config/lsi_detector.yaml (keyed ``/**`` so it applies under any namespace) and the node's code.

What each argument becomes is decided in lsi_perception/node_logic/launch_plan.py (no ROS import, tested
everywhere); this file only turns that plan into launch_ros actions. The detector uses the package's Fast
DDS profile for large frames unless a DDS configuration is already chosen (lsi_perception/dds.py); the
launch process itself keeps the defaults (its own ROS node moves no frames, and a large segment would be
left in /dev/shm when the launch is killed). When the detector exits, the launch ends (RViz is never left
behind); when the launch dies, the detector ends itself (lsi_perception/child_processes.py).
"""
from pathlib import Path

import launch.logging
from launch.actions import DeclareLaunchArgument, EmitEvent, LogInfo, OpaqueFunction
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription
from lsi_perception.dds import large_frames_choice
from lsi_perception.node_logic.launch_plan import LAUNCH_ARGUMENTS, PACKAGE, detector_plan, rviz_plan


def _end_launch_unless_ending(context, *args, **kwargs):
    """The detector exited on its own (bad parameters, model missing): end the launch so nothing it started
    (RViz) is left running. Not when the launch is already ending: a second Shutdown event would make
    launch_ros shut its ROS adapter down twice and report an error."""
    if context.is_shutdown:
        return None
    return [EmitEvent(event=Shutdown(reason="lsi_detector exited"))]


def _nodes(context, *args, **kwargs):
    """The detector (and RViz when asked for and installed), from the plan for the given arguments."""


    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    share = Path(FindPackageShare(PACKAGE).perform(context))
    logger = launch.logging.get_logger("lsi_detector.launch")
    plan = detector_plan(values, share, large_frames_choice().set_env)
    for warning in plan.warnings:
        logger.warning(warning)
    actions = [LifecycleNode(
        package=plan.package, executable=plan.executable, name=plan.name, namespace=plan.namespace,
        parameters=plan.parameters, remappings=plan.remappings, additional_env=plan.env, output="screen",
        emulate_tty=True,
        on_exit=OpaqueFunction(function=_end_launch_unless_ending),
    )]
    rviz, warning = rviz_plan(values, share)
    if warning:
        logger.warning(warning)
    if rviz is not None:
        actions.append(Node(package=rviz.package, executable=rviz.executable, name=rviz.name,
                            namespace=rviz.namespace, parameters=rviz.parameters, remappings=rviz.remappings,
                            arguments=rviz.arguments, output="log"))
    return actions


def generate_launch_description() -> LaunchDescription:
    dds = large_frames_choice()  # for the detector only (its environment, _nodes)
    return LaunchDescription([
        *(DeclareLaunchArgument(a.name, default_value=a.default, description=a.description) for a in LAUNCH_ARGUMENTS),
        LogInfo(msg=f"lsi_detector's {dds.description}"),
        OpaqueFunction(function=_nodes),
    ])
