"""``lsi bench model``: detector latency per backend, backbone, batch size and precision variant.

Every measurement goes through ``Detector.predict_batch``, so "e2e" is what a user gets (host
preprocessing + upload + network + decode + NMS) and "model" is the backend's call alone (network +
dense decoding, CUDA-synchronized). All arms of a run (backends x variants) are built first and then
measured interleaved, pair by pair, on the same frames, so they share whatever load the machine has;
the ratio column is each arm's median against the first arm's (the torch baseline).

Frames: synthetic street scenes with pedestrians (``data.synthetic``), thermal as mono16 by default, so
a trained checkpoint (``--checkpoint``, e.g. the shipped model) returns real detections; the parity
columns then say whether every arm found the same boxes as the first (count per pair and largest box
difference in pixels). Without ``--checkpoint`` each backbone gets a random checkpoint at the
bench size (decoding cost is that of a quiet scene).

CPU: torch runs fp32; onnxruntime runs each ``--precision`` (fp32, and int8: the export statically
quantized, ``backends.onnx_int8``); few iterations by default (short runs on shared cores). The "vs fp32"
column is each arm's e2e speedup against the fp32 arm of the same backend and provider (int8 against
onnxruntime fp32). On CUDA the torch arms are fp32, fp16, bf16, bf16 + channels_last and bf16 +
channels_last + torch.compile ("reduce-overhead" = CUDA graphs); the onnxruntime arms are the CUDA EP in
fp16 and, when the build has it, the TensorRT EP in fp16 (``lsi bench gpu`` is the GPU table).

``--mr CONFIG`` also runs every arm, interleaved frame by frame, over the synthetic test split of a
training config (``bench.synthetic_split``: e.g. config/train_synthetic.yaml, the shipped model's
40-drive split) and prints each arm's Reasonable MR (strict protocol, as ``lsi train``'s test report),
its e2e median over the split, and how its boxes agree with the fp32 arm of its backend (int8 vs
onnxruntime fp32) and with the first arm.

Goals: on an H100/H200-class GPU, two-stream pvt_v2_b2 at 640x512 under 5 ms per pair e2e; on CPU,
onnxruntime at least 2x faster e2e than torch and int8 at least 1.5x faster than onnxruntime fp32 with
Reasonable MR within 1 point, for the shipped model at 640x512.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

GOAL_MS = 5.0
CUDA_VARIANTS = ("fp32", "fp16", "bf16", "bf16+cl", "bf16+cl+compile")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default="torch",
                        help="comma-separated backends measured side by side: torch, onnxruntime (e.g. torch,onnxruntime)")
    parser.add_argument("--precision", default="fp32",
                        help="comma-separated onnxruntime CPU precisions: fp32, int8 (e.g. fp32,int8); torch on CPU "
                             "runs fp32; on CUDA see --variants")
    parser.add_argument("--mr", type=Path, default=None, metavar="TRAIN_CONFIG",
                        help="also score every arm on this training config's synthetic test split "
                             "(e.g. config/train_synthetic.yaml): Reasonable MR, box agreement, e2e over the split")
    parser.add_argument("--mr-drives", type=int, default=None,
                        help="use only the first N test drives of --mr (default: all)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="measure this checkpoint (e.g. models/lsi_pvt_b0_synthetic.safetensors); default: "
                             "a random checkpoint per --backbones entry")
    parser.add_argument("--backbones", nargs="+", default=["pvt_v2_b0", "pvt_v2_b2"], help="timm pvt_v2_* names")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=None,
                        help="default: 1 8 on CUDA, 1 on CPU (add 8 for the full CPU table; slow on few cores)")
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--thermal", choices=("mono16", "mono8"), default="mono16", help="thermal frames' encoding")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--variants", nargs="+", default=None,
                        help=f"torch CUDA variants (default all: {' '.join(CUDA_VARIANTS)}); CPU always runs fp32")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations (default: 3 on CPU, 100 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed iterations (default: 1 on CPU, 20 on CUDA)")
    parser.add_argument("--compile-mode", default="reduce-overhead", help="torch.compile mode for the +compile variant")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of both backends (torch.set_num_threads; onnxruntime intra-op threads "
                             "follow torch's count). Default: torch's choice")


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


def street_frames(n: int, height: int, width: int, thermal: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` consecutive synthetic night street frames with pedestrians (thermal uint16 for mono16)."""
    from lsi_perception.backends.onnx_int8 import street_frames as generated

    out = []
    for rgb, th in generated(n, height, width, seed=3, day_fraction=0.0, frames_per_drive=n):
        out.append((rgb, th.astype(np.uint16) * np.uint16(257) if thermal == "mono16" else th))
    return out


