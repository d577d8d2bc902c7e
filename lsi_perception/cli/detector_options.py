"""The detector and per-pair pipeline options shared by the commands that run the node's pipeline offline
(``lsi bag detect``, ``lsi predict``): one place for their flags, defaults and checks.

    add_detector_arguments(parser)          # --checkpoint --device --precision --backend --execution-provider
                                            # --score-threshold --thermal-to-rgb-homography
    detector, checkpoint = build_detector(args)
"""
from __future__ import annotations

import argparse
from pathlib import Path

from lsi_perception.backends import BACKENDS, ORT_PROVIDERS
from lsi_perception.device import PRECISIONS
from lsi_perception.pipeline.defaults import IDENTITY_HOMOGRAPHY


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """The model, runtime and registration flags, with the node's defaults."""
    parser.add_argument("--checkpoint", type=Path, default=None, help="detector checkpoint (default: the shipped model)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS, help="bf16: torch backend only")
    parser.add_argument("--backend", default="torch", choices=BACKENDS,
                        help="network runtime (onnxruntime: the checkpoint's cached ONNX export; same pre/post-processing)")
    parser.add_argument("--execution-provider", default="auto", choices=ORT_PROVIDERS,
                        help="onnxruntime execution provider (auto: cuda on a CUDA device, else cpu)")
    parser.add_argument("--score-threshold", type=float, default=None, help="override the checkpoint's threshold")
    parser.add_argument("--thermal-to-rgb-homography", type=float, nargs=9, default=list(IDENTITY_HOMOGRAPHY),
                        metavar="H", help="row-major 3x3 homography mapping thermal pixels to RGB pixels, as the node's "
                                          "parameter of the same name (default: identity, co-aligned cameras)")


def homography(args: argparse.Namespace) -> tuple[float, ...]:
    """``--thermal-to-rgb-homography``, checked by the node's own parameter validation."""
    from lsi_perception.node_logic.node_config import NodeConfig

    value = tuple(args.thermal_to_rgb_homography)
    NodeConfig(thermal_to_rgb_homography=value).validate()
    return value


def build_detector(args: argparse.Namespace):
    """(Detector, checkpoint path) from the flags of ``add_detector_arguments``."""
    from lsi_perception.inference import Detector
    from lsi_perception.resources import resolve_checkpoint

    checkpoint = resolve_checkpoint(args.checkpoint)
    options = {"provider": args.execution_provider} if args.backend == "onnxruntime" else None
    overrides = {"score_threshold": args.score_threshold} if args.score_threshold is not None else None
    detector = Detector.from_checkpoint(checkpoint, device=args.device, precision=args.precision, backend=args.backend,
                                        backend_options=options, inference=overrides)
    return detector, checkpoint
