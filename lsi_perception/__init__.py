"""lsi_perception: RGB + thermal pedestrian detection (two-stream PVT + LSI modality balance) for ROS 2."""

__version__ = "0.1.0"
