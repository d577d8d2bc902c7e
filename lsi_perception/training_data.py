"""What a checkpoint's detector was trained on, and the warning a user needs when that was only generated data.

A model trained only on the synthetic world (the shipped one) finds people in that world; on a real RGB +
thermal camera it misses many and draws boxes on upright clutter (models/README.md measures it on real
frames). The node, ``lsi predict``, ``lsi bag detect`` and the demo say so once, at start, from the
checkpoint's own record::

    facts = training_data_of(meta)          # TrainingData(kinds=("synthetic",), real_images=False)
    text = synthetic_only_warning(meta, name="model.safetensors")   # None for a KAIST/LLVIP/... model

``lsi train`` records ``provenance["training_data"]``; checkpoints written before that record only
``provenance["dataset"]["kind"]``, which is read instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SYNTHETIC_KIND = "synthetic"
REAL_DATA_DOCS = "docs/kaist.md and docs/datasets.md"


@dataclass(frozen=True)
class TrainingData:
    """The datasets the detection heads were trained on, and whether any of them held real camera frames."""

    kinds: tuple[str, ...]  # data.kind of each training dataset, e.g. ("synthetic",) or ("kaist",)
    real_images: bool | None  # False: generated frames only; True: real frames; None: not recorded

    @property
    def synthetic_only(self) -> bool:
        return self.real_images is False

    def to_dict(self) -> dict[str, Any]:
        return {"kinds": list(self.kinds), "real_images": self.real_images}


def training_data_for_kind(kind: str) -> TrainingData:
    """What ``lsi train`` records for a run on ``data.kind = kind``."""
    return TrainingData(kinds=(kind,), real_images=kind != SYNTHETIC_KIND)


def training_data_of(meta: Any) -> TrainingData:
    """From a ``CheckpointMeta`` (or anything with a ``provenance`` dict)."""
    provenance = getattr(meta, "provenance", None) or {}
    recorded = provenance.get("training_data")
    if isinstance(recorded, dict) and isinstance(recorded.get("kinds"), list):
        real = recorded.get("real_images")
        return TrainingData(kinds=tuple(str(k) for k in recorded["kinds"]),
                            real_images=real if isinstance(real, bool) else None)
    dataset = provenance.get("dataset")
    if isinstance(dataset, dict) and isinstance(dataset.get("kind"), str):
        return training_data_for_kind(dataset["kind"])
    return TrainingData(kinds=(), real_images=None)


def synthetic_only_warning(meta: Any, name: str = "this model") -> str | None:
    """One line for the log when the model never saw a real camera frame; None otherwise."""
    if not training_data_of(meta).synthetic_only:
        return None
    return (f"{name} was trained only on generated (synthetic) RGB-thermal frames, never on a real camera's: on "
            f"real cameras expect many people missed and boxes on poles, signs and other upright objects "
            f"(models/README.md gives its figures on real frames). For a real rig, train on KAIST, LLVIP or "
            f"your own labelled drives with `lsi train` ({REAL_DATA_DOCS}) and pass that checkpoint.")
