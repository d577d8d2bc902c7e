"""Tracking scores of pedestrian tracks against identity-annotated ground truth: HOTA, MOTA, IDF1, ID switches.

The metrics are TrackEval's (Luiten et al., the MOTChallenge evaluator: ``HOTA``, ``CLEAR``, ``Identity``);
this module only turns KAIST-style annotations and a tracks file into TrackEval's per-sequence input.

* Ground truth: an annotation file (``annotations.py``) whose boxes carry ``track_id`` (the synthetic world
  writes it; KAIST has none). A sequence is an image's ``im_name`` without its last part (``set06/V000``),
  its frames ordered by the number that ends the name.
* Tracks file (txt): ``image_id,x,y,w,h,score,track_id`` a line, ``image_id`` 1-based in the annotation
  file's image order as in KAIST result txt files; ``lsi bag detect --track --tracks`` writes it.
* Which pedestrians count: the boxes of one KAIST setting (``settings.py``; default ``all``: 20 px and
  taller, any occlusion) that are not ignore regions. The others are distractors, as MOTChallenge treats
  its distractor classes: a track box matching one (IoU >= 0.5, optimal assignment) is removed before
  scoring, so tracking a 15 px person or a crowd region is neither rewarded nor punished. The KAIST
  border rule is not applied: people entering and leaving the view are part of tracking.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from .annotations import KaistAnnotations
from .files import read_text
from .settings import IOU_THRESHOLD, SETTINGS_BY_NAME, TIMES

DEFAULT_MOT_SETTING = "all"
# What the table prints, in order (TrackEval's names; HOTA, DetA, AssA, LocA averaged over its 19 alphas).
MOT_FIELDS = ("HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1", "IDSW", "Frag", "MT", "ML", "CLR_TP", "CLR_FN",
              "CLR_FP")
_PERCENT_FIELDS = frozenset({"HOTA", "DetA", "AssA", "LocA", "MOTA", "MOTP", "IDF1"})
_FRAME_NUMBER = re.compile(r"(\d+)$")
_SEPARATOR = re.compile(r"[,\s]+")


class TracksFormatError(ValueError):
    """A tracks file line is malformed or names an unknown image."""


@dataclass(frozen=True, eq=False)
class TrackTable:
    """Track boxes of a tracker run (K boxes): ``image`` [K] image index into the annotations, ``boxes``
    [K, 4] x, y, w, h, ``scores`` [K], ``track_ids`` [K] (> 0)."""

    image: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.image)

    @classmethod
    def from_mapping(cls, ann: KaistAnnotations, tracks: Mapping[Any, np.ndarray]) -> TrackTable:
        """``{image (im_name or 0-based index): (N, 6) x, y, w, h, score, track_id}``; rows with track id 0
        (detections no confirmed track owns) are left out."""
        images, rows = [], []
        for key, array in tracks.items():
            array = np.asarray(array, np.float64).reshape(-1, 6)
            array = array[array[:, 5] > 0]
            images.append(np.full(len(array), ann.index_of(key), np.int64))
            rows.append(array)
        image = np.concatenate(images) if images else np.zeros(0, np.int64)
        table = np.concatenate(rows) if rows else np.zeros((0, 6))
        return cls(image, table[:, :4], table[:, 4], table[:, 5].astype(np.int64))


def write_tracks_txt(path: str | Path, ann: KaistAnnotations, tracks: Mapping[Any, np.ndarray]) -> Path:
    """Write ``{image: (N, 6) x, y, w, h, score, track_id}`` as a tracks txt (see the module docstring)."""
    table = TrackTable.from_mapping(ann, tracks)
    order = np.lexsort((table.track_ids, table.image))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for k in order:
            x, y, w, h = table.boxes[k]
            f.write(f"{table.image[k] + 1},{x:.4f},{y:.4f},{w:.4f},{h:.4f},{table.scores[k]:.8f},{table.track_ids[k]}\n")
    return path


def load_tracks(path: str | Path, ann: KaistAnnotations) -> TrackTable:
    """Read a tracks txt file (``.gz``/``.xz``/``.bz2`` too) against the annotations its image ids index."""
    path = Path(path)
    images, rows = [], []
    for lineno, line in enumerate(read_text(path, "tracks file").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = _SEPARATOR.split(line)
        if len(fields) != 7:
            raise TracksFormatError(f"{path}:{lineno}: expected 7 fields image_id,x,y,w,h,score,track_id, got "
                                    f"{len(fields)}: {line!r} (a 6-field KAIST results file has no track ids: write "
                                    "tracks with lsi bag detect --track --tracks FILE)")
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise TracksFormatError(f"{path}:{lineno}: non-numeric field in {line!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise TracksFormatError(f"{path}:{lineno}: NaN or infinite value in {line!r}")
        image_id, track_id = values[0], values[6]
        if image_id != int(image_id) or not 1 <= image_id <= ann.num_images:
            raise TracksFormatError(f"{path}:{lineno}: image id {fields[0]!r} is not an integer in 1..{ann.num_images} "
                                    f"(1-based positions in {ann.source}'s image list)")
        if track_id != int(track_id) or track_id < 1:
            raise TracksFormatError(f"{path}:{lineno}: track id {fields[6]!r} must be a positive integer")
        if values[3] <= 0 or values[4] <= 0:
            raise TracksFormatError(f"{path}:{lineno}: box width and height must be > 0 in {line!r}")
        images.append(int(image_id) - 1)
        rows.append(values[1:])
    table = np.asarray(rows, np.float64).reshape(-1, 6)
    return TrackTable(np.asarray(images, np.int64), table[:, :4], table[:, 4], table[:, 5].astype(np.int64))


@dataclass
class MotResult:
    """Scores per time subset (``all``, ``day``, ``night``; a subset without sequences is absent): MOT_FIELDS
    plus ``sequences``, ``frames``, ``gt_ids`` (people) and ``tracker_ids`` counted. Ratios are fractions."""

    setting: str
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"setting": self.setting, "metrics": "TrackEval HOTA, CLEAR, Identity",
                "scores": {t: {k: (round(v, 6) if isinstance(v, float) else v) for k, v in s.items()}
                           for t, s in self.scores.items()}}


def sequences_of(ann: KaistAnnotations) -> dict[str, list[int]]:
    """Image indices of each sequence in frame order (the name's trailing number, then file order)."""
    seqs: dict[str, list[tuple[int, int]]] = {}
    for i, name in enumerate(ann.im_names):
        seq, _, last = name.rpartition("/")
        match = _FRAME_NUMBER.search(last)
        seqs.setdefault(seq, []).append((int(match.group(1)) if match else i, i))
    return {seq: [i for _, i in sorted(frames)] for seq, frames in seqs.items()}


def evaluate_mot(ann: KaistAnnotations, tracks: TrackTable, setting: str = DEFAULT_MOT_SETTING) -> MotResult:
    """HOTA, CLEAR (MOTA, IDSW, ...) and Identity (IDF1) of ``tracks``, per time subset (module docstring)."""
    import trackeval

    if setting not in SETTINGS_BY_NAME:
        raise ValueError(f"setting {setting!r} is not one of {', '.join(SETTINGS_BY_NAME)}")
    in_scope = SETTINGS_BY_NAME[setting].gt_in_scope(ann.gt_height, ann.gt_occlusion) & ~ann.gt_ignore
    if not (ann.gt_track_ids[in_scope] >= 0).any():
        raise ValueError(f"{ann.source} has no track_id on its pedestrians: tracking scores need each person's "
                         "identity across frames (the synthetic world writes track_id; KAIST has none)")
    counted = in_scope & (ann.gt_track_ids >= 0)
    metrics = [trackeval.metrics.HOTA({"PRINT_CONFIG": False}),
               trackeval.metrics.CLEAR({"THRESHOLD": IOU_THRESHOLD, "PRINT_CONFIG": False}),
               trackeval.metrics.Identity({"THRESHOLD": IOU_THRESHOLD, "PRINT_CONFIG": False})]
    by_image = _rows_by_image(tracks, ann.num_images)
    per_seq: dict[str, tuple[dict, str, dict]] = {}
    for seq, frames in sequences_of(ann).items():
        data = _sequence_data(ann, frames, counted, by_image, tracks)
        times = {ann.time_of_day[i] for i in frames}
        per_seq[seq] = ({type(m).__name__: m.eval_sequence(data) for m in metrics},
                        times.pop() if len(times) == 1 else "unknown", data)
    result = MotResult(setting)
    for time in TIMES:
        chosen = {s: v for s, v in per_seq.items() if time == "all" or v[1] == time}
        if not chosen:
            continue
        scores: dict[str, float] = {}
        for m in metrics:
            combined = m.combine_sequences({s: v[0][type(m).__name__] for s, v in chosen.items()})
            for key in MOT_FIELDS:
                if key in combined:
                    value = combined[key]
                    scores[key] = float(np.mean(value)) if key in _PERCENT_FIELDS else int(value)
        scores["sequences"] = len(chosen)
        scores["frames"] = sum(v[2]["num_timesteps"] for v in chosen.values())
        scores["gt_ids"] = sum(v[2]["num_gt_ids"] for v in chosen.values())
        scores["tracker_ids"] = sum(v[2]["num_tracker_ids"] for v in chosen.values())
        result.scores[time] = scores
    return result


def _rows_by_image(tracks: TrackTable, num_images: int) -> list[np.ndarray]:
    order = np.argsort(tracks.image, kind="stable")
    start = np.searchsorted(tracks.image[order], np.arange(num_images + 1))
    return [order[start[i]:start[i + 1]] for i in range(num_images)]


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, M] IoU of x, y, w, h boxes."""
    a, b = a.reshape(-1, 4), b.reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y2 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _sequence_data(ann: KaistAnnotations, frames: list[int], counted: np.ndarray, by_image: list[np.ndarray],
                   tracks: TrackTable) -> dict[str, Any]:
    """TrackEval's input for one sequence, distractor matches removed and ids made contiguous."""
    gt_ids_t, tr_ids_t, sims = [], [], []
    for i in frames:
        gt = np.arange(ann.gt_start[i], ann.gt_start[i + 1])
        rows = by_image[i]
        iou = _iou_xywh(ann.gt_boxes[gt], tracks.boxes[rows])
        if len(gt) and len(rows):
            score = np.where(iou >= IOU_THRESHOLD - np.finfo(float).eps, iou, 0.0)
            g, r = linear_sum_assignment(-score)
            matched = score[g, r] > 0
            drop = r[matched & ~counted[gt[g]]]
            keep = np.setdiff1d(np.arange(len(rows)), drop)
        else:
            keep = np.arange(len(rows))
        valid = counted[gt]
        gt_ids_t.append(ann.gt_track_ids[gt[valid]])
        tr_ids_t.append(tracks.track_ids[rows[keep]])
        sims.append(iou[valid][:, keep])
    gt_map = {v: k for k, v in enumerate(np.unique(np.concatenate(gt_ids_t)) if gt_ids_t else [])}
    tr_map = {v: k for k, v in enumerate(np.unique(np.concatenate(tr_ids_t)) if tr_ids_t else [])}
    return {
        "num_timesteps": len(frames), "num_gt_ids": len(gt_map), "num_tracker_ids": len(tr_map),
        "num_gt_dets": int(sum(len(t) for t in gt_ids_t)), "num_tracker_dets": int(sum(len(t) for t in tr_ids_t)),
        "gt_ids": [np.array([gt_map[v] for v in t], np.int64) for t in gt_ids_t],
        "tracker_ids": [np.array([tr_map[v] for v in t], np.int64) for t in tr_ids_t],
        "similarity_scores": sims,
    }


def format_mot_table(results: Mapping[str, MotResult]) -> str:
    """Rows method x metric, columns all / day / night; HOTA, MOTA, IDF1, ... in percent, counts as integers."""
    header = ["method", "metric", *TIMES]
    rows: list[list[str]] = []
    for method, result in results.items():
        keys = [*MOT_FIELDS, "gt_ids", "tracker_ids", "frames", "sequences"]
        for k, key in enumerate(keys):
            cells = []
            for time in TIMES:
                value = result.scores.get(time, {}).get(key)
                cells.append("n/a" if value is None else f"{100 * value:.2f}" if key in _PERCENT_FIELDS else str(value))
            rows.append([method if k == 0 else "", key, *cells])
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    settings = ", ".join(dict.fromkeys(r.setting for r in results.values()))
    lines = [f"Tracking scores (TrackEval; HOTA, DetA, AssA, LocA, MOTA, MOTP, IDF1 in %, higher is better; IDSW, Frag: "
             f"fewer is better), pedestrians of the {settings} setting"]
    for row in [header, ["-" * w for w in widths], *rows]:
        lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    return "\n".join(lines)
