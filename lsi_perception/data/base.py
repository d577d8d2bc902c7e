"""Shared behaviour of the paired-image datasets: transforms, and skipping entries that cannot be read."""
from __future__ import annotations

import warnings
from collections.abc import Callable

from torch.utils.data import Dataset

from .sample import Sample


class PairDataset(Dataset):
    """Base class: subclasses implement ``load(index) -> Sample`` and ``__len__``.

    ``__getitem__`` applies ``transforms``; an entry whose files cannot be decoded warns once with the
    error (which names the path) and the next readable entry is returned instead, so one corrupt JPEG
    does not stop a training run.
    """

    transforms: Callable[[Sample], Sample] | None = None

    def __init__(self, transforms: Callable[[Sample], Sample] | None = None) -> None:
        self.transforms = transforms
        self._bad: set[int] = set()

    def load(self, index: int) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

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
