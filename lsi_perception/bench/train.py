"""``lsi bench train``: cost of one training step with the LSI regularizer off and on (the paper leaves it open).

Each variant runs in a fresh process (so its peak resident memory is its own): build the model, warm
up, then time ``--steps`` full optimizer steps (backbones, fused forward, criterion, regularizer,
backward, AdamW) on a fixed random batch with a few pedestrians. Reported per variant: median wall
and CPU-process time per step, and the peak memory growth over the model-built baseline (CUDA: peak
allocated; CPU: peak RSS). The goal is that the regularizer adds under 25 % to a step; the table
says whether it does, it never fails.

Variants: ``off`` (delta = 0), ``fisher`` (delta > 0, Fisher estimator, one noise sample: a double
backward through fusion, neck and heads), ``entropy`` (delta > 0, entropy estimator, two samples, no
double backward).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import statistics
import time
from typing import Any

GOAL_OVERHEAD = 0.25
VARIANTS: dict[str, dict[str, Any]] = {
    "off": {"delta": 0.0},
    "fisher": {"delta": 0.1, "lsi_estimator": "fisher", "lsi_samples": 1},
    "entropy": {"delta": 0.1, "lsi_estimator": "entropy", "lsi_samples": 2},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default="pvt_v2_b0")
    parser.add_argument("--height", type=int, default=256, help="input height (default 256)")
    parser.add_argument("--width", type=int, default=320, help="input width (default 320)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2,
                        help="fresh processes per variant, interleaved (shared machines are noisy)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _measure(opts: dict[str, Any]) -> dict[str, float]:
    """Runs in a child process: time ``opts['steps']`` steps of one variant."""
    import torch

    from lsi_perception.config import ModelConfig
    from lsi_perception.losses.config import LossConfig
    from lsi_perception.losses.criterion import build_criterion
    from lsi_perception.losses.lsi import LSIRegularizer
    from lsi_perception.model import build_model
    from lsi_perception.train.engine import TrainingObjective

    torch.set_num_threads(opts["threads"])
    torch.manual_seed(0)
    device = torch.device(opts["device"])
    loss_cfg = LossConfig(**VARIANTS[opts["variant"]])
    net = build_model(ModelConfig(backbone=opts["backbone"])).to(device)
    objective = TrainingObjective(net, build_criterion(loss_cfg, 1, net.stride), LSIRegularizer(loss_cfg),
                                  loss_cfg.delta)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
    b, h, w = opts["batch"], opts["height"], opts["width"]
    rgb, thermal = torch.randn(b, 3, h, w, device=device), torch.randn(b, 1, h, w, device=device)
    g = torch.Generator().manual_seed(1)
    targets = []
    for _ in range(b):
        x0 = torch.rand(4, generator=g) * (w * 0.8)
        y0 = torch.rand(4, generator=g) * (h * 0.5)
        hh = 0.2 * h + torch.rand(4, generator=g) * 0.3 * h
        boxes = torch.stack([x0, y0, x0 + hh * 0.4, y0 + hh], 1).to(device)
        targets.append({"boxes": boxes, "labels": torch.zeros(4, dtype=torch.int64, device=device),
                        "ignore": torch.zeros(4, dtype=torch.bool, device=device)})

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        losses, _ = objective(rgb, thermal, targets)
        losses["total"].backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for _ in range(opts["warmup"]):
        step()
    base_rss = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated() / 2**20
    walls, cpus = [], []
    for _ in range(opts["steps"]):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    out = {"wall_ms": 1000 * statistics.median(walls), "cpu_ms": 1000 * statistics.median(cpus),
           "peak_rss_mb": _rss_mb(), "rss_growth_mb": _rss_mb() - base_rss}
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        out["cuda_growth_mb"] = out["peak_cuda_mb"] - base_cuda
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    opts = {k: getattr(args, k) for k in ("backbone", "height", "width", "batch", "steps", "warmup", "threads",
                                           "device")}
    ctx = mp.get_context("spawn")
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    for _ in range(args.repeats):
        for variant in args.variants:
            with ctx.Pool(1) as pool:
                runs[variant].append(pool.apply(_measure, ({**opts, "variant": variant},)))
    results: dict[str, dict[str, float]] = {}
    for variant, rs in runs.items():
        results[variant] = {k: min(r[k] for r in rs) if k.endswith("ms") else max(r[k] for r in rs)
                            for k in rs[0]}
    summary: dict[str, Any] = {"settings": opts, "variants": results, "goal_overhead": GOAL_OVERHEAD}
    print(f"train step, {opts['backbone']} {opts['height']}x{opts['width']} batch {opts['batch']} on "
          f"{opts['device']} ({opts['threads']} threads; best of {args.repeats} processes, median of "
          f"{opts['steps']} steps)")
    print(f"{'variant':<9} {'wall ms':>9} {'cpu ms':>9} {'overhead':>9} {'peak RSS MB':>12}")
    base = results.get("off")
    for variant, r in results.items():
        overhead = (r["cpu_ms"] / base["cpu_ms"] - 1.0) if base and variant != "off" else 0.0
        r["overhead_vs_off"] = overhead
        print(f"{variant:<9} {r['wall_ms']:9.0f} {r['cpu_ms']:9.0f} {overhead:+9.0%} {r['peak_rss_mb']:12.0f}")
    if base:
        for variant in (v for v in results if v != "off"):
            met = results[variant]["overhead_vs_off"] < GOAL_OVERHEAD
            summary[f"{variant}_meets_goal"] = met
            print(f"{variant}: regularizer adds {results[variant]['overhead_vs_off']:.0%} to a step "
                  f"(goal < {GOAL_OVERHEAD:.0%}: {'met' if met else 'NOT met'})")
    return summary
