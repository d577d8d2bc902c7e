"""What the node reports on /diagnostics, assembled without ROS from a snapshot of its counters.

One DiagnosticStatus named ``<node fully qualified name>: pipeline`` (e.g. ``lsi_detector: pipeline``) per period, with the keys in ``DIAGNOSTIC_KEYS``
(values are strings, as diagnostic_msgs/KeyValue requires). Level: OK when both streams are live;
WARN when a stream is stale (no message for ``stale_timeout``) or the missing-modality policy is blanking
one; ERROR when the node is not configured (no model loaded).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
STATUS_NAME = "pipeline"  # full name: "<node namespace/name>: pipeline", e.g. "lsi_detector: pipeline"

DIAGNOSTIC_KEYS = (
    "state",
    "rgb_rate_hz", "thermal_rate_hz", "paired_rate_hz", "output_rate_hz",
    "rgb_age_s", "thermal_age_s", "rgb_stale", "thermal_stale",
    "rgb_received", "thermal_received", "paired", "published",
    "sync_unpaired_rgb", "sync_unpaired_thermal", "queue_dropped",
    "inference_ms_p50", "inference_ms_p95", "node_overhead_ms_p50", "node_overhead_ms_p95",
    "end_to_end_ms_p50", "end_to_end_ms_p95",
    "decode_errors", "alignment_errors", "inference_errors",
    "missing_modality_policy", "blanked_pairs",
    "device", "precision", "model", "sync_implementation", "decoder_implementation",
)


@dataclass
class PipelineSnapshot:
    """Everything the diagnostics status reports (rates in Hz, ages in s, latencies in ms)."""

    state: str
    configured: bool
    rates_hz: dict[str, float]  # rgb, thermal, paired, output
    ages_s: dict[str, float | None]  # rgb, thermal (None = nothing received yet)
    stale: dict[str, bool]  # rgb, thermal
    received: dict[str, int]  # rgb, thermal
    paired: int
    published: int  # Detection2DArray messages published since configure
    queue_dropped: int
    latency_ms: dict[str, tuple[float, float]]  # inference, node_overhead, end_to_end -> (p50, p95)
    errors: dict[str, int]  # decode, alignment, inference
    missing_modality_policy: str
    blanked_pairs: int
    device: str
    precision: str
    model: str
    sync_implementation: str
    decoder_implementation: str


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def summarize(s: PipelineSnapshot) -> tuple[int, str, dict[str, str]]:
    """(level, message, key -> value) of the pipeline status."""
    values = {
        "state": s.state,
        "rgb_rate_hz": _fmt(s.rates_hz["rgb"]), "thermal_rate_hz": _fmt(s.rates_hz["thermal"]),
        "paired_rate_hz": _fmt(s.rates_hz["paired"]), "output_rate_hz": _fmt(s.rates_hz["output"]),
        "rgb_age_s": _fmt(s.ages_s["rgb"], 3), "thermal_age_s": _fmt(s.ages_s["thermal"], 3),
        "rgb_stale": str(s.stale["rgb"]).lower(), "thermal_stale": str(s.stale["thermal"]).lower(),
        "rgb_received": str(s.received["rgb"]), "thermal_received": str(s.received["thermal"]),
        "paired": str(s.paired), "published": str(s.published),
        "sync_unpaired_rgb": str(max(0, s.received["rgb"] - s.paired)),
        "sync_unpaired_thermal": str(max(0, s.received["thermal"] - s.paired)),
        "queue_dropped": str(s.queue_dropped),
        "decode_errors": str(s.errors["decode"]), "alignment_errors": str(s.errors["alignment"]),
        "inference_errors": str(s.errors["inference"]),
        "missing_modality_policy": s.missing_modality_policy, "blanked_pairs": str(s.blanked_pairs),
        "device": s.device, "precision": s.precision, "model": s.model,
        "sync_implementation": s.sync_implementation, "decoder_implementation": s.decoder_implementation,
    }
    for name in ("inference", "node_overhead", "end_to_end"):
        p50, p95 = s.latency_ms[name]
        values[f"{name}_ms_p50"], values[f"{name}_ms_p95"] = _fmt(p50), _fmt(p95)
    assert set(values) == set(DIAGNOSTIC_KEYS)
    values = {k: values[k] for k in DIAGNOSTIC_KEYS}

    if not s.configured:
        return ERROR, f"no model loaded ({s.state})", values
    stale = [name for name in ("rgb", "thermal") if s.stale[name]]
    if stale and s.state == "active":
        what = " and ".join(stale)
        action = ("publishing nothing until it is back (missing_modality: wait)"
                  if s.missing_modality_policy == "wait" or len(stale) == 2
                  else "detecting with it blanked (missing_modality: blank)")
        return WARN, f"{what} stream stale: {action}", values
    if s.state != "active":
        return OK, f"{s.state}: not subscribed", values
    return OK, "detecting", values
