"""The final report on the test set (``data.test_list``): scored once, after training, with
``best.safetensors`` (chosen on validation), never used to pick anything. Writes into the run folder
``test_metrics.json`` (Reasonable MR all / day / night, the checkpoint's step and validation MR, and the
``lsi eval`` command that re-scores and diagnoses the detections) and ``test_results.txt`` (the
detections in the benchmark's txt format).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from lsi_perception.checkpoint import build_model_from_checkpoint
from lsi_perception.config import InferenceConfig
from lsi_perception.data.transforms import build_eval_transforms
from lsi_perception.eval import load_annotations, write_results_txt
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.data import (
    _Collate,
    ground_truth_document,
    restrict_annotations,
    test_annotations_path,
)
from lsi_perception.train.engine import (
    VALIDATION_PROTOCOL,
    AmpSettings,
    predict_loader,
    validation_metrics,
)

REPORT_FILE = "test_metrics.json"
RESULTS_FILE = "test_results.txt"
GROUND_TRUTH_FILE = "test_annotations.json"  # the test set's own labels, where no annotation file was given


def final_test_report(cfg: TrainConfig, checkpoint: Path, device: torch.device, amp: AmpSettings,
                    inference: InferenceConfig) -> dict[str, Any]:
    """Score ``checkpoint`` on ``data.test_list`` (with the checkpoint's own preprocessing) and write
    ``<checkpoint folder>/test_metrics.json`` and ``test_results.txt``; returns the report."""
    from lsi_perception.train.data import build_dataset

    net, meta = build_model_from_checkpoint(checkpoint)
    dataset = build_dataset(cfg.data, "test", cfg.model.class_names, build_eval_transforms(meta.preprocess))
    ann_path = test_annotations_path(cfg.data)
    if ann_path is not None:
        annotations = load_annotations(ann_path)
        if set(annotations.im_names) != set(dataset.names):
            annotations = restrict_annotations(annotations, set(dataset.names))
    else:  # written beside the results, so the rescore command below works on any dataset
        ann_path = checkpoint.parent / GROUND_TRUTH_FILE
        ann_path.write_text(json.dumps(ground_truth_document(dataset)) + "\n")
        annotations = load_annotations(ann_path)
    loader = DataLoader(dataset, batch_size=cfg.runtime.batch_size, shuffle=False,
                        num_workers=cfg.runtime.workers, collate_fn=_Collate(meta.preprocess))
    detections = predict_loader(net.to(device), loader, inference, device, amp)
    metric = cfg.data.validation_metric
    scores = validation_metrics(annotations, detections, metric, VALIDATION_PROTOCOL)
    if metric == "ap":  # the MR beside it, as KAIST papers give it
        scores.update(validation_metrics(annotations, detections, "mr", VALIDATION_PROTOCOL))
    results_path = write_results_txt(checkpoint.parent / RESULTS_FILE, annotations, detections)
    report = {
        "test_list": cfg.data.test_list, "images": len(dataset), "checkpoint": str(checkpoint),
        "checkpoint_step": meta.provenance.get("step"), "validation": meta.provenance.get("metrics", {}),
        **scores,
        "metric": metric,
        "protocol": VALIDATION_PROTOCOL,
        "results_file": str(results_path),
    }
    if ann_path is not None:  # the same figures, plus where the errors come from, at the model's operating point
        report["rescore_command"] = (
            f"lsi eval --annotations {ann_path} --results {results_path} --protocol {VALIDATION_PROTOCOL} "
            f"--breakdown {meta.inference.score_threshold:g}" + (" --metric both" if metric == "ap" else ""))
    (checkpoint.parent / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")
    return report
