"""``lsi export CHECKPOINT --onnx OUT``: ONNX export (network + dense decoding, no NMS; see lsi_perception/onnx_export.py)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (dense scores + boxes, NMS left to the runtime)",
        description="Export a detector checkpoint to ONNX. Inputs: normalized rgb [B,3,H,W] and thermal "
                    "[B,1,H,W] (H, W multiples of 32); outputs: scores [B,N,C] and boxes [B,N,4] xyxy in "
                    "network-input pixels, before NMS. The checkpoint metadata is embedded in the ONNX file.",
    )
    parser.add_argument("checkpoint", type=Path, help="detector checkpoint (.safetensors)")
    parser.add_argument("--onnx", type=Path, required=True, help="output .onnx path")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--height", type=int, default=None, help="trace height (default: checkpoint input size)")
    parser.add_argument("--width", type=int, default=None, help="trace width (default: checkpoint input size)")
    parser.add_argument("--static", action="store_true", help="fixed batch 1 and trace size instead of dynamic axes")
    parser.add_argument("--check", action="store_true",
                        help="run the file with onnxruntime (CPU) and compare with PyTorch on a synthetic pair")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lsi_perception.checkpoint import read_checkpoint_meta
    from lsi_perception.onnx_export import export_onnx, export_size, onnx_parity

    path = export_onnx(args.checkpoint, args.onnx, opset=args.opset, dynamic=not args.static,
                       height=args.height, width=args.width)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    if args.check:
        h, w = export_size(read_checkpoint_meta(args.checkpoint), args.height, args.width)
        diff = onnx_parity(path, args.checkpoint, h, w)
        print("onnxruntime vs PyTorch max |diff|: " + ", ".join(f"{k}={v:.3g}" for k, v in diff.items()))
        if diff["det_boxes"] > 1e-2 or diff["det_scores"] > 1e-4:
            print("parity check FAILED")
            return 1
    return 0
