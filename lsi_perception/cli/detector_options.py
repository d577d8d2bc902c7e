"""The detector and per-pair pipeline options shared by the commands that run the node's pipeline offline
(``lsi bag detect``, ``lsi predict``): one place for their flags, defaults (the node's, ``NodeConfig``) and
checks, so that ``--backend auto`` (the default) means the same everywhere.

    add_detector_arguments(parser)          # --checkpoint --device --backend --precision --execution-provider
                                            # --score-threshold --thermal-to-rgb-homography
    detector, checkpoint = build_detector(args)
    print(f"detector: {describe_detector(detector)}")   # backend, device, precision and why this backend
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lsi_perception.backends import BACKEND_CHOICES, INFERENCE_PRECISIONS, ORT_PROVIDERS
from lsi_perception.node_logic.node_config import NodeConfig


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, runtime and registration flags, with the node's defaults."""
    d = NodeConfig()
    parser.add_argument("--checkpoint", type=Path, default=None, help="detector checkpoint (default: the shipped model)")
    parser.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--backend", default=d.backend, choices=BACKEND_CHOICES,
                        help="network runtime: auto (default: the fastest that gives torch's boxes here, logged), "
                             "torch, or onnxruntime (the checkpoint's cached ONNX export; same pre/post-processing)")
    parser.add_argument("--precision", default=d.precision, choices=INFERENCE_PRECISIONS,
                        help="auto | fp32 | fp16 | bf16 (torch only) | int8 (onnxruntime on the CPU: the export "
                             "statically quantized; not bit-equal to fp32)")
    parser.add_argument("--execution-provider", default=d.execution_provider, choices=ORT_PROVIDERS,
                        help="onnxruntime execution provider (auto: chosen with the backend)")
    parser.add_argument("--score-threshold", type=float, default=None, help="override the checkpoint's threshold")
    parser.add_argument("--thermal-to-rgb-homography", type=float, nargs=9, default=list(d.thermal_to_rgb_homography),
                        metavar="H", help="row-major 3x3 homography mapping thermal pixels to RGB pixels, as the node's "
                                          "parameter of the same name (default: identity, co-aligned cameras)")


def homography(args: argparse.Namespace) -> tuple[float, ...]:
    """``--thermal-to-rgb-homography``, checked by the node's own parameter validation."""
    value = tuple(args.thermal_to_rgb_homography)
    NodeConfig(thermal_to_rgb_homography=value).validate()
    return value


def build_detector(args: argparse.Namespace):
    """(Detector, checkpoint path) from the flags of ``add_detector_arguments``."""
    from lsi_perception.inference import Detector
    from lsi_perception.resources import resolve_checkpoint

    checkpoint = resolve_checkpoint(args.checkpoint)
    options = {"provider": args.execution_provider} if args.backend != "torch" else None
    overrides = {"score_threshold": args.score_threshold} if args.score_threshold is not None else None
    detector = Detector.from_checkpoint(checkpoint, device=args.device, precision=args.precision, backend=args.backend,
                                        backend_options=options, inference=overrides)
    warn_if_synthetic_only(detector.meta, checkpoint)
    return detector, checkpoint


def warn_if_synthetic_only(meta, checkpoint: Path) -> bool:
    """Print the one-line WARN of a model trained only on generated frames (stderr); whether it printed."""
    from lsi_perception.training_data import synthetic_only_warning

    warning = synthetic_only_warning(meta, checkpoint.name)
    if warning is not None:
        print(f"WARN: {warning}", file=sys.stderr, flush=True)
    return warning is not None


def describe_detector(detector) -> str:
    """'onnxruntime CPUExecutionProvider on cpu fp32, 2 threads (auto: CPU: ...)'."""
    return f"{detector.describe()} ({detector.backend_reason})"
