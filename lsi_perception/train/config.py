"""TrainConfig: every training default in one place; ``config/train_*.yaml`` and ``key=value`` overrides only override.

The model, preprocessing and inference sections are the same dataclasses the Detector reads from a
checkpoint, so a trained model carries exactly the settings it was trained with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lsi_perception.config import InferenceConfig, ModelConfig, PreprocessConfig, load_yaml_config
from lsi_perception.data.synthetic import SyntheticConfig
from lsi_perception.data.utokyo import LABEL_SOURCES, UTOKYO_YOLO_CLASSES
from lsi_perception.losses.config import LossConfig

DATASET_KINDS = ("kaist", "utokyo", "llvip", "flir", "synthetic")
VALIDATION_METRICS = ("auto", "mr", "ap")
# Each dataset's own metric (data.metric: auto): KAIST-style MR^-2, or COCO AP where papers report that.
DATASET_METRICS = {"kaist": "mr", "utokyo": "mr", "synthetic": "mr", "llvip": "ap", "flir": "ap"}
KAIST_IMPROVED = "kaist_improved"  # data.test_annotations: the improved KAIST test annotations the package ships
AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class AugmentConfig:
    """Paired (RGB + thermal move together) training augmentation; validation only letterboxes."""

    hflip: float = 0.5  # probability of a horizontal flip
    scale_range: tuple[float, float] = (0.8, 1.25)  # random rescale before the crop/letterbox (1, 1 = off)
    resized_crop_area: tuple[float, float] | None = None  # e.g. [0.25, 4.0]: random-resized crop (window
    #   area / input area; > 1 zooms out) instead of scale_range + crop (scale_range is then unused); null = off
    resized_crop_ratio: tuple[float, float] = (0.8, 1.2)  # window aspect ratio factor (log-uniform)
    modality_shift: int = 0  # max pixels the thermal image moves against RGB (misregistration); 0 = off
    rgb_jitter: tuple[float, float, float] = (0.2, 0.2, 0.2)  # RGB brightness, contrast, saturation (+-)
    thermal_jitter: tuple[float, float] = (0.2, 0.2)  # thermal brightness offset, contrast gain (+-)
    jitter_p: float = 0.8  # probability of each modality's photometric jitter
    modality_dropout: float = 0.0  # per-sample chance of blanking one modality in training (half RGB, half thermal)
    featureless_pair: float = 0.0  # per-sample chance of a "no scene" negative: both images featureless (a level,
    #                                 ramp and noise each), no boxes (data/transforms.py FeaturelessPair)
    modality: str = "both"  # "rgb" / "thermal": single-modality model (the other input is always blank, in
    #                          training and validation): the two-stream network at the same budget


@dataclass
class DataConfig:
    """Where the images come from.

    Paths are relative to the current directory unless absolute. ``train_list`` / ``val_list`` are image
    set files (a bare name is also looked up in ``<root>/imageSets/``). ``val_annotations`` is the
    COCO-style JSON the evaluator scores against; null means ``<root>/annotations/<val list stem>.json``.
    ``kind: synthetic`` generates the dataset under ``root`` on first use (``synthetic`` settings) if
    ``root`` does not exist yet. Lists per kind: KAIST / synthetic image-set files; UTokyo a file of stems
    or ``auto`` (every frame); LLVIP a split folder (``train`` / ``test``) or a file of stems; FLIR-aligned
    ``align_train.txt`` / ``align_validation.txt``. Layouts: lsi_perception/data/README.md.
    """

    kind: str = "synthetic"
    root: str = "data/synthetic"
    train_list: str = "train.txt"
    val_list: str = "test.txt"
    val_annotations: str | None = None  # relative paths are looked up in val_root too
    val_root: str | None = None  # validation images from another dataset folder (null: root)
    train_annotations: str = "auto"  # KAIST: "auto" (the download's first label folder, format detected) |
    #   "xml" (annotations-xml-new-sanitized) | "bbgt" | "paired" | a label folder | a KAIST-schema JSON
    paired_root: str | None = None  # KAIST-Paired label folder (null: <root>/annotations_paired)
    paired_target: str = "visible"  # box learnt from paired labels: visible | lwir | mean | union
    missing_labels: str = "skip"  # training frames without a label file: skip | empty (= no people) | error
    max_unlabelled_fraction: float = 0.05  # more frames without a label file is an error (unless "empty")
    min_height: float = 0.0  # training boxes shorter than this become ignore regions
    holdout_videos: float = 0.0  # > 0: validate on this fraction of the training videos (held out of
    #                              training, per day/night); val_list / val_annotations are then unused
    holdout_seed: int = 0
    holdout_block: int = 50  # utokyo / llvip / flir (no video ids): frames are held out in blocks of this
    #                          many consecutive names (sorted), as neighbouring frames are near-copies
    test_list: str | None = None  # scored once after training with best.safetensors (final report only)
    test_annotations: str | None = None  # KAIST-schema JSON for test_list (relative: looked up in root too);
    #                                      "kaist_improved": the improved KAIST test annotations the package ships
    label_source: str = "fir"  # utokyo: fir | rgb (YOLO labels of that band) | voc_converted | voc
    yolo_classes: tuple[str, ...] = UTOKYO_YOLO_CLASSES  # utokyo: class name of each YOLO label index
    metric: str = "auto"  # validation metric: mr | ap | auto (the dataset's own: ap for llvip / flir, else mr)
    normalization: str = "config"  # "config": preprocess.*_mean/_std as given | "measure": from training frames
    norm_stats_frames: int = 500  # frames of the normalization pass (evenly spread, cached)
    val_max_images: int | None = None  # evaluate on the first N validation images only (fast smoke runs)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    val_synthetic: SyntheticConfig | None = None  # generates val_root on first use (kind: synthetic)

    @property
    def val_root_path(self) -> Path:
        return Path(self.val_root if self.val_root is not None else self.root)

    def validate(self) -> None:
        if self.kind not in DATASET_KINDS:
            raise ValueError(f"data.kind={self.kind!r} is not one of {', '.join(DATASET_KINDS)}")
        self.synthetic.validate()
        if self.val_synthetic is not None:
            self.val_synthetic.validate()
        lo, hi = self.augment.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"data.augment.scale_range={self.augment.scale_range} must satisfy 0 < low <= high")
        a = self.augment
        if a.resized_crop_area is not None and not 0 < a.resized_crop_area[0] <= a.resized_crop_area[1]:
            raise ValueError(f"data.augment.resized_crop_area={a.resized_crop_area} must satisfy 0 < low <= high")
        if not 0 < a.resized_crop_ratio[0] <= a.resized_crop_ratio[1] or a.modality_shift < 0:
            raise ValueError("data.augment.resized_crop_ratio needs 0 < low <= high, modality_shift >= 0")
        if min(a.rgb_jitter + a.thermal_jitter) < 0 or not 0.0 <= a.jitter_p <= 1.0:
            raise ValueError("data.augment jitter amounts must be >= 0 and jitter_p a probability")
        if self.augment.modality not in ("both", "rgb", "thermal"):
            raise ValueError(f"data.augment.modality={self.augment.modality!r} must be 'both', 'rgb' or 'thermal'")
        if not 0.0 <= self.augment.featureless_pair <= 1.0:
            raise ValueError(f"data.augment.featureless_pair={self.augment.featureless_pair} must be a probability "
                             "in [0, 1]")
        if not 0.0 <= self.augment.modality_dropout <= 1.0:
            raise ValueError(f"data.augment.modality_dropout={self.augment.modality_dropout} must be a probability in [0, 1]")
        if not 0.0 <= self.augment.hflip <= 1.0:
            raise ValueError(f"data.augment.hflip={self.augment.hflip} must be a probability in [0, 1]")
        choices = (("paired_target", ("visible", "lwir", "mean", "union")), ("missing_labels", ("skip", "empty", "error")),
                   ("normalization", ("config", "measure")))
        for key, allowed in choices:
            if getattr(self, key) not in allowed:
                raise ValueError(f"data.{key}={getattr(self, key)!r} is not one of {', '.join(allowed)}")
        if not 0.0 <= self.holdout_videos < 1.0 or not 0.0 <= self.max_unlabelled_fraction <= 1.0:
            raise ValueError("data.holdout_videos must be in [0, 1) and data.max_unlabelled_fraction in [0, 1]")
        if self.norm_stats_frames < 1:
            raise ValueError(f"data.norm_stats_frames={self.norm_stats_frames} must be >= 1")
        if self.metric not in VALIDATION_METRICS or self.label_source not in LABEL_SOURCES or self.holdout_block < 1:
            raise ValueError(f"data.metric must be one of {', '.join(VALIDATION_METRICS)}, data.label_source one of "
                             f"{', '.join(LABEL_SOURCES)}, data.holdout_block >= 1")
        if not self.yolo_classes or len(set(self.yolo_classes)) != len(self.yolo_classes):
            raise ValueError(f"data.yolo_classes={list(self.yolo_classes)} must name each YOLO class index once")

    @property
    def validation_metric(self) -> str:
        """"mr" or "ap": ``metric``, or the dataset's own (``DATASET_METRICS``) when it is auto."""
        return DATASET_METRICS[self.kind] if self.metric == "auto" else self.metric


