"""Statistics of the experiment: seeds, paired differences, and a bootstrap over test drives.

Frames of one drive are strongly correlated (same street, same people a few frames apart), so the unit
of resampling is the drive: a bootstrap replicate draws day drives and night drives with replacement
(stratified, so every replicate keeps the day/night balance) and recomputes each MR with every frame
weighted by how often its drive was drawn. Detections are matched once per run and variant (greedy
matching is per image, so it does not change under resampling); only the FPPI / miss-rate curve is
recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lsi_perception.eval import KaistAnnotations
from lsi_perception.eval.matching import match_detections, overlap_pairs
from lsi_perception.eval.metrics import log_average_miss_rate
from lsi_perception.eval.results import DetectionTable
from lsi_perception.eval.settings import Setting


def drive_of(im_name: str) -> str:
    """``setXX/VYYY/IZZZZZ`` -> ``setXX/VYYY``."""
    return im_name.rsplit("/", 1)[0]


@dataclass
class MatchedRun:
    """One run + variant, matched: per counted detection its image, score order and TP flag."""

    image: np.ndarray  # [K] image index of each counted detection, in descending score
    true_positive: np.ndarray  # [K] bool
    gt_per_image: np.ndarray  # [I] counted (non-ignored) pedestrians per image


def match_run(ann: KaistAnnotations, detections: dict[str, np.ndarray], setting: Setting) -> MatchedRun:
    dets = DetectionTable.from_mapping(ann, detections)
    pairs = overlap_pairs(dets, ann)
    gt_ignored = ann.gt_ignore | ann.gt_crosses_border() | ~setting.gt_in_scope(ann.gt_height, ann.gt_occlusion)
    match = match_detections(dets, pairs, gt_ignored, setting.detection_height_range(None))
    counted = ~match.ignored
    order = np.argsort(-dets.scores[counted], kind="stable")
    gt_per_image = np.bincount(ann.gt_image[~match.gt_ignored], minlength=len(ann.im_names))
    return MatchedRun(dets.image[counted][order], match.true_positive[counted][order], gt_per_image)


def weighted_mr(run: MatchedRun, image_weight: np.ndarray) -> float:
    """MR^-2 (percent) with each image counted ``image_weight`` times (0 = left out)."""
    w = image_weight[run.image]
    tp = np.cumsum(w * run.true_positive)
    fp = np.cumsum(w * ~run.true_positive)
    images, people = image_weight.sum(), (image_weight * run.gt_per_image).sum()
    if people <= 0 or images <= 0:
        return float("nan")
    keep = w > 0
    _, mr = log_average_miss_rate(fp[keep] / images, 1.0 - tp[keep] / people)
    return mr


class DriveBootstrap:
    """Stratified drive resampling for one test set: ``weights(time)`` per replicate."""

    def __init__(self, ann: KaistAnnotations, replicates: int, seed: int = 0) -> None:
        drives = np.array([drive_of(n) for n in ann.im_names])
        self.times = np.array(ann.time_of_day)
        self.drive_ids, self.image_drive = np.unique(drives, return_inverse=True)
        drive_time = {d: self.times[self.image_drive == k][0] for k, d in enumerate(self.drive_ids)}
        rng = np.random.default_rng(seed)
        n = len(self.drive_ids)
        self.counts = np.zeros((replicates, n))
        for t in sorted(set(drive_time.values())):
            members = np.array([k for k, d in enumerate(self.drive_ids) if drive_time[d] == t])
            draws = rng.integers(0, len(members), (replicates, len(members)))
            for r in range(replicates):
                np.add.at(self.counts[r], members[draws[r]], 1)

    def image_weights(self, replicate: int | None, time: str) -> np.ndarray:
        """[I] weights of replicate ``replicate`` (None: the observed test set) restricted to ``time``."""
        base = np.ones(len(self.drive_ids)) if replicate is None else self.counts[replicate]
        w = base[self.image_drive]
        return w if time == "all" else w * (self.times == time)

    @property
    def replicates(self) -> int:
        return len(self.counts)


def bootstrap_mr(runs: list[MatchedRun], boot: DriveBootstrap, time: str) -> np.ndarray:
    """[R, len(runs)] MR of each run on every replicate (same replicates for every run: paired)."""
    out = np.empty((boot.replicates, len(runs)))
    for r in range(boot.replicates):
        w = boot.image_weights(r, time)
        out[r] = [weighted_mr(run, w) for run in runs]
    return out


@dataclass
class Comparison:
    """Arm vs reference on one metric: per-seed paired differences and the verdict."""

    metric: str
    diffs: list[float]  # arm - reference, per seed (MR points; negative = arm better)
    mean: float
    sd: float  # sd of the paired differences over seeds
    spread: float  # the larger across-seed sd of the two arms
    ci: tuple[float, float]  # 95 % drive-bootstrap interval of the seed-mean difference
    effect: bool  # same sign in every seed and |mean| > spread

    def verdict(self) -> str:
        if not self.effect:
            return "no effect claimed"
        return "arm better" if self.mean < 0 else "arm worse"


def compare(metric: str, arm: list[float], ref: list[float], boot_arm: np.ndarray | None,
            boot_ref: np.ndarray | None) -> Comparison:
    """Paired per-seed comparison; ``boot_*`` are [R, seeds] bootstrap MRs (or None)."""
    a, b = np.asarray(arm, float), np.asarray(ref, float)
    diffs = a - b
    mean = float(np.mean(diffs))
    sd = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float("nan")
    spread = float(max(np.std(a, ddof=1), np.std(b, ddof=1))) if len(a) > 1 else float("nan")
    same_sign = bool(np.all(diffs < 0) or np.all(diffs > 0))
    effect = same_sign and len(diffs) > 1 and abs(mean) > spread
    ci = (float("nan"), float("nan"))
    if boot_arm is not None and boot_ref is not None:
        d = np.nanmean(boot_arm - boot_ref, axis=1)
        ci = (float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5)))
    return Comparison(metric, [float(x) for x in diffs], mean, sd, spread, ci, effect)
