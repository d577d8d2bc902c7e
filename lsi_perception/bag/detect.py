"""``lsi bag detect``: the node's pipeline, offline, as fast as the hardware allows.

Messages are read in bag order (the order they arrived when recorded) and paired by the node's
approximate-time policy (``pipeline.sync``, the node's default slop and queue size); each pair goes
through the node's own ``pipeline.processor.PairProcessor``: decode, warp thermal into the RGB frame
with ``thermal_to_rgb_homography``, ``Detector``. A pair the node would skip (corrupt or non-finite
image, closed shutter, sizes that do not register, an inference error) is skipped here too, counted by
kind and reported, never published as "nobody there". Each pair's Detection2DArray, stamped with the RGB
header, is written to a new bag at the RGB message's bag time (optionally with the node's overlay
image). An image that never pairs gives no output, as with the node's default ``missing_modality:
wait``. When the bag has ground truth on ``/ground_truth`` the KAIST MR table is computed against it
(frames without output count as frames with no detections; ``bag.ground_truth``). With ``track`` the
node's tracker (``pipeline.tracking``, by message stamps) gives each detection its track id in
``Detection2D.id``, and ground truth carrying identities is scored for tracking too (HOTA, MOTA, IDF1).

Decoding uses the package's codec; the node uses cv_bridge when it is installed, which gives the same
arrays (``ros.decoding``).
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lsi_perception.pipeline.defaults import IDENTITY_HOMOGRAPHY, QUEUE_SIZE, SLOP_S
from lsi_perception.pipeline.detection_codec import BoxArray, read_detection_array
from lsi_perception.pipeline.processor import PairProcessor, draw_outcome
from lsi_perception.pipeline.stamps import NS_PER_S, stamp_to_ns
from lsi_perception.pipeline.sync import ApproximateTimePolicy
from lsi_perception.pipeline.tracking import PairTracker

from .convert import detection_array_message, image_message
from .ground_truth import evaluate_against_ground_truth, evaluate_tracks_against_ground_truth, frames_index
from .reader import BagReader
from .typestore import COMPRESSED_IMAGE, DETECTION_2D_ARRAY, IMAGE
from .writer import BagWriter


@dataclass
class DetectConfig:
    """Topics, pairing and registration of ``bag detect`` (defaults are the node's)."""

    rgb_topic: str | None = None  # None: the one image topic whose name mentions rgb/color/visible
    thermal_topic: str | None = None  # None: the one image topic whose name mentions thermal/lwir/ir
    ground_truth_topic: str = "/ground_truth"
    output_topic: str = "/detections"
    overlay_topic: str | None = None  # e.g. /detections/image: write annotated RGB images too
    slop_s: float = SLOP_S
    queue_size: int = QUEUE_SIZE
    thermal_to_rgb_homography: Sequence[float] = IDENTITY_HOMOGRAPHY  # the node parameter of the same name
    storage: str = "mcap"
    overwrite: bool = False
    salvage: bool = False
    track: bool = False  # the node's tracking: true (track ids in Detection2D.id)


@dataclass
class DetectResult:
    """What ``detect_bag`` did. ``detections`` maps RGB stamp (ns) -> BoxArray."""

    out: Path
    rgb_messages: int = 0
    thermal_messages: int = 0
    pairs: int = 0  # pairs with detections written
    seconds: float = 0.0
    detections: dict[int, BoxArray] = field(default_factory=dict)
    ground_truth: dict[int, BoxArray] = field(default_factory=dict)
    frames: list[tuple[int, str, str]] = field(default_factory=list)  # (stamp, im_name, time_of_day)
    image_size: tuple[int, int] | None = None  # (width, height) of the RGB images
    eval_result: object | None = None  # lsi_perception.eval.EvalResult when ground truth exists
    mot_result: object | None = None  # lsi_perception.eval.mot.MotResult with track and ground-truth identities
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (RGB stamp, kind, why): no output

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else 0.0

    @property
    def skipped_by_kind(self) -> dict[str, int]:
        """Skipped pairs per kind (decode, alignment, inference: the node's diagnostics error counters)."""
        return dict(Counter(kind for _, kind, _ in self.skipped))


_RGB_HINTS = ("rgb", "color", "colour", "visible")
_THERMAL_HINTS = ("thermal", "lwir", "infra", "/ir")


def pick_image_topics(topics: dict[str, str], rgb: str | None, thermal: str | None) -> tuple[str, str]:
    """Resolve the RGB and thermal topics: given names must exist; missing ones are found by name."""
    images = {t for t, typ in topics.items() if typ in (IMAGE, COMPRESSED_IMAGE)}

    def pick(given: str | None, hints: tuple[str, ...], what: str) -> str:
        if given is not None:
            if given not in images:
                raise ValueError(f"{what} topic {given} is not an image topic of the bag; image topics: {sorted(images)}")
            return given
        found = sorted(t for t in images if any(h in t.lower() for h in hints))
        if len(found) != 1:
            raise ValueError(f"cannot tell which image topic is the {what} camera among {sorted(images)}; "
                             f"pass --{what}-topic")
        return found[0]

    return pick(rgb, _RGB_HINTS, "rgb"), pick(thermal, _THERMAL_HINTS, "thermal")


def detect_bag(bag: str | Path, detector, out: str | Path, cfg: DetectConfig | None = None,
               progress: bool = True, on_pair: Callable[[int, np.ndarray, np.ndarray, object], None] | None = None
               ) -> DetectResult:
    """Run ``detector`` (a ``lsi_perception.inference.Detector``) over every RGB/thermal pair of ``bag``.

    ``on_pair(stamp_ns, rgb, thermal, detections)`` is called for each detected pair (e.g. to draw a
    video); ``thermal`` is registered to the RGB frame.
    """
    cfg = cfg or DetectConfig()
    result = DetectResult(Path(out))
    processor = PairProcessor(detector, cfg.thermal_to_rgb_homography, tracker=PairTracker() if cfg.track else None)
    policy = ApproximateTimePolicy(2, cfg.queue_size, round(cfg.slop_s * NS_PER_S))
    with BagReader(bag, salvage=cfg.salvage) as reader:
        rgb_topic, thermal_topic = pick_image_topics(reader.topics, cfg.rgb_topic, cfg.thermal_topic)
        with BagWriter(out, storage=cfg.storage, overwrite=cfg.overwrite) as writer:
            has_gt = reader.topics.get(cfg.ground_truth_topic) == DETECTION_2D_ARRAY
            result.frames = frames_index(reader.custom_data)
            wanted = [rgb_topic, thermal_topic] + ([cfg.ground_truth_topic] if has_gt else [])
            total = sum(reader.counts.get(t, 0) for t in wanted)
            start = time.perf_counter()
            bar = tqdm(total=total, desc=f"detect {Path(bag).name}", unit="msg", disable=not progress)
            for m in reader.messages(wanted):
                bar.update()
                if m.topic == cfg.ground_truth_topic:
                    result.ground_truth[stamp_to_ns(m.msg.header.stamp)] = read_detection_array(m.msg)
                    continue
                index = 0 if m.topic == rgb_topic else 1
                if index == 0:
                    result.rgb_messages += 1
                    result.image_size = result.image_size or _image_size(m.msg)
                else:
                    result.thermal_messages += 1
                for (bag_time, rgb_msg), (_, thermal_msg) in policy.add(index, stamp_to_ns(m.msg.header.stamp),
                                                                        (m.timestamp, m.msg)):
                    _detect_pair(processor, rgb_msg, thermal_msg, bag_time, writer, cfg, result, on_pair)
                    bar.set_postfix(pairs=result.pairs, skipped=len(result.skipped))
            bar.close()
        result.seconds = time.perf_counter() - start
    if result.ground_truth:
        result.eval_result = evaluate_against_ground_truth(result.ground_truth, result.detections, result.frames,
                                                           result.image_size)
        if cfg.track:
            result.mot_result = evaluate_tracks_against_ground_truth(result.ground_truth, result.detections,
                                                                     result.frames, result.image_size)
    return result


def _detect_pair(processor: PairProcessor, rgb_msg, thermal_msg, bag_time: int, writer: BagWriter,
                 cfg: DetectConfig, result: DetectResult, on_pair) -> None:
    stamp, frame_id = stamp_to_ns(rgb_msg.header.stamp), rgb_msg.header.frame_id
    outcome = processor.process(rgb_msg, thermal_msg)
    if outcome.skipped is not None:
        result.skipped.append((stamp, outcome.skipped.kind, outcome.skipped.message))
        return
    dets = outcome.detections
    result.image_size = result.image_size or (outcome.rgb.shape[1], outcome.rgb.shape[0])
    array = detection_array_message(stamp, frame_id, dets.boxes, dets.scores, dets.names(), outcome.ids)
    writer.write(cfg.output_topic, bag_time, array)
    result.detections[stamp] = read_detection_array(array)
    if cfg.overlay_topic:
        writer.write(cfg.overlay_topic, bag_time, image_message(draw_outcome(outcome), stamp, frame_id))
    if on_pair is not None:
        on_pair(stamp, outcome.rgb, outcome.thermal, dets)
    result.pairs += 1


def _image_size(msg) -> tuple[int, int] | None:
    """(width, height) of an Image; a CompressedImage's size is only known once decoded (None)."""
    return (int(msg.width), int(msg.height)) if hasattr(msg, "width") else None
