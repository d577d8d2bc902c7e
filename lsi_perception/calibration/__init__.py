"""Thermal-to-RGB registration for rigs whose cameras are not co-aligned (``lsi calibrate``), without ROS.

``homography``: point pairs (clicked, from a YAML or CSV file) or a heated checkerboard seen by both
cameras -> a RANSAC homography (OpenCV) with its reprojection error and a params-file snippet for the node's
``thermal_to_rgb_homography``. ``check``: how well a homography registers real image pairs (an edge overlay
to look at, an edge mutual-information score, and the shift that would score better).
"""
