"""The KAIST multispectral benchmark's evaluation settings: which pedestrians count, and where MR is sampled.

A setting decides which ground truths are *ignored* (neither missed nor matchable as a true positive):
height outside the setting's range, occlusion level not allowed, an ``ignore`` flag in the annotation, or
a box crossing the image border margin. Heights and occlusion levels follow the benchmark devkit
(Hwang et al., CVPR 2015; the improved test annotations of Liu et al., BMVC 2016): occlusion 0 = none,
1 = partial, 2 = heavy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OCCLUSION_NONE, OCCLUSION_PARTIAL, OCCLUSION_HEAVY = 0, 1, 2


@dataclass(frozen=True)
class Setting:
    """One row of the benchmark table: a height range (pixels, both ends inclusive) and allowed occlusions."""

    name: str  # key in EvalResult.mr and the JSON output
    label: str  # what tables and plots print
    min_height: float
    max_height: float
    occlusions: tuple[int, ...]
    reference_label: str  # the setting's name in the reference evaluator's output

    def gt_in_scope(self, height: np.ndarray, occlusion: np.ndarray) -> np.ndarray:
        """[M] bool: ground truths this setting evaluates (before the ignore flag and border test)."""
        return (height >= self.min_height) & (height <= self.max_height) & np.isin(occlusion, self.occlusions)

    def detection_height_range(self, expansion: float | None) -> tuple[float, float]:
        """Heights of unmatched detections that count as false positives (all of them when ``expansion`` is None).

        The Caltech toolbox ignores a detection that matches nothing and lies far outside the setting's
        height range (by more than ``expansion`` either way), so that finding a 40 px pedestrian is no
        false positive in the 55 px+ setting. The KAIST reference evaluator does not (``None``).
        """
        if expansion is None:
            return -np.inf, np.inf
        return self.min_height / expansion, self.max_height * expansion


_ANY = (OCCLUSION_NONE, OCCLUSION_PARTIAL, OCCLUSION_HEAVY)
_INF = float("inf")

_NONE_OR_PARTIAL = (OCCLUSION_NONE, OCCLUSION_PARTIAL)

# The reference evaluator's settings, in its order (heights in px, both bounds inclusive).
SETTINGS: tuple[Setting, ...] = (
    Setting("reasonable", "Reasonable", 55, _INF, _NONE_OR_PARTIAL, "Reasonable"),
    Setting("reasonable_small", "Reasonable small", 50, 75, _NONE_OR_PARTIAL, "Reasonable_small"),
    Setting("reasonable_occ_heavy", "Reasonable occ heavy", 50, _INF, (OCCLUSION_HEAVY,), "Reasonable_occ=heavy"),
    Setting("all", "All", 20, _INF, _ANY, "All"),
    Setting("near", "Near", 115, _INF, (OCCLUSION_NONE,), "Scale=near"),
    Setting("medium", "Medium", 45, 115, (OCCLUSION_NONE,), "Scale=medium"),
    Setting("far", "Far", 1, 45, (OCCLUSION_NONE,), "Scale=far"),
    Setting("occ_none", "Occ none", 1, _INF, (OCCLUSION_NONE,), "Occ=none"),
    Setting("occ_partial", "Occ partial", 1, _INF, (OCCLUSION_PARTIAL,), "Occ=partial"),
    Setting("occ_heavy", "Occ heavy", 1, _INF, (OCCLUSION_HEAVY,), "Occ=heavy"),
)
SETTINGS_BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}

TIMES: tuple[str, ...] = ("all", "day", "night")

# Miss rate is sampled at 9 FPPI points evenly spaced in log space over [1e-2, 1e0] (step 10^0.25), as the
# benchmark's reference evaluator tabulates them: rounded to 4 decimals. The rounding matters at the 1e-2
# level of MR (e.g. MLPD Reasonable-day 7.9637 with these points, 7.9500 with exact powers of ten).
FPPI_POINTS: np.ndarray = np.array([0.0100, 0.0178, 0.0316, 0.0562, 0.1000, 0.1778, 0.3162, 0.5623, 1.0000])

IOU_THRESHOLD = 0.5
MAX_DETECTIONS_PER_IMAGE = 1000
# Ground truths closer than this many pixels to an image edge are ignored (x<5, y<5, x+w>635, y+h>507 at 640x512).
BORDER_MARGIN = 5.0
# Caltech toolbox option: unmatched detections whose height is outside [min/expansion, max*expansion] are
# ignored. The KAIST reference evaluator does not do this (its published figures need every unmatched
# detection counted), so it is off by default; pass it to ``evaluate`` for Caltech-style numbers.
CALTECH_DETECTION_HEIGHT_EXPANSION = 1.25

DEFAULT_IMAGE_SIZE = (640, 512)  # (width, height) of KAIST images, used when the annotation file omits them
