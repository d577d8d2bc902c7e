"""``run_predict``: pairs from a source through the node's per-pair pipeline into sinks, with a progress bar.

    source -> PairProcessor (decode, thermal -> RGB alignment, Detector) -> stages -> sinks

The stages are the pluggable part: each is a callable ``(key, outcome) -> outcome`` run in order on every
detected pair before the sinks see it (e.g. a tracker that adds track ids); sinks (``writers.py``) have
``add(key, outcome)`` and ``close() -> {what: path}``. A pair the node would skip (corrupt image, closed
shutter, sizes that do not register, an inference error) is counted by kind and written nowhere, never
as "no pedestrians".
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm import tqdm

from lsi_perception.pipeline.processor import PairOutcome, PairProcessor

from .sources import SourcePair

Stage = Callable[[str, PairOutcome], PairOutcome]


class Sink(Protocol):
    def add(self, key: str, outcome: PairOutcome) -> None: ...

    def close(self) -> dict[str, Path]: ...


@dataclass
class PredictSummary:
    """What ``run_predict`` did: pairs read, detected, skipped (key, kind, why), detections, seconds, files."""

    pairs: int = 0
    detected: int = 0
    detections: int = 0
    seconds: float = 0.0
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    written: dict[str, Path] = field(default_factory=dict)

    @property
    def skipped_by_kind(self) -> dict[str, int]:
        return dict(Counter(kind for _, kind, _ in self.skipped))

    @property
    def pairs_per_second(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else 0.0


def run_predict(source: Iterable[SourcePair], processor: PairProcessor, sinks: Sequence[Sink],
                stages: Sequence[Stage] = (), total: int | None = None, progress: bool = True) -> PredictSummary:
    """Detect every pair of ``source`` and hand each detected pair to ``stages`` then ``sinks``."""
    summary = PredictSummary()
    start = time.perf_counter()
    bar = tqdm(total=total, desc="predict", unit="pair", disable=not progress)
    rgb_hw: tuple[int, int] | None = None
    try:
        for pair in source:
            summary.pairs += 1
            outcome = processor.process(pair.rgb, pair.thermal, rgb_hw)
            bar.update()
            if outcome.skipped is not None:
                summary.skipped.append((pair.key, outcome.skipped.kind, outcome.skipped.message))
                bar.set_postfix(skipped=len(summary.skipped), refresh=False)
                continue
            rgb_hw = outcome.rgb.shape[:2] if outcome.rgb is not None else rgb_hw
            for stage in stages:
                outcome = stage(pair.key, outcome)
            for sink in sinks:
                sink.add(pair.key, outcome)
            summary.detected += 1
            summary.detections += len(outcome.detections)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    for sink in sinks:
        summary.written.update(sink.close())
    return summary
