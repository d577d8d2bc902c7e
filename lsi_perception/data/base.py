"""Shared behaviour of the paired-image datasets: transforms, skipping entries that cannot be read, and the
label-only interface the data check and the evaluator's ground truth use.

Every dataset (KAIST, UTokyo, LLVIP, FLIR-aligned, the synthetic drives in KAIST layout) holds:

- ``names``: the frames it serves, in order; ``pair_paths(i)`` their (RGB, thermal) files;
- ``targets_at(i)``: boxes (xyxy), labels, ignore, occlusion of frame ``i`` without reading an image;
- ``time_of_day(i)``: "day" / "night" where the dataset says so, else "unknown"; ``has_labels(i)``;
- ``missing_pairs`` (list entries lacking a modality; ``missing_modality[name]`` says which),
  ``unlabelled`` (frames dropped for having no label file), ``label_kind`` and ``describe_labels()``.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from .sample import Sample


class PairDataset(Dataset):
    """Base class: subclasses implement ``load(index) -> Sample``, ``targets_at`` and ``pair_paths``.

    ``__getitem__`` applies ``transforms``; an entry whose files cannot be decoded warns once with the
    error (which names the path) and the next readable entry is returned instead, so one corrupt JPEG
    does not stop a training run.
    """

    transforms: Callable[[Sample], Sample] | None = None
    label_kind = "none"

    def __init__(self, transforms: Callable[[Sample], Sample] | None = None) -> None:
        self.transforms = transforms
        self._bad: set[int] = set()
        self.names: list[str] = []
        self._pairs: list[tuple[Path, Path]] = []
        self.unlabelled: list[str] = []
        self.missing_pairs: list[str] = []
        self.missing_modality: dict[str, str] = {}

    def load(self, index: int) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    def targets_at(self, index: int) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def pair_paths(self, index: int) -> tuple[Path, Path]:
        return self._pairs[index]

    def time_of_day(self, index: int) -> str:
        return "unknown"

    def has_labels(self, index: int) -> bool:
        """Whether frame ``index`` has a label file (frames kept without one count as pedestrian-free)."""
        return True

    def describe_labels(self) -> str:
        return f"{self.label_kind} labels"

    def restrict(self, keep: Callable[[str], bool]):
        """Keep only the frames whose name satisfies ``keep`` (e.g. held-out videos); returns self."""
        kept = [i for i, n in enumerate(self.names) if keep(n)]
        self.names = [self.names[i] for i in kept]
        self._pairs = [self._pairs[i] for i in kept]
        self._restrict_extra(kept)
        self.unlabelled = [n for n in self.unlabelled if keep(n)]
        self.missing_pairs = [n for n in self.missing_pairs if keep(n)]
        self._bad = set()
        return self

    def _restrict_extra(self, kept: list[int]) -> None:
        """Subclasses with more per-frame lists than ``names`` / ``_pairs`` filter them here."""

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {n}")
        index %= n
        for step in range(n):
            i = (index + step) % n
            if i in self._bad:
                continue
            try:
                sample = self.load(i)
            except (OSError, ValueError) as exc:
                self._bad.add(i)
                warnings.warn(f"{type(self).__name__}: skipping unreadable entry {i}: {exc}", stacklevel=2)
                continue
            return self.transforms(sample) if self.transforms is not None else sample
        raise RuntimeError(f"{type(self).__name__}: none of its {n} entries could be read")
