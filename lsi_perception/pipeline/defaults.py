"""Defaults shared by the ``lsi_detector`` node and the offline tools (one place each).

The node declares its parameters from ``node_logic.node_config.NodeConfig``, whose defaults come from
here; ``lsi bag detect`` and the demo use the same values, so offline results match the node's.
"""
from __future__ import annotations

# Topics, relative to the node's namespace. Choose the cameras' topics by remapping the two inputs
# (``--ros-args -r rgb/image_raw:=/cam/color/image_raw``, or the launch file's rgb_topic:= argument).
RGB_TOPIC = "rgb/image_raw"
THERMAL_TOPIC = "thermal/image_raw"
DETECTIONS_TOPIC = "detections"
OVERLAY_TOPIC = "detections/image"
LABEL_INFO_TOPIC = "label_info"

# Approximate-time pairing of the RGB and thermal streams.
SLOP_S = 0.05  # largest stamp difference between paired images
QUEUE_SIZE = 10  # messages kept per stream while waiting for a partner
# Stamps going back further than this (s) are a new timeline (bag loop, /clock reset): pairing and tracks reset.
TIME_JUMP_THRESHOLD_S = 1.0

# thermal pixels -> RGB pixels, row-major 3x3; identity = co-aligned cameras of the same size
IDENTITY_HOMOGRAPHY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

# What to do while one stream is missing: ``wait`` publishes nothing until both are back (the network was
# trained on registered pairs; its scores on a blanked modality are not calibrated, and a clear gap plus a
# WARN is better for a planner than silently worse detections); ``blank`` detects on the live stream with
# the other blanked. Offline (``lsi bag detect``) an unpaired image is always ``wait``: no output.
MISSING_MODALITY_POLICIES = ("wait", "blank")
MISSING_MODALITY = "wait"
