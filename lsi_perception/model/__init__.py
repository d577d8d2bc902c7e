"""The two-stream RGB + thermal detector network and its box decoding (pure PyTorch, no I/O).

``build_model(cfg)`` -> ``LSIDetectorNet``; ``decode(outputs, cfg)`` -> per-image detections.
"""
from lsi_perception.model.boxes import grid_centers, ltrb_to_xyxy, xyxy_to_ltrb
from lsi_perception.model.network import LSIDetectorNet, build_model
from lsi_perception.model.postprocess import decode, dense_predictions, ranking_scores, select_detections

__all__ = [
    "LSIDetectorNet",
    "build_model",
    "decode",
    "dense_predictions",
    "grid_centers",
    "ltrb_to_xyxy",
    "ranking_scores",
    "select_detections",
    "xyxy_to_ltrb",
]
