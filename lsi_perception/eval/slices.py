"""Per-pedestrian slices of an evaluation set, scored alone (e.g. the RGB-only slice of the synthetic world).

An annotation may carry a ``"slice"`` string (the synthetic world writes ``"slice": "rgb_only"`` on
pedestrians with no thermal signature; any KAIST-schema file can add its own, e.g. from a list of
people behind glass). A slice is scored the way KAIST scores its occlusion and scale subsets: the
pedestrians outside it become ignore regions, so a detection on one of them is neither a hit nor a
false positive, and MR^-2 is computed over the same images as usual. The complement ("rest": every
pedestrian without a slice) is scored the same way.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .annotations import KaistAnnotations
from .files import read_text

NO_SLICE = ""  # slice label of a pedestrian without a "slice" key
REST = "rest"  # name of the complement subset in reports


def read_slices(source: str | Path | Mapping[str, Any], ann: KaistAnnotations) -> np.ndarray:
    """[M] object array: each ground truth's ``slice`` string (``NO_SLICE`` where absent), in ``ann``'s order.

    ``source`` is the annotation JSON ``ann`` was read from (a path, or the parsed mapping); ``ann`` may
    hold a subset of its images. Ground truths are matched per image, in file order, as
    ``annotations_from_coco`` keeps them.
    """
    data = json.loads(read_text(Path(source), "annotation file")) if not isinstance(source, Mapping) else source
    names = {image["id"]: image.get("im_name", image.get("file_name")) for image in data.get("images", [])}
    per_image: dict[str, list[str]] = {}
    for a in data.get("annotations", []):
        per_image.setdefault(names.get(a.get("image_id")), []).append(str(a.get("slice", NO_SLICE)))
    labels = np.full(len(ann.gt_image), NO_SLICE, dtype=object)
    for i, name in enumerate(ann.im_names):
        start, stop = int(ann.gt_start[i]), int(ann.gt_start[i + 1])
        found = per_image.get(name, [])
        if len(found) != stop - start:
            raise ValueError(f"{ann.source}: image {name} has {stop - start} ground truths loaded but {len(found)} "
                             "in the slice source: read the slices from the file the annotations came from")
        labels[start:stop] = found
    return labels


def slice_names(labels: np.ndarray) -> list[str]:
    """The distinct slices present, sorted (``NO_SLICE`` excluded)."""
    return sorted({str(x) for x in labels} - {NO_SLICE})


def subset(ann: KaistAnnotations, keep: np.ndarray) -> KaistAnnotations:
    """``ann`` with every ground truth outside ``keep`` ([M] bool) turned into an ignore region."""
    keep = np.asarray(keep, dtype=bool)
    if keep.shape != ann.gt_ignore.shape:
        raise ValueError(f"subset mask has {keep.shape[0]} entries for {ann.gt_ignore.shape[0]} ground truths")
    return dataclasses.replace(ann, gt_ignore=ann.gt_ignore | ~keep)


def slice_views(ann: KaistAnnotations, labels: np.ndarray) -> dict[str, KaistAnnotations]:
    """{slice name: annotations scoring only that slice} plus ``REST`` (pedestrians in no slice); empty
    when the file has no slices."""
    names = slice_names(labels)
    if not names:
        return {}
    views = {name: subset(ann, labels == name) for name in names}
    views[REST] = subset(ann, labels == NO_SLICE)
    return views
