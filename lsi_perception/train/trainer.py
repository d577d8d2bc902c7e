"""The training run: model, optimizer, schedule, AMP, DDP, TensorBoard, validation and checkpoints.

Files written to ``<runtime.out_dir>/<name>/`` (rank 0 only):

- ``last.safetensors`` / ``best.safetensors``: Detector checkpoints (``lsi_perception/checkpoint.py``),
  loadable with ``Detector.from_checkpoint`` and nothing else; provenance records the command, commit,
  dataset, step and validation metrics. ``best`` has the lowest Reasonable MR (all) seen so far.
- ``train_state.pt``: what ``--resume`` needs besides the weights (optimizer, schedule, grad scaler,
  every RNG, step counters, best MR), plain tensors and containers so ``torch.load(weights_only=True)``
  reads it. It names the step it belongs to; ``last.safetensors`` must carry the same step.
  The three are saved as one unit (``checkpointing.py``: a step folder switched to atomically; the
  paths above are links into it), once per step; a killed save leaves the previous unit in place.
- ``config.yaml`` (the resolved TrainConfig, written atomically), ``metrics.jsonl`` (one strict-JSON line
  per validation, null for a NaN metric, appended and flushed per line: a killed run can leave at most
  a partial last line), ``tb/``.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.nn.parallel import DistributedDataParallel

from lsi_perception.checkpoint import CheckpointMeta, git_commit, load_checkpoint, save_checkpoint
from lsi_perception.config import InferenceConfig, to_dict
from lsi_perception.losses.criterion import build_criterion
from lsi_perception.losses.lsi import LSIRegularizer
from lsi_perception.model import LSIDetectorNet, build_model
from lsi_perception.model.pretrained import init_backbones, planned_source
from lsi_perception.train import distributed as dist_utils
from lsi_perception.train.checkpointing import (
    BEST,
    LAST,
    STATE_FILE,
    clean_stale,
    resolve_resume_path,
    save_unit,
    strict_json,
    write_atomically,
)
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.data import build_train_loader, build_val_loader, prepare_dataset
from lsi_perception.train.ema import ModelEMA
from lsi_perception.train.engine import (
    METRIC_SELECTION,
    VALIDATION_PROTOCOL,
    AmpSettings,
    LoopState,
    StepContext,
    format_validation,
    predict_loader,
    resolve_amp,
    train_one_epoch,
    validation_metrics,
)
from lsi_perception.train.final_report import final_test_report
from lsi_perception.train.objectives import build_objective
from lsi_perception.train.optim import build_optimizer, warmup_cosine
from lsi_perception.train.prepare import backbone_lr_advice, prepare_training_set
from lsi_perception.train.rng import rng_state, seed_everything, set_rng_state
from lsi_perception.training_data import training_data_for_kind

__all__ = ["BEST", "LAST", "STATE_FILE", "Trainer", "resolve_resume_path"]


# ---------------------------------------------------------------------------------------------- trainer
class Trainer:
    """``Trainer(cfg, command).fit(resume=None) -> final metrics``; run under ``torchrun`` for DDP."""

    def __init__(self, cfg: TrainConfig, command: str | None = None) -> None:
        cfg.validate()
        self.cfg = cfg
        self.command = command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self.device = dist_utils.resolve_device(cfg.runtime.device, dist_utils.local_rank_from_env())
        self.dist = dist_utils.init_distributed(self.device)
        self.amp: AmpSettings = resolve_amp(cfg.runtime.amp, self.device)
        self.run_dir = cfg.run_dir
        self.writer = None
        self.git_commit = git_commit() or "unknown"  # the code the run started with, not the code at save time

    # ------------------------------------------------------------------ setup
    def _build(self) -> None:
        cfg, rt = self.cfg, self.cfg.runtime
        if rt.deterministic:
            torch.use_deterministic_algorithms(True)
        seed_everything(rt.seed)  # same init on every rank (DDP also broadcasts rank 0's weights)
        if self.dist.is_main:
            self.dataset_info = prepare_dataset(cfg.data, cfg.model.class_names)
            cfg, facts = prepare_training_set(cfg, self.run_dir, self._log_main)  # coverage, split, normalization
            self.dataset_info.update(facts)
        dist_utils.barrier(self.dist)
        if not self.dist.is_main:
            self.dataset_info = prepare_dataset(cfg.data, cfg.model.class_names)
        self.cfg = cfg = replace(cfg, preprocess=dist_utils.broadcast_object(cfg.preprocess, self.dist))
        self.net: LSIDetectorNet = build_model(cfg.model).to(self.device)
        if self.fresh:
            self._log_main(f"backbone weights from {planned_source(cfg.model)} ...")
        self.backbone_init = init_backbones(self.net, cfg.model) if self.fresh else "from the resumed run"
        self._log_main(f"backbones: {self.backbone_init}")
        advice = backbone_lr_advice(cfg, self.backbone_init)
        if advice and self.dist.is_main:
            warnings.warn(advice, stacklevel=2)
        criterion = build_criterion(cfg.loss, cfg.model.num_classes, self.net.stride)
        regularizer = LSIRegularizer(cfg.loss)
        objective: torch.nn.Module = build_objective(cfg, self.net, criterion, regularizer, self.dist.enabled)
        self.auxiliary = objective.auxiliary  # a remedy's extra heads (optimized, kept in the train state)
        if self.auxiliary is not None:
            self.auxiliary.to(self.device)
        if self.dist.enabled:
            objective = DistributedDataParallel(
                objective, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.objective = objective
        self.train_loader, self.train_sampler = build_train_loader(cfg, self.dist, self.device)
        self.val_loader, self.val_annotations = (build_val_loader(cfg, self.device) if self.dist.is_main
                                                 else (None, None))
        steps_per_epoch = len(self.train_loader)
        if steps_per_epoch == 0:
            raise ValueError(
                f"the training set has fewer images ({len(self.train_sampler)} on this rank) than "
                f"runtime.batch_size={rt.batch_size}; lower the batch size or add images"
            )
        self.steps_per_epoch = steps_per_epoch
        self.dataset_info["train_images"] = len(self.train_loader.dataset)  # type: ignore[arg-type]
        self.total_steps = min(rt.max_steps or math.inf, rt.epochs * steps_per_epoch)
        self.optimizer = build_optimizer(self.net, cfg, self.auxiliary)
        self.ema = ModelEMA(self.net, cfg.optim.ema_decay, cfg.optim.ema_tau) if cfg.optim.ema_decay > 0 else None
        s = cfg.schedule
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(self.total_steps, s.warmup_steps, s.warmup_start, s.min_lr_ratio))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp.needs_scaler)
        self.state = LoopState()
        # Per-rank stream for what the step draws (LSI noise): ranks see different noise.
        seed_everything(rt.seed * 1000 + self.dist.rank + 1)

    def _resume(self, resume: str | Path) -> None:
        path = resolve_resume_path(resume)
        saved = torch.load(path, map_location="cpu", weights_only=True)
        weights, meta = load_checkpoint(path.parent / LAST)
        if int(meta.provenance.get("step", -1)) != saved["step"]:
            raise ValueError(
                f"{path.parent / LAST} is from step {meta.provenance.get('step')} but {path} from step "
                f"{saved['step']} (interrupted while saving?); resume from a consistent pair"
            )
        # With an EMA, last.safetensors holds the average and the state holds the network's own weights.
        self.net.load_state_dict(saved.get("online_weights", weights))
        if self.ema is not None:
            self.ema.load_state_dict(saved.get("ema", {"updates": 0}), weights)
        if self.auxiliary is not None:
            if "auxiliary" not in saved:
                raise ValueError(f"{path} has no auxiliary-head weights, but balance.method="
                                 f"{self.cfg.balance.method!r} trains them: resume with the run's own config")
            self.auxiliary.load_state_dict(saved["auxiliary"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        self.state = LoopState(step=saved["step"], epoch=saved["epoch"], epoch_step=saved["epoch_step"],
                               best_mr=saved["best_mr"], history=list(saved.get("history", [])))
        # best_mr holds the selection loss: the MR, or minus AP50 (engine.SelectionMetric.loss)
        rng = saved["rng"][self.dist.rank] if self.dist.rank < len(saved["rng"]) else saved["rng"][0]
        set_rng_state(rng)
        self._log_main(f"resumed from {path} at step {self.state.step} (epoch {self.state.epoch}, "
                       f"batch {self.state.epoch_step} of {self.steps_per_epoch})")

    # ------------------------------------------------------------------ outputs
    def _log_main(self, message: str) -> None:
        if self.dist.is_main:
            print(f"[lsi train] {message}", flush=True)

    def _scalars(self, scalars: dict[str, float], step: int) -> None:
        if self.writer is not None:
            for key, value in scalars.items():
                if math.isfinite(value):
                    self.writer.add_scalar(key, value, step)

    def _provenance(self, metrics: dict[str, float]) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "command": self.command,
            "git_commit": self.git_commit,
            "dataset": self.dataset_info,
            "training_data": training_data_for_kind(cfg.data.kind).to_dict(),  # the node warns on synthetic only
            "epochs": self.state.epoch,
            "step": self.state.step,
            "total_steps": self.total_steps,
            "seed": cfg.runtime.seed,
            "world_size": self.dist.world_size,
            "backbone_init": getattr(self, "backbone_init", None),
            "loss": to_dict(cfg.loss),
            "metrics": metrics,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "train_config": to_dict(cfg),
        }

    def _meta(self, metrics: dict[str, float]) -> CheckpointMeta:
        cfg = self.cfg
        return CheckpointMeta(model=cfg.model, preprocess=cfg.preprocess, inference=cfg.inference,
                              provenance=self._provenance(metrics))

    def _save(self, metrics: dict[str, float], best: bool) -> None:
        """last (+ best) weights and the train state; every rank contributes its RNG state."""
        rngs = [rng_state()]
        if self.dist.enabled:
            gathered: list[Any] = [None] * self.dist.world_size
            torch.distributed.all_gather_object(gathered, rngs[0])
            rngs = gathered
        if not self.dist.is_main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = {
            "step": self.state.step, "epoch": self.state.epoch, "epoch_step": self.state.epoch_step,
            "best_mr": self.state.best_mr, "history": self.state.history,
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "rng": rngs, "world_size": self.dist.world_size,
        }
        if self.auxiliary is not None:
            state["auxiliary"] = {k: v.detach().cpu() for k, v in self.auxiliary.state_dict().items()}
        if self.ema is not None:
            state.update(ema=self.ema.state_dict(), online_weights={k: v.detach().cpu() for k, v in self.net.state_dict().items()})
        meta = self._meta(metrics)
        save_unit(self.run_dir, self.state.step, lambda path: save_checkpoint(path, self._eval_net(), meta),
                  lambda path: torch.save(state, path), best)

    def _validate(self) -> dict[str, float]:
        """The dataset's validation metric (Reasonable MR or AP50, all/day/night) on rank 0, shared with every rank."""
        metrics: dict[str, float] = {}
        if self.dist.is_main and self.val_loader is not None:
            tic = time.perf_counter()
            detections = predict_loader(self._eval_net(), self.val_loader, self._eval_inference(), self.device,
                                        self.amp, self.blanked_modality)
            metrics = validation_metrics(self.val_annotations, detections, self.cfg.data.validation_metric,
                                         reasonable_min_height=self.cfg.runtime.eval_reasonable_min_height)
            metrics["val_seconds"] = time.perf_counter() - tic
        metrics = dist_utils.broadcast_object(metrics, self.dist)  # type: ignore[assignment]
        return metrics

    def _eval_net(self) -> LSIDetectorNet:
        """The weights validated and saved: the EMA average when ``optim.ema_decay > 0``."""
        return self.ema.module if self.ema is not None else self.net

    @property
    def blanked_modality(self) -> str | None:
        """The input a single-modality model never sees ("rgb" | "thermal"), else None."""
        return {"rgb": "thermal", "thermal": "rgb"}.get(self.cfg.data.augment.modality)

    def _eval_inference(self) -> InferenceConfig:
        """The deployment settings with a low score threshold: the MR curve needs low-score detections."""
        return replace(self.cfg.inference, score_threshold=self.cfg.runtime.eval_score_threshold)

    # ------------------------------------------------------------------ loop
    def fit(self, resume: str | Path | None = None) -> dict[str, float]:
        """Train to the budget (or ``runtime.stop_at_step``); returns the last validation metrics."""
        cfg = self.cfg
        try:
            self.fresh = resume is None  # a resumed run takes its weights from the run, not from ImageNet
            self._build()
            if self.dist.is_main and self.run_dir.is_dir():
                removed = clean_stale(self.run_dir)
                if removed:
                    self._log_main(f"removed {len(removed)} leftovers of interrupted saves: "
                                   + ", ".join(str(p.relative_to(self.run_dir)) for p in removed))
            dist_utils.barrier(self.dist)
            cfg = self.cfg  # now with the normalization it trains with
            if resume is not None:
                self._resume(resume)
            if self.dist.is_main:
                from torch.utils.tensorboard import SummaryWriter

                self.run_dir.mkdir(parents=True, exist_ok=True)
                write_atomically(self.run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
                self.writer = SummaryWriter(str(self.run_dir / "tb"), purge_step=self.state.step or None)
            self._log_main(
                f"{cfg.name}: {self.dataset_info.get('train_images', '?')} training images, "
                f"{self.steps_per_epoch} steps/epoch, {self.total_steps} steps, device {self.device}, "
                f"amp {self.amp.dtype or 'off'}, {self.dist.world_size} process(es), delta={cfg.loss.delta}"
            )
            return self._loop()
        finally:
            if self.writer is not None:
                self.writer.close()
            dist_utils.cleanup(self.dist)

    def _loop(self) -> dict[str, float]:
        cfg, rt = self.cfg, self.cfg.runtime
        stop_at = min(self.total_steps, rt.stop_at_step or math.inf)
        ctx = StepContext(self.objective, self.optimizer, self.scheduler, self.scaler, self.amp, self.device,
                          cfg.optim.grad_clip, rt.log_every, int(stop_at), cfg.data.augment.modality_dropout,
                          self.blanked_modality)
        metrics: dict[str, float] = {}
        progress = None
        if self.dist.is_main and rt.progress:
            from tqdm import tqdm

            progress = tqdm(total=int(self.total_steps), initial=self.state.step, desc=cfg.name, unit="step",
                            dynamic_ncols=True, file=sys.stderr)

        def checkpoint_hook(state: LoopState) -> None:
            if self.ema is not None:
                self.ema.update(self.net)
            epoch_end = state.epoch_step >= self.steps_per_epoch  # saved after the epoch's validation instead
            if rt.checkpoint_every and state.step % rt.checkpoint_every == 0 and state.step < stop_at \
                    and not epoch_end:
                self._save(metrics, best=False)

        try:
            while self.state.step < stop_at:
                epoch = self.state.epoch
                loader = self.train_loader
                self.train_sampler.set_epoch(epoch, skip_batches=self.state.epoch_step)
                train_one_epoch(ctx, loader, self.state, log=self._scalars, progress=progress,
                                on_step=checkpoint_hook)
                epoch_done = self.state.epoch_step >= self.steps_per_epoch
                if epoch_done:
                    self.state.epoch += 1
                    self.state.epoch_step = 0
                finished = self.state.step >= self.total_steps
                due = epoch_done and rt.eval_every > 0 and self.state.epoch % rt.eval_every == 0
                best = False
                if due or finished:
                    metrics = self._validate()
                    record = {"step": self.state.step, "epoch": self.state.epoch, **metrics}
                    self.state.history.append(record)
                    self._scalars({f"val/{k}": v for k, v in metrics.items()}, self.state.step)
                    loss = METRIC_SELECTION[cfg.data.validation_metric].loss(metrics)
                    best = loss < self.state.best_mr or not (self.run_dir / BEST).exists()
                    self.state.best_mr = min(self.state.best_mr, loss)
                    if self.dist.is_main:
                        with (self.run_dir / "metrics.jsonl").open("a") as fh:
                            fh.write(strict_json({**record, "protocol": VALIDATION_PROTOCOL}) + "\n")
                        metric = cfg.data.validation_metric
                        self._log_main(
                            f"step {self.state.step} epoch {self.state.epoch}: "
                            + format_validation(metrics, metric)
                            + (f" ({VALIDATION_PROTOCOL} protocol)" if metric == "mr" else " (COCO, pycocotools)"))
                if epoch_done or self.state.step >= stop_at:
                    self._save(metrics, best=best)
        finally:
            if progress is not None:
                progress.close()
        if self.dist.enabled:
            diff = dist_utils.max_replica_difference(self.net, self.dist)
            if diff > 0:
                raise RuntimeError(f"DDP replicas diverged: max |rank - rank0| = {diff:g} over the weights")
            self._log_main(f"weights identical on all {self.dist.world_size} ranks")
        self._log_main(f"done at step {self.state.step}; checkpoints in {self.run_dir}")
        if self.dist.is_main and cfg.data.test_list is not None and self.state.step >= self.total_steps:
            report = final_test_report(cfg, self.run_dir / BEST, self.device, self.amp, self._eval_inference())
            self._log_main(f"test set {cfg.data.test_list} (final report, {BEST} from step {report['checkpoint_step']}): "
                           + format_validation(report, cfg.data.validation_metric))
        return metrics
