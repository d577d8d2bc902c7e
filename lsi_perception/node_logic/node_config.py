"""Every parameter of the ``lsi_detector`` node, with its default, range and description, in one place.

``NodeConfig`` is a plain dataclass (no rclpy import) so it is testable without ROS. The node declares one
ROS parameter per field from the field's ``metadata`` (description, numeric range, allowed values, whether
it may change while the node is active); ``config/lsi_detector.yaml`` mirrors these defaults and a test
checks the two agree.

Defaults are chosen so that ``ros2 run lsi_perception lsi_detector`` works with no arguments: the
package's shipped model, ``device: auto``, the topics of ``pipeline.defaults``, sensor-data QoS. Defaults
shared with the offline tools (pairing, homography, missing-modality policy) come from ``pipeline.defaults``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from lsi_perception.backends import BACKEND_CHOICES, INFERENCE_PRECISIONS, ORT_PROVIDERS
from lsi_perception.config import InferenceConfig
from lsi_perception.pipeline.defaults import (
    IDENTITY_HOMOGRAPHY,
    MISSING_MODALITY,
    MISSING_MODALITY_POLICIES,
    QUEUE_SIZE,
    RGB_TOPIC,
    SLOP_S,
    THERMAL_TOPIC,
    TIME_JUMP_THRESHOLD_S,
)

# Former parameters, now remaps: a params file still setting them gets a warning naming the remap.
REMOVED_TOPIC_PARAMETERS = {"rgb_topic": RGB_TOPIC, "thermal_topic": THERMAL_TOPIC}
IMAGE_TRANSPORTS = ("raw", "compressed")
DEVICES_HINT = "auto | cpu | cuda | cuda:N"
CHECKPOINT_VALUE = -1.0  # score_threshold / nms_iou: keep what the checkpoint was tuned with


def _param(default: Any, description: str, *, lo: float | None = None, hi: float | None = None,
           choices: tuple[str, ...] | None = None, runtime: bool = False) -> Any:
    """A dataclass field carrying what the node needs to declare it as a ROS parameter.

    ``runtime``: the value may change while the node is active (applied to the next pair); other
    parameters are read at configure and changing them is rejected while active.
    """
    meta = {"description": description, "lo": lo, "hi": hi, "choices": choices, "runtime": runtime}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda d=tuple(default): d, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class NodeConfig:
    """Settings of the ``lsi_detector`` lifecycle node (one ROS parameter per field)."""

    # ---- inputs (topics are chosen by remapping RGB_TOPIC / THERMAL_TOPIC, the ROS 2 idiom)
    image_transport: str = _param("raw", "raw: sensor_msgs/Image; compressed: sensor_msgs/CompressedImage on <topic>/compressed",
                                  choices=IMAGE_TRANSPORTS)
    slop: float = _param(SLOP_S, "Approximate-time sync: largest stamp difference (s) between paired RGB and thermal images",
                         lo=0.0, hi=10.0)
    queue_size: int = _param(QUEUE_SIZE, "Approximate-time sync: messages kept per topic while waiting for a partner", lo=1, hi=1000)
    time_jump_threshold: float = _param(
        TIME_JUMP_THRESHOLD_S, "Stamps going back by more than this (s) are a time jump (bag loop, /clock reset, simulator restart): "
        "the pairing is reset and detection resumes with the next pair; smaller steps back are dropped as out of order",
        lo=0.001, hi=1e9)
    worker_queue_depth: int = _param(1, "Synced pairs waiting for inference; when full the oldest is dropped (latest pair wins)",
                                     lo=1, hi=100)
    # ---- model
    checkpoint: str = _param("", "Detector checkpoint (.safetensors); empty = the package's default model in models/")
    device: str = _param("auto", f"Torch device: {DEVICES_HINT} (auto = CUDA when available, else CPU)")
    backend: str = _param("auto", "Network runtime: auto (the fastest that gives torch's boxes here, logged at start: "
                          "onnxruntime on CPU; on CUDA onnxruntime TensorRT, else CUDA, else torch; torch when onnxruntime "
                          "is missing or fails), torch, or onnxruntime (the checkpoint's ONNX export, cached by content; "
                          "same preprocessing and NMS)", choices=BACKEND_CHOICES)
    execution_provider: str = _param("auto", "onnxruntime execution provider: auto | cpu | cuda | tensorrt (auto = chosen "
                                     "with the backend: cuda on a CUDA device, else cpu); unused with backend torch",
                                     choices=ORT_PROVIDERS)
    precision: str = _param("auto", "Inference precision: auto | fp32 | fp16 | bf16 | int8 (auto = fp32 on CPU; on CUDA fp16 "
                            "with onnxruntime, bf16 with torch where supported; int8 = onnxruntime on CPU, the export "
                            "statically quantized)", choices=INFERENCE_PRECISIONS)
    input_height: int = _param(0, "Network input height in pixels; 0 = the checkpoint's preprocess.input_size", lo=0, hi=8192)
    input_width: int = _param(0, "Network input width in pixels; 0 = the checkpoint's preprocess.input_size", lo=0, hi=8192)
    warmup_iterations: int = _param(2, "Dummy inferences run at configure so the first real pair is not slow", lo=0, hi=100)
    score_threshold: float = _param(-1.0, "Drop detections scoring below this; -1 = the checkpoint's value",
                                    lo=-1.0, hi=1.0, runtime=True)
    nms_iou: float = _param(-1.0, "IoU above which NMS suppresses the lower-scoring box; -1 = the checkpoint's value",
                            lo=-1.0, hi=1.0, runtime=True)
    max_detections: int = _param(0, "Most detections published per pair; 0 = the checkpoint's value", lo=0, hi=10000,
                                 runtime=True)
    # ---- geometry
    thermal_to_rgb_homography: tuple[float, ...] = _param(
        IDENTITY_HOMOGRAPHY,
        "Row-major 3x3 homography mapping thermal pixels to RGB pixels; thermal is warped into the RGB frame. "
        "Identity = co-aligned cameras of the same size",
    )
    # ---- outputs
    publish_overlay: bool = _param(False, "Always publish detections/image; when false it is published only while subscribed",
                                   runtime=True)
    tracking: bool = _param(False, "Track pedestrians across pairs (ByteTrack, by message stamps): Detection2D.id carries "
                            "the track id (empty until a track is confirmed); false = ids stay empty")
    # ---- robustness
    stale_timeout: float = _param(1.0, "Seconds without a message after which a stream counts as stale (diagnostics WARN)",
                                  lo=0.05, hi=3600.0)
    missing_modality: str = _param(
        MISSING_MODALITY,
        "When one stream is stale: wait = publish nothing until both are back; blank = keep detecting on the live "
        "stream with the missing modality blanked (diagnostics stay at WARN)",
        choices=MISSING_MODALITY_POLICIES,
    )
    diagnostics_period: float = _param(1.0, "Seconds between /diagnostics messages", lo=0.05, hi=60.0)
    autostart: bool = _param(True, "Configure and activate at start-up (no lifecycle manager needed)")

    # ---------------------------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise ValueError naming the first invalid field and its allowed values."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            lo, hi, choices = f.metadata["lo"], f.metadata["hi"], f.metadata["choices"]
            if choices is not None and value not in choices:
                raise ValueError(f"{f.name}={value!r} must be one of {', '.join(choices)}")
            if lo is not None and not (lo <= value <= hi):
                raise ValueError(f"{f.name}={value} must be in [{lo}, {hi}]")
        if self.score_threshold != CHECKPOINT_VALUE and self.score_threshold < 0.0:
            raise ValueError(f"score_threshold={self.score_threshold} must be in [0, 1], or -1 for the checkpoint's value")
        if self.nms_iou != CHECKPOINT_VALUE and self.nms_iou <= 0.0:
            raise ValueError(f"nms_iou={self.nms_iou} must be in (0, 1], or -1 for the checkpoint's value")
        if (self.input_height == 0) != (self.input_width == 0):
            raise ValueError("set both input_height and input_width, or leave both 0 for the checkpoint's input size")
        dev = self.device
        if not (dev in ("auto", "cpu", "cuda") or (dev.startswith("cuda:") and dev[5:].isdigit())):
            raise ValueError(f"device={dev!r} must be {DEVICES_HINT}")
        h = self.thermal_to_rgb_homography
        if len(h) != 9 or not all(math.isfinite(v) for v in h):
            raise ValueError(f"thermal_to_rgb_homography must be 9 finite numbers (row-major 3x3), got {list(h)}")
        if abs(_det3(h)) < 1e-12:
            raise ValueError("thermal_to_rgb_homography is singular (determinant 0); give an invertible 3x3 matrix")

    @property
    def input_size(self) -> tuple[int, int] | None:
        """(height, width) override of the checkpoint's input size, or None to keep it."""
        return (self.input_height, self.input_width) if self.input_height and self.input_width else None

    def inference_overrides(self, base: InferenceConfig) -> InferenceConfig:
        """``base`` (the checkpoint's post-processing) with this config's explicit values applied."""
        return dataclasses.replace(
            base,
            score_threshold=base.score_threshold if self.score_threshold == CHECKPOINT_VALUE else self.score_threshold,
            nms_iou=base.nms_iou if self.nms_iou == CHECKPOINT_VALUE else self.nms_iou,
            max_detections=self.max_detections or base.max_detections,
        )

    def input_topics(self, rgb: str = "", thermal: str = "") -> tuple[str, str]:
        """The (rgb, thermal) topics to subscribe, given ``image_transport``: the base names (the node passes
        them resolved, so one remap of the base name also moves ``<base>/compressed``, as image_transport
        does) with ``/compressed`` appended for compressed input."""
        rgb, thermal = rgb or RGB_TOPIC, thermal or THERMAL_TOPIC
        if self.image_transport == "compressed":
            return f"{rgb}/compressed", f"{thermal}/compressed"
        return rgb, thermal

    def replace(self, **changes: Any) -> NodeConfig:
        """A validated copy with ``changes`` applied (lists become tuples)."""
        changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new


