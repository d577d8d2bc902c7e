"""Datasets and loaders for training and validation, built from ``DataConfig``.

Two properties the trainer relies on:

- Augmentation is a function of ``(seed, epoch, index)`` only (``SeededAugmentation``), not of the
  worker that loads the sample or of what ran before, so a resumed run sees exactly the images an
  uninterrupted one would, for any number of workers or processes.
- ``EpochSampler`` shards a seeded per-epoch permutation over the DDP ranks (it is a
  ``DistributedSampler``) and can skip the batches a resumed epoch has already done.
"""
from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lsi_perception.config import PreprocessConfig, to_dict
from lsi_perception.data.collate import collate_samples
from lsi_perception.data.flir_aligned import FlirAlignedDataset, find_list
from lsi_perception.data.images import image_size
from lsi_perception.data.kaist import KaistDataset, read_image_list
from lsi_perception.data.llvip import LLVIPDataset
from lsi_perception.data.synthetic import WORLD_RECORD, SyntheticConfig, generate_dataset, world_differences
from lsi_perception.data.transforms import build_eval_transforms, build_train_transforms
from lsi_perception.data.utokyo import UTokyoDataset
from lsi_perception.eval import KaistAnnotations, annotations_from_coco, load_annotations
from lsi_perception.resources import kaist_test_annotations_path
from lsi_perception.train.config import KAIST_IMPROVED, DataConfig, TrainConfig
from lsi_perception.train.distributed import DistInfo
from lsi_perception.train.splits import holdout_blocks, holdout_videos, video_of

VIDEO_KINDS = ("kaist", "synthetic")  # frames named setXX/VYYY/IZZZZZ: held out by whole videos


# ---------------------------------------------------------------------------------------------- dataset
def _resolve(root: Path, name: str) -> Path:
    """An image-set or annotation path: as given, or relative to ``root`` / ``root/imageSets``."""
    for candidate in (Path(name), root / name, root / "imageSets" / name):
        if candidate.is_file():
            return candidate
    return Path(name)


def prepare_dataset(cfg: DataConfig, class_names: Sequence[str]) -> dict[str, Any]:
    """Check (or, for ``kind: synthetic``, generate) the dataset before anything else starts.

    Returns a small description for checkpoint provenance. A missing root or image list is a
    FileNotFoundError naming it and the fix, raised before the model is even built.
    """
    root, val_root = Path(cfg.root), cfg.val_root_path
    if cfg.kind == "synthetic":
        _generate_if_missing(root, cfg.synthetic)
        if val_root != root:
            _generate_if_missing(val_root, cfg.val_synthetic or cfg.synthetic)
    hint = {
        "kaist": "download KAIST (images/, annotations-xml-new-sanitized/, imageSets/; docs/kaist.md) and set data.root",
        "utokyo": "point data.root at the UTokyo ir_det_dataset folder",
        "llvip": "point data.root at the LLVIP folder (visible/, infrared/, Annotations/)",
        "flir": "point data.root at the FLIR-aligned folder (JPEGImages/, Annotations/, align_*.txt)",
        "synthetic": "remove the folder's remains or set data.root to a fresh path",
    }[cfg.kind]
    for what, folder in (("data.root", root), ("data.val_root", val_root)):
        if not folder.is_dir():
            raise FileNotFoundError(f"dataset root {folder} ({what}) does not exist: {hint}")
    lists = [("data.train_list", root, cfg.train_list), ("data.val_list", val_root, cfg.val_list)]
    if cfg.test_list is not None:
        lists.append(("data.test_list", root, cfg.test_list))
    for what, folder, name in lists:
        if what == "data.val_list" and cfg.holdout_videos > 0:
            continue  # validation comes from the training list
        _check_list(cfg.kind, what, folder, name)
    if cfg.test_annotations not in (None, KAIST_IMPROVED) and not _resolve(root, cfg.test_annotations).is_file():
        raise FileNotFoundError(
            f"data.test_annotations={cfg.test_annotations!r} not found; give the KAIST-schema JSON of the test "
            "images (e.g. the improved test annotations, KAIST_annotation.json; see docs/kaist.md)")
    if cfg.holdout_videos <= 0 and cfg.val_annotations is not None and not _resolve(val_root, cfg.val_annotations).is_file():
        raise FileNotFoundError(
            f"data.val_annotations={cfg.val_annotations!r} not found; give the COCO-style JSON (KAIST "
            "evaluation schema) of the validation images, or null to use the dataset's own labels"
        )
    desc: dict[str, Any] = {"kind": cfg.kind, "root": str(root), "train_list": cfg.train_list,
                            "val_root": str(val_root), "val_list": cfg.val_list, "val_max_images": cfg.val_max_images,
                            "class_names": list(class_names)}
    if cfg.holdout_videos > 0:
        try:
            videos = sorted(held_out_videos(cfg))
        except ValueError:  # too few videos: the data check names the list's real problem, or this one
            videos = []
        desc["validation"] = {"held_out_videos": videos, "fraction": cfg.holdout_videos,
                              **({} if cfg.kind in VIDEO_KINDS else {"held_out_in_blocks_of": cfg.holdout_block})}
    if cfg.test_list is not None:
        desc["test_list"] = cfg.test_list
    if cfg.kind == "synthetic":
        desc["synthetic"] = to_dict(cfg.synthetic)
        if cfg.val_synthetic is not None:
            desc["val_synthetic"] = to_dict(cfg.val_synthetic)
    return desc


