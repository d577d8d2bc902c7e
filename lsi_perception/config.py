"""Typed configuration shared by the model, the Detector and the tools, with YAML loading and overrides.

The model, preprocessing and post-processing defaults live here; later layers keep theirs in their own
dataclasses (``losses/config.py``, ``train/config.py``, ``node_logic/node_config.py``,
``pipeline/defaults.py``). YAML files in ``config/`` only override. Dataclasses nest; ``load_yaml_config`` fills them from a mapping and rejects
unknown keys with the list of valid ones, so a typo in a config file is an error, not a silent default.
"""
from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

BACKBONES = tuple(f"pvt_v2_b{i}" for i in range(6))
DEFAULT_INPUT_SIZE = (512, 640)  # (height, width) the network sees by default: KAIST's 640x512 frames


@dataclass
class ModelConfig:
    """Architecture of the two-stream detector (see lsi_perception/model/)."""

    backbone: str = "pvt_v2_b0"
    class_names: tuple[str, ...] = ("person",)
    fusion: str = "conv"  # per-stage fusion unit: "conv" (concat + 1x1 conv + GroupNorm + SiLU) or "gated"
    neck_channels: int = 64
    output_stride: int = 4  # 4 keeps 20-55 px pedestrians at 5+ cells tall at 640x512
    head_channels: int = 64
    head_convs: int = 2
    # How training initializes the backbones (model/pretrained.py); a checkpoint holds all weights anyway.
    pretrained_path: str | None = None  # local ImageNet weights file (timm/HF .safetensors, .pth, .bin)
    allow_download: bool = True  # no pretrained_path: fetch timm/<backbone>.in1k from the Hugging Face hub
    allow_random_init: bool = False  # accept random backbone weights when no ImageNet weights are given/found

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def validate(self) -> None:
        if self.backbone not in BACKBONES:
            raise ValueError(f"model.backbone={self.backbone!r} is not one of {', '.join(BACKBONES)}")
        if self.output_stride not in (4, 8, 16):
            raise ValueError(f"model.output_stride={self.output_stride} must be 4, 8 or 16")
        if not self.class_names:
            raise ValueError("model.class_names is empty: give at least one class, e.g. [person]")


@dataclass
class ThermalPolicy:
    """How a thermal image becomes the network's [0, 1] input.

    8-bit images are divided by 255. 16-bit (and float radiometric) images use ``mode``:
    ``linear`` maps [low, high] to [0, 1] (clipped); ``percentile`` is an automatic gain control that
    maps the image's [p_low, p_high] percentiles to [0, 1], as thermal camera drivers do.
    """

    mode: str = "percentile"  # "linear" | "percentile"
    low: float = 0.0
    high: float = 65535.0
    p_low: float = 1.0
    p_high: float = 99.0

    def validate(self) -> None:
        if self.mode not in ("linear", "percentile"):
            raise ValueError(f"thermal.mode={self.mode!r} must be 'linear' or 'percentile'")
        if self.mode == "linear" and not self.high > self.low:
            raise ValueError(f"thermal.high ({self.high}) must exceed thermal.low ({self.low})")
        if not 0.0 <= self.p_low < self.p_high <= 100.0:
            raise ValueError(f"thermal percentiles must satisfy 0 <= p_low < p_high <= 100, got {self.p_low}, {self.p_high}")


@dataclass
class PreprocessConfig:
    """Image-pair preprocessing; recorded in every checkpoint so node, bag tool and evaluator agree."""

    input_size: tuple[int, int] | None = DEFAULT_INPUT_SIZE  # (height, width) letterbox target; None = native size
    pad_multiple: int = 32
    rgb_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    rgb_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    thermal_mean: float = 0.5
    thermal_std: float = 0.25
    thermal: ThermalPolicy = field(default_factory=ThermalPolicy)

    def validate(self) -> None:
        if self.input_size is not None and (len(self.input_size) != 2 or min(self.input_size) < 32):
            raise ValueError(f"preprocess.input_size={self.input_size} must be [height, width], each >= 32, or null")
        self.thermal.validate()


@dataclass
class InferenceConfig:
    """Post-processing knobs (runtime-tunable in the node)."""

    score_threshold: float = 0.3
    nms_iou: float = 0.5
    max_detections: int = 100
    pre_nms_topk: int = 1000
    iou_map_power: float = 0.5  # ranking score = score^(1-p) * iou^p  (p=0: score map only)

    def validate(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold={self.score_threshold} must be in [0, 1]")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou={self.nms_iou} must be in (0, 1]")
        if self.max_detections < 1 or self.pre_nms_topk < 1:
            raise ValueError("max_detections and pre_nms_topk must be >= 1")
        if not 0.0 <= self.iou_map_power <= 1.0:
            raise ValueError(f"iou_map_power={self.iou_map_power} must be in [0, 1]")


# --------------------------------------------------------------------------------------------------
# Generic dataclass <-> mapping helpers


def _resolve_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Convert a YAML value to the annotated type (tuples, optionals, nested dataclasses)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        return _coerce(value, non_none[0], where)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping for {hint.__name__}, got {value!r}")
        return from_dict(hint, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], where) for v in value)
        if len(args) != len(value):
            raise ValueError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(v, a, where) for v, a in zip(value, args))
    if origin is list:
        return [_coerce(v, args[0], where) for v in value] if args else list(value)
    if origin is dict:
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    if hint in (int, str, bool) and not isinstance(value, hint):
        raise ValueError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from a mapping; unknown keys are an error naming the valid ones."""
    hints = _resolve_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(
            f"{where or cls.__name__}: unknown key(s) {sorted(unknown)}; valid keys: {sorted(names)}"
        )
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}" if where else k) for k, v in data.items()}
    return cls(**kwargs)


def to_dict(obj: Any) -> dict[str, Any]:
    """Dataclass -> plain mapping of lists/scalars (JSON and YAML safe)."""

    def conv(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        return v

    return conv(obj)


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, plus YAML 1.2 floats: ``1e-3`` (no dot) is a float, not the string "1e-3"."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str) -> Any:
    """Parse YAML as the configs are read everywhere (safe; ``1e-3`` is a number)."""
    return yaml.load(text, Loader=_ConfigLoader)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["train.lr=1e-3", "model.backbone=pvt_v2_b2"]`` -> nested mapping (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = load_yaml(raw)
    return out


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``extra`` wins."""
    merged = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def load_yaml_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Load dataclass ``cls`` from a YAML file plus ``key=value`` overrides; clear errors on bad files."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} does not exist")
        try:
            loaded = load_yaml(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"config file {p} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError(f"config file {p} must hold a mapping at the top level")
        data = loaded
    if overrides:
        data = deep_merge(data, parse_overrides(overrides))
    obj = from_dict(cls, data, where=str(path) if path else cls.__name__)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj
