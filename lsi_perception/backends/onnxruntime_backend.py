"""The ONNX Runtime backend: the checkpoint's cached ONNX export run by the CPU, CUDA or TensorRT
execution provider (EP).

The graph is ``export.DenseDetector`` (network + dense decoding, float32 in and out); the ``Detector``
around it does the same preprocessing and NMS as with the torch backend. On CUDA the inputs and outputs
stay on the GPU: the torch tensors the Detector builds are bound to the session by pointer (I/O binding),
so nothing crosses the bus besides the uint8 images.

Options (``backend_options`` of ``Detector.from_checkpoint``; see ``OrtOptions``):

    provider              auto | cpu | cuda | tensorrt   (auto: cuda on a CUDA device, else cpu)
    intra_op_num_threads  0 = torch.get_num_threads(), the torch backend's count (honours OMP_NUM_THREADS)
    allow_spinning        False: idle worker threads sleep at once instead of busy-waiting (fairer to other
                          processes on few cores; see the README's node figures)
    graph_optimization    disable | basic | extended | all
    cache_dir             where exports (and TensorRT engines) are cached; default onnx_cache.default_cache_dir()
    opset                 ONNX opset of the export
    trt_workspace_gb      TensorRT builder workspace
    int8_calibration_frames, int8_calibration_size   precision "int8": the calibration (onnx_int8.Int8Recipe)

Precisions: fp32 (CPU, CUDA, TensorRT), fp16 (CUDA: an fp16 graph; TensorRT: fp16 engine), int8 (CPU:
the export statically quantized by ``onnx_int8``, cached like the fp32 one; not bit-equal to fp32).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lsi_perception.backends import ORT_PROVIDERS
from lsi_perception.backends.onnx_cache import ExportSettings, cached_export, default_cache_dir
from lsi_perception.backends.onnx_int8 import Int8Recipe
from lsi_perception.checkpoint import CheckpointMeta
from lsi_perception.device import resolve_device
from lsi_perception.onnx_export import DEFAULT_OPSET, INPUT_NAMES, OUTPUT_NAMES, export_size

EP_NAMES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
PROVIDERS = ORT_PROVIDERS
ORT_PRECISIONS = ("auto", "fp32", "fp16", "int8")
_OPT_LEVELS = ("disable", "basic", "extended", "all")


@dataclass
class OrtOptions:
    """Settings of the onnxruntime backend (see the module docstring)."""

    provider: str = "auto"
    intra_op_num_threads: int = 0
    allow_spinning: bool = False
    graph_optimization: str = "all"
    cache_dir: str | None = None
    opset: int = DEFAULT_OPSET
    trt_workspace_gb: float = 4.0
    int8_calibration_frames: int = Int8Recipe.calibration_frames
    int8_calibration_size: tuple[int, int] = Int8Recipe.calibration_size

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> OrtOptions:
        options = dict(options or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown onnxruntime backend option(s) {unknown}; known: {', '.join(sorted(known))}")
        if "int8_calibration_size" in options:
            options["int8_calibration_size"] = tuple(options["int8_calibration_size"])
        opts = cls(**options)
        if opts.provider not in PROVIDERS:
            raise ValueError(f"provider={opts.provider!r} must be one of {', '.join(PROVIDERS)}")
        if opts.graph_optimization not in _OPT_LEVELS:
            raise ValueError(f"graph_optimization={opts.graph_optimization!r} must be one of {', '.join(_OPT_LEVELS)}")
        if opts.intra_op_num_threads < 0:
            raise ValueError("intra_op_num_threads must be >= 0 (0 = torch's thread count)")
        opts.int8_recipe().validate()
        return opts

    def int8_recipe(self) -> Int8Recipe:
        return Int8Recipe(calibration_frames=self.int8_calibration_frames,
                          calibration_size=tuple(self.int8_calibration_size))


def available_providers() -> list[str]:
    """The execution providers this onnxruntime build offers (ONNX Runtime names)."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def resolve_placement(device: str | torch.device, precision: str, provider: str) -> tuple[torch.device, str, str]:
    """(torch device for pre/post-processing, precision fp32|fp16, provider cpu|cuda|tensorrt), or a
    ValueError/RuntimeError that names what is wrong and what is available."""
    if precision not in ORT_PRECISIONS:
        hint = " (bf16 is torch-backend only)" if precision == "bf16" else ""
        raise ValueError(f"precision={precision!r} is not supported by the onnxruntime backend{hint}; "
                         f"use one of {', '.join(ORT_PRECISIONS)}")
    have = available_providers()
    gpu_ep = provider in ("cuda", "tensorrt")
    if gpu_ep and str(device) == "cpu":
        raise ValueError(f"provider={provider!r} runs on a GPU but device is 'cpu'; use device='cuda' or provider='cpu'")
    if provider != "auto":
        _check_available(provider, have)
    if isinstance(device, str) and device == "auto":
        if provider == "auto":  # int8 exists on the CPU provider only
            use_cuda = precision != "int8" and torch.cuda.is_available() and EP_NAMES["cuda"] in have
        else:
            use_cuda = gpu_ep
        device = "cuda" if use_cuda else "cpu"
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:  # one index for torch's tensors and the provider's device_id
        dev = torch.device("cuda", torch.cuda.current_device())
    if provider == "auto":
        provider = "cuda" if dev.type == "cuda" else "cpu"
        _check_available(provider, have)
    if dev.type == "cuda" and provider == "cpu":
        raise ValueError("provider='cpu' with device='cuda': use device='cpu' (pre- and post-processing follow the device)")
    if precision == "auto":
        precision = "fp32" if dev.type == "cpu" else "fp16"
    if precision == "fp16" and dev.type == "cpu":
        raise ValueError("precision='fp16' needs a GPU provider (cuda or tensorrt); the CPU provider runs fp32 or int8")
    if precision == "int8" and provider != "cpu":
        raise ValueError(f"precision='int8' runs on the CPU provider only (got provider {provider!r}); on a GPU use "
                         "fp16 (cuda, tensorrt), or device='cpu' for int8")
    return dev, precision, provider