def _check_list(kind: str, what: str, folder: Path, name: str) -> None:
    """FileNotFoundError naming the list and where it was looked for, when ``kind`` cannot find it."""
    if kind == "utokyo" and name == "auto":
        return
    if kind == "llvip" and (folder / "visible" / name).is_dir():
        return
    if kind == "flir":
        find_list(folder, name)
        return
    if not _resolve(folder, name).is_file():
        places = f"in {folder} or in {folder / 'imageSets'}" if kind in VIDEO_KINDS else f"in {folder}"
        raise FileNotFoundError(f"{what}={name!r} not found as a file, {places}")


def _generate_if_missing(root: Path, cfg: SyntheticConfig) -> None:
    """Generate the world ``cfg`` describes under ``root`` unless a dataset is there; one that is there is
    used as it is, with a warning when its recorded knobs differ from ``cfg`` (a config changed since)."""
    if (root / "imageSets").is_dir():
        differences = world_differences(root, cfg)
        if differences is None:
            print(f"[lsi train] {root}: an existing dataset with no record of its world ({WORLD_RECORD}); if "
                  "the config's synthetic knobs changed since it was generated, delete it to regenerate", flush=True)
        elif differences:
            shown = ", ".join(differences[:6]) + (f" and {len(differences) - 6} more" if len(differences) > 6 else "")
            print(f"[lsi train] WARN: {root} was generated with other world knobs than the config's (differs in: "
                  f"{shown}); training on it as it is: delete the folder to regenerate it from the config",
                  flush=True)
        return
    print(f"[lsi train] generating a synthetic dataset under {root} (first use) ...", flush=True)
    info = generate_dataset(root, cfg)
    print(f"[lsi train] wrote {sum(info.frames.values())} frames in {info.seconds:.0f} s", flush=True)


def val_annotations_path(cfg: DataConfig) -> Path | None:
    """The evaluator's ground truth: ``data.val_annotations``, else ``<root>/annotations/<val list>.json``
    when it exists (synthetic and converted KAIST sets), else None (built from the dataset's labels,
    always the case for videos held out of the training list)."""
    if cfg.holdout_videos > 0:
        return None
    return _annotations_json(cfg.val_root_path, cfg.val_annotations, cfg.val_list)


