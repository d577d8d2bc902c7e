"""The demo's pictures: an animated GIF and a contact sheet of RGB | thermal with the node's boxes."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from lsi_perception.bag.from_dataset import FromDatasetConfig
from lsi_perception.bag.reader import BagReader
from lsi_perception.pipeline.defaults import QUEUE_SIZE, SLOP_S
from lsi_perception.pipeline.detection_codec import BoxArray
from lsi_perception.pipeline.image_codec import decode_rgb_message, decode_thermal_message
from lsi_perception.pipeline.stamps import NS_PER_S, stamp_to_ns


def _side_by_side(rgb: np.ndarray, thermal: np.ndarray, dets: BoxArray | None, title: str) -> np.ndarray:
    """RGB | thermal (as gray RGB), both with the node's boxes; a note when the node sent no array."""
    from lsi_perception.pipeline.overlay import draw_overlay

    th = thermal if thermal.dtype == np.uint8 else (255 * (thermal - thermal.min()) / max(1e-6, np.ptp(thermal))).astype(np.uint8)
    th_rgb = np.repeat(th[..., None], 3, axis=2)
    if dets is None:
        boxes, scores, labels, note = np.zeros((0, 4)), np.zeros(0), [], f"{title} | no output (pair dropped)"
    else:
        boxes, scores, labels, note = dets.boxes, dets.scores, dets.labels, f"{title} | {len(dets)} detections"
    left = draw_overlay(rgb, boxes, scores, labels, note=note)
    right = draw_overlay(th_rgb, boxes, scores, labels, note="thermal")
    return np.concatenate([left, right], axis=1)


def draw_outputs(input_bag: Path, detections: dict[int, BoxArray], frames: list[tuple[int, str, str]],
                  gif: Path, sheet: Path, cfg) -> None:
    """Draw every RGB/thermal pair of ``input_bag`` with the node's ``detections`` into ``gif`` and a
    ``sheet`` of ``cfg.contact_sheet_frames`` panels (``cfg``: the DemoConfig)."""
    import cv2
    from PIL import Image as PILImage

    from lsi_perception.pipeline.sync import pair_offline

    names = {stamp: (name, tod) for stamp, name, tod in frames}
    with BagReader(input_bag) as reader:
        rgb_topic, thermal_topic = FromDatasetConfig().rgb_topic, FromDatasetConfig().thermal_topic
        streams = [[], []]
        for m in reader.messages([rgb_topic, thermal_topic]):
            streams[0 if m.topic == rgb_topic else 1].append((stamp_to_ns(m.msg.header.stamp), m.msg))
    pairs = pair_offline(streams, queue_size=QUEUE_SIZE, slop_ns=round(SLOP_S * NS_PER_S))
    panels = []
    for rgb_msg, thermal_msg in pairs:
        stamp = stamp_to_ns(rgb_msg.header.stamp)
        name, tod = names.get(stamp, (str(stamp), ""))
        panels.append(_side_by_side(decode_rgb_message(rgb_msg), decode_thermal_message(thermal_msg),
                                    detections.get(stamp), f"{tod} {name}"))
    if not panels:
        raise RuntimeError(f"no RGB/thermal pairs in {input_bag}: nothing to draw")
    scale = min(1.0, cfg.gif_max_width / panels[0].shape[1])
    small = [cv2.resize(p, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else p for p in panels]
    images = [PILImage.fromarray(p) for p in small]
    images[0].save(gif, save_all=True, append_images=images[1:], duration=round(cfg.gif_frame_s * 1000), loop=0)

    count = min(cfg.contact_sheet_frames, len(small))
    picks = np.linspace(0, len(small) - 1, count).round().astype(int)
    cols = 2
    rows = math.ceil(count / cols)
    h, w = small[0].shape[:2]
    grid = np.full((rows * h, cols * w, 3), 255, np.uint8)
    for k, i in enumerate(picks):
        r, c = divmod(k, cols)
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = small[i]
    cv2.imwrite(str(sheet), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