def _arms(checkpoint: Path, backends: list[str], device: torch.device, args) -> list[tuple[str, object]]:
    """(label, Detector) for every backend x variant, all built before any timing."""
    from lsi_perception.backends.onnxruntime_backend import EP_NAMES, available_providers
    from lsi_perception.inference import Detector

    arms = []
    cuda = device.type == "cuda"
    for backend in backends:
        if backend == "torch":
            for variant in _variants(device, args.variants):
                det = Detector.from_checkpoint(checkpoint, device=device, precision=variant.split("+")[0],
                                               channels_last="+cl" in variant,
                                               compile=args.compile_mode if "+compile" in variant else False)
                arms.append((f"torch {variant}", det))
        elif backend == "onnxruntime":
            if cuda:
                placements = [("cuda", "auto")] + ([("tensorrt", "auto")] if EP_NAMES["tensorrt"] in available_providers()
                                                  else [])
            else:
                placements = [("cpu", p) for p in _precisions(args.precision)]
            for provider, precision in placements:
                det = Detector.from_checkpoint(checkpoint, device=device, backend="onnxruntime", precision=precision,
                                               backend_options={"provider": provider})
                arms.append((f"ort {provider} {det.precision}", det))
        else:
            raise ValueError(f"unknown backend {backend!r}; choose from torch, onnxruntime")
    return arms


def _precisions(text: str) -> list[str]:
    precisions = [p.strip() for p in text.split(",") if p.strip()]
    unknown = sorted(set(precisions) - {"fp32", "int8"})
    if unknown or not precisions:
        raise ValueError(f"--precision {text!r}: choose from fp32, int8 (comma-separated) for the CPU arms")
    return precisions


def _fp32_partner(labels: list[str]) -> list[int]:
    """For each arm label, the index of the fp32 arm of the same backend and provider (itself when none)."""
    partners = []
    for i, label in enumerate(labels):
        family = label.rsplit(" ", 1)[0]
        partners.append(next((j for j, other in enumerate(labels) if other == f"{family} fp32"), i))
    return partners


def _variants(device: torch.device, requested: list[str] | None) -> list[str]:
    if device.type != "cuda":
        return ["fp32"]
    variants = requested or list(CUDA_VARIANTS)
    unknown = set(variants) - set(CUDA_VARIANTS)
    if unknown:
        raise ValueError(f"unknown variant(s) {sorted(unknown)}; choose from {', '.join(CUDA_VARIANTS)}")
    return variants


def _measure(arms: list[tuple[str, object]], frames: list, batch: int, warmup: int, iters: int) -> list[dict]:
    """Round-robin over arms for every timed batch; per arm the timings and its parity with arm 0."""
    import torch
    batches = [frames[i:i + batch] for i in range(0, len(frames) - batch + 1, batch)]
    for _ in range(warmup):
        for _, det in arms:
            det.predict_batch([p[0] for p in batches[0]], [p[1] for p in batches[0]])
    timings: list[dict[str, list[float]]] = [{"total": [], "model": [], "preprocess": [], "decode": []} for _ in arms]
    parity = [{"same_count": True, "max_box_diff_px": 0.0, "detections": 0} for _ in arms]
    peak_mb = [None] * len(arms)  # CUDA: torch allocator peak per arm; CPU: process peak RSS, single arm only
    rss = len(arms) == 1 and arms[0][1].device.type == "cpu" and _reset_peak_rss()
    for it in range(iters):
        chunk = batches[it % len(batches)]
        rgbs, ths = [p[0] for p in chunk], [p[1] for p in chunk]
        ref = None
        for k, (_, det) in enumerate(arms):
            cuda = det.device.type == "cuda"
            if cuda:
                torch.cuda.reset_peak_memory_stats(det.device)
            got = det.predict_batch(rgbs, ths)
            if cuda:
                peak_mb[k] = max(peak_mb[k] or 0.0, torch.cuda.max_memory_allocated(det.device) / 2**20)
            for key, values in timings[k].items():
                values.append(det.last_timings_ms[key])
            ref = got if ref is None else ref
            for a, b in zip(ref, got):
                parity[k]["detections"] += len(b)
                if len(a) != len(b) or not np.array_equal(a.class_ids, b.class_ids):
                    parity[k]["same_count"] = False
                elif len(a):
                    parity[k]["max_box_diff_px"] = max(parity[k]["max_box_diff_px"], float(np.abs(a.boxes - b.boxes).max()))
    if rss:
        peak_mb[0] = _peak_rss_mb()
    rows = []
    base = {key: statistics.median(v) for key, v in timings[0].items()}
    partners = _fp32_partner([label for label, _ in arms])
    for k, ((label, det), t, par, peak) in enumerate(zip(arms, timings, parity, peak_mb)):
        med = {key: statistics.median(v) for key, v in t.items()}
        rows.append({
            "e2e_speedup_vs_fp32": statistics.median(timings[partners[k]]["total"]) / med["total"],
            "arm": label, "batch": batch, "describe": det.describe(),
            "e2e_median_ms": med["total"], "e2e_p95_ms": float(np.percentile(t["total"], 95)),
            "model_median_ms": med["model"], "preprocess_median_ms": med["preprocess"],
            "decode_median_ms": med["decode"], "e2e_per_pair_ms": med["total"] / batch,
            "e2e_speedup_vs_first": base["total"] / med["total"], "model_speedup_vs_first": base["model"] / med["model"],
            "peak_mb": peak, **par,
        })
    return rows


