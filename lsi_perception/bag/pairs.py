"""A few decoded RGB + thermal pairs spread over a bag (``lsi calibrate check --bag``).

Paired with the node's approximate-time policy and defaults (``pipeline.sync``), decoded with the node's
codec (``pipeline.image_codec``); thermal is left in its own pixel grid (the caller registers it).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lsi_perception.pipeline.defaults import QUEUE_SIZE, SLOP_S
from lsi_perception.pipeline.image_codec import decode_rgb_message, decode_thermal_message
from lsi_perception.pipeline.stamps import NS_PER_S, stamp_to_ns
from lsi_perception.pipeline.sync import ApproximateTimePolicy

from .detect import pick_image_topics
from .reader import BagReader


def sample_pairs(bag: str | Path, count: int, rgb_topic: str | None = None, thermal_topic: str | None = None,
                 slop_s: float = SLOP_S, queue_size: int = QUEUE_SIZE) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``count`` (rgb HxWx3 uint8, thermal HxW) pairs taken evenly over the bag's pairs."""
    if count < 1:
        raise ValueError(f"count={count} must be >= 1")
    with BagReader(bag) as reader:
        rgb_topic, thermal_topic = pick_image_topics(reader.topics, rgb_topic, thermal_topic)
        stride = max(1, reader.counts.get(rgb_topic, 0) // count)
        policy = ApproximateTimePolicy(2, queue_size, round(slop_s * NS_PER_S))
        paired, out = 0, []
        for m in reader.messages([rgb_topic, thermal_topic]):
            for rgb_msg, thermal_msg in policy.add(0 if m.topic == rgb_topic else 1, stamp_to_ns(m.msg.header.stamp), m.msg):
                if paired % stride == 0 and len(out) < count:
                    out.append((decode_rgb_message(rgb_msg), decode_thermal_message(thermal_msg)))
                paired += 1
    if not out:
        raise ValueError(f"{bag}: no {rgb_topic} + {thermal_topic} pairs within {slop_s} s of each other")
    return out