def test_annotations_path(cfg: DataConfig) -> Path | None:
    """The final report's ground truth, found as validation's is: ``data.test_annotations``, else
    ``<root>/annotations/<test list>.json`` when it exists (synthetic and converted KAIST sets, with their
    occlusion levels and heights), else None (built from the dataset's labels)."""
    if cfg.test_list is None:
        return None
    return _annotations_json(Path(cfg.root), cfg.test_annotations, cfg.test_list)


def _annotations_json(root: Path, explicit: str | None, image_list: str) -> Path | None:
    """``explicit`` (looked up in ``root`` too; ``kaist_improved``: the package's copy of the improved KAIST
    test annotations), else ``<root>/annotations/<image list stem>.json`` if it exists."""
    if explicit == KAIST_IMPROVED:
        return kaist_test_annotations_path()
    if explicit is not None:
        return _resolve(root, explicit)
    default = root / "annotations" / f"{Path(image_list).stem}.json"
    return default if default.is_file() else None


def held_out_videos(cfg: DataConfig) -> set[str]:
    """The training-list videos kept for validation (KAIST layout; empty when ``data.holdout_videos`` is 0)."""
    if cfg.holdout_videos <= 0 or cfg.kind not in VIDEO_KINDS:
        return set()
    return holdout_videos(read_image_list(_resolve(Path(cfg.root), cfg.train_list)), cfg.holdout_videos,
                          cfg.holdout_seed)


def _dataset(cfg: DataConfig, root: Path, image_list: str, class_names: Sequence[str], transforms, train: bool,
             annotations: str | Path | None = None, missing: str = "empty"):
    """One dataset of ``cfg.kind``; ``train`` applies ``data.min_height``; ``missing`` is the missing-label
    policy (training labels: ``data.missing_labels``; evaluation sets: frames without a file are empty)."""
    min_height = cfg.min_height if train else 0.0
    if cfg.kind == "utokyo":
        return UTokyoDataset(root, None if image_list == "auto" else _resolve(root, image_list), class_names,
                             cfg.label_source, transforms, cfg.yolo_classes, min_height, missing)
    if cfg.kind == "llvip":
        return LLVIPDataset(root, image_list, class_names, transforms, min_height, missing)
    if cfg.kind == "flir":
        return FlirAlignedDataset(root, image_list, class_names, transforms, min_height, missing)
    return KaistDataset(root, _resolve(root, image_list), class_names, annotations or "auto", transforms,
                        min_height=min_height, paired_root=cfg.paired_root, paired_target=cfg.paired_target,
                        missing_labels=missing)


def build_dataset(cfg: DataConfig, split: str, class_names: Sequence[str], transforms) -> Dataset:
    """The ``split`` ("train" | "val" | "test") dataset of ``cfg.kind``; unreadable entries are warned
    about and skipped. With ``data.holdout_videos`` > 0, "train" and "val" are disjoint parts of the training
    list (whole videos for KAIST layouts, blocks of ``holdout_block`` consecutive frames otherwise), both
    labelled by the training labels."""
    root = Path(cfg.root)
    if split == "test":
        ann = test_annotations_path(cfg)
        return _dataset(cfg, root, cfg.test_list or "", class_names, transforms, False, ann)
    held = cfg.holdout_videos > 0
    if not held and split == "val":
        ann = val_annotations_path(cfg)
        return _dataset(cfg, cfg.val_root_path, cfg.val_list, class_names, transforms, False, ann)
    train = split == "train"
    annotations = cfg.train_annotations if cfg.kind in VIDEO_KINDS else None
    dataset = _dataset(cfg, root, cfg.train_list, class_names, transforms, train, annotations, cfg.missing_labels)
    if not held:
        return dataset
    if cfg.kind in VIDEO_KINDS:
        videos = held_out_videos(cfg)
        return dataset.restrict(lambda name: (video_of(name) in videos) != train)
    names = holdout_blocks(list(dataset.names) + list(dataset.unlabelled), cfg.holdout_videos, cfg.holdout_seed,
                           cfg.holdout_block)
    return dataset.restrict(lambda name: (name in names) != train)


