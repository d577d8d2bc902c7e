"""The tracking stage (pipeline/tracking.py): stable ids, driven by stamps, through drops, pauses, loops and gaps."""
from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest

from lsi_perception.inference import Detections
from lsi_perception.pipeline.processor import PairProcessor
from lsi_perception.pipeline.tracking import NO_TRACK, PairTracker, TrackingConfig, track_id_strings

MS = 1_000_000
PERIOD = 50 * MS  # a 20 Hz camera
START = 1_700_000_000 * 1_000_000_000


def walkers(frames: int, seed: int = 0, people: int = 4) -> list[list[tuple[int, np.ndarray]]]:
    """Per frame, (person, xyxy box) of ``people`` pedestrians walking across a 640x512 view, two of them
    crossing paths; boxes jitter by a pixel as a detector's do."""
    rng = np.random.default_rng(seed)
    starts = [(60, 200, 8.0), (560, 210, -8.0), (200, 120, 1.5), (420, 300, -1.0)][:people]  # 0 and 1 cross at t=31
    out = []
    for t in range(frames):
        frame = []
        for p, (x0, y0, vx) in enumerate(starts):
            x, h = x0 + vx * t, 90.0 + 10 * p
            box = np.array([x, y0, x + 0.4 * h, y0 + h]) + rng.normal(0, 1.0, 4)
            frame.append((p, box))
        out.append(frame)
    return out


def run(tracker: PairTracker, frames, stamps, miss: float = 0.0, seed: int = 1) -> list[dict[int, int]]:
    """Feed the frames at ``stamps``; per frame {person: track id} of its detection (misses left out)."""
    rng = np.random.default_rng(seed)
    seen = []
    for frame, stamp in zip(frames, stamps):
        kept = [(p, b) for p, b in frame if rng.random() >= miss]
        boxes = np.array([b for _, b in kept], np.float32).reshape(-1, 4)
        ids = tracker.update(stamp, boxes, np.full(len(kept), 0.9, np.float32))
        seen.append({p: int(i) for (p, _), i in zip(kept, ids)})
    return seen


def ids_of(seen: list[dict[int, int]], person: int) -> set[int]:
    return {f[person] for f in seen if f.get(person, NO_TRACK) != NO_TRACK}


def assert_one_id_each(seen: list[dict[int, int]], people: int = 4) -> None:
    ids = [ids_of(seen, p) for p in range(people)]
    assert all(len(i) == 1 for i in ids), f"a person changed id: {ids}"
    assert len(set.union(*ids)) == people, f"two people share an id: {ids}"


def test_each_walker_keeps_one_id_through_misses_and_a_crossing():
    frames = walkers(60)
    seen = run(PairTracker(), frames, [START + k * PERIOD for k in range(60)], miss=0.1)
    assert_one_id_each(seen)
    confirmed = sum(v != NO_TRACK for f in seen for v in f.values())
    assert confirmed >= 0.9 * sum(len(f) for f in seen)


def test_dropped_pairs_advance_the_tracker_by_their_stamps():
    """Latest-pair-wins drops: the kept pairs' stamps skip 1-3 periods; the Kalman filter predicts across."""
    frames = walkers(90)
    rng = np.random.default_rng(2)
    keep = sorted({0, 1, 2, *[k for k in range(3, 90) if rng.random() < 0.45]})
    tracker = PairTracker()
    seen = run(tracker, [frames[k] for k in keep], [START + k * PERIOD for k in keep])
    assert_one_id_each(seen)
    assert tracker.period_ns == PERIOD  # the camera's period, not the mean step between kept pairs
    assert tracker.stats.gap_frames == (keep[-1] + 1) - len(keep)  # every frame between kept pairs
    assert tracker.stats.resets == 0


def test_a_pause_changes_nothing_wall_time_is_never_read():
    frames = walkers(20)
    stamps = [START + k * PERIOD for k in range(20)]
    a = run(PairTracker(), frames, stamps)
    tracker = PairTracker()
    b = run(tracker, frames[:10], stamps[:10])
    time.sleep(0.3)  # a paused bag: no messages for a while, then the stamps go on where they were
    b += run(tracker, frames[10:], stamps[10:])
    assert a == b


def test_a_looped_bag_starts_new_tracks_with_new_ids():
    frames = walkers(30)
    stamps = [START + k * PERIOD for k in range(30)]
    tracker = PairTracker()
    first = run(tracker, frames, stamps)
    second = run(tracker, frames, stamps)  # the bag starts over: stamps jump back 1.45 s (> time_jump_s 1 s)
    assert tracker.stats.time_jumps == 1
    assert_one_id_each(first)
    assert_one_id_each(second)
    before = set.union(*(ids_of(first, p) for p in range(4)))
    after = set.union(*(ids_of(second, p) for p in range(4)))
    assert not before & after  # no track of the end of the bag continued at its start; ids never reused


def test_a_small_step_back_gets_no_ids_and_does_not_disturb_the_tracks():
    frames = walkers(20)
    stamps = [START + k * PERIOD for k in range(20)]
    tracker = PairTracker()
    seen = run(tracker, frames[:10], stamps[:10])
    late = tracker.update(stamps[5], np.array([b for _, b in frames[5]]), np.full(4, 0.9))
    assert (late == NO_TRACK).all() and tracker.stats.out_of_order == 1
    seen += run(tracker, frames[10:], stamps[10:])
    assert_one_id_each(seen)


