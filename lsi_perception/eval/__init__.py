"""KAIST multispectral pedestrian benchmark evaluation: log-average miss rate (MR^-2), numpy only.

    ann = load_annotations("KAIST_annotation.json")
    result = evaluate(ann, load_results("MBNet_result.txt", ann))   # or {im_name: (N, 5) array}
    result.mr["reasonable"]["all"]   # 8.13 (percent)

``protocol="reference"`` (default) reproduces the KAIST reference evaluator; ``"strict"`` counts every
ground truth (see protocol.py). Files may be .gz/.xz/.bz2 compressed.
"""
from .annotations import AnnotationFormatError, KaistAnnotations, annotations_from_coco, load_annotations
from .metrics import Curve, EvalResult, evaluate, log_average_miss_rate
from .protocol import DEFAULT_PROTOCOL, PROTOCOLS, PROTOCOLS_BY_NAME, Protocol, get_protocol
from .results import DetectionTable, ResultsFormatError, load_results, write_results_txt, xyxy_to_xywh
from .settings import (
    CALTECH_DETECTION_HEIGHT_EXPANSION,
    FPPI_POINTS,
    SETTINGS,
    SETTINGS_BY_NAME,
    TIMES,
    Setting,
)

__all__ = [
    "AnnotationFormatError",
    "CALTECH_DETECTION_HEIGHT_EXPANSION",
    "Curve",
    "DEFAULT_PROTOCOL",
    "DetectionTable",
    "EvalResult",
    "FPPI_POINTS",
    "KaistAnnotations",
    "PROTOCOLS",
    "PROTOCOLS_BY_NAME",
    "Protocol",
    "ResultsFormatError",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "Setting",
    "TIMES",
    "annotations_from_coco",
    "evaluate",
    "get_protocol",
    "load_annotations",
    "load_results",
    "log_average_miss_rate",
    "write_results_txt",
    "xyxy_to_xywh",
]