def held_out_names(cfg: DataConfig, dataset) -> list[str]:
    """For the log and provenance: the held-out videos (KAIST layouts) or the first held-out frames."""
    if cfg.kind in VIDEO_KINDS:
        return sorted(held_out_videos(cfg))
    return sorted(dataset.names)[:5]


def annotations_from_dataset(dataset: Dataset) -> KaistAnnotations:
    """Evaluator ground truth from a dataset's own labels (``ground_truth_document``)."""
    return annotations_from_coco(ground_truth_document(dataset), "<dataset labels>")


def ground_truth_document(dataset: Dataset) -> dict[str, Any]:
    """A dataset's own labels as a KAIST-schema annotation document (what ``lsi eval --annotations`` reads);
    no image is decoded (sizes from the files' headers).

    Heights are box heights; occlusion levels, ignore flags and the time of day are the dataset's own
    (``occlusion`` 0 and the KAIST set-number rule, else "unknown", where it does not say)."""
    images, annotations = [], []
    for i in range(len(dataset)):  # type: ignore[arg-type]
        targets = dataset.targets_at(i)  # type: ignore[attr-defined]
        w, h = image_size(dataset.pair_paths(i)[0])  # type: ignore[attr-defined]
        image = {"id": i, "im_name": dataset.names[i], "width": w, "height": h}  # type: ignore[attr-defined]
        time = dataset.time_of_day(i)  # type: ignore[attr-defined]
        if time in ("day", "night"):
            image["time_of_day"] = time
        images.append(image)
        for box, ignore, occ in zip(targets["boxes"], targets["ignore"], targets["occlusion"]):
            x0, y0, x1, y1 = (float(v) for v in box)
            annotations.append({"id": len(annotations), "image_id": i, "category_id": 1,
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "height": y1 - y0, "occlusion": int(occ),
                                "ignore": int(bool(ignore))})
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}