@dataclass
class OptimConfig:
    """AdamW. Norm/bias parameters get no weight decay (decaying a LayerNorm gain only hurts)."""

    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    backbone_lr_mult: float = 1.0  # < 1 slows pretrained backbones relative to the fresh heads
    grad_clip: float = 5.0  # max global L2 norm of the gradients; 0 disables clipping
    ema_decay: float = 0.0  # > 0 (e.g. 0.9998): validate and save an EMA of the weights (train/ema.py)
    ema_tau: float = 2000.0  # EMA warmup: decay * (1 - exp(-updates / tau))

    def validate(self) -> None:
        if not 0.0 <= self.ema_decay < 1.0 or self.ema_tau <= 0:
            raise ValueError(f"optim.ema_decay={self.ema_decay} must be in [0, 1) (0 = off) and optim.ema_tau > 0")
        if self.lr <= 0 or self.weight_decay < 0 or self.backbone_lr_mult <= 0 or self.grad_clip < 0:
            raise ValueError("optim.lr and optim.backbone_lr_mult must be > 0; weight_decay and grad_clip >= 0")


@dataclass
class ScheduleConfig:
    """Linear warmup from ``warmup_start * lr`` then cosine decay to ``min_lr_ratio * lr``, per step."""

    warmup_steps: int = 100
    warmup_start: float = 0.01
    min_lr_ratio: float = 0.05

    def validate(self) -> None:
        if self.warmup_steps < 0 or not 0 <= self.min_lr_ratio <= 1 or not 0 < self.warmup_start <= 1:
            raise ValueError("schedule: warmup_steps >= 0, min_lr_ratio in [0, 1], warmup_start in (0, 1]")


