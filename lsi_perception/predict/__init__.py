"""``lsi predict``: the detector over image folders or videos, offline, with the node's per-pair pipeline.

``sources`` (folder pairs matched by name, video pairs), ``runner`` (``run_predict``: source ->
``pipeline.PairProcessor`` -> stages -> sinks), ``writers`` (KAIST txt, COCO JSON, image index, overlays).
No ROS.
"""
