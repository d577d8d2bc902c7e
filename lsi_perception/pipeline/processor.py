"""``PairProcessor``: one RGB + thermal message pair in, detections (or the reason there are none) out.

The per-pair work of the ``lsi_detector`` node and of ``lsi bag detect``, written once:

1. decode each message (``image_codec``: every listed encoding, row padding, endianness, jpeg / png16);
2. warp thermal into the RGB frame with the rig's homography (``alignment``);
3. run the ``Detector`` (boxes in RGB pixels);
4. with a ``tracking.PairTracker``, give each detection its track id, by the pair's stamp (the RGB header's,
   else the thermal one's; a message without a header is not tracked: call ``track`` with a stamp instead).

Either message may be None (the missing-modality ``blank`` policy, ``defaults.MISSING_MODALITY_POLICIES``):
the Detector then sees that modality blanked, and a thermal-only pair is aligned to ``rgb_hw`` (the last
RGB size the caller saw) or, without one, kept at its own size.

Bad input never raises: a pair that cannot give trustworthy detections comes back as ``PairOutcome`` with
``skipped`` set, its ``kind`` (``decode``, ``alignment`` or ``inference``, the node's diagnostics error
counters) and a message naming the problem and the fix. ``inference`` failures (e.g. CUDA out of memory,
NaN outputs) are marked ``failure``: the node counts them towards error processing; the others are the
input's fault.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lsi_perception.pipeline.alignment import AlignmentError, ThermalAligner
from lsi_perception.pipeline.defaults import IDENTITY_HOMOGRAPHY
from lsi_perception.pipeline.image_codec import (
    ImageDecodeError,
    as_rgb,
    as_thermal,
    message_to_array,
    thermal_as_rgb,
)
from lsi_perception.pipeline.overlay import draw_overlay
from lsi_perception.pipeline.stamps import stamp_to_ns
from lsi_perception.pipeline.tracking import PairTracker, track_id_strings

MessageToArray = Callable[[Any], tuple[np.ndarray, str]]  # an Image / CompressedImage -> (pixels, encoding)
SKIP_KINDS = ("decode", "alignment", "inference")


@dataclass(frozen=True)
class Skipped:
    """Why a pair gave no detections: ``kind`` is one of ``SKIP_KINDS``; ``failure`` marks inference errors."""

    kind: str
    message: str
    failure: bool = False


@dataclass
class PairOutcome:
    """What ``PairProcessor.process`` made of one pair: detections, or ``skipped`` saying why not.

    ``rgb`` / ``thermal`` are the decoded images (thermal registered to RGB; None when blanked or not
    reached). ``stamp_ns``: the pair's stamp (None when its messages have no header); ``track_ids``: one per
    detection with tracking on (``tracking.NO_TRACK`` where unconfirmed), else None.
    """

    detections: Any | None = None  # lsi_perception.inference.Detections
    rgb: np.ndarray | None = None
    thermal: np.ndarray | None = None
    skipped: Skipped | None = None
    stamp_ns: int | None = None
    track_ids: np.ndarray | None = None

    @property
    def ids(self) -> list[str]:
        """Each detection's ``Detection2D.id``: its track id as text, empty where it has none."""
        return track_id_strings(self.track_ids, len(self.detections) if self.detections is not None else 0)

    @property
    def missing(self) -> str | None:
        """"rgb" or "thermal" when that modality was blanked, else None."""
        if self.rgb is None and self.thermal is not None:
            return "rgb"
        if self.thermal is None and self.rgb is not None:
            return "thermal"
        return None