@dataclass
class RuntimeConfig:
    """Budget, devices, logging and checkpointing."""

    epochs: int = 10
    max_steps: int | None = None  # stops early (and sizes the cosine schedule) when set
    batch_size: int = 8  # per process
    workers: int = 2  # DataLoader workers per process (0 = load in the training process)
    device: str = "auto"  # "auto" (cuda if available) | "cpu" | "cuda" | "cuda:N"
    amp: str = "auto"  # "auto" (bf16 on CUDA if supported, else fp16; off on CPU) | "off" | "bf16" | "fp16"
    eval_every: int = 1  # validate every N epochs (and after the last); 0 = only after the last
    eval_score_threshold: float = 0.01  # detections kept for MR (the curve needs low-score detections)
    eval_reasonable_min_height: float = 55.0  # Reasonable setting's height floor (KAIST: 55 px at 640x512;
    #                                           scale it for smaller images, e.g. 13.75 at 160x128)
    log_every: int = 20  # steps between TensorBoard scalars (and I_vis / I_th when delta = 0)
    checkpoint_every: int = 0  # also save last + train state every N steps (0: at epoch ends only)
    stop_at_step: int | None = None  # end this invocation after step N (checkpointed; schedule unchanged),
    #                                  e.g. for time-limited job slots; --resume continues the run
    out_dir: str = "runs"  # the run writes to <out_dir>/<name>/
    seed: int = 0
    deterministic: bool = False  # torch.use_deterministic_algorithms (slower; used by the resume test)
    progress: bool = True  # tqdm bar on rank 0

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.workers < 0 or self.log_every < 1 or self.eval_every < 0:
            raise ValueError("runtime: epochs, batch_size, log_every >= 1; workers, eval_every >= 0")
        if self.checkpoint_every < 0 or (self.stop_at_step is not None and self.stop_at_step < 1):
            raise ValueError("runtime.checkpoint_every must be >= 0 and runtime.stop_at_step >= 1 or null")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"runtime.max_steps={self.max_steps} must be >= 1 or null")
        if self.amp not in AMP_MODES:
            raise ValueError(f"runtime.amp={self.amp!r} is not one of {', '.join(AMP_MODES)}")


