"""Detector checkpoints: ONE .safetensors file holding the weights and, in its header metadata, a JSON
``CheckpointMeta`` (model config with class names, preprocessing incl. thermal policy, inference knobs,
provenance). Readable without the trainer, without pickle, and ``read_checkpoint_meta`` reads the
metadata without loading any tensor.

    save_checkpoint(path, net, meta)            # atomic: temp file + rename
    state_dict, meta = load_checkpoint(path)
    net, meta = build_model_from_checkpoint(path)
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from lsi_perception.config import InferenceConfig, ModelConfig, PreprocessConfig, from_dict, to_dict

FORMAT_VERSION = 1
META_KEY = "lsi_perception.meta"
# Prefixes added by DistributedDataParallel and torch.compile; stripped so checkpoints stay portable.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class CheckpointMeta:
    """Everything needed to rebuild and run the detector besides the weights."""

    model: ModelConfig = field(default_factory=ModelConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    provenance: dict[str, Any] = field(default_factory=dict)  # git_commit, command, dataset, epochs, metrics, created
    format_version: int = FORMAT_VERSION

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.model.class_names)

    def to_json(self) -> str:
        return json.dumps(to_dict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "checkpoint") -> CheckpointMeta:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: metadata is not valid JSON ({exc})") from exc
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{source}: checkpoint format_version {version} is newer than this lsi_perception supports "
                f"({FORMAT_VERSION}); upgrade lsi_perception"
            )
        meta = from_dict(cls, data, where=f"{source} metadata")
        meta.model.validate()
        meta.preprocess.validate()
        meta.inference.validate()
        return meta


def git_commit(repo: Path | None = None) -> str | None:
    """HEAD commit of the source checkout (suffixed ``-dirty`` with local changes), None outside git."""
    repo = repo or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def collect_provenance(**extra: Any) -> dict[str, Any]:
    """Standard provenance (git commit, command line, creation time, versions) plus ``extra``
    (dataset, epochs, metrics, ...)."""
    from lsi_perception import __version__

    prov: dict[str, Any] = {
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "lsi_perception_version": __version__,
        "torch_version": torch.__version__,
    }
    prov.update(extra)
    return prov


def _clean_state_dict(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in state.items():
        for prefix in _WRAPPER_PREFIXES:
            while key.startswith(prefix):
                key = key[len(prefix):]
        t = tensor.detach().to("cpu")
        if dtype is not None and t.is_floating_point():
            t = t.to(dtype)
        out[key] = t.contiguous().clone()  # clone: safetensors refuses tensors that share storage
    return out


def save_checkpoint(path: str | Path, state_dict_or_module: dict[str, torch.Tensor] | nn.Module,
                    meta: CheckpointMeta, dtype: torch.dtype | None = None) -> Path:
    """Write weights + ``meta`` to one .safetensors file, atomically. ``dtype`` (e.g. torch.float16)
    converts floating-point tensors to halve the file; loading casts back to the model's dtype."""
    path = Path(path)
    state = state_dict_or_module.state_dict() if isinstance(state_dict_or_module, nn.Module) else state_dict_or_module
    tensors = _clean_state_dict(state, dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"format": "pt", META_KEY: meta.to_json()})
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes it private; a checkpoint is a normal file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")


def read_checkpoint_meta(path: str | Path) -> CheckpointMeta:
    """The checkpoint's metadata, without loading tensors."""
    path = Path(path)
    _check_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise ValueError(f"{path} is not a safetensors checkpoint ({exc})") from exc
    if META_KEY not in header:
        raise ValueError(
            f"{path} is a safetensors file without lsi_perception metadata (no {META_KEY!r} header entry); "
            "it is not a detector checkpoint written by save_checkpoint"
        )
    return CheckpointMeta.from_json(header[META_KEY], source=str(path))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], CheckpointMeta]:
    """(state_dict, meta) of a checkpoint; tensors on ``device``."""
    meta = read_checkpoint_meta(path)
    return load_file(str(path), device=str(device)), meta


def load_weights(net: nn.Module, state_dict: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Strict load that reports every missing, unexpected and wrong-shaped tensor by name."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    mismatched = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(expected) & set(state_dict))
        if state_dict[k].shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        def listing(title: str, items: list[str]) -> str:
            shown = "\n    ".join(items[:10]) + (f"\n    ... and {len(items) - 10} more" if len(items) > 10 else "")
            return f"\n  {title} ({len(items)}):\n    {shown}" if items else ""

        raise ValueError(
            f"{source} does not fit the model built from its config"
            + listing("missing in checkpoint", missing)
            + listing("unexpected in checkpoint", unexpected)
            + listing("shape mismatch", mismatched)
            + "\n  Was it saved from a different backbone, class list or head config?"
        )
    net.load_state_dict(state_dict, strict=True)


def build_model_from_checkpoint(path: str | Path) -> tuple[nn.Module, CheckpointMeta]:
    """Rebuild the network from the checkpoint's config and load its weights (CPU, eval mode).
    Pretrained-backbone settings are ignored: the checkpoint holds all weights."""
    from lsi_perception.model import build_model

    state, meta = load_checkpoint(path)
    net = build_model(replace(meta.model, pretrained_path=None, allow_download=False))
    load_weights(net, state, source=str(path))
    return net.eval(), meta