def run(args: argparse.Namespace) -> dict:
    import torch  # OMP_WAIT_POLICY is PASSIVE unless LSI_KEEP_OMP_SPIN=1 (set by the lsi CLI, cpu_threads.py)

    from lsi_perception.config import ModelConfig, PreprocessConfig
    from lsi_perception.inference import resolve_device
    from lsi_perception.testing import make_random_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    backends = [b.strip() for b in args.backend.split(",") if b.strip()]
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    iters = args.iters or (100 if cuda else 3)
    batch_sizes = args.batch_sizes or ([1, 8] if cuda else [1])
    warmup = args.warmup if args.warmup is not None else (20 if cuda else 1)
    frames = street_frames(max(8, max(batch_sizes)) * 2, args.height, args.width, args.thermal)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.checkpoint:
            checkpoints = [(args.checkpoint.stem, args.checkpoint)]
        else:
            checkpoints = [(b, make_random_checkpoint(Path(tmp) / f"{b}.safetensors", model=ModelConfig(backbone=b),
                                                      preprocess=PreprocessConfig(input_size=(args.height, args.width))))
                           for b in args.backbones]
        split = None
        if args.mr is not None:
            from lsi_perception.bench.synthetic_split import synthetic_test_split

            split = synthetic_test_split(args.mr, args.mr_drives)
        mr_rows = []
        for name, ckpt in checkpoints:
            arms = _arms(ckpt, backends, device, args)
            for batch in batch_sizes:
                t0 = time.perf_counter()
                for row in _measure(arms, frames, batch, warmup, iters):
                    row.update(model=name, wall_s=time.perf_counter() - t0)
                    rows.append(row)
            if split is not None:
                mr_rows += [{**row, "model": name} for row in _score_on_split(arms, split)]
            for _, det in arms:
                det.release()
    device_name = torch.cuda.get_device_name(device) if cuda else "cpu"
    result = {
        "benchmark": "model", "device": device_name, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "libgomp default"),
        "height": args.height, "width": args.width, "thermal": args.thermal, "iters": iters, "warmup": warmup,
        "goal": f"pvt_v2_b2 e2e < {GOAL_MS} ms/pair on H100/H200; CPU: onnxruntime >= 2x torch e2e, int8 >= 1.5x "
                "onnxruntime fp32 with Reasonable MR within 1 point", "rows": rows,
    }
    if split is not None:
        result["mr"] = {"config": str(split.config), "drives": split.drives, "images": len(split.frames),
                        "protocol": "strict", "rows": mr_rows}
    _print_table(result)
    return result


def _score_on_split(arms: list[tuple[str, object]], split) -> list[dict]:
    """Every arm over every frame of ``split`` (interleaved, alternating which arm goes first): Reasonable MR,
    e2e median, and box agreement with the arm's fp32 partner and with the first arm."""
    from lsi_perception.bench.synthetic_split import box_agreement
    from lsi_perception.train.engine import reasonable_mr_metrics, score_detections

    outputs: list[list] = [[] for _ in arms]
    times: list[list[float]] = [[] for _ in arms]
    for i, (_, rgb, thermal) in enumerate(split.frames):
        order = range(len(arms)) if i % 2 == 0 else reversed(range(len(arms)))
        for k in order:
            det = arms[k][1]
            outputs[k].append(det.predict(rgb, thermal))
            times[k].append(det.last_timings_ms["total"])
    partners = _fp32_partner([label for label, _ in arms])
    rows = []
    for k, (label, _) in enumerate(arms):
        dets = {name: np.concatenate([d.to_xywh(), d.scores[:, None]], 1).astype(np.float32)
                for (name, _, _), d in zip(split.frames, outputs[k])}
        result = score_detections(split.annotations, dets, "strict", reasonable_min_height=55.0 * split.image_height / 512)
        rows.append({"arm": label, **reasonable_mr_metrics(result), "e2e_median_ms": statistics.median(times[k]),
                     "e2e_speedup_vs_fp32": statistics.median(times[partners[k]]) / statistics.median(times[k]),
                     "agreement_vs_fp32": box_agreement(outputs[partners[k]], outputs[k]),
                     "fp32_arm": arms[partners[k]][0], "agreement_vs_first": box_agreement(outputs[0], outputs[k])})
    return rows


_COLUMNS = (("model", "model", "{:>22}"), ("arm", "arm", "{:>18}"), ("batch", "batch", "{:>5}"),
            ("e2e_median_ms", "e2e ms", "{:>8.1f}"), ("e2e_p95_ms", "e2e p95", "{:>8.1f}"),
            ("preprocess_median_ms", "prep ms", "{:>8.1f}"), ("model_median_ms", "net ms", "{:>8.1f}"),
            ("decode_median_ms", "dec ms", "{:>7.2f}"), ("e2e_speedup_vs_first", "e2e x", "{:>6.2f}"),
            ("model_speedup_vs_first", "net x", "{:>6.2f}"), ("e2e_speedup_vs_fp32", "vs fp32", "{:>7.2f}"),
            ("detections", "dets", "{:>5}"),
            ("same_count", "same", "{!s:>5}"), ("max_box_diff_px", "max|dbox|", "{:>9.1e}"), ("peak_mb", "peak MB", "{:>8}"))


def _print_table(result: dict) -> None:
    print(f"\nmodel benchmark on {result['device']} ({result['threads']} torch threads, OMP_WAIT_POLICY "
          f"{result['omp_wait_policy']}), {result['width']}x"
          f"{result['height']} {result['thermal']}, {result['iters']} interleaved iters after {result['warmup']} "
          "warmup; times are medians in ms; x = speedup against the first arm; dets/same/max|dbox| = parity "
          "with the first arm; peak MB = torch CUDA allocator peak (not onnxruntime's), or the process's peak "
          "RSS when a single CPU arm runs")
    widths = [int(re.search(r">(\d+)", fmt).group(1)) for _, _, fmt in _COLUMNS]
    print(" ".join(f"{title:>{w}}" for (_, title, _), w in zip(_COLUMNS, widths)))
    for row in result["rows"]:
        print(" ".join(fmt.format(row[key] if key != "peak_mb" or row[key] is None else round(row[key]))
                       if row[key] is not None else f"{'-':>8}" for key, _, fmt in _COLUMNS))
    for row in result["rows"]:
        print(f"  {row['arm']}: {row['describe']}")
    if "mr" in result:
        mr = result["mr"]
        print(f"\nsynthetic test split of {mr['config']}: {mr['drives']} drives, {mr['images']} images, interleaved; "
              f"Reasonable MR % ({mr['protocol']} protocol) all / day / night; agreement = reference boxes matched "
              "one to one at IoU >= 0.5, median IoU, median |score difference|")
        print(f"{'model':>22} {'arm':>18} {'MR all':>7} {'day':>6} {'night':>6} {'e2e ms':>7} {'vs fp32':>7} "
              f"{'vs fp32: matched':>16} {'IoU':>6} {'|dscore|':>8} {'vs first: matched':>17} {'IoU':>6}")
        for row in mr["rows"]:
            a, f = row["agreement_vs_fp32"], row["agreement_vs_first"]
            print(f"{row['model']:>22} {row['arm']:>18} {row['mr_reasonable_all']:7.2f} {row['mr_reasonable_day']:6.2f} "
                  f"{row['mr_reasonable_night']:6.2f} {row['e2e_median_ms']:7.1f} {row['e2e_speedup_vs_fp32']:7.2f} "
                  f"{a['matched_fraction']:16.1%} {a['median_iou']:6.3f} {a['median_abs_score_diff']:8.4f} "
                  f"{f['matched_fraction']:17.1%} {f['median_iou']:6.3f}")
    print(f"goal: {result['goal']}")
