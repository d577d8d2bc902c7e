"""Pedestrian tracks over the per-pair pipeline's detections, driven by message stamps (no ROS, no wall time).

``PairTracker.update(stamp_ns, boxes, scores)`` gives each detection of a pair a track id (0 = not yet
confirmed), with supervision's ByteTrack (Zhang et al., ECCV 2022) doing the association. ByteTrack counts
time in frames; this stage turns message stamps into frames so that what happens between pairs does not
corrupt the tracks:

* the frame period is the median of the recent stamp steps between tracked pairs, so a gap of several
  periods (pairs dropped by the node's latest-pair-wins queue, a stream missing under
  ``missing_modality: wait``) advances the tracker that many frames: the Kalman filter predicts across
  the gap and lost tracks age by the time that really passed (``track_buffer_s``, not a number of pairs);
* a pause (a paused bag, a slow model) leaves the stamps alone and so the tracks;
* stamps going back by more than ``time_jump_s`` (a bag that loops, a ``/clock`` reset, a restarted
  simulator: the node's time-jump rule) start a new timeline: every track is dropped and new ones get new
  ids; a smaller step back, or a repeated stamp, cannot be placed in time and gets no ids (counted);
* ids are unique for the tracker's lifetime (they never restart at 1 after a reset).

The tracker sees the detections the Detector returns (scores at or above its ``score_threshold``): they all
count as ByteTrack's high-score detections, each one that matches no track starts one, and a track is
confirmed, and its id published, from its second detection (ByteTrack's rule; the first pair of a
timeline confirms at once). Every detection is kept; unconfirmed ones carry id 0 (an empty
``Detection2D.id``).
"""
from __future__ import annotations

import math
import statistics
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from lsi_perception.pipeline.defaults import TIME_JUMP_THRESHOLD_S
from lsi_perception.pipeline.stamps import NS_PER_S

NO_TRACK = 0  # track id of a detection no confirmed track owns (published as an empty Detection2D.id)


@dataclass(frozen=True)
class TrackingConfig:
    """ByteTrack's settings in seconds where ByteTrack counts frames (its own defaults otherwise)."""

    track_buffer_s: float = 1.0  # a lost track can be found again for this long (ByteTrack: 30 frames at 30 fps)
    match_iou: float = 0.2  # least IoU (after ByteTrack's score fusion) for a detection to continue a track
    time_jump_s: float = TIME_JUMP_THRESHOLD_S  # stamps going back further: a new timeline (node: time_jump_threshold)
    period_window: int = 30  # stamp steps whose median is the frame period

    def validate(self) -> None:
        if not self.track_buffer_s > 0:
            raise ValueError(f"track_buffer_s={self.track_buffer_s} must be > 0")
        if not 0.0 < self.match_iou <= 1.0:
            raise ValueError(f"match_iou={self.match_iou} must be in (0, 1]")
        if not self.time_jump_s > 0:
            raise ValueError(f"time_jump_s={self.time_jump_s} must be > 0")
        if self.period_window < 1:
            raise ValueError(f"period_window={self.period_window} must be >= 1")


@dataclass
class TrackingStats:
    """What the tracker did: pairs tracked, frames stepped over gaps, timelines started, stamps refused."""

    pairs: int = 0
    gap_frames: int = 0  # frames the tracker advanced with no pair (dropped or missing pairs)
    resets: int = 0  # new timelines: time jumps, and gaps longer than track_buffer_s
    time_jumps: int = 0
    out_of_order: int = 0  # pairs whose stamp was not after the last one (no ids given)
    tracks: int = 0  # track ids handed out so far


