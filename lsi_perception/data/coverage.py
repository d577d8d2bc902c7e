"""Label coverage of a KAIST-layout training set: printed when training starts, and an error when
implausible (no pedestrian at all, or too many frames without a label file).

    cov = label_coverage(dataset)     # KaistDataset
    print(cov.report())
    check_coverage(cov, max_unlabelled_fraction=0.05, missing_labels="skip")
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .kaist import KaistDataset
from .kaist_labels import MODALITIES


@dataclass
class LabelCoverage:
    """Counts over the frames of one image list (frames whose image pair exists)."""

    source: str  # label source kind: bbgt | paired | json | none
    frames: int  # frames with an image pair, labelled or not
    labelled: int  # frames with a label file
    unlabelled: int  # frames without one (dropped or counted empty, per the missing-label policy)
    frames_with_people: int  # labelled frames with at least one non-ignored box
    positives: int  # non-ignored boxes of the training classes
    ignored: int  # ignore regions (other labels, ignore flags, boxes under min_height)
    max_per_frame: int
    first_unlabelled: list[str] = field(default_factory=list)
    per_modality: dict[str, int] = field(default_factory=dict)  # paired labels: boxes read per modality

    @property
    def unlabelled_fraction(self) -> float:
        return self.unlabelled / max(self.frames, 1)

    def report(self) -> str:
        lines = [
            f"label coverage ({self.source} labels): {self.frames} frames, {self.labelled} with a label file, "
            f"{self.unlabelled} without ({100 * self.unlabelled_fraction:.1f} %)",
            f"  {self.frames_with_people} frames with people; {self.positives} boxes "
            f"({self.positives / max(self.labelled, 1):.2f} per labelled frame, at most {self.max_per_frame}), "
            f"{self.ignored} ignore regions",
        ]
        if self.per_modality:
            lines.append("  boxes read per modality: "
                         + ", ".join(f"{m} {n}" for m, n in self.per_modality.items()))
        if self.first_unlabelled:
            lines.append(f"  first frames without a label file: {', '.join(self.first_unlabelled)}")
        return "\n".join(lines)


def label_coverage(dataset: KaistDataset) -> LabelCoverage:
    """Count frames, label files, boxes and ignore regions of ``dataset`` (reads every label file once)."""
    labelled = people = positives = ignored = max_per_frame = 0
    unlabelled = list(dataset.unlabelled)
    per_modality = {m: 0 for m in MODALITIES} if dataset.labels.kind == "paired" else {}
    for name in dataset.names:
        if dataset.labels.objects(name) is None:
            unlabelled.append(name)
            continue
        labelled += 1
        ignore = dataset.targets(name)["ignore"]
        n_pos = int(np.count_nonzero(~ignore))
        positives += n_pos
        ignored += int(np.count_nonzero(ignore))
        people += n_pos > 0
        max_per_frame = max(max_per_frame, n_pos)
        for modality in per_modality:
            per_modality[modality] += len(dataset.labels.modality_objects(name, modality) or [])
    return LabelCoverage(dataset.labels.kind, labelled + len(unlabelled), labelled, len(unlabelled), people,
                         positives, ignored, max_per_frame, unlabelled[:3], per_modality)


def check_coverage(cov: LabelCoverage, max_unlabelled_fraction: float, missing_labels: str) -> None:
    """ValueError when the labels cannot be what the user meant: no labelled frame, no pedestrian box,
    or more frames without a label file than ``max_unlabelled_fraction`` (unless those frames are
    declared pedestrian-free with ``missing_labels="empty"``)."""
    fix = ("check data.root, data.train_annotations ('bbgt' for per-frame files such as the sanitized "
           "training labels, 'paired' for KAIST-Paired) and data.paired_root")
    if cov.labelled == 0:
        raise ValueError(f"none of the {cov.frames} training frames has a label file ({cov.source} labels): {fix}")
    if cov.positives == 0:
        raise ValueError(
            f"the {cov.labelled} labelled training frames hold no pedestrian box (only {cov.ignored} ignore "
            f"regions): {fix}; model.class_names must name the labels' class (e.g. person)"
        )
    if missing_labels != "empty" and cov.unlabelled_fraction > max_unlabelled_fraction:
        raise ValueError(
            f"{cov.unlabelled} of {cov.frames} training frames ({100 * cov.unlabelled_fraction:.1f} %) have no "
            f"label file (first: {', '.join(cov.first_unlabelled)}), more than "
            f"data.max_unlabelled_fraction={max_unlabelled_fraction}: {fix}. If those frames really show "
            "no pedestrian, set data.missing_labels=empty"
        )