class PairProcessor:
    """Decode, align and detect one pair at a time with ``detector`` (see the module docstring).

    ``homography``: row-major 3x3 thermal -> RGB (identity: the images must have the same size).
    ``to_array``: how a message becomes pixels; the package codec by default (the node passes its
    cv_bridge-backed one, ``ros.decoding.message_to_array``, which gives the same arrays).
    ``tracker``: a ``tracking.PairTracker`` to give detections track ids (None: no tracking).
    """

    def __init__(self, detector, homography: Sequence[float] = IDENTITY_HOMOGRAPHY,
                 to_array: MessageToArray = message_to_array, tracker: PairTracker | None = None) -> None:
        self.detector = detector
        self.aligner = ThermalAligner(homography)
        self._to_array = to_array
        self.tracker = tracker

    def decode(self, rgb_msg: Any | None, thermal_msg: Any | None, rgb_hw: tuple[int, int] | None = None
               ) -> PairOutcome:
        """Steps 1-2: the decoded, registered images, or ``skipped`` (decode / alignment)."""
        if rgb_msg is None and thermal_msg is None:
            raise ValueError("a pair needs at least one of rgb_msg and thermal_msg")
        out = PairOutcome(stamp_ns=_stamp_of(rgb_msg if rgb_msg is not None else thermal_msg))
        stream = "rgb"
        try:
            out.rgb = as_rgb(*self._to_array(rgb_msg)) if rgb_msg is not None else None
            stream = "thermal"
            thermal = as_thermal(*self._to_array(thermal_msg)) if thermal_msg is not None else None
            if thermal is not None:
                target = out.rgb.shape[:2] if out.rgb is not None else (rgb_hw or thermal.shape[:2])
                out.thermal = self.aligner.align(thermal, target)
        except ImageDecodeError as exc:
            out.skipped = Skipped("decode", f"{stream} image skipped: {exc}")
        except AlignmentError as exc:
            out.skipped = Skipped("alignment", f"pair skipped: {exc}")
        return out

    def detect(self, decoded: PairOutcome) -> PairOutcome:
        """Steps 3-4 on a ``decode`` result (unchanged when it was skipped)."""
        if decoded.skipped is not None:
            return decoded
        try:
            decoded.detections = self.detector.predict(decoded.rgb, decoded.thermal)
        except ValueError as exc:  # an image the Detector rejects (shape / dtype)
            decoded.skipped = Skipped("decode", f"pair skipped: {exc}")
        except RuntimeError as exc:  # e.g. CUDA out of memory, NaN outputs: the next pair may work
            decoded.skipped = Skipped("inference", f"inference failed: {exc}", failure=True)
        if decoded.skipped is None and decoded.stamp_ns is not None:
            self.track(decoded, decoded.stamp_ns)
        return decoded

    def track(self, outcome: PairOutcome, stamp_ns: int) -> PairOutcome:
        """Step 4 alone: ``outcome.track_ids`` for a detected pair stamped ``stamp_ns`` (no-op without a
        tracker). For consumers whose pairs carry no header (image folders: a stamp from the frame rate)."""
        if self.tracker is not None and outcome.detections is not None:
            dets = outcome.detections
            outcome.stamp_ns = int(stamp_ns)
            outcome.track_ids = self.tracker.update(stamp_ns, dets.boxes, dets.scores)
        return outcome

    def process(self, rgb_msg: Any | None, thermal_msg: Any | None, rgb_hw: tuple[int, int] | None = None
                ) -> PairOutcome:
        """Decode, align and detect one pair (``decode`` then ``detect``)."""
        return self.detect(self.decode(rgb_msg, thermal_msg, rgb_hw))


def draw_outcome(outcome: PairOutcome, fps: float | None = None) -> np.ndarray:
    """The overlay image of a detected pair: boxes on the RGB image (on the thermal one, in gray, when RGB
    was blanked), with ``fps`` and a note naming a missing modality."""
    dets = outcome.detections
    base = outcome.rgb if outcome.rgb is not None else thermal_as_rgb(outcome.thermal)
    note = f"{outcome.missing} missing" if outcome.missing else None
    return draw_overlay(base, dets.boxes, dets.scores, dets.names(), fps, note, outcome.ids)


def _stamp_of(msg: Any) -> int | None:
    """A message's ``header.stamp`` in ns, None when it has no header (e.g. an image read from a file)."""
    header = getattr(msg, "header", None)
    return stamp_to_ns(header.stamp) if header is not None else None
