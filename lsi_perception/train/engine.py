"""The training step, one epoch of it, and validation with the KAIST evaluator (plain functions, DETR-style).

``TrainingObjective`` is the whole loss computation as one ``nn.Module`` so that DDP wraps it and sees
every use of the network's parameters, including the LSI regularizer's second pass through the fusion
and heads: backbones once, ``forward_fused`` on the clean features for the detection losses, and the
regularizer's perturbed passes on the same features.

The trainer (``trainer.py``) owns optimizer, schedule, checkpoints and processes; this module only
computes.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from lsi_perception.config import InferenceConfig
from lsi_perception.device import AUTOCAST_DTYPES, resolve_precision
from lsi_perception.eval import EvalResult
from lsi_perception.eval import evaluate as evaluate_detections
from lsi_perception.eval.results import xyxy_to_xywh
from lsi_perception.eval.settings import SETTINGS, SETTINGS_BY_NAME, Setting
from lsi_perception.losses.lsi import LSIRegularizer
from lsi_perception.model import LSIDetectorNet, decode

MODALITIES = ("rgb", "thermal")
# Validation scores the model at its evaluation threshold on every image: a frame without detections misses
# its pedestrians (lsi_perception.eval.protocol). ``lsi eval --protocol reference`` gives the published figures.
VALIDATION_PROTOCOL = "strict"


@dataclass
class AmpSettings:
    """Mixed precision: ``dtype`` None means full fp32; fp16 also needs the GradScaler."""

    dtype: torch.dtype | None = None
    device_type: str = "cpu"

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16


def resolve_amp(mode: str, device: torch.device) -> AmpSettings:
    """``runtime.amp`` -> autocast settings, resolved like the Detector's precision (``device.resolve_precision``:
    auto = bf16 on CUDA when supported, else fp16; fp32 on CPU, where autocast is slower than fp32 here).
    ``off`` is fp32."""
    try:
        precision = resolve_precision("fp32" if mode == "off" else mode, device)
    except ValueError as exc:
        raise ValueError(f"runtime.amp={mode}: {exc}") from None
    return AmpSettings(AUTOCAST_DTYPES.get(precision), device.type)


class TrainingObjective(nn.Module):
    """net + detection criterion + LSI regularizer: ``forward`` returns the losses of one batch.

    forward(rgb [B,3,H,W], thermal [B,1,H,W], targets: B dicts, measure_modalities: bool)
      -> (losses: dict of scalar tensors incl. "total" (and "lsi" when delta > 0),
          stats: {"I_vis", "I_th", "ratio"} floats, empty unless delta > 0 or measure_modalities)

    With ``delta == 0`` the regularizer is not part of the loss; ``measure_modalities`` still estimates
    I_vis / I_th on detached features (a side computation whose graph is dropped), so baseline runs log
    the same modality-balance curves as LSI runs.
    """

    def __init__(self, net: LSIDetectorNet, criterion: nn.Module, regularizer: LSIRegularizer | None,
                 delta: float) -> None:
        super().__init__()
        self.net = net
        self.criterion = criterion
        self.regularizer = regularizer
        self.delta = float(delta)

    def forward(self, rgb: Tensor, thermal: Tensor, targets: list[dict[str, Tensor]],
                measure_modalities: bool = False) -> tuple[dict[str, Tensor], dict[str, float]]:
        vis, th = self.net.extract_features(rgb, thermal)
        return self._losses(vis, th, targets, measure_modalities)

    def _losses(self, vis: list[Tensor], th: list[Tensor], targets: list[dict[str, Tensor]],
                measure_modalities: bool) -> tuple[dict[str, Tensor], dict[str, float]]:
        """The fused detector's losses (+ LSI) from the two backbones' features."""
        outputs = self.net.forward_fused(vis, th)
        extra: dict[str, Tensor] = {}
        stats: dict[str, float] = {}
        if self.regularizer is not None and self.delta > 0:
            extra["lsi"], stats = self.regularizer(self.net, vis, th, clean_scores=outputs["score_logits"])
        elif self.regularizer is not None and measure_modalities:
            with torch.no_grad():  # a measurement only: R comes back detached, no graph is kept
                _, stats = self.regularizer(self.net, [v.detach() for v in vis], [t.detach() for t in th],
                                            clean_scores=outputs["score_logits"])
        # Losses in fp32 even under autocast: focal/IoU terms lose too much in half precision.
        outputs = {k: (v.float() if isinstance(v, Tensor) else v) for k, v in outputs.items()}
        losses = self.criterion(outputs, targets, extra_terms=extra)
        return losses, {k: float(v) for k, v in stats.items()}

    @property
    def auxiliary(self) -> nn.Module | None:
        """Trained modules outside the network (a remedy's extra heads), or None; not exported."""
        return None

    def backward(self, losses: dict[str, Tensor], scaler: torch.amp.GradScaler) -> None:
        """Fill the parameters' ``.grad`` from this batch's ``losses`` (remedies that shape gradients
        override it: train/ogm_ge.py, train/unimodal_heads.py)."""
        scaler.scale(losses["total"]).backward()


@dataclass
class LoopState:
    """Counters that survive resume: global optimizer step, epoch, and batches done in this epoch."""

    step: int = 0
    epoch: int = 0
    epoch_step: int = 0
    best_mr: float = math.inf
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class StepContext:
    """What one optimizer step needs besides the batch (built once by the trainer)."""

    objective: nn.Module  # TrainingObjective, possibly DDP-wrapped
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp: AmpSettings
    device: torch.device
    grad_clip: float
    log_every: int
    max_steps: int
    modality_dropout: float = 0.0  # per-sample chance of blanking one modality (half RGB, half thermal)
    blank: str | None = None  # "rgb" | "thermal": always blank that modality (single-modality models)


def move_targets(targets: Iterable[Mapping[str, Tensor]], device: torch.device) -> list[dict[str, Tensor]]:
    return [{k: (v.to(device, non_blocking=True) if isinstance(v, Tensor) else v) for k, v in t.items()}
            for t in targets]


BLANK_TRAIN_NOISE = 1e-3  # std of the noise on a blanked training input (see blank_for_training)


def blank_for_training(x: Tensor, drop: Tensor) -> Tensor:
    """``x`` with the samples where ``drop`` ([B] bool) is set replaced by the normalized-space zero image
    plus N(0, BLANK_TRAIN_NOISE^2) noise. The noise is not cosmetic: on an exactly constant input PVT's
    LayerNorms see zero variance at initialization and their backward returns NaN."""
    if not bool(drop.any()):
        return x
    noise = BLANK_TRAIN_NOISE * torch.randn_like(x)
    return torch.where(drop.view(-1, 1, 1, 1), noise, x)


def drop_modalities(rgb: Tensor, thermal: Tensor, p: float) -> tuple[Tensor, Tensor]:
    """Modality dropout: each sample loses its RGB image with chance p / 2, else its thermal one with
    chance p / 2 (blanked as the Detector blanks a missing one, see ``blank_for_training``)."""
    u = torch.rand(rgb.shape[0], device=rgb.device)
    return blank_for_training(rgb, u < p / 2), blank_for_training(thermal, (u >= p / 2) & (u < p))


def train_step(ctx: StepContext, batch, measure: bool) -> tuple[dict[str, float], dict[str, float], float]:
    """One forward/backward/update. Returns (loss terms as floats, modality stats, grad norm before clipping)."""
    rgb = batch.rgb.to(ctx.device, non_blocking=True)
    thermal = batch.thermal.to(ctx.device, non_blocking=True)
    targets = move_targets(batch.targets, ctx.device)
    if ctx.modality_dropout > 0:
        rgb, thermal = drop_modalities(rgb, thermal, ctx.modality_dropout)
    if ctx.blank is not None:  # single-modality model: the other input is always blank
        every = torch.ones(rgb.shape[0], dtype=torch.bool, device=rgb.device)
        rgb = blank_for_training(rgb, every) if ctx.blank == "rgb" else rgb
        thermal = blank_for_training(thermal, every) if ctx.blank == "thermal" else thermal
    ctx.optimizer.zero_grad(set_to_none=True)
    with ctx.amp.autocast():
        losses, stats = ctx.objective(rgb, thermal, targets, measure)
    total = losses["total"]
    if not torch.isfinite(total):
        raise FloatingPointError(
            f"loss is {total.item()} at this step (terms: { {k: float(v) for k, v in losses.items()} }); "
            "lower optim.lr, raise schedule.warmup_steps or check the batch's boxes"
        )
    objective = ctx.objective
    if isinstance(objective, nn.parallel.DistributedDataParallel):
        objective = objective.module
    objective.backward(losses, ctx.scaler)
    ctx.scaler.unscale_(ctx.optimizer)
    params = [p for g in ctx.optimizer.param_groups for p in g["params"]]
    max_norm = ctx.grad_clip if ctx.grad_clip > 0 else math.inf
    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    ctx.scaler.step(ctx.optimizer)
    ctx.scaler.update()
    ctx.scheduler.step()
    return {k: float(v.detach()) for k, v in losses.items()}, stats, grad_norm


ScalarLogger = Callable[[dict[str, float], int], None]


def train_one_epoch(ctx: StepContext, loader: Iterable, state: LoopState, *, log: ScalarLogger | None = None,
                    progress=None, on_step: Callable[[LoopState], None] | None = None) -> dict[str, float]:
    """Run the loader once (or until ``ctx.max_steps``); returns the epoch's mean loss terms.

    ``log(scalars, step)`` receives every loss term, I_vis / I_th / ratio, lr, grad norm and throughput
    every ``ctx.log_every`` steps; ``progress`` is a tqdm bar (or None); ``on_step(state)`` runs after
    every step (the trainer's mid-epoch checkpoint hook).
    """
    ctx.objective.train()
    sums: dict[str, float] = {}
    count = 0
    tic = time.perf_counter()
    images_since = 0
    for batch in loader:
        if state.step >= ctx.max_steps:
            break
        measure = (state.step % ctx.log_every) == 0
        terms, stats, grad_norm = train_step(ctx, batch, measure)
        state.step += 1
        state.epoch_step += 1
        count += 1
        images_since += int(batch.rgb.shape[0])
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{terms['total']:.3f}", refresh=False)
        if measure:
            elapsed = max(time.perf_counter() - tic, 1e-9)
            scalars = {f"loss/{k}": v for k, v in terms.items()}
            scalars.update({f"modality/{k}": v for k, v in stats.items()})
            scalars["train/lr"] = ctx.optimizer.param_groups[0]["lr"]
            scalars["train/grad_norm"] = grad_norm
            scalars["train/images_per_s"] = images_since / elapsed
            if progress is not None:
                progress.set_postfix(loss=f"{terms['total']:.3f}", img_s=f"{images_since / elapsed:.1f}",
                                     **({"I_vis": f"{stats['I_vis']:.2g}", "I_th": f"{stats['I_th']:.2g}"}
                                        if stats else {}))
            if log is not None:
                log(scalars, state.step)
            tic, images_since = time.perf_counter(), 0
        if on_step is not None:
            on_step(state)
    return {k: v / max(count, 1) for k, v in sums.items()}


def blank_modality(rgb: Tensor, thermal: Tensor, blank: str | None) -> tuple[Tensor, Tensor]:
    """Replace one modality by its normalized-space zero tensor (what the Detector does for ``None``)."""
    if blank is None:
        return rgb, thermal
    if blank not in MODALITIES:
        raise ValueError(f"blank={blank!r} must be None or one of {MODALITIES}")
    return (torch.zeros_like(rgb), thermal) if blank == "rgb" else (rgb, torch.zeros_like(thermal))


@torch.no_grad()
def predict_loader(net: LSIDetectorNet, loader: Iterable, inference: InferenceConfig, device: torch.device,
                   amp: AmpSettings, blank: str | None = None) -> dict[str, np.ndarray]:
    """Detections for every image of ``loader`` as {image_id: float32 [N, 5] x, y, w, h, score} in the
    *original* image's pixels (the batch's letterbox is undone), the evaluator's input format."""
    net.eval()
    out: dict[str, np.ndarray] = {}
    for batch in loader:
        rgb, thermal = blank_modality(batch.rgb.to(device), batch.thermal.to(device), blank)
        with amp.autocast():
            outputs = net(rgb, thermal)
        for image_id, dets, meta in zip(batch.image_ids, decode(outputs, inference), batch.meta):
            boxes = meta["letterbox"].to_original(dets["boxes"].float().cpu().numpy())
            scores = dets["scores"].float().cpu().numpy()[:, None]
            out[image_id] = np.concatenate([xyxy_to_xywh(boxes), scores], 1).astype(np.float32)
    return out


def reasonable_setting(min_height: float = 55.0) -> Setting:
    """KAIST's Reasonable setting (occlusion none/partial) with its 55 px floor replaced by ``min_height``:
    for images smaller than KAIST's 640x512, 55 * height / 512 keeps the same share of pedestrians."""
    base = SETTINGS_BY_NAME["reasonable"]
    return dataclasses.replace(base, min_height=float(min_height))


def validate_model(net: LSIDetectorNet, loader: Iterable, annotations, inference: InferenceConfig,
             device: torch.device, amp: AmpSettings, blank: str | None = None,
             protocol: str = VALIDATION_PROTOCOL, reasonable_min_height: float = 55.0) -> EvalResult:
    """Run the model (+ decode) over the validation loader and score it with the KAIST evaluator, in memory.

    ``blank`` ("rgb" | "thermal") zeroes that modality at test time: how much the detector leans on each.
    ``protocol``: the evaluator's protocol ("strict" or "reference"); the result names it.
    """
    detections = predict_loader(net, loader, inference, device, amp, blank)
    return score_detections(annotations, detections, protocol, reasonable_min_height)


def score_detections(annotations, detections: Mapping[str, np.ndarray], protocol: str = VALIDATION_PROTOCOL,
                     reasonable_min_height: float = 55.0) -> EvalResult:
    """``predict_loader``'s detections scored with the KAIST evaluator: every setting at KAIST's 55 px
    floor, or only Reasonable with ``reasonable_min_height`` as its floor (smaller images)."""
    settings = SETTINGS if reasonable_min_height == 55.0 else (reasonable_setting(reasonable_min_height),)
    return evaluate_detections(annotations, detections, settings=settings, protocol=protocol)


@dataclass(frozen=True)
class SelectionMetric:
    """The validation figure that picks ``best.safetensors``: ``key`` of the metrics dict, and its direction."""

    key: str
    lower_is_better: bool

    def loss(self, metrics: Mapping[str, float]) -> float:
        """Lower is better; a missing or NaN figure is +inf (never "best" over a real one)."""
        value = float(metrics.get(self.key, math.nan))
        if math.isnan(value):
            return math.inf
        return value if self.lower_is_better else -value


METRIC_SELECTION = {"mr": SelectionMetric("mr_reasonable_all", True), "ap": SelectionMetric("ap50_all", False)}


def validation_metrics(annotations, detections: Mapping[str, np.ndarray], metric: str,
                       protocol: str = VALIDATION_PROTOCOL, reasonable_min_height: float = 55.0) -> dict[str, float]:
    """``predict_loader``'s detections scored with the dataset's metric: "mr" (Reasonable MR all / day /
    night, ``mr_reasonable_*``) or "ap" (COCO AP50 and AP50:95 all / day / night, ``ap50_*``, ``ap_*``)."""
    if metric == "mr":
        return reasonable_mr_metrics(score_detections(annotations, detections, protocol, reasonable_min_height))
    if metric != "ap":
        raise ValueError(f"validation metric {metric!r} must be 'mr' or 'ap'")
    from lsi_perception.eval.ap import average_precision

    result = average_precision(annotations, detections)
    return {f"{k}_{t}": float(v[k]) for t, v in result.ap.items() for k in ("ap50", "ap")}


def format_validation(metrics: Mapping[str, float], metric: str) -> str:
    """One log line: "Reasonable MR all 12.30% day ..." or "AP50 all 81.20% ..."."""
    keys = ("mr_reasonable", "Reasonable MR") if metric == "mr" else ("ap50", "AP50")
    return keys[1] + " " + " ".join(f"{t} {metrics.get(f'{keys[0]}_{t}', math.nan):.2f}%" for t in ("all", "day", "night"))


def reasonable_mr_metrics(result: EvalResult) -> dict[str, float]:
    """Reasonable-setting MR (percent) for all / day / night: the numbers logged and compared for "best"."""
    return {f"mr_reasonable_{time_}": float(result.mr["reasonable"][time_]) for time_ in ("all", "day", "night")}
