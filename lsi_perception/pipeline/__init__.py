"""The per-pair pipeline shared by the ``lsi_detector`` node and the offline tools, without ROS.

Message fields in, detections out: approximate-time pairing (``sync``), image decoding (``image_codec``),
thermal -> RGB registration (``alignment``), the ``PairProcessor`` running them and the ``Detector``
with the bad-input and missing-modality policies (``processor``), the Detection2DArray and time-stamp
codecs (``detection_codec``, ``stamps``), the overlay (``overlay``) and the shared defaults
(``defaults``). Nothing here imports rclpy: it works on rclpy messages and on rosbags objects alike,
because both expose the same fields.
"""
