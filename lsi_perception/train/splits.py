"""A validation split held out of the training list by whole videos (``setXX/VYYY``), not by frames.

Consecutive KAIST frames are nearly identical (20 Hz, ``train-all-02`` keeps every 2nd), so frames
drawn at random from the training videos would validate on near-copies of training images. Whole
videos are held out instead, separately for day and night (KAIST set-number rule), so both are in
validation whenever the training list has at least two videos of that time of day.
"""
from __future__ import annotations

import random
from collections.abc import Iterable

from lsi_perception.eval.annotations import time_of_day_from_name


def video_of(name: str) -> str:
    """``setXX/VYYY/IZZZZZ`` -> ``setXX/VYYY``."""
    return name.rsplit("/", 1)[0]


def holdout_videos(names: Iterable[str], fraction: float, seed: int = 0) -> set[str]:
    """The videos held out for validation: per time of day, ``round(fraction * n)`` of its ``n``
    videos (at least one when ``n >= 2``, never all), drawn with ``random.Random(seed)``."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction {fraction} must be in (0, 1)")
    groups: dict[str, list[str]] = {}
    for video in sorted({video_of(n) for n in names}):
        groups.setdefault(time_of_day_from_name(video + "/I00000"), []).append(video)
    rng = random.Random(seed)
    held: set[str] = set()
    for time_of_day in sorted(groups):
        videos = groups[time_of_day]
        if len(videos) < 2:
            continue
        k = min(max(1, round(fraction * len(videos))), len(videos) - 1)
        held.update(rng.sample(videos, k))
    if not held:
        raise ValueError(
            f"cannot hold out videos for validation: the training list has {sum(map(len, groups.values()))} "
            "video(s) per time of day, fewer than 2; set data.holdout_videos=0 and give data.val_list"
        )
    return held


def holdout_blocks(names: Iterable[str], fraction: float, seed: int = 0, block: int = 50) -> set[str]:
    """For datasets without video ids (UTokyo, LLVIP, FLIR-aligned): the sorted names cut into blocks of
    ``block`` consecutive frames, and ``round(fraction * blocks)`` of them (at least one, never all) drawn
    with ``random.Random(seed)``; returns the held-out names. Same names, same split."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"holdout fraction {fraction} must be in (0, 1)")
    ordered = sorted(set(names))
    blocks = [ordered[i:i + block] for i in range(0, len(ordered), block)]
    if len(blocks) < 2:
        raise ValueError(f"cannot hold out frames for validation: {len(ordered)} frames make {len(blocks)} block(s) of "
                         f"data.holdout_block={block}; lower data.holdout_block or give data.val_list")
    k = min(max(1, round(fraction * len(blocks))), len(blocks) - 1)
    return {name for i in sorted(random.Random(seed).sample(range(len(blocks)), k)) for name in blocks[i]}
