"""Turn a training checkpoint into the model the package ships: fp16 weights, provenance kept.

    lsi train --export-shipped runs/synthetic_warm_mid_b0/best.safetensors   (make model)
    -> models/lsi_pvt_b0_synthetic.safetensors (about half the fp32 size; Detector casts back on load)

The shipped file's provenance is the training provenance (command, git commit, dataset, step,
validation metrics) plus an ``export`` entry saying where it came from and how it was converted.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import torch

from lsi_perception.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from lsi_perception.config import InferenceConfig, from_dict, parse_overrides, to_dict
from lsi_perception.resources import default_checkpoint_path

SIZE_LIMIT_BYTES = 20 * 1024 * 1024  # keeps the package (and a git checkout) light


def ship_checkpoint(checkpoint: str | Path, out: str | Path | None = None, command: str = "",
                   overrides: list[str] | None = None) -> Path:
    """Write ``checkpoint`` as fp16 to ``out`` (default: the package's default model path).

    ``overrides`` (``inference.key=value``) retune the recorded post-processing, e.g. the score
    threshold chosen on the validation split, which the node and the bag tools use by default.
    """
    src = Path(checkpoint)
    weights, meta = load_checkpoint(src)
    inference = meta.inference
    if overrides:
        parsed = parse_overrides(overrides)
        if set(parsed) != {"inference"}:
            raise ValueError(f"--export-shipped takes only inference.* overrides, got {sorted(parsed)}")
        inference = from_dict(InferenceConfig, {**to_dict(meta.inference), **parsed["inference"]}, "inference")
        inference.validate()
    if not meta.provenance.get("metrics"):
        raise ValueError(
            f"{src} has no validation metrics in its provenance; ship a checkpoint written by `lsi train` "
            "after a validation (best.safetensors)"
        )
    provenance = dict(meta.provenance)
    provenance.pop("train_config", None)  # the essentials stay (loss, dataset, command); the file stays small
    provenance["export"] = {
        "source": str(src),
        "dtype": "float16",
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    shipped_meta = CheckpointMeta(model=meta.model, preprocess=meta.preprocess, inference=inference,
                                  provenance=provenance)
    dst = Path(out) if out is not None else default_checkpoint_path()
    save_checkpoint(dst, weights, shipped_meta, dtype=torch.float16)
    size = dst.stat().st_size
    if size > SIZE_LIMIT_BYTES:
        dst.unlink()
        raise ValueError(f"{dst} is {size / 1e6:.1f} MB, over the {SIZE_LIMIT_BYTES / 1e6:.0f} MB limit for a "
                         "shipped model; ship a smaller architecture (pvt_v2_b0)")
    return dst
