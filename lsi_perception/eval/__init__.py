"""KAIST multispectral pedestrian benchmark evaluation: log-average miss rate (MR^-2), numpy only.

    ann = load_annotations("KAIST_annotation.json")
    result = evaluate(ann, load_results("MBNet_result.txt", ann))   # or {im_name: (N, 5) array}
    result.mr["reasonable"]["all"]   # 8.13 (percent)
"""
from .annotations import AnnotationFormatError, KaistAnnotations, annotations_from_coco, load_annotations
from .metrics import Curve, EvalResult, evaluate, log_average_miss_rate
from .results import DetectionTable, ResultsFormatError, load_results, write_results_txt
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
    "DetectionTable",
    "EvalResult",
    "FPPI_POINTS",
    "KaistAnnotations",
    "ResultsFormatError",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "Setting",
    "TIMES",
    "annotations_from_coco",
    "evaluate",
    "load_annotations",
    "load_results",
    "log_average_miss_rate",
    "write_results_txt",
]
