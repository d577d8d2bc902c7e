"""``Detector``: checkpoint + preprocessing + network + decoding; the one way to get detections from an
image pair (used by the ROS node, the bag tools, evaluation and the demo). No ROS imports.

    det = Detector.from_checkpoint("model.safetensors")          # CUDA if present, else CPU
    dets = det.predict(rgb_uint8_hxwx3, thermal_uint8_or_uint16)  # boxes in RGB pixel coordinates
    det = Detector.from_checkpoint("model.safetensors", backend="onnxruntime")   # same, via ONNX Runtime
    det = Detector.from_checkpoint("model.safetensors", backend="auto")   # the fastest here; det.backend_reason says why
    det = Detector.from_checkpoint(path, device="cpu", backend="onnxruntime", precision="int8")   # quantized, CPU
    det = Detector.from_checkpoint(path, inference={"score_threshold": 0.5}, preprocess={"input_size": [384, 480]})
    det.update_inference(score_threshold=0.4)   # validated; the one way to tune it afterwards

Settings: ``inference`` (InferenceConfig: threshold, NMS, top-k) and ``preprocess`` (PreprocessConfig)
start as the checkpoint's, with the overrides given at construction (a dataclass or a mapping of the
fields to change, validated). Afterwards only post-processing changes, through ``update_inference``;
the ``inference`` / ``preprocess`` properties return copies, so writing into them changes nothing.

Preprocessing follows the checkpoint's ``PreprocessConfig`` (see ``lsi_perception.imaging``): thermal to
[0, 1] and any resize run in numpy on the host; normalization, padding and batching run on the device
(same formula as ``imaging.normalize_pair``, which training uses), so only uint8/float images cross the
bus. The network (+ dense decoding) is the only backend-specific step (``lsi_perception.backends``:
torch, or onnxruntime with the CPU/CUDA/TensorRT provider); thresholding, top-k and class-wise NMS
(``model.decode.select_detections``) and the letterbox mapping back are shared. With torch on CUDA the
model runs under fp16/bf16 autocast in channels_last; on CPU in fp32.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lsi_perception.backends import BACKEND_CHOICES, BACKENDS, NetworkBackend, check_backend_name
from lsi_perception.backends.torch_backend import TorchBackend
from lsi_perception.checkpoint import CheckpointMeta, build_model_from_checkpoint, read_checkpoint_meta
from lsi_perception.config import (
    DEFAULT_INPUT_SIZE,
    InferenceConfig,
    PreprocessConfig,
    deep_merge,
    from_dict,
    to_dict,
)
from lsi_perception.device import PRECISIONS, resolve_device, resolve_precision
from lsi_perception.eval.results import xyxy_to_xywh
from lsi_perception.imaging import Letterbox, check_pair, letterbox, resize_to, thermal_to_unit
from lsi_perception.model.postprocess import select_detections

__all__ = ["BACKEND_CHOICES", "BACKENDS", "PRECISIONS", "Detections", "Detector", "resolve_device", "resolve_precision"]
SettingsOverride = InferenceConfig | PreprocessConfig | Mapping[str, Any] | None

@dataclass
class Detections:
    """Detections of one image pair, in the RGB image's pixel coordinates.

    boxes float32 [N, 4] xyxy; scores float32 [N] in [0, 1]; class_ids int64 [N] indexing class_names.
    """

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    class_names: tuple[str, ...] = field(default=("person",))

    @classmethod
    def empty(cls, class_names: Sequence[str]) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), tuple(class_names))

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def names(self) -> list[str]:
        """Class name of each detection."""
        return [self.class_names[i] for i in self.class_ids.tolist()]

    def to_xywh(self) -> np.ndarray:
        """[N, 4] (x, y, width, height) with (x, y) the top-left corner (KAIST results format)."""
        return xyxy_to_xywh(self.boxes)


class Detector:
    """Run the detector on RGB + thermal pairs. See the module docstring.

    Attributes: ``class_names``, ``device``, ``precision``, ``backend`` (the ``NetworkBackend`` running the
    network), ``meta`` (CheckpointMeta, the checkpoint's own settings), ``inference`` and ``preprocess``
    (copies of the settings in use; change post-processing with ``update_inference``), ``last_timings_ms`` ({"preprocess", "model", "decode", "total"} of the last call; "model" is the
    backend's call: network + dense decoding) and ``backend_reason`` (why this backend: "requested", or
    "auto: ..." from ``backend="auto"``).
    """

    def __init__(self, model: nn.Module | NetworkBackend, meta: CheckpointMeta, device: str | torch.device = "auto",
                 precision: str = "auto", channels_last: bool | None = None, compile: bool | str = False, *,
                 inference: SettingsOverride = None, preprocess: SettingsOverride = None) -> None:
        """``model``: an ``LSIDetectorNet`` (run by the torch backend with ``device``, ``precision``,
        ``channels_last``, ``compile``) or a ready backend (those four arguments are then unused).
        ``inference`` / ``preprocess``: overrides of the checkpoint's settings (a whole dataclass, or a
        mapping of the fields to change); ``iou_map_power`` is part of the exported network and stays
        the checkpoint's."""
        self.meta = meta
        self._inference_cfg = _with_overrides(meta.inference, inference, "inference")
        if self._inference_cfg.iou_map_power != meta.inference.iou_map_power:
            raise ValueError(f"inference.iou_map_power={self._inference_cfg.iou_map_power} differs from the checkpoint's "
                             f"{meta.inference.iou_map_power}: it is part of the network's output (and of its ONNX "
                             "export); retrain or re-export to change it")
        self._preprocess_cfg = _with_overrides(meta.preprocess, preprocess, "preprocess")
        if isinstance(model, nn.Module):
            model = TorchBackend(model, meta.inference.iou_map_power, device=device, precision=precision,
                                 channels_last=channels_last, compile=compile)
        self.backend: NetworkBackend = model
        self.device: torch.device = model.device
        self.precision: str = model.precision
        self.channels_last = model.channels_last
        self.class_names: tuple[str, ...] = meta.class_names
        p = self._preprocess_cfg
        self._rgb_mean = torch.tensor(p.rgb_mean, device=self.device).view(1, 3, 1, 1) * 255.0
        self._rgb_inv_std = 1.0 / (torch.tensor(p.rgb_std, device=self.device).view(1, 3, 1, 1) * 255.0)
        self.last_timings_ms: dict[str, float] = {}
        self.backend_reason: str = "given"  # from_checkpoint: "requested", or "auto: <why this backend>"

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device = "auto", precision: str = "auto",
                        backend: str = "torch", backend_options: Mapping[str, Any] | None = None, *,
                        inference: SettingsOverride = None, preprocess: SettingsOverride = None,
                        **kwargs) -> Detector:
        """Load ``path`` and run it with ``backend`` ("torch", "onnxruntime" or "auto"); ``inference`` and
        ``preprocess`` override the checkpoint's settings (see ``__init__``).

        torch: ``kwargs`` / ``backend_options`` may hold ``channels_last`` and ``compile``.
        onnxruntime: ``backend_options`` are ``backends.onnxruntime_backend.OrtOptions`` (provider cpu |
        cuda | tensorrt, threads, cache_dir, ...); the export is cached by checkpoint content; precision
        "int8" (CPU) runs it statically quantized. ``path`` may also be an .onnx file written by
        ``lsi export`` (its metadata holds the checkpoint's).
        auto: the fastest backend that gives torch's boxes here (``backends.selection``), falling back to
        torch when onnxruntime is missing or fails; ``backend_reason`` says which and why.
        """
        check_backend_name(backend)
        if backend == "auto":
            return cls._from_checkpoint_auto(path, device, precision, backend_options, inference, preprocess, kwargs)
        if backend == "torch":
            if precision == "int8":
                raise ValueError("precision int8 runs on backend onnxruntime (CPU provider) or auto; torch has fp32, "
                                 "fp16 and bf16")
            options = dict(backend_options or {})
            unknown = sorted(set(options) - {"channels_last", "compile"})
            if unknown:
                raise ValueError(f"unknown torch backend option(s) {unknown}; known: channels_last, compile")
            net, meta = build_model_from_checkpoint(path)
            det = cls(net, meta, device=device, precision=precision, inference=inference, preprocess=preprocess,
                      **{**options, **kwargs})
            det.backend_reason = "requested"
            return det
        if kwargs:
            raise ValueError(f"{sorted(kwargs)} apply to the torch backend only; onnxruntime takes backend_options")
        from lsi_perception.backends.onnxruntime_backend import OnnxRuntimeBackend

        path = Path(path)
        if path.suffix == ".onnx":
            from lsi_perception.onnx_export import read_onnx_meta

            meta = read_onnx_meta(path)
            det = cls(OnnxRuntimeBackend(path, meta, device, precision, backend_options), meta,
                      inference=inference, preprocess=preprocess)
        else:
            meta = read_checkpoint_meta(path)
            det = cls(OnnxRuntimeBackend.from_checkpoint(path, meta, device, precision, backend_options), meta,
                      inference=inference, preprocess=preprocess)
        det.backend_reason = "requested"
        return det

    @classmethod
    def _from_checkpoint_auto(cls, path, device, precision, backend_options, inference, preprocess, kwargs) -> Detector:
        """backend="auto": ``selection.choose_backend``, then build it; torch (with the reason) when onnxruntime
        fails to start or, in fp32 on the CPU, does not reproduce torch's outputs on a check pair."""
        from lsi_perception.backends.selection import choose_backend

        if not Path(path).is_file():
            raise FileNotFoundError(f"checkpoint {path} not found; give the path of a .safetensors checkpoint")
        options = dict(backend_options or {})
        torch_options = {k: options.pop(k) for k in ("channels_last", "compile") if k in options}
        choice = choose_backend(device, precision, options.get("provider", "auto"))

        def torch_detector(reason: str) -> Detector:
            det = cls.from_checkpoint(path, device, "auto" if precision == "int8" else precision, "torch", torch_options,
                                      inference=inference, preprocess=preprocess, **kwargs)
            det.backend_reason = f"auto: {reason}"
            return det

        if choice.backend == "torch":
            return torch_detector(choice.reason)
        reason, failures = choice.reason, []
        # A TensorRT provider that does not start (TensorRT libraries missing or too old) leaves the CUDA one.
        providers = [choice.options["provider"]] + (["cuda"] if choice.options["provider"] == "tensorrt" else [])
        for provider in providers:
            try:
                det = cls.from_checkpoint(path, device, precision, "onnxruntime", {**options, "provider": provider},
                                          inference=inference, preprocess=preprocess)
                break
            except (FileNotFoundError, ValueError):
                raise  # the caller's settings are wrong: say so rather than run something else
            except Exception as exc:  # noqa: BLE001 - an export or provider failure of any kind: next, and say why
                if precision == "int8":
                    raise
                failures.append(f"onnxruntime {provider} failed to start ({type(exc).__name__}: {exc})")
                reason = f"{failures[-1]}; CUDA provider instead"
        else:
            return torch_detector(f"{'; '.join(failures)}; running torch")
        det.backend_reason = f"auto: {reason}"
        if det.device.type == "cpu" and det.precision == "fp32":
            mismatch = det._differs_from_torch(path)
            if mismatch:
                det.release()
                return torch_detector(f"onnxruntime's outputs differ from torch's here ({mismatch}); running torch")
        return det

    def _differs_from_torch(self, checkpoint: str | Path) -> str | None:
        """Compare this backend's dense outputs with the torch backend's on one generated pair at the network
        input size: None when they agree (scores within 1e-3, boxes within 1e-2 px), else what differs."""
        from lsi_perception.backends.torch_backend import TorchBackend
        from lsi_perception.testing import synthetic_pair

        net, meta = build_model_from_checkpoint(checkpoint)
        reference = TorchBackend(net, meta.inference.iou_map_power, device=self.device, precision="fp32")
        h, w = self._preprocess_cfg.input_size or DEFAULT_INPUT_SIZE
        rgb_t, th_t, _ = self._preprocess(*([x] for x in synthetic_pair(h, w, seed=0)), "rgb")
        scores, boxes = self.backend.dense(rgb_t, th_t)
        ref_scores, ref_boxes = reference.dense(rgb_t, th_t)
        reference.release()
        d_scores = float((scores - ref_scores).abs().max())
        d_boxes = float((boxes - ref_boxes).abs().max())
        if d_scores <= 1e-3 and d_boxes <= 1e-2:
            return None
        return f"max |score difference| {d_scores:.2g}, max |box difference| {d_boxes:.2g} px"

    # ------------------------------------------------------------------ settings

    @property
    def inference(self) -> InferenceConfig:
        """A copy of the post-processing settings in use (change them with ``update_inference``)."""
        return dataclasses.replace(self._inference_cfg)

    @property
    def preprocess(self) -> PreprocessConfig:
        """A copy of the preprocessing settings in use (fixed at construction)."""
        return dataclasses.replace(self._preprocess_cfg)

    def update_inference(self, **changes: Any) -> InferenceConfig:
        """Change post-processing (score_threshold, nms_iou, max_detections, pre_nms_topk) for the next
        calls; validated as a whole before anything changes (ValueError naming the field). Returns the
        settings now in use."""
        if "iou_map_power" in changes and changes["iou_map_power"] != self._inference_cfg.iou_map_power:
            raise ValueError("iou_map_power is part of the network's output and cannot change after loading")
        new = _with_overrides(self._inference_cfg, changes, "inference")
        self._inference_cfg = new
        return dataclasses.replace(new)

    # ------------------------------------------------------------------ public API

    def predict(self, rgb: np.ndarray | None, thermal: np.ndarray | None, *, rgb_order: str = "rgb") -> Detections:
        """Detect in one pair. rgb: uint8 HxWx3 (``rgb_order`` "rgb" or "bgr"); thermal: HxW uint8, uint16
        or float32 (HxWx1 / HxWx3 gray accepted), same HxW as rgb. Either may be None (blanked)."""
        return self.predict_batch([rgb], [thermal], rgb_order=rgb_order)[0]

    def predict_batch(self, rgbs: Sequence[np.ndarray | None], thermals: Sequence[np.ndarray | None], *,
                      rgb_order: str = "rgb") -> list[Detections]:
        """Detect in several pairs at once (sizes may differ: each is letterboxed and the batch padded)."""
        self._check_batch(rgbs, thermals, rgb_order)
        if not rgbs:
            return []
        t0 = time.perf_counter()
        rgb_t, th_t, lbs = self._preprocess(rgbs, thermals, rgb_order)
        t1 = time.perf_counter()
        scores, boxes = self.backend.dense(rgb_t, th_t)
        _check_finite(scores, boxes, self.describe())
        t2 = time.perf_counter()
        with torch.inference_mode():
            per_image = select_detections(scores, boxes, self._inference_cfg)
            results = [self._to_detections(d, lb) for d, lb in zip(per_image, lbs)]
        t3 = time.perf_counter()
        self.last_timings_ms = {"preprocess": (t1 - t0) * 1e3, "model": (t2 - t1) * 1e3,
                                "decode": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}
        return results

    def dense_maps(self, rgbs: Sequence[np.ndarray | None], thermals: Sequence[np.ndarray | None], *,
                   rgb_order: str = "rgb") -> tuple[dict, list[Letterbox]]:
        """The raw network outputs for a batch (float32, on the CPU) and each image's letterbox: for
        debugging, visualizing score/IoU maps and precision checks. Maps are in network-input cells.
        Torch backend only (the ONNX graph ends at ranking scores and boxes)."""
        self._check_batch(rgbs, thermals, rgb_order)
        if not rgbs:
            raise ValueError("dense_maps needs at least one image pair")
        if not isinstance(self.backend, TorchBackend):
            raise ValueError(f"dense_maps needs backend='torch' (the {self.backend.name} graph ends at ranking "
                             "scores and boxes)")
        rgb_t, th_t, lbs = self._preprocess(rgbs, thermals, rgb_order)
        outputs = self.backend.maps(rgb_t, th_t)
        return {k: (v.float().cpu() if isinstance(v, torch.Tensor) else v) for k, v in outputs.items()}, lbs

    def warmup(self, height: int | None = None, width: int | None = None) -> None:
        """One prediction on a blank pair (cuDNN autotuning, compile, allocator) before real traffic; the size
        defaults to the network input size."""
        height, width = (height, width) if height and width else (self._preprocess_cfg.input_size or DEFAULT_INPUT_SIZE)
        self.predict(np.zeros((height, width, 3), np.uint8), np.zeros((height, width), np.uint8))

    def describe(self) -> str:
        """One line for logs: backend, device or execution provider, precision."""
        return self.backend.describe()

    def release(self) -> None:
        """Drop the network and free its (GPU) memory; the Detector cannot predict afterwards."""
        self.backend.release()

    # ------------------------------------------------------------------ steps

    def _check_batch(self, rgbs, thermals, rgb_order: str) -> None:
        if self.backend.released:
            raise RuntimeError("this Detector was released; build a new one with Detector.from_checkpoint")
        if len(rgbs) != len(thermals):
            raise ValueError(f"got {len(rgbs)} rgb images but {len(thermals)} thermal images")
        if rgb_order not in ("rgb", "bgr"):
            raise ValueError(f"rgb_order={rgb_order!r} must be 'rgb' or 'bgr'")

    def _prepare_host(self, rgb: np.ndarray | None, thermal: np.ndarray | None, rgb_order: str
                      ) -> tuple[np.ndarray | None, np.ndarray | None, Letterbox]:
        """Validate, thermal -> [0, 1] and resize on the host; returns (rgb uint8, thermal float32, letterbox)."""
        rgb, thermal = check_pair(rgb, thermal)
        if rgb is not None and rgb_order == "bgr":
            rgb = rgb[:, :, ::-1]
        h, w = rgb.shape[:2] if rgb is not None else thermal.shape
        lb = letterbox(h, w, self._preprocess_cfg)
        rgb_r = np.ascontiguousarray(resize_to(rgb, lb)) if rgb is not None else None
        th_r = resize_to(thermal_to_unit(thermal, self._preprocess_cfg.thermal), lb) if thermal is not None else None
        return rgb_r, th_r, lb

    def _preprocess(self, rgbs, thermals, rgb_order: str) -> tuple[torch.Tensor, torch.Tensor, list[Letterbox]]:
        """Host prep per image, then normalize into a zero (= blank, = padding) batch on the device."""
        prepared = [self._prepare_host(r, t, rgb_order) for r, t in zip(rgbs, thermals)]
        lbs = [lb for _, _, lb in prepared]
        hp = max(lb.padded_h for lb in lbs)
        wp = max(lb.padded_w for lb in lbs)
        n = len(prepared)
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        rgb_t = torch.zeros((n, 3, hp, wp), device=self.device).contiguous(memory_format=mf)
        th_t = torch.zeros((n, 1, hp, wp), device=self.device)
        p = self._preprocess_cfg
        for i, (rgb, th, lb) in enumerate(prepared):
            if rgb is not None:
                x = torch.from_numpy(rgb).to(self.device, non_blocking=True).permute(2, 0, 1).unsqueeze(0).float()
                rgb_t[i:i + 1, :, : lb.out_h, : lb.out_w] = (x - self._rgb_mean) * self._rgb_inv_std
            if th is not None:
                x = torch.from_numpy(th).to(self.device, non_blocking=True)
                th_t[i, 0, : lb.out_h, : lb.out_w] = (x - p.thermal_mean) * (1.0 / p.thermal_std)
        return rgb_t, th_t, lbs

    def _to_detections(self, det: dict[str, torch.Tensor], lb: Letterbox) -> Detections:
        boxes = lb.to_original(det["boxes"].float().cpu().numpy())
        return Detections(boxes=boxes, scores=det["scores"].float().cpu().numpy().astype(np.float32),
                          class_ids=det["labels"].cpu().numpy().astype(np.int64), class_names=self.class_names)


def _check_finite(scores: torch.Tensor, boxes: torch.Tensor, backend: str) -> None:
    """NaN / inf network outputs fail every score threshold and would read as "no detections": raise instead
    (RuntimeError, as for other inference failures)."""
    bad = [name for name, t in (("scores", scores), ("boxes", boxes)) if not bool(torch.isfinite(t).all())]
    if bad:
        raise RuntimeError(
            f"the network produced NaN or inf in its {' and '.join(bad)} ({backend}): no trustworthy detections "
            "for this input; if it repeats, try precision fp32 or check the checkpoint")


def _with_overrides(base, given: SettingsOverride, what: str):
    """``base`` (a settings dataclass) with ``given`` applied: None keeps it, a dataclass of the same type
    replaces it, a mapping changes the named fields (unknown names and invalid values raise ValueError)."""
    if given is None:
        new = dataclasses.replace(base)
    elif isinstance(given, type(base)):
        new = dataclasses.replace(given)
    elif isinstance(given, Mapping):
        new = from_dict(type(base), deep_merge(to_dict(base), dict(given)), where=what)
    else:
        raise TypeError(f"{what} must be a {type(base).__name__} or a mapping of its fields, got {type(given).__name__}")
    new.validate()
    return new