@pytest.mark.parametrize("gap_frames, same_ids", [(12, True), (40, False)], ids=["0.6s", "2s"])
def test_a_missing_modality_gap_keeps_tracks_within_the_buffer(gap_frames, same_ids):
    """``missing_modality: wait`` publishes nothing while a stream is stale: tracks survive a gap shorter
    than ``track_buffer_s`` (1 s), and a longer one starts new tracks instead of guessing."""
    frames = walkers(30 + gap_frames + 20)
    kept = list(range(30)) + list(range(30 + gap_frames, 30 + gap_frames + 20))
    tracker = PairTracker()
    seen = run(tracker, [frames[k] for k in kept], [START + k * PERIOD for k in kept])
    before, after = seen[:30], seen[30:]
    for p in range(2, 4):  # the two slow walkers, still near where the gap left them
        assert len(ids_of(before, p)) == len(ids_of(after, p)) == 1
        assert (ids_of(before, p) == ids_of(after, p)) is same_ids
    assert tracker.stats.resets == (0 if same_ids else 1)


def test_bad_config_and_mismatched_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="track_buffer_s"):
        PairTracker(TrackingConfig(track_buffer_s=0))
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        PairTracker().update(START, np.zeros((2, 4)), np.zeros(1))


def test_track_id_strings():
    assert track_id_strings(np.array([3, NO_TRACK, 12]), 3) == ["3", "", "12"]
    assert track_id_strings(None, 2) == ["", ""]


class ScriptedDetector:
    """Stands in for ``Detector``: returns the next scripted boxes whatever the images."""

    class_names = ("person",)

    def __init__(self, frames):
        self.frames = iter(frames)

    def predict(self, rgb, thermal):
        boxes = np.array([b for _, b in next(self.frames)], np.float32).reshape(-1, 4)
        return Detections(boxes, np.full(len(boxes), 0.9, np.float32), np.zeros(len(boxes), np.int64), self.class_names)


def message(stamp_ns: int | None, image: np.ndarray, encoding: str):
    """An Image-like object (with a header when ``stamp_ns`` is given)."""
    from lsi_perception.pipeline.image_codec import image_fields

    fields = image_fields(image, encoding)
    if stamp_ns is not None:
        fields["header"] = SimpleNamespace(stamp=SimpleNamespace(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9))
    return SimpleNamespace(**fields)


def test_pair_processor_tracks_by_the_message_stamps_and_skipped_pairs_do_not_count():
    frames = walkers(12)
    processor = PairProcessor(ScriptedDetector(frames), tracker=PairTracker())
    rgb, thermal = np.zeros((512, 640, 3), np.uint8), np.tile(np.arange(640, dtype=np.uint8), (512, 1))
    ids = []
    for k in range(12):
        stamp = START + k * PERIOD
        if k == 6:  # a corrupt thermal image: skipped before detection, the tracker never hears of it
            bad = processor.process(message(stamp, rgb, "rgb8"), message(stamp, np.full((512, 640), 7, np.uint8), "mono8"))
            assert bad.skipped is not None and bad.track_ids is None
            continue
        out = processor.process(message(stamp, rgb, "rgb8"), message(stamp + 3 * MS, thermal, "mono8"))
        assert out.stamp_ns == stamp and len(out.ids) == 4
        ids.append(out.track_ids)
    assert (np.array(ids[1:]) == ids[1]).all() and (ids[1] > 0).all()
    assert processor.tracker.stats.gap_frames == 1


def test_messages_without_a_header_are_tracked_through_track():
    frames = walkers(5)
    processor = PairProcessor(ScriptedDetector(frames), tracker=PairTracker())
    rgb, thermal = np.zeros((64, 80, 3), np.uint8), np.tile(np.arange(80, dtype=np.uint8), (64, 1))
    outcome = processor.process(message(None, rgb, "rgb8"), message(None, thermal, "mono8"))
    assert outcome.stamp_ns is None and outcome.track_ids is None
    processor.track(outcome, START)
    assert outcome.stamp_ns == START and (outcome.track_ids > 0).all()


def test_the_overlay_draws_the_track_id_before_the_label():
    from lsi_perception.pipeline.overlay import draw_overlay

    rgb = np.zeros((120, 160, 3), np.uint8)
    boxes, scores = np.array([[20, 30, 60, 110]], np.float32), np.array([0.9], np.float32)
    plain = draw_overlay(rgb, boxes, scores, ["person"])
    assert (draw_overlay(rgb, boxes, scores, ["person"], ids=[""]) == plain).all()
    tracked = draw_overlay(rgb, boxes, scores, ["person"], ids=["17"])
    assert (tracked != plain).any()  # "#17 person 0.90" is a wider label than "person 0.90"
    assert (tracked[:, 20:] != 0).any(axis=(0, 2)).nonzero()[0].max() > (plain[:, 20:] != 0).any(axis=(0, 2)).nonzero()[0].max()
