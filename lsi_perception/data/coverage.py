"""Label coverage of one split of any dataset (``base.PairDataset``): what ``lsi data check`` and the start
of ``lsi train`` print, and the errors for labels that cannot be what the user meant.

    cov = label_coverage(dataset)
    print(cov.report())
    check_coverage(cov, max_unlabelled_fraction=0.05, missing_labels="skip")   # ValueError naming the fix
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .kaist_labels import MODALITIES, OCCLUSION_LEVELS

OCCLUSION_NAMES = ("none", "partial", "heavy")
HALF_READ_FRACTION = 0.5  # more list entries than this without one modality's image: a half-read layout


@dataclass
class LabelCoverage:
    """Counts over the frames of one split (``frames``: those with an image pair, labelled or not)."""

    source: str  # label format: xml | bbgt | paired | json | voc | fir | rgb | voc_converted | none
    frames: int
    labelled: int  # frames with a label file
    unlabelled: int  # frames without one (dropped or counted empty, per the missing-label policy)
    frames_with_people: int  # labelled frames with at least one non-ignored box
    positives: int  # non-ignored boxes of the training classes
    ignored: int  # ignore regions (other labels, ignore flags, boxes under min_height)
    max_per_frame: int
    first_unlabelled: list[str] = field(default_factory=list)
    per_modality: dict[str, int] = field(default_factory=dict)  # paired labels: boxes read per modality
    files_per_modality: dict[str, int] = field(default_factory=dict)  # paired labels: label files per modality
    per_class: dict[str, int] = field(default_factory=dict)  # non-ignored boxes per training class
    occlusion: dict[str, int] = field(default_factory=dict)  # non-ignored boxes per occlusion level
    missing_pairs: int = 0  # list entries without an RGB or a thermal image (not among ``frames``)
    missing_by_modality: dict[str, int] = field(default_factory=dict)
    first_missing: list[str] = field(default_factory=list)
    times: dict[str, int] = field(default_factory=dict)  # frames per time of day
    labels: str = ""  # where the labels were read from

    @property
    def unlabelled_fraction(self) -> float:
        return self.unlabelled / max(self.frames, 1)

    @property
    def entries(self) -> int:
        return self.frames + self.missing_pairs

    def report(self) -> str:
        lines = [
            f"label coverage ({self.labels or self.source + ' labels'}): {self.frames} frames, "
            f"{self.labelled} with a label file, {self.unlabelled} without ({100 * self.unlabelled_fraction:.1f} %)",
            f"  {self.frames_with_people} frames with people; {self.positives} boxes "
            f"({self.positives / max(self.labelled, 1):.2f} per labelled frame, at most {self.max_per_frame}), "
            f"{self.ignored} ignore regions",
        ]
        if self.per_class:
            lines.append("  boxes per class: " + ", ".join(f"{c} {n}" for c, n in self.per_class.items()))
        if self.occlusion:
            lines.append("  occlusion: " + ", ".join(f"{k} {n}" for k, n in self.occlusion.items()))
        if self.times:
            lines.append("  frames by time of day: " + ", ".join(f"{k} {n}" for k, n in sorted(self.times.items())))
        if self.per_modality:
            lines.append("  boxes read per modality: " + ", ".join(f"{m} {n}" for m, n in self.per_modality.items())
                     + "; label files: " + ", ".join(f"{m} {n}" for m, n in self.files_per_modality.items()))
        if self.missing_pairs:
            by = ", ".join(f"no {m} image: {n}" for m, n in self.missing_by_modality.items())
            lines.append(f"  {self.missing_pairs} list entries without an image pair ({by}; first: "
                         f"{', '.join(self.first_missing)})")
        if self.first_unlabelled:
            lines.append(f"  first frames without a label file: {', '.join(self.first_unlabelled)}")
        return "\n".join(lines)


def label_coverage(dataset, class_names: tuple[str, ...] | None = None) -> LabelCoverage:
    """Count frames, label files, boxes per class and occlusion level, ignore regions and missing partners
    of ``dataset`` (reads every label file once, no image)."""
    names = tuple(class_names or getattr(dataset, "class_names", ("person",)))
    labelled = people = positives = ignored = max_per_frame = 0
    unlabelled = list(dataset.unlabelled)
    labels = getattr(dataset, "labels", None)
    paired = getattr(labels, "kind", "") == "paired"
    per_modality = {m: 0 for m in MODALITIES} if paired else {}
    per_class: Counter[str] = Counter()
    occlusion: Counter[int] = Counter()
    times: Counter[str] = Counter()
    for i, name in enumerate(dataset.names):
        if not dataset.has_labels(i):
            unlabelled.append(name)  # kept as pedestrian-free (missing_labels: empty)
            continue
        labelled += 1
        targets = dataset.targets_at(i)
        keep = ~targets["ignore"]
        n_pos = int(np.count_nonzero(keep))
        positives += n_pos
        ignored += int(np.count_nonzero(~keep))
        people += n_pos > 0
        max_per_frame = max(max_per_frame, n_pos)
        per_class.update(names[c] for c in targets["labels"][keep])
        occlusion.update(int(o) for o in targets["occlusion"][keep])
        times[dataset.time_of_day(i)] += 1
        for modality in per_modality:
            per_modality[modality] += len(labels.modality_objects(name, modality) or [])
    files = {m: sum(labels.file(n, m) is not None for n in [*dataset.names, *unlabelled]) for m in per_modality}
    missing = list(dataset.missing_pairs)
    by_modality = Counter(dataset.missing_modality.get(m, "?") for m in missing)
    return LabelCoverage(
        source=getattr(dataset, "label_kind", "none"), frames=labelled + len(unlabelled), labelled=labelled,
        unlabelled=len(unlabelled), frames_with_people=people, positives=positives, ignored=ignored,
        max_per_frame=max_per_frame, first_unlabelled=unlabelled[:3], per_modality=per_modality,
        per_class={c: per_class.get(c, 0) for c in names},
        occlusion={OCCLUSION_NAMES[k]: occlusion.get(k, 0) for k in OCCLUSION_LEVELS},
        missing_pairs=len(missing), missing_by_modality=dict(sorted(by_modality.items())), first_missing=missing[:3],
        times=dict(times), labels=dataset.describe_labels() if hasattr(dataset, "describe_labels") else "",
        files_per_modality=files)


def coverage_problems(cov: LabelCoverage, max_unlabelled_fraction: float, missing_labels: str,
                      training: bool = True) -> list[str]:
    """Why this split would train (or validate) on nothing, each with the fix; empty when it is usable."""
    fix = ("check data.root and data.train_annotations (KAIST: 'auto' finds the download's label folder; 'xml' for "
           "annotations-xml-new-sanitized, 'bbgt', 'paired' for KAIST-Paired) / data.label_source (UTokyo)")
    problems = []
    if cov.missing_pairs > HALF_READ_FRACTION * max(cov.entries, 1):
        modality = max(cov.missing_by_modality, key=cov.missing_by_modality.get) if cov.missing_by_modality else "?"
        problems.append(
            f"a modality is missing: {cov.missing_pairs} of {cov.entries} list entries have no {modality} image "
            f"(first: {', '.join(cov.first_missing)}); the layout is read half: check that both modality folders "
            "are unpacked where the dataset's layout expects them (lsi_perception/data/README.md)")
    if cov.entries == 0:
        if training:
            problems.append("the image list names no frame: check data.train_list")
    elif cov.frames == 0:
        problems.append(f"none of the {cov.entries} list entries has an image pair: the list matches no file under "
                        "data.root (wrong root, or a list of another dataset)")
    files = cov.files_per_modality
    if files and min(files.values()) == 0 < max(files.values()):
        problems.append(f"paired label files exist for one modality only ({files}): the paired release is unpacked "
                        "by half; unpack both its visible/ and lwir/ folders (or check data.paired_root)")
    if not training:
        return problems
    if cov.frames and cov.labelled == 0:
        problems.append(f"none of the {cov.frames} training frames has a label file ({cov.source} labels): {fix}")
    elif cov.labelled and cov.positives == 0:
        problems.append(f"the {cov.labelled} labelled training frames hold no pedestrian box (only {cov.ignored} "
                        f"ignore regions): {fix}; model.class_names must name the labels' class (e.g. person)")
    if cov.frames and missing_labels != "empty" and cov.unlabelled_fraction > max_unlabelled_fraction:
        problems.append(
            f"{cov.unlabelled} of {cov.frames} training frames ({100 * cov.unlabelled_fraction:.1f} %) have no "
            f"label file (first: {', '.join(cov.first_unlabelled)}), more than "
            f"data.max_unlabelled_fraction={max_unlabelled_fraction}: {fix}. If those frames really show "
            "no pedestrian, set data.missing_labels=empty")
    return problems


def check_coverage(cov: LabelCoverage, max_unlabelled_fraction: float, missing_labels: str) -> None:
    """ValueError with every problem of a training split (``coverage_problems``)."""
    problems = coverage_problems(cov, max_unlabelled_fraction, missing_labels)
    if problems:
        raise ValueError("; ".join(problems))