BALANCE_METHODS = ("none", "ogm_ge", "unimodal_heads")
AUX_COMBINES = ("sum", "mmpareto")


@dataclass
class BalanceConfig:
    """Modality-balancing remedies other than the LSI term (``loss.delta``) and modality dropout
    (``data.augment.modality_dropout``); docs/experiment_regime.md compares them. Single process only.

    ``ogm_ge`` (train/ogm_ge.py): the leading modality's backbone gradients scaled by
    1 - tanh(alpha * rho) plus Gaussian noise (Peng et al., CVPR 2022). ``unimodal_heads``
    (train/unimodal_heads.py): a detection head per modality on its own backbone features, trained with
    the same losses (weight ``aux_weight``) and dropped at export; ``aux_combine: mmpareto`` integrates
    the backbones' multimodal and unimodal gradients as MMPareto does (Wei and Hu, ICML 2024).
    """

    method: str = "none"  # "none" | "ogm_ge" | "unimodal_heads"
    alpha: float = 0.5  # ogm_ge: modulation strength (the paper's range 0.1-3)
    ge_noise: bool = True  # ogm_ge: add the generalization-enhancement noise (False: plain OGM)
    aux_weight: float = 1.0  # unimodal_heads: weight of each unimodal head's loss
    aux_combine: str = "sum"  # unimodal_heads: "sum" (plain multitask) | "mmpareto"
    mmpareto_gamma: float = 1.5  # unimodal_heads + mmpareto: magnitude enhancement (the authors' value)

    def validate(self) -> None:
        if self.method not in BALANCE_METHODS or self.aux_combine not in AUX_COMBINES:
            raise ValueError(f"balance.method={self.method!r} must be one of {', '.join(BALANCE_METHODS)} and "
                             f"balance.aux_combine={self.aux_combine!r} one of {', '.join(AUX_COMBINES)}")
        if self.alpha <= 0 or self.aux_weight <= 0 or self.mmpareto_gamma <= 0:
            raise ValueError("balance.alpha, balance.aux_weight and balance.mmpareto_gamma must be > 0")


@dataclass
class TrainConfig:
    """One training run: ``lsi train --config config/train_*.yaml [section.key=value ...]``."""

    name: str = "synthetic_b0"
    model: ModelConfig = field(default_factory=ModelConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.runtime.out_dir) / self.name

    def validate(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"name={self.name!r} must be a non-empty folder name (no '/')")
        for section in (self.model, self.preprocess, self.inference, self.loss, self.data, self.optim,
                        self.schedule, self.runtime, self.balance):
            section.validate()
        if self.preprocess.input_size is None:
            raise ValueError("training batches need one size: set preprocess.input_size: [height, width]")


def load_train_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """TrainConfig from a YAML file plus ``section.key=value`` overrides, validated."""
    return load_yaml_config(TrainConfig, path, overrides)
