"""``lsi bench model``: detector latency and peak memory per backbone, batch size and precision variant.

Every measurement goes through ``Detector.predict_batch`` on synthetic uint8 pairs, so "e2e" is what a
user gets (host preprocessing + upload + model + decode + NMS) and "model" is the network alone (the
Detector's own timer, CUDA-synchronized). Weights are random: decoding cost is that of a quiet scene
(few boxes over the threshold).

CPU runs fp32 only and defaults to very few iterations (the run must stay short on shared cores);
CUDA runs fp32, fp16, bf16, bf16 + channels_last and bf16 + channels_last + torch.compile
(mode "reduce-overhead" = CUDA graphs). Goal on an H100/H200-class GPU: two-stream pvt_v2_b2 at
640x512 under 5 ms per pair end to end.
"""
from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

import numpy as np
import torch

GOAL_MS = 5.0
CUDA_VARIANTS = ("fp32", "fp16", "bf16", "bf16+cl", "bf16+cl+compile")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbones", nargs="+", default=["pvt_v2_b0", "pvt_v2_b2"], help="timm pvt_v2_* names")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None,
                        help="default: 1 8 on CUDA, 1 on CPU (add 8 for the full CPU table; slow on few cores)")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--variants", nargs="+", default=None,
                        help=f"CUDA variants (default all: {' '.join(CUDA_VARIANTS)}); CPU always runs fp32")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations (default: 3 on CPU, 100 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed iterations (default: 1 on CPU, 20 on CUDA)")
    parser.add_argument("--compile-mode", default="reduce-overhead", help="torch.compile mode for the +compile variant")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _peak_rss_mb() -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+)\s+kB", text)
    return int(match.group(1)) / 1024 if match else None


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset VmHWM to the current RSS
        return True
    except OSError:
        return False


def _measure(detector, batch: int, height: int, width: int, warmup: int, iters: int) -> dict:
    from lsi_perception.testing import synthetic_pair

    pairs = [synthetic_pair(height, width, seed=i) for i in range(batch)]
    rgbs, ths = [p[0] for p in pairs], [p[1] for p in pairs]
    cuda = detector.device.type == "cuda"
    for _ in range(warmup):
        detector.predict_batch(rgbs, ths)
    if cuda:
        torch.cuda.synchronize(detector.device)
        torch.cuda.reset_peak_memory_stats(detector.device)
    rss_reset = not cuda and _reset_peak_rss()
    e2e, model = [], []
    for _ in range(iters):
        detector.predict_batch(rgbs, ths)
        e2e.append(detector.last_timings_ms["total"])
        model.append(detector.last_timings_ms["model"])
    row = {
        "e2e_median_ms": statistics.median(e2e), "e2e_p95_ms": _percentile(e2e, 95),
        "model_median_ms": statistics.median(model), "model_p95_ms": _percentile(model, 95),
        "e2e_per_pair_ms": statistics.median(e2e) / batch,
    }
    if cuda:
        row["peak_gpu_mb"] = torch.cuda.max_memory_allocated(detector.device) / 2**20
    elif rss_reset:
        row["peak_rss_mb"] = _peak_rss_mb()
    return row


def _variants(device: torch.device, requested: list[str] | None) -> list[str]:
    if device.type != "cuda":
        return ["fp32"]
    variants = requested or list(CUDA_VARIANTS)
    unknown = set(variants) - set(CUDA_VARIANTS)
    if unknown:
        raise ValueError(f"unknown variant(s) {sorted(unknown)}; choose from {', '.join(CUDA_VARIANTS)}")
    return variants


def run(args: argparse.Namespace) -> dict:
    from lsi_perception.checkpoint import CheckpointMeta
    from lsi_perception.config import ModelConfig, PreprocessConfig
    from lsi_perception.inference import Detector, resolve_device
    from lsi_perception.model import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    iters = args.iters or (100 if cuda else 3)
    batch_sizes = args.batch_sizes or ([1, 8] if cuda else [1])
    warmup = args.warmup if args.warmup is not None else (20 if cuda else 1)
    rows = []
    for backbone in args.backbones:
        model_cfg = ModelConfig(backbone=backbone)
        meta = CheckpointMeta(model=model_cfg, preprocess=PreprocessConfig(input_size=(args.height, args.width)))
        torch.manual_seed(0)
        net = build_model(model_cfg).eval()
        params_m = sum(p.numel() for p in net.parameters()) / 1e6
        for variant in _variants(device, args.variants):
            precision = variant.split("+")[0]
            detector = Detector(net, meta, device=device, precision=precision,
                                channels_last="+cl" in variant,
                                compile=args.compile_mode if "+compile" in variant else False)
            for batch in batch_sizes:
                t0 = time.perf_counter()
                row = _measure(detector, batch, args.height, args.width, warmup, iters)
                row.update(backbone=backbone, params_m=params_m, variant=variant, batch=batch,
                           device=str(device), wall_s=time.perf_counter() - t0)
                rows.append(row)
                print(_format_row(row), flush=True)
            detector.release()
            net = net.to("cpu").to(memory_format=torch.contiguous_format)
    device_name = torch.cuda.get_device_name(device) if cuda else "cpu"
    result = {
        "benchmark": "model", "device": device_name, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "height": args.height, "width": args.width,
        "iters": iters, "warmup": warmup, "goal": f"pvt_v2_b2 e2e < {GOAL_MS} ms/pair on H100/H200", "rows": rows,
    }
    _print_table(result)
    return result


_COLUMNS = ("backbone", "variant", "batch", "e2e_median_ms", "e2e_p95_ms", "model_median_ms", "model_p95_ms",
            "e2e_per_pair_ms", "peak_mb")


def _format_row(row: dict) -> str:
    peak = row.get("peak_gpu_mb", row.get("peak_rss_mb"))
    values = [row["backbone"], row["variant"], row["batch"], row["e2e_median_ms"], row["e2e_p95_ms"],
              row["model_median_ms"], row["model_p95_ms"], row["e2e_per_pair_ms"], peak]
    return " ".join(f"{v:>10.1f}" if isinstance(v, float) else f"{'-' if v is None else v!s:>10}" for v in values)


def _print_table(result: dict) -> None:
    peak_kind = "GPU allocated" if result["device"] != "cpu" else "process peak RSS"
    print(f"\nmodel benchmark on {result['device']} ({result['threads']} threads), {result['height']}x{result['width']}, "
          f"{result['iters']} iters after {result['warmup']} warmup; times in ms, peak_mb = {peak_kind}")
    print(" ".join(f"{c[:10]:>10}" for c in _COLUMNS))
    for row in result["rows"]:
        print(_format_row(row))
    print(f"goal: {result['goal']}")