class PairTracker:
    """Track ids for the detections of successive pairs of one camera rig (see the module docstring)."""

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config or TrackingConfig()
        self.config.validate()
        self.stats = TrackingStats()
        self._tracker = self._new_bytetrack()
        self._last_ns: int | None = None
        self._steps: deque[int] = deque(maxlen=self.config.period_window)
        self._ids: dict[int, int] = {}  # ByteTrack's external id -> ours (unique across resets)

    def _new_bytetrack(self):
        import supervision as sv

        with warnings.catch_warnings():  # deprecated in supervision >= 0.28 for the trackers package (requirements/ml.txt)
            warnings.filterwarnings("ignore", message=".*ByteTrack.*deprecated", category=FutureWarning)
            # activation 0: every detection the Detector kept is a high-score one (see the module docstring)
            tracker = sv.ByteTrack(track_activation_threshold=0.0, minimum_matching_threshold=1.0 - self.config.match_iou,
                                   minimum_consecutive_frames=1)
        tracker.det_thresh = 0.0  # ByteTrack starts tracks from activation + 0.1: here from every kept detection
        return tracker

    @property
    def period_ns(self) -> int | None:
        """The frame period (median of the recent stamp steps), None before the second pair."""
        return int(statistics.median(self._steps)) if self._steps else None

    def reset(self) -> None:
        """Drop every track (a new timeline); ids already handed out are never reused."""
        self._tracker.reset()
        self._ids.clear()
        self._last_ns = None
        self._steps.clear()
        self.stats.resets += 1

    def update(self, stamp_ns: int, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Track ids (int64 [N], ``NO_TRACK`` where unconfirmed) of one pair's xyxy ``boxes`` [N, 4] and ``scores``."""
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        scores = np.asarray(scores, np.float32).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError(f"{len(boxes)} boxes but {len(scores)} scores")
        stamp_ns = int(stamp_ns)
        if self._last_ns is not None:
            step = stamp_ns - self._last_ns
            if step < -self.config.time_jump_s * NS_PER_S:
                self.stats.time_jumps += 1
                self.reset()
            elif step <= 0:
                self.stats.out_of_order += 1
                return np.zeros(len(boxes), np.int64)
            else:
                self._advance(step)
        self._last_ns = stamp_ns
        self.stats.pairs += 1
        return self._associate(boxes, scores)

    def _advance(self, step_ns: int) -> None:
        """Step ByteTrack over the frames between the last pair and this one (``step_ns`` after it)."""
        period = self.period_ns or step_ns
        frames = max(1, round(step_ns / period))
        self._steps.append(step_ns if frames == 1 else max(1, step_ns // frames))
        period = self.period_ns
        buffer_frames = max(1, math.ceil(self.config.track_buffer_s * NS_PER_S / period))
        # ByteTrack's frame-count buffer, re-derived from seconds as the period estimate moves
        self._tracker.max_time_lost = buffer_frames
        missed = frames - 1
        if missed > buffer_frames:  # every track would expire over the gap: same as a new timeline
            self.stats.gap_frames += missed
            steps = list(self._steps)
            self.reset()
            self._steps.extend(steps)
            return
        empty = np.zeros((0, 4), np.float32), np.zeros(0, np.float32)  # a frame with no pair: tracks coast
        for _ in range(missed):
            self._associate(*empty)
        self.stats.gap_frames += missed

    def _associate(self, boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """One ByteTrack frame; each track it confirmed goes back to the detection it was updated with.

        ByteTrack returns tracks, not detection indices: a track is given to the detection its (Kalman-filtered)
        box overlaps best, by optimal assignment with IoU >= ``_BACK_MATCH_IOU`` (supervision's own
        ``update_with_detections`` asks 0.5, which drops the id of a narrow pedestrian whose filtered box
        lags the detection by a few pixels).
        """
        tracks = self._tracker.update_with_tensors(np.hstack([boxes, scores[:, None]]).astype(np.float32))
        ids = np.zeros(len(boxes), np.int64)
        if not tracks or not len(boxes):
            return ids
        iou = _iou(boxes, np.array([t.tlbr for t in tracks], np.float64))
        rows, cols = linear_sum_assignment(-iou)
        for d, k in zip(rows, cols):
            if iou[d, k] < _BACK_MATCH_IOU:
                continue
            external = int(tracks[k].external_track_id)
            if external not in self._ids:
                self.stats.tracks += 1
                self._ids[external] = self.stats.tracks
            ids[d] = self._ids[external]
        return ids


_BACK_MATCH_IOU = 0.3


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N, M] IoU of xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def track_id_strings(track_ids: Sequence[int] | np.ndarray | None, count: int) -> list[str]:
    """``Detection2D.id`` of ``count`` detections: the track id as text, empty where unconfirmed or untracked."""
    if track_ids is None:
        return [""] * count
    return [str(int(t)) if int(t) != NO_TRACK else "" for t in track_ids]
