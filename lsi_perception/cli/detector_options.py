"""The detector options every ``lsi`` command that runs the model shares: device, backend, precision,
execution provider. One place for their flags and defaults (the node's defaults, ``NodeConfig``).

    add_detector_arguments(parser)                      # --device --backend --precision --execution-provider
    detector = detector_from_args(args, checkpoint, inference={...})
    print(f"running {describe_detector(detector)}")      # backend, device, precision and why this backend

``lsi bag detect`` uses them; a new command that runs the Detector (e.g. ``lsi predict``) should too, so
that ``--backend auto`` (the default) means the same everywhere.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lsi_perception.backends import BACKEND_CHOICES, INFERENCE_PRECISIONS, ORT_PROVIDERS
from lsi_perception.node_logic.node_config import NodeConfig


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --device, --backend, --precision and --execution-provider with the node's defaults."""
    d = NodeConfig()
    parser.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N")
    parser.add_argument("--backend", default=d.backend, choices=BACKEND_CHOICES,
                        help="network runtime: auto (default: the fastest that gives torch's boxes here, logged), "
                             "torch, or onnxruntime (the checkpoint's cached ONNX export; same pre/post-processing)")
    parser.add_argument("--precision", default=d.precision, choices=INFERENCE_PRECISIONS,
                        help="auto | fp32 | fp16 | bf16 (torch only) | int8 (onnxruntime on the CPU: the export "
                             "statically quantized; not bit-equal to fp32)")
    parser.add_argument("--execution-provider", default=d.execution_provider, choices=ORT_PROVIDERS,
                        help="onnxruntime execution provider (auto: chosen with the backend)")


def detector_from_args(args: argparse.Namespace, checkpoint: str | Path, **settings: Any):
    """``Detector.from_checkpoint`` with the options of ``add_detector_arguments``; ``settings`` go through
    (``inference=``, ``preprocess=``)."""
    from lsi_perception.inference import Detector

    options = {"provider": args.execution_provider} if args.backend != "torch" else None
    return Detector.from_checkpoint(checkpoint, device=args.device, precision=args.precision, backend=args.backend,
                                    backend_options=options, **settings)


def describe_detector(detector) -> str:
    """'onnxruntime CPUExecutionProvider on cpu fp32, 2 threads (auto: CPU: ...)'."""
    return f"{detector.describe()} ({detector.backend_reason})"
