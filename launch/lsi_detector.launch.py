"""Launch the lsi_detector node with its params file (and optionally RViz).

    ros2 launch lsi_perception lsi_detector.launch.py rgb_topic:=/cam/color/image_raw \
        thermal_topic:=/flir/image_raw device:=cuda rviz:=true

Defaults live in config/lsi_detector.yaml (mirroring lsi_perception/ros/node_config.py); this file only
passes that YAML plus the arguments you give, so nothing here can drift from the node's defaults.
"""
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "lsi_perception"
EXECUTABLE = "lsi_detector"


def _detector(context, *args, **kwargs):
    """The node, with only the overrides that were actually given (empty argument = keep the YAML)."""
    overrides = {}
    for name in ("checkpoint", "device"):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    remappings = []
    for name, default in (("rgb_topic", "rgb/image_raw"), ("thermal_topic", "thermal/image_raw")):
        value = LaunchConfiguration(name).perform(context)
        if value:
            remappings += [(default, value), (f"{default}/compressed", f"{value}/compressed")]
    return [LifecycleNode(
        package=PACKAGE, executable=EXECUTABLE, name="lsi_detector",
        namespace=LaunchConfiguration("namespace"), output="screen", emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), overrides,
                    {"use_sim_time": LaunchConfiguration("use_sim_time")}],
        remappings=remappings,
    )]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=PathJoinSubstitution([share, "config", "lsi_detector.yaml"]),
                              description="ROS params file for the node (lsi_detector: ros__parameters: ...)"),
        DeclareLaunchArgument("checkpoint", default_value="", description="Checkpoint path; empty = the params file's"),
        DeclareLaunchArgument("device", default_value="", description="auto | cpu | cuda | cuda:N; empty = the params file's"),
        DeclareLaunchArgument("namespace", default_value="", description="Namespace of the node and its topics"),
        DeclareLaunchArgument("use_sim_time", default_value="false", description="Use /clock (bag playback)"),
        DeclareLaunchArgument("rgb_topic", default_value="", description="Remap the RGB input (empty = rgb/image_raw)"),
        DeclareLaunchArgument("thermal_topic", default_value="",
                              description="Remap the thermal input (empty = thermal/image_raw)"),
        DeclareLaunchArgument("rviz", default_value="false", description="Open RViz with the overlay and thermal image"),
        OpaqueFunction(function=_detector),
        Node(package="rviz2", executable="rviz2", name="rviz2", output="log",
             arguments=["-d", PathJoinSubstitution([share, "rviz", "lsi_perception.rviz"])],
             parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
             condition=IfCondition(LaunchConfiguration("rviz"))),
    ])
