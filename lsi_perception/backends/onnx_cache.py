"""Cached ONNX exports of checkpoints, keyed by checkpoint content and export settings.

``cached_export(checkpoint, settings)`` returns the path of an .onnx file made by
``lsi_perception.onnx_export.export_onnx`` from exactly these checkpoint bytes with exactly these settings,
exporting it on first use. Precision "int8" is the fp32 export (cached too) quantized by
``backends.onnx_int8.quantize_int8`` with ``settings.int8``'s recipe; its key also holds the recipe and the
onnxruntime version. The file name carries a digest of (checkpoint SHA-256, settings, export
format, torch version), so a retrained checkpoint at the same path, another opset or a new exporter
never reuses a stale file.

Where: ``cache_dir`` when given; else ``$LSI_PERCEPTION_CACHE_DIR/onnx`` when that is set; else the
user cache ``$XDG_CACHE_HOME/lsi_perception/onnx`` (default ``~/.cache/lsi_perception/onnx``); when that is not writable, ``.lsi_onnx_cache/`` next to the
checkpoint. Writes are atomic (temporary file + rename), so processes sharing a cache never read a
half-written model.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from lsi_perception.backends.onnx_int8 import Int8Recipe

EXPORT_FORMAT = 1  # bump when export_onnx changes what it writes
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportSettings:
    """What ``export_onnx`` is called with (besides the checkpoint)."""

    opset: int
    height: int
    width: int
    dynamic: bool = True
    precision: str = "fp32"  # precision of the graph's network part (fp16 for CUDA EP fp16, int8 for the CPU
    #                          EP's quantized graph); I/O stay float32
    int8: Int8Recipe | None = None  # precision "int8": how it is quantized (None = the default recipe)


def default_cache_dir() -> Path:
    """``$LSI_PERCEPTION_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/lsi_perception/onnx``, else
    ``~/.cache/lsi_perception/onnx``."""
    if os.environ.get("LSI_PERCEPTION_CACHE_DIR"):
        return Path(os.environ["LSI_PERCEPTION_CACHE_DIR"]) / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lsi_perception" / "onnx"


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def cache_key(checkpoint_digest: str, settings: ExportSettings) -> str:
    import torch

    described = dataclasses.asdict(settings)
    described.pop("int8")
    payload = {"checkpoint": checkpoint_digest, "settings": described,
               "export_format": EXPORT_FORMAT, "torch": torch.__version__}
    if settings.precision == "int8":
        payload["int8"] = (settings.int8 or Int8Recipe()).as_key()
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def cached_export(checkpoint: str | Path, settings: ExportSettings, cache_dir: str | Path | None = None) -> Path:
    """Path of the ONNX export of ``checkpoint`` under ``settings``, exporting it if not cached yet."""
    from lsi_perception.onnx_export import export_onnx

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {checkpoint} not found; give the path of a .safetensors checkpoint")
    name = f"{checkpoint.stem}-{cache_key(file_digest(checkpoint), settings)}.onnx"
    dirs = [Path(cache_dir)] if cache_dir is not None else [default_cache_dir(), checkpoint.parent / ".lsi_onnx_cache"]
    for d in dirs:
        if (d / name).is_file():
            return d / name
    for d in dirs:
        if not _writable_dir(d):
            continue
        tmp = d / f".{name}.{os.getpid()}.tmp"
        try:
            if settings.precision == "int8":
                _quantize_export(checkpoint, settings, d, tmp)
            else:
                export_onnx(checkpoint, tmp, opset=settings.opset, dynamic=settings.dynamic, height=settings.height,
                            width=settings.width, precision=settings.precision)
            os.replace(tmp, d / name)
        finally:
            tmp.unlink(missing_ok=True)
        return d / name
    tried = ", ".join(str(d) for d in dirs)
    raise RuntimeError(f"no writable ONNX cache directory (tried {tried}); set XDG_CACHE_HOME or pass "
                       "backend_options={'cache_dir': '/a/writable/dir'}")


def _quantize_export(checkpoint: Path, settings: ExportSettings, cache_dir: Path, out: Path) -> None:
    """The int8 model of ``checkpoint``: its (cached) fp32 export, quantized into ``out``."""
    from lsi_perception.backends.onnx_int8 import quantize_int8
    from lsi_perception.checkpoint import read_checkpoint_meta

    fp32 = cached_export(checkpoint, dataclasses.replace(settings, precision="fp32", int8=None), cache_dir)
    quantize_int8(fp32, out, read_checkpoint_meta(checkpoint), settings.int8 or Int8Recipe())