def preload_gpu_libraries(provider: str) -> None:
    """Make the libraries onnxruntime-gpu's providers open by name findable without LD_LIBRARY_PATH: CUDA and
    cuDNN from the nvidia-* wheels that came with torch (``onnxruntime.preload_dlls``; torch, imported first,
    has usually loaded them already), and for TensorRT the libnvinfer / libnvonnxparser of the
    ``tensorrt-cu13-libs`` wheel (``pip install .[tensorrt]``; a system TensorRT on the library path works
    too). Written for requirements/gpu.txt; not run here (no GPU)."""
    import ctypes

    import onnxruntime as ort

    if hasattr(ort, "preload_dlls"):
        ort.preload_dlls(cuda=True, cudnn=True)
    if provider != "tensorrt":
        return
    try:
        import tensorrt_libs
    except ImportError:
        return
    folder = Path(tensorrt_libs.__file__).parent
    for name in ("libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10"):
        if (folder / name).is_file():
            ctypes.CDLL(str(folder / name), mode=ctypes.RTLD_GLOBAL)


def _check_available(provider: str, have: list[str]) -> None:
    if EP_NAMES[provider] not in have:
        raise RuntimeError(f"onnxruntime execution provider {EP_NAMES[provider]} is not available in this onnxruntime "
                           f"build (available: {', '.join(have)}); install onnxruntime-gpu (with CUDA/TensorRT "
                           "libraries) or choose provider='cpu'")


