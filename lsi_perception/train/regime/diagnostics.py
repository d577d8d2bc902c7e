"""The three neglect checks per seed, and the verdict that gates the remedy arms (``NeglectRule``).

(1) the weak modality inside the fused model does clearly worse than trained alone: a probe (fresh
    heads on frozen backbones, thermal blank) on delta = 0's RGB backbone vs the same probe on the
    RGB-only model's backbone, day MR; the fused model with thermal blanked is reported beside it;
(2) blanking the weak modality barely changes the fused model: delta = 0's MR on the rest of the test
    set (pedestrians outside the RGB-only slice), RGB replaced by the mean training image, vs both inputs;
(3) on the RGB-only slice (people with no thermal signature) the fused model fails where the RGB-only
    model succeeds: slice MR of delta = 0 vs the RGB-only model.
"""
from __future__ import annotations

from dataclasses import dataclass

from lsi_perception.eval.slices import REST
from lsi_perception.train.regime.config import NeglectRule, RegimeRun

RGB_ONLY = "rgb_only"  # the slice's annotation label (data/synthetic.py RGB_ONLY_SLICE)


def slice_mr(row: dict, variant: str = "both", subset: str = RGB_ONLY, time: str = "day") -> float:
    """MR of a result row on an annotation subset (the RGB-only slice: its day figure)."""
    return float(row.get("slices", {}).get(subset, {}).get(variant, {}).get(time, float("nan")))


@dataclass
class SeedChecks:
    seed: int
    probe_gap: float  # (1) probe on delta0's RGB backbone - probe on rgb_only's backbone, day MR
    blank_gap: float  # (1, reported) delta0 thermal blanked (better of zeros / mean) - rgb_only, day MR
    rgb_blank_change: float  # (2) delta0 rest MR with RGB = mean image - with both inputs
    rgb_zero_change: float  # (2, reported) the same with RGB zeroed
    slice_gap: float  # (3) delta0 slice MR - rgb_only slice MR
    passes: tuple[bool, bool, bool]

    @property
    def neglects(self) -> bool:
        return all(self.passes)


def seed_checks(results: dict[str, dict], seed: int, rule: NeglectRule) -> SeedChecks | None:
    """The checks of one seed, or None while one of its runs (delta0, rgb_only, the two probes) is missing."""
    names = {a: RegimeRun(a, seed).name for a in ("delta0", "rgb_only", "probe_fused", "probe_rgb_only")}
    rows = {a: results.get(n) for a, n in names.items()}
    if any(r is None for r in rows.values()):
        return None
    d0, ro, pf, pr = rows["delta0"], rows["rgb_only"], rows["probe_fused"], rows["probe_rgb_only"]
    probe_gap = pf["mr"]["both"]["day"] - pr["mr"]["both"]["day"]
    blank_gap = min(d0["mr"]["thermal_zero"]["day"], d0["mr"]["thermal_mean"]["day"]) - ro["mr"]["both"]["day"]
    rest_both = slice_mr(d0, "both", REST, "all")
    mean_change = slice_mr(d0, "rgb_mean", REST, "all") - rest_both
    zero_change = slice_mr(d0, "rgb_zero", REST, "all") - rest_both
    slice_gap = slice_mr(d0) - slice_mr(ro)
    passes = (probe_gap >= rule.probe_gap, mean_change <= rule.rgb_blank_max, slice_gap >= rule.slice_gap)
    return SeedChecks(seed, probe_gap, blank_gap, mean_change, zero_change, slice_gap, passes)


def neglect_verdict(results: dict[str, dict], seeds: tuple[int, ...], rule: NeglectRule) -> bool | None:
    """None until every seed's diagnostics are done; then True when delta = 0 neglects RGB by the rule in
    every seed, else False."""
    checks = [seed_checks(results, s, rule) for s in seeds]
    if any(c is None for c in checks):
        return None
    return all(c.neglects for c in checks if c is not None)
