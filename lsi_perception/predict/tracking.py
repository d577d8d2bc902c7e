"""``lsi predict --track``: track ids for pairs read from files, which carry no stamps.

Each pair is stamped from its key: the number that ends it (KAIST ``set06/V000/I00019`` -> frame 19, a
video's ``frame_000123`` -> 123) divided by the frame rate, else its position in the run. The key without
its last part is the sequence (``set06/V000``); a new sequence starts a new timeline, so no track runs from
the end of one video into the next. The ids themselves come from the node's stage (``pipeline.tracking``
via ``PairProcessor.track``); ``TracksWriter`` writes them as ``tracks.txt`` for ``lsi eval --mot``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from lsi_perception.eval.mot import write_tracks_txt
from lsi_perception.pipeline.processor import PairOutcome, PairProcessor
from lsi_perception.pipeline.stamps import NS_PER_S

from .writers import ResultsWriter

TRACKS_TXT = "tracks.txt"
_FRAME_NUMBER = re.compile(r"(\d+)$")


class TrackStage:
    """A ``run_predict`` stage: ``(key, outcome) -> outcome`` with ``outcome.track_ids`` set (module docstring)."""

    def __init__(self, processor: PairProcessor, fps: float) -> None:
        if processor.tracker is None:
            raise ValueError("TrackStage needs a PairProcessor with a tracker (PairProcessor(..., tracker=PairTracker()))")
        if not fps > 0:
            raise ValueError(f"--fps {fps} must be > 0")
        self.processor, self.fps = processor, float(fps)
        self._sequence: str | None = None
        self._position = 0

    def stamp_ns(self, key: str) -> int:
        """The stamp of the pair named ``key`` (resets the tracker when ``key`` starts a new sequence)."""
        sequence, _, last = key.rpartition("/")
        if sequence != self._sequence:
            if self._sequence is not None:
                self.processor.tracker.reset()
            self._sequence, self._position = sequence, 0
        match = _FRAME_NUMBER.search(last)
        frame = int(match.group(1)) if match else self._position
        self._position += 1
        return round(frame * NS_PER_S / self.fps)

    def __call__(self, key: str, outcome: PairOutcome) -> PairOutcome:
        return self.processor.track(outcome, self.stamp_ns(key))


class TracksWriter:
    """``tracks.txt`` (``image_id,x,y,w,h,score,track_id``) against the same image index as ``results``."""

    def __init__(self, out_dir: Path, results: ResultsWriter) -> None:
        self.path = Path(out_dir) / TRACKS_TXT
        self.results = results
        self.tracks: dict[str, np.ndarray] = {}

    def add(self, key: str, outcome: PairOutcome) -> None:
        dets = outcome.detections
        ids = outcome.track_ids if outcome.track_ids is not None else np.zeros(len(dets), np.int64)
        self.tracks[key] = np.concatenate([dets.to_xywh(), dets.scores[:, None], ids[:, None]], 1).astype(np.float64)

    def close(self) -> dict[str, Path]:
        ann, names = self.results.index()
        return {"tracks": write_tracks_txt(self.path, ann, {names[k]: v for k, v in self.tracks.items()})}