def _det3(h: tuple[float, ...]) -> float:
    a, b, c, d, e, f, g, i, j = h
    return a * (e * j - f * i) - b * (d * j - f * g) + c * (d * i - e * g)


_TYPE_WORDS = {bool: "a bool (true or false)", int: "an integer", float: "a double (a number)", str: "a string",
               tuple: "a list of doubles"}


def _example(f: dataclasses.Field) -> str:
    """``name:=value`` as on a ros2 command line, with the field's default (or a typical value)."""
    value = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, tuple):
        text = "[" + ", ".join(repr(float(v)) for v in value) + "]"
    elif value == "" and f.name == "checkpoint":
        text = "/path/to/model.safetensors"
    else:
        text = str(value)
    return f"{f.name}:={text}"


def coerce_parameters(values: dict[str, Any]) -> dict[str, Any]:
    """ROS parameter values -> NodeConfig field values: an integer is accepted where a double is expected
    (``slop:=1``), lists become tuples of floats; any other type mismatch raises ValueError naming the
    parameter, the expected type and an example."""
    fields = {f.name: f for f in dataclasses.fields(NodeConfig)}
    out = {}
    for name, value in values.items():
        f = fields[name]
        kind = type(f.default if f.default is not dataclasses.MISSING else f.default_factory())
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is bool and isinstance(value, bool) or kind is str and isinstance(value, str):
            out[name] = value
        elif kind is int and number and isinstance(value, int):
            out[name] = value
        elif kind is float and number:
            out[name] = float(value)
        elif kind is tuple and isinstance(value, (list, tuple)) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            out[name] = tuple(float(v) for v in value)
        else:
            got = "no value" if value is None else f"{value!r} ({type(value).__name__})"
            raise ValueError(f"parameter {name} must be {_TYPE_WORDS[kind]}, e.g. {_example(f)}; got {got}")
    return out


def parameter_fields() -> list[dataclasses.Field]:
    """The fields of NodeConfig in declaration order (one ROS parameter each)."""
    return list(dataclasses.fields(NodeConfig))


def runtime_parameters() -> frozenset[str]:
    """Names of the parameters that may change while the node is active."""
    return frozenset(f.name for f in dataclasses.fields(NodeConfig) if f.metadata["runtime"])


def defaults_as_ros_values() -> dict[str, Any]:
    """NodeConfig defaults as the plain values a ROS params file holds (tuples -> lists)."""
    default = NodeConfig()
    return {f.name: list(v) if isinstance(v := getattr(default, f.name), tuple) else v
            for f in dataclasses.fields(NodeConfig)}
