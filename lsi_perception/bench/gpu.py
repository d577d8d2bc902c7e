"""``lsi bench gpu``: the GPU table, one command: per backbone, backend and precision, ms per pair (p50 / p95)
at batch 1 and 8, pairs per second and memory, two-stream detector at 640x512.

Arms (``--arms``, all by default; an arm whose runtime is missing is listed as skipped, with why):

    torch fp32 | torch fp16 | torch bf16       eager PyTorch, autocast, channels_last for fp16/bf16
    torch.compile bf16                         torch.compile(mode="reduce-overhead": CUDA graphs), channels_last
    ort cuda fp32 | ort cuda fp16              ONNX Runtime CUDA provider (fp16: an fp16 graph), I/O binding
    ort tensorrt fp16                          ONNX Runtime TensorRT provider, fp16 engine (built once, cached:
                                               the first run takes minutes per input shape)

Every arm of a backbone is built first and then measured interleaved batch by batch on the same
synthetic street frames (``bench.model._measure``, through ``Detector.predict_batch``: host
preprocessing + upload + network + decode + NMS), so the arms share whatever else the GPU and host
do. Each backbone gets an untrained checkpoint whose input size is the frame size, so the network runs
at 640x512 (the shipped model letterboxes to 240x192; ``--checkpoint`` measures a trained one at its own
size). Memory: torch's allocator peak for torch arms; for onnxruntime arms, the growth of the device's
used memory (``torch.cuda.mem_get_info``) from before the arm's session was built, which includes the
provider's workspace and arena.

Without CUDA the command refuses with the reason (exit status 1). ``--cpu-check`` runs the same code
path on the CPU (torch and onnxruntime fp32 arms, a small size, few iterations) to check the plumbing;
its figures are not the GPU table. Goal (issue 25): on a datacenter GPU, b2 at or under 5 ms per pair,
b0 at or under 2 ms.
"""
from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsi_perception.bench import BenchmarkUnavailable

ARMS = ("torch fp32", "torch fp16", "torch bf16", "torch.compile bf16", "ort cuda fp32", "ort cuda fp16",
        "ort tensorrt fp16")
CPU_CHECK_ARMS = ("torch fp32", "ort cpu fp32")
GOALS_MS = {"pvt_v2_b0": 2.0, "pvt_v2_b2": 5.0}


class NoCudaError(BenchmarkUnavailable):
    """``lsi bench gpu`` without a usable CUDA device (the message says why and what to run instead)."""


@dataclass(frozen=True)
class ArmSpec:
    """One column of the table: how to build its Detector."""

    name: str
    backend: str  # torch | onnxruntime
    precision: str
    provider: str | None = None  # onnxruntime execution provider
    compile: bool = False

    @classmethod
    def parse(cls, name: str) -> ArmSpec:
        runtime, precision = name.rsplit(" ", 1)
        if runtime in ("torch", "torch.compile"):
            return cls(name, "torch", precision, compile=runtime == "torch.compile")
        if runtime.startswith("ort "):
            return cls(name, "onnxruntime", precision, provider=runtime.split(" ", 1)[1])
        raise ValueError(f"unknown arm {name!r}; choose from {', '.join(ARMS)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbones", nargs="+", default=["pvt_v2_b0", "pvt_v2_b2"])
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="measure this checkpoint (at its own input size) instead of untrained --backbones")
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from: {', '.join(ARMS)}")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--iters", type=int, default=100, help="timed batches per arm and batch size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed batches (cuDNN autotune, CUDA graphs, engines)")
    parser.add_argument("--device", default="cuda", help="cuda | cuda:N")
    parser.add_argument("--cpu-check", action="store_true",
                        help="run the same code path on the CPU (torch and onnxruntime fp32, 128x160, 3 iterations) "
                             "to check the plumbing without a GPU; not the GPU table")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from lsi_perception.bench.model import _measure as measure_interleaved
    from lsi_perception.bench.model import street_frames
    from lsi_perception.config import ModelConfig, PreprocessConfig
    from lsi_perception.testing import make_random_checkpoint

    if args.cpu_check:
        device = torch.device("cpu")
        specs = [ArmSpec.parse(a) for a in CPU_CHECK_ARMS]
        height, width, iters, warmup = 128, 160, 3, 1
    else:
        device = _cuda_device(args.device)
        specs = [ArmSpec.parse(a.strip()) for a in args.arms.split(",") if a.strip()]
        height, width, iters, warmup = args.height, args.width, args.iters, args.warmup
    frames = street_frames(max(args.batch_sizes) * 2, height, width, "mono16")
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint:
            checkpoints = [(args.checkpoint.stem, args.checkpoint)]
        else:
            checkpoints = [(b, make_random_checkpoint(Path(tmp) / f"{b}.safetensors", model=ModelConfig(backbone=b),
                                                      preprocess=PreprocessConfig(input_size=(height, width))))
                           for b in args.backbones]
        for model, ckpt in checkpoints:
            arms, memory = [], {}
            for spec in specs:
                try:
                    det, mem = _build(spec, ckpt, device)
                except Exception as exc:  # noqa: BLE001 - a missing runtime is a row of the table, not a crash
                    skipped.append({"model": model, "arm": spec.name, "why": f"{type(exc).__name__}: {exc}"})
                    continue
                arms.append((spec.name, det))
                memory[spec.name] = mem
            for batch in args.batch_sizes:
                if not arms:
                    break
                rows += [{**row, "model": model, **_per_pair(row, memory)} for row in
                         measure_interleaved(arms, frames, batch, warmup, iters)]
            for _, det in arms:
                det.release()
    result = {"benchmark": "gpu", "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "cpu_check": bool(args.cpu_check), "torch": torch.__version__, "height": height, "width": width,
              "iters": iters, "warmup": warmup, "rows": rows, "skipped": skipped,
              "goals_ms_per_pair": {} if args.cpu_check else GOALS_MS}
    print(format_table(result))
    return result


def _cuda_device(device: str):
    import torch

    if not torch.cuda.is_available():
        raise NoCudaError(
            "lsi bench gpu needs a CUDA GPU and torch.cuda.is_available() is False here (torch "
            f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}); run it on a machine with an NVIDIA GPU "
            "after pip install .[gpu] (onnxruntime-gpu), or check the plumbing with --cpu-check")
    from lsi_perception.device import resolve_device

    dev = resolve_device(device)
    if dev.type != "cuda":
        raise NoCudaError(f"lsi bench gpu measures a CUDA device; got --device {device} (use --cpu-check on the CPU)")
    return dev


def _build(spec: ArmSpec, checkpoint: Path, device) -> tuple[Any, float | None]:
    """The arm's Detector (warmed up once) and, for onnxruntime on CUDA, the device memory it took (MB)."""
    import torch

    from lsi_perception.inference import Detector

    cuda = device.type == "cuda"
    free_before = torch.cuda.mem_get_info(device)[0] if cuda else None
    if spec.backend == "torch":
        det = Detector.from_checkpoint(checkpoint, device=device, precision=spec.precision,
                                       channels_last=cuda and spec.precision != "fp32",
                                       compile="reduce-overhead" if spec.compile else False)
    else:
        det = Detector.from_checkpoint(checkpoint, device=device, precision=spec.precision, backend="onnxruntime",
                                       backend_options={"provider": spec.provider})
    det.warmup()
    used = None
    if cuda and spec.backend == "onnxruntime":
        torch.cuda.synchronize(device)
        used = (free_before - torch.cuda.mem_get_info(device)[0]) / 2**20
    return det, used


def _per_pair(row: dict[str, Any], onnx_memory: dict[str, float | None]) -> dict[str, Any]:
    """Per-pair figures of a ``bench.model._measure`` row; memory: the onnxruntime arm's device memory growth,
    else torch's allocator peak (None on the CPU)."""
    batch = row["batch"]
    onnx_mb = onnx_memory.get(row["arm"])
    return {"ms_per_pair_p50": row["e2e_median_ms"] / batch, "ms_per_pair_p95": row["e2e_p95_ms"] / batch,
            "pairs_per_s": 1000.0 * batch / row["e2e_median_ms"],
            "memory_mb": onnx_mb if onnx_mb is not None else row["peak_mb"]}


def format_table(result: dict[str, Any]) -> str:
    """The table ``lsi bench gpu`` prints: one line per model, arm and batch size, then skipped arms and goals."""
    lines = [f"GPU table on {result['device']}{' (CPU plumbing check, not the GPU table)' if result['cpu_check'] else ''}: "
             f"two-stream detector at {result['width']}x{result['height']}, {result['iters']} interleaved batches "
             f"after {result['warmup']} warm-up; ms per pair = e2e batch time / batch (preprocess + network + NMS)"]
    header = f"{'model':>12} {'arm':>20} {'batch':>5} {'ms/pair p50':>11} {'p95':>7} {'pairs/s':>8} {'memory MB':>9} {'same boxes':>10}"
    lines.append(header)
    for row in result["rows"]:
        mem = "-" if row.get("memory_mb") is None else f"{row['memory_mb']:.0f}"
        lines.append(f"{row['model']:>12} {row['arm']:>20} {row['batch']:>5} {row['ms_per_pair_p50']:>11.2f} "
                     f"{row['ms_per_pair_p95']:>7.2f} {row['pairs_per_s']:>8.1f} {mem:>9} {str(row['same_count']):>10}")
    for s in result.get("skipped", []):
        lines.append(f"  skipped {s['model']} {s['arm']}: {s['why']}")
    best = _best_per_model(result["rows"])
    for model, goal in result.get("goals_ms_per_pair", {}).items():
        if model in best:
            arm, ms = best[model]
            lines.append(f"goal {model}: <= {goal:g} ms per pair; best here {ms:.2f} ms ({arm}): "
                         f"{'met' if ms <= goal else 'NOT met'}")
    lines.append("same boxes = the same number of detections per pair as the first arm (boxes: bench_gpu.json)")
    return "\n".join(lines)


def _best_per_model(rows: list[dict[str, Any]]) -> dict[str, tuple[str, float]]:
    best: dict[str, tuple[str, float]] = {}
    for row in rows:
        ms = row["ms_per_pair_p50"]
        if row["model"] not in best or ms < best[row["model"]][1]:
            best[row["model"]] = (f"{row['arm']}, batch {row['batch']}", ms)
    return best