class OnnxRuntimeBackend:
    """Runs the exported dense detector in an ``onnxruntime.InferenceSession`` (see the module docstring)."""

    name = "onnxruntime"
    channels_last = False  # the graph takes contiguous NCHW

    def __init__(self, onnx_path: str | Path, meta: CheckpointMeta, device: str | torch.device = "auto",
                 precision: str = "auto", options: OrtOptions | Mapping[str, Any] | None = None) -> None:
        import onnxruntime as ort

        self.options = options if isinstance(options, OrtOptions) else OrtOptions.from_mapping(options)
        self.device, self.precision, self.provider = resolve_placement(device, precision, self.options.provider)
        self.onnx_path = Path(onnx_path)
        self.stride = int(meta.model.output_stride)
        self.num_classes = int(meta.model.num_classes)
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.options.intra_op_num_threads or torch.get_num_threads()
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }[self.options.graph_optimization]
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.options.allow_spinning else "0")
        so.log_severity_level = 3  # errors only (the TensorRT/CUDA EPs are chatty)
        self.threads = so.intra_op_num_threads
        self._session = ort.InferenceSession(str(self.onnx_path), sess_options=so, providers=self._providers())
        active = self._session.get_providers()[0]
        if active != EP_NAMES[self.provider]:
            raise RuntimeError(f"onnxruntime could not start {EP_NAMES[self.provider]} (it fell back to {active}); "
                               "check the CUDA/cuDNN/TensorRT libraries onnxruntime-gpu needs")

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, meta: CheckpointMeta, device: str | torch.device = "auto",
                        precision: str = "auto", options: Mapping[str, Any] | OrtOptions | None = None
                        ) -> OnnxRuntimeBackend:
        """Export ``checkpoint`` (or reuse its cached export) and open a session on it."""
        opts = options if isinstance(options, OrtOptions) else OrtOptions.from_mapping(options)
        dev, prec, provider = resolve_placement(device, precision, opts.provider)
        # TensorRT builds its own fp16 engine from the fp32 graph; the CUDA EP needs an fp16 graph; int8 is
        # the fp32 graph quantized (onnx_int8).
        graph_precision = "fp16" if (prec == "fp16" and provider == "cuda") else "int8" if prec == "int8" else "fp32"
        h, w = export_size(meta)
        settings = ExportSettings(opset=opts.opset, height=h, width=w, precision=graph_precision,
                                  int8=opts.int8_recipe() if graph_precision == "int8" else None)
        path = cached_export(checkpoint, settings, opts.cache_dir)
        return cls(path, meta, dev, prec, opts)

    @property
    def released(self) -> bool:
        return self._session is None

    def dense(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self._session is None:
            raise RuntimeError("this Detector was released; build a new one with Detector.from_checkpoint")
        if self.device.type == "cpu":
            feeds = {INPUT_NAMES[0]: rgb.contiguous().numpy(), INPUT_NAMES[1]: thermal.contiguous().numpy()}
            scores, boxes = self._session.run(list(OUTPUT_NAMES), feeds)
            return torch.from_numpy(scores), torch.from_numpy(boxes)
        return self._dense_cuda(rgb.contiguous(), thermal.contiguous())

    def _dense_cuda(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """I/O binding: ONNX Runtime reads the torch input tensors and writes into torch output tensors."""
        b, _, h, w = rgb.shape
        n = (-(-h // self.stride)) * (-(-w // self.stride))
        scores = torch.empty((b, n, self.num_classes), dtype=torch.float32, device=self.device)
        boxes = torch.empty((b, n, 4), dtype=torch.float32, device=self.device)
        index = self.device.index
        binding = self._session.io_binding()
        for name, t in zip((*INPUT_NAMES, *OUTPUT_NAMES), (rgb, thermal, scores, boxes)):
            bind = binding.bind_input if name in INPUT_NAMES else binding.bind_output
            bind(name, "cuda", index, np.float32, tuple(t.shape), t.data_ptr())
        torch.cuda.current_stream(self.device).synchronize()  # torch's preprocessing kernels have written the inputs
        self._session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return scores, boxes

    def describe(self) -> str:
        threads = f", {self.threads} threads" if self.provider == "cpu" else ""
        return f"onnxruntime {EP_NAMES[self.provider]} on {self.device} {self.precision}{threads}"

    def release(self) -> None:
        self._session = None

    def _providers(self) -> list:
        if self.provider != "cpu":
            preload_gpu_libraries(self.provider)
        index = self.device.index or 0
        cuda = (EP_NAMES["cuda"], {"device_id": index})
        if self.provider == "cpu":
            return [EP_NAMES["cpu"]]
        if self.provider == "cuda":
            return [cuda, EP_NAMES["cpu"]]
        engines = (Path(self.options.cache_dir) if self.options.cache_dir else default_cache_dir()) / "trt_engines"
        try:
            engines.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RuntimeError(f"cannot create the TensorRT engine cache {engines} ({exc}); pass "
                               "backend_options={'cache_dir': '/a/writable/dir'}") from exc
        trt = {"device_id": index, "trt_fp16_enable": self.precision == "fp16",
               "trt_max_workspace_size": int(self.options.trt_workspace_gb * 2**30),
               "trt_engine_cache_enable": True, "trt_engine_cache_path": str(engines),
               "trt_timing_cache_enable": True, "trt_timing_cache_path": str(engines)}
        return [(EP_NAMES["tensorrt"], trt), cuda, EP_NAMES["cpu"]]
