"""``lsi bench train``: cost of one training step with the LSI regularizer off and on (the paper leaves it open).

Each repeat is a fresh process that builds every variant (same initial weights), warms each up, then
times ``--steps`` rounds of full optimizer steps (backbones, fused forward, criterion, regularizer,
backward, AdamW) on a fixed random batch with a few pedestrians, one step of every variant per round
(alternating the order), so the variants share whatever load the machine has and their ratio is
measured side by side. Reported per variant: median wall and CPU-process time per step (best of the
repeats) and the overhead against ``off``. ``--isolated`` runs each variant in its own processes instead
(one after the other), which also gives its own peak memory (CUDA: peak allocated; CPU: peak RSS).
The goal is that the regularizer adds at most 25 % to a step; the table says whether it does, it never
fails.

Variants: ``off`` (delta = 0), ``fisher`` (delta > 0, Fisher estimator, one noise sample: a double
backward through fusion, neck and heads), ``entropy`` (delta > 0, entropy estimator, two samples, no
double backward).
"""
from __future__ import annotations

import argparse
import dataclasses
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
# Not a LossConfig setting: the same Fisher regularizer with PyTorch's own second derivatives, the
# computation before losses/double_backward.py (for before/after figures; same R and gradients).
REFERENCE_VARIANTS = {"fisher-reference": "fisher"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backbone", default="pvt_v2_b0")
    parser.add_argument("--config", default=None,
                        help="take the model and loss settings from this training config (e.g. config/train_kaist.yaml: "
                             "pvt_v2_b2, 128-channel neck and heads); the variants then set delta and the estimator, "
                             "--backbone is ignored, weights stay random")
    parser.add_argument("--height", type=int, default=256, help="input height (default 256)")
    parser.add_argument("--width", type=int, default=320, help="input width (default 320)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2,
                        help="fresh processes per variant, interleaved (shared machines are noisy)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=[*VARIANTS, *REFERENCE_VARIANTS],
                        help="fisher-reference: fisher with PyTorch's own (slower) second derivatives, as before "
                             "the cheap LSI pass")
    parser.add_argument("--isolated", action="store_true",
                        help="one process per variant and repeat (not interleaved), for per-variant peak memory")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _measure(opts: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Runs in a child process: ``opts['steps']`` interleaved rounds of the variants in ``opts['variants']``."""
    import torch

    torch.set_num_threads(opts["threads"])
    device = torch.device(opts["device"])
    b, h, w = opts["batch"], opts["height"], opts["width"]
    rgb, thermal = torch.randn(b, 3, h, w, device=device), torch.randn(b, 1, h, w, device=device)
    targets = _targets(b, h, w, device)
    steps = {variant: _step_function(variant, opts, device, rgb, thermal, targets) for variant in opts["variants"]}
    for _ in range(opts["warmup"]):
        for step in steps.values():
            step()
    base_rss = _rss_mb()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_cuda = torch.cuda.memory_allocated() / 2**20
    walls: dict[str, list[float]] = {v: [] for v in steps}
    cpus: dict[str, list[float]] = {v: [] for v in steps}
    order = list(steps)
    for i in range(opts["steps"]):
        for variant in order if i % 2 == 0 else order[::-1]:
            w0, c0 = time.perf_counter(), time.process_time()
            steps[variant]()
            walls[variant].append(time.perf_counter() - w0)
            cpus[variant].append(time.process_time() - c0)
    out = {}
    for variant in steps:
        out[variant] = {"wall_ms": 1000 * statistics.median(walls[variant]), "cpu_ms": 1000 * statistics.median(cpus[variant]),
                        "peak_rss_mb": _rss_mb(), "rss_growth_mb": _rss_mb() - base_rss}
        if device.type == "cuda":
            out[variant]["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
            out[variant]["cuda_growth_mb"] = out[variant]["peak_cuda_mb"] - base_cuda
    return out


def _targets(b: int, h: int, w: int, device) -> list[dict[str, Any]]:
    """A few pedestrian boxes per image (fixed seed)."""
    import torch

    g = torch.Generator().manual_seed(1)
    targets = []
    for _ in range(b):
        x0 = torch.rand(4, generator=g) * (w * 0.8)
        y0 = torch.rand(4, generator=g) * (h * 0.5)
        hh = 0.2 * h + torch.rand(4, generator=g) * 0.3 * h
        boxes = torch.stack([x0, y0, x0 + hh * 0.4, y0 + hh], 1).to(device)
        targets.append({"boxes": boxes, "labels": torch.zeros(4, dtype=torch.int64, device=device),
                        "ignore": torch.zeros(4, dtype=torch.bool, device=device)})
    return targets


def _step_function(variant: str, opts: dict[str, Any], device, rgb, thermal, targets):
    """One optimizer step of ``variant`` on its own model (seed 0, so every variant starts from the same weights)."""
    import torch

    from lsi_perception.config import ModelConfig
    from lsi_perception.losses.config import LossConfig
    from lsi_perception.losses.criterion import build_criterion
    from lsi_perception.losses.lsi import LSIRegularizer
    from lsi_perception.model import build_model
    from lsi_perception.train.engine import TrainingObjective

    model_cfg, loss_cfg = ModelConfig(backbone=opts["backbone"]), LossConfig()
    if opts["config"]:
        from lsi_perception.train.config import load_train_config

        cfg = load_train_config(opts["config"])
        model_cfg, loss_cfg = cfg.model, cfg.loss
    loss_cfg = dataclasses.replace(loss_cfg, **VARIANTS[REFERENCE_VARIANTS.get(variant, variant)])
    torch.manual_seed(0)
    net = build_model(model_cfg).to(device)  # random weights: build_model never loads pretrained ones
    regularizer = LSIRegularizer(loss_cfg, cheap_second_order=variant not in REFERENCE_VARIANTS)
    objective = TrainingObjective(net, build_criterion(loss_cfg, 1, net.stride), regularizer, loss_cfg.delta)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        losses, _ = objective(rgb, thermal, targets)
        losses["total"].backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def run(args: argparse.Namespace) -> dict[str, Any]:
    opts = {k: getattr(args, k) for k in ("backbone", "config", "height", "width", "batch", "steps", "warmup",
                                           "threads", "device")}
    if args.config:
        from lsi_perception.train.config import load_train_config

        opts["backbone"] = load_train_config(args.config).model.backbone
    ctx = mp.get_context("spawn")
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in args.variants}
    groups = [[v] for v in args.variants] if args.isolated else [list(args.variants)]
    for _ in range(args.repeats):
        for variants in groups:
            with ctx.Pool(1) as pool:
                for variant, measured in pool.apply(_measure, ({**opts, "variants": variants},)).items():
                    runs[variant].append(measured)
    results: dict[str, dict[str, float]] = {}
    for variant, rs in runs.items():
        results[variant] = {k: min(r[k] for r in rs) if k.endswith("ms") else max(r[k] for r in rs)
                            for k in rs[0]}
    mode = "isolated processes" if args.isolated else "interleaved in each process"
    summary: dict[str, Any] = {"settings": {**opts, "mode": mode}, "variants": results, "goal_overhead": GOAL_OVERHEAD}
    source = f" (model and loss of {opts['config']})" if opts["config"] else ""
    print(f"train step, {opts['backbone']}{source} {opts['height']}x{opts['width']} batch {opts['batch']} on "
          f"{opts['device']} ({opts['threads']} threads; {mode}; best of {args.repeats} processes, median of "
          f"{opts['steps']} steps); overhead = CPU time per step against off (wall in brackets)")
    memory = "peak RSS MB" if args.isolated else "process peak RSS MB"
    print(f"{'variant':<9} {'wall ms':>9} {'cpu ms':>9} {'overhead':>9} {'(wall)':>8} {memory:>20}")
    base = results.get("off")
    for variant, r in results.items():
        overhead = (r["cpu_ms"] / base["cpu_ms"] - 1.0) if base and variant != "off" else 0.0
        wall = (r["wall_ms"] / base["wall_ms"] - 1.0) if base and variant != "off" else 0.0
        r["overhead_vs_off"], r["wall_overhead_vs_off"] = overhead, wall
        print(f"{variant:<9} {r['wall_ms']:9.0f} {r['cpu_ms']:9.0f} {overhead:+9.0%} {wall:+8.0%} {r['peak_rss_mb']:20.0f}")
    if base:
        for variant in (v for v in results if v != "off"):
            met = results[variant]["overhead_vs_off"] <= GOAL_OVERHEAD
            summary[f"{variant}_meets_goal"] = met
            print(f"{variant}: regularizer adds {results[variant]['overhead_vs_off']:.0%} to a step "
                  f"(goal <= {GOAL_OVERHEAD:.0%}: {'met' if met else 'NOT met'})")
    return summary