class SeededAugmentation(Dataset):
    """Wraps a dataset so sample ``i`` of epoch ``e`` is augmented with RNGs seeded from ``(seed, e, i)``.

    The global ``random`` / NumPy / torch states are saved and restored around each sample, so loading
    in the training process (``workers=0``) leaves the training RNG streams untouched.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int):
        seed = np.random.SeedSequence([self.seed, self.epoch, int(index)]).generate_state(1)[0]
        with _isolated_rng(int(seed)):
            return self.dataset[index]


@contextlib.contextmanager
def _isolated_rng(seed: int) -> Iterator[None]:
    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        torch.set_rng_state(torch_state)


class EpochSampler(DistributedSampler):
    """DistributedSampler (seeded per-epoch shuffle, one shard per rank) that can skip finished batches.

    ``set_epoch(epoch, skip_batches)`` also tells the wrapped ``SeededAugmentation`` the epoch, so the
    augmentation changes every epoch yet stays reproducible.
    """

    def __init__(self, dataset: SeededAugmentation, info: DistInfo, seed: int, batch_size: int) -> None:
        super().__init__(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed,
                         drop_last=True)
        self.augmented = dataset
        self.batch_size = batch_size
        self.skip = 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:  # type: ignore[override]
        super().set_epoch(epoch)
        self.augmented.epoch = epoch
        self.skip = skip_batches * self.batch_size

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.skip:])

    def __len__(self) -> int:
        return max(super().__len__() - self.skip, 0)


# ---------------------------------------------------------------------------------------------- loaders
class _Collate:
    """Picklable collate function (workers need one) bound to the preprocessing settings."""

    def __init__(self, preprocess: PreprocessConfig) -> None:
        self.preprocess = preprocess

    def __call__(self, samples):
        return collate_samples(samples, self.preprocess)


def _own_generator(seed: int) -> torch.Generator:
    """Loaders draw their worker seeds from this, not from the global torch RNG: starting an epoch or a
    validation pass then leaves the training RNG stream (LSI noise) exactly where it was."""
    return torch.Generator().manual_seed(int(seed))


def build_train_loader(cfg: TrainConfig, info: DistInfo, device: torch.device) -> tuple[DataLoader, EpochSampler]:
    a = cfg.data.augment
    transforms = build_train_transforms(cfg.preprocess, a.scale_range, a.hflip, resized_crop_area=a.resized_crop_area,
                                        resized_crop_ratio=a.resized_crop_ratio, modality_shift=a.modality_shift,
                                        rgb_jitter=a.rgb_jitter, thermal_jitter=a.thermal_jitter, jitter_p=a.jitter_p,
                                        featureless_p=a.featureless_pair)
    dataset = SeededAugmentation(build_dataset(cfg.data, "train", cfg.model.class_names, transforms),
                                 cfg.runtime.seed)
    sampler = EpochSampler(dataset, info, cfg.runtime.seed, cfg.runtime.batch_size)
    loader = DataLoader(dataset, batch_size=cfg.runtime.batch_size, sampler=sampler, drop_last=True,
                        num_workers=cfg.runtime.workers, collate_fn=_Collate(cfg.preprocess),
                        pin_memory=device.type == "cuda", generator=_own_generator(cfg.runtime.seed))
    return loader, sampler


def restrict_annotations(ann: KaistAnnotations, im_names: set[str]) -> KaistAnnotations:
    """``ann`` limited to the images in ``im_names`` (images the loader will not see would count as misses)."""
    keep = np.array([name in im_names for name in ann.im_names], dtype=bool)
    new_index = np.cumsum(keep) - 1
    gt_keep = keep[ann.gt_image]
    counts = np.bincount(new_index[ann.gt_image[gt_keep]], minlength=int(keep.sum()))
    return dataclasses.replace(
        ann,
        image_ids=ann.image_ids[keep],
        im_names=tuple(n for n, k in zip(ann.im_names, keep) if k),
        time_of_day=tuple(t for t, k in zip(ann.time_of_day, keep) if k),
        image_sizes=ann.image_sizes[keep],
        gt_start=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        gt_image=new_index[ann.gt_image[gt_keep]].astype(np.int64),
        gt_boxes=ann.gt_boxes[gt_keep],
        gt_height=ann.gt_height[gt_keep],
        gt_occlusion=ann.gt_occlusion[gt_keep],
        gt_ignore=ann.gt_ignore[gt_keep],
    )


class _Subset(Dataset):
    def __init__(self, dataset: Dataset, n: int) -> None:
        self.dataset, self.n = dataset, min(n, len(dataset))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int):
        return self.dataset[index]


def build_val_loader(cfg: TrainConfig, device: torch.device, batch_size: int | None = None
                     ) -> tuple[DataLoader, KaistAnnotations]:
    """Letterboxed validation images (no augmentation) and the evaluator's annotations for them."""
    dataset: Dataset = build_dataset(cfg.data, "val", cfg.model.class_names, build_eval_transforms(cfg.preprocess))
    names = list(dataset.names)  # type: ignore[attr-defined]
    if cfg.data.val_max_images is not None:
        dataset = _Subset(dataset, cfg.data.val_max_images)
        names = names[: len(dataset)]
    ann_path = val_annotations_path(cfg.data)
    if ann_path is None:
        annotations = annotations_from_dataset(dataset if not isinstance(dataset, _Subset) else dataset.dataset)
    else:
        annotations = load_annotations(ann_path)
    if set(annotations.im_names) != set(names):
        annotations = restrict_annotations(annotations, set(names))
    loader = DataLoader(dataset, batch_size=batch_size or cfg.runtime.batch_size, shuffle=False,
                        num_workers=cfg.runtime.workers, collate_fn=_Collate(cfg.preprocess),
                        pin_memory=device.type == "cuda", generator=_own_generator(cfg.runtime.seed))
    return loader, annotations
