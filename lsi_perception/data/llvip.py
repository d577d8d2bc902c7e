"""LLVIP (Jia et al., ICCV 2021 workshops): registered visible + infrared pairs, 1280x1024, mostly at night,
from surveillance cameras; 12,025 training and 3,463 test pairs, one class (person).

Layout as downloaded::

    <root>/visible/{train,test}/NNNNNN.jpg
    <root>/infrared/{train,test}/NNNNNN.jpg      same names, registered to the visible frames
    <root>/Annotations/NNNNNN.xml                 VOC, shared by both modalities (xmin ymin xmax ymax)

``split`` is a folder name (``train`` / ``test``) or a file of stems (``010001`` per line, extensions
ignored). The files carry no day / night tag, so results are reported for all frames.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from .base import PairDataset
from .images import read_rgb, read_thermal
from .sample import Sample
from .voc import VocPairDataset

LLVIP_SPLITS = ("train", "test")
_EXTS = (".jpg", ".jpeg", ".png")


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{e}" for e in _EXTS if (folder / f"{stem}{e}").is_file()), None)


class LLVIPDataset(VocPairDataset, PairDataset):
    def __init__(self, root: str | Path, split: str | Path = "train", class_names: Sequence[str] = ("person",),
                 transforms: Callable[[Sample], Sample] | None = None, min_height: float = 0.0,
                 missing_labels: str = "skip") -> None:
        PairDataset.__init__(self, transforms)
        self.root = Path(root)
        for sub in ("visible", "infrared", "Annotations"):
            if not (self.root / sub).is_dir():
                raise FileNotFoundError(f"LLVIP root {self.root} has no {sub}/ folder; expected visible/{{train,test}}/, "
                                        "infrared/{train,test}/ and Annotations/ as in the download")
        self.class_names, self.min_height, self._labels = tuple(class_names), float(min_height), []
        split_name, stems = self._stems(split)
        self.split = split_name
        for stem in stems:
            rgb = _find(self.root / "visible" / split_name, stem)
            thermal = _find(self.root / "infrared" / split_name, stem)
            self._add_frame(stem, rgb, thermal, self.root / "Annotations" / f"{stem}.xml", missing_labels)

    def _stems(self, split: str | Path) -> tuple[str, list[str]]:
        if str(split) in LLVIP_SPLITS or (self.root / "visible" / str(split)).is_dir():
            folder = self.root / "visible" / str(split)
            if not folder.is_dir():
                raise FileNotFoundError(f"LLVIP split folder {folder} does not exist")
            return str(split), sorted(p.stem for p in folder.iterdir() if p.suffix.lower() in _EXTS)
        path = Path(split) if Path(split).is_file() else self.root / str(split)
        if not path.is_file():
            raise FileNotFoundError(f"LLVIP split {split!r} is neither {' / '.join(LLVIP_SPLITS)} nor a file of stems")
        stems = [Path(line.split()[0]).stem for line in path.read_text().splitlines() if line.strip()]
        folder = next((s for s in LLVIP_SPLITS if stems and _find(self.root / "visible" / s, stems[0])), "train")
        return folder, stems

    def load(self, index: int) -> Sample:
        rgb_path, th_path = self._pairs[index]
        rgb, thermal = read_rgb(rgb_path), read_thermal(th_path)
        if thermal.shape != rgb.shape[:2]:
            raise ValueError(f"{th_path} is {thermal.shape[1]}x{thermal.shape[0]} but {rgb_path} is "
                             f"{rgb.shape[1]}x{rgb.shape[0]}; LLVIP pairs are registered to the same size")
        targets = self.targets_at(index, (rgb.shape[1], rgb.shape[0]))
        return {"rgb": rgb, "thermal": thermal, **targets, "image_id": self.names[index], "index": index}
