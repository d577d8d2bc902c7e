"""What the node reports on /diagnostics, assembled without ROS from a snapshot of its counters.

One DiagnosticStatus named ``<node fully qualified name>: pipeline`` (e.g. ``lsi_detector: pipeline``) per period, with the keys in ``DIAGNOSTIC_KEYS``
(values are strings, as diagnostic_msgs/KeyValue requires). Level and message come from
``health.HealthMonitor``: OK only while pairs are being answered; WARN / ERROR naming the cause otherwise
(stale stream, publishers found but nothing received, decode / alignment / inference errors, unpaired
streams and their stamp offset, a time jump, repeated inference failures, no model loaded).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from lsi_perception.node_logic.health import ERROR, OK, WARN, Assessment, HealthEvidence, HealthMonitor

__all__ = ["DIAGNOSTIC_KEYS", "ERROR", "OK", "STATUS_NAME", "WARN", "PipelineSnapshot", "assess",
           "diagnostic_values", "pipeline_status"]
STATUS_NAME = "pipeline"  # full name: "<node namespace/name>: pipeline", e.g. "lsi_detector: pipeline"

DIAGNOSTIC_KEYS = (
    "state",
    "rgb_rate_hz", "thermal_rate_hz", "paired_rate_hz", "output_rate_hz",
    "rgb_age_s", "thermal_age_s", "rgb_stale", "thermal_stale", "output_age_s",
    "rgb_publishers", "thermal_publishers",
    "rgb_received", "thermal_received", "paired", "published",
    "sync_unpaired_rgb", "sync_unpaired_thermal", "sync_out_of_order", "time_jumps", "stamp_offset_s",
    "queue_dropped",
    "inference_ms_p50", "inference_ms_p95", "node_overhead_ms_p50", "node_overhead_ms_p95",
    "end_to_end_ms_p50", "end_to_end_ms_p95",
    "decode_errors", "alignment_errors", "inference_errors", "consecutive_failures",
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
    evidence: HealthEvidence = field(default_factory=HealthEvidence)


def _fmt(value: float | None, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def diagnostic_values(s: PipelineSnapshot) -> dict[str, str]:
    """The key -> value strings of the status, in ``DIAGNOSTIC_KEYS`` order."""
    ev = s.evidence
    values = {
        "state": s.state,
        "rgb_rate_hz": _fmt(s.rates_hz["rgb"]), "thermal_rate_hz": _fmt(s.rates_hz["thermal"]),
        "paired_rate_hz": _fmt(s.rates_hz["paired"]), "output_rate_hz": _fmt(s.rates_hz["output"]),
        "rgb_age_s": _fmt(s.ages_s["rgb"], 3), "thermal_age_s": _fmt(s.ages_s["thermal"], 3),
        "rgb_stale": str(s.stale["rgb"]).lower(), "thermal_stale": str(s.stale["thermal"]).lower(),
        "output_age_s": _fmt(ev.output_age_s, 3),
        "rgb_publishers": str(ev.publishers.get("rgb", 0)), "thermal_publishers": str(ev.publishers.get("thermal", 0)),
        "rgb_received": str(s.received["rgb"]), "thermal_received": str(s.received["thermal"]),
        "paired": str(s.paired), "published": str(s.published),
        "sync_unpaired_rgb": str(max(0, s.received["rgb"] - s.paired)),
        "sync_unpaired_thermal": str(max(0, s.received["thermal"] - s.paired)),
        "sync_out_of_order": str(ev.sync_out_of_order), "time_jumps": str(ev.time_jumps),
        "stamp_offset_s": _fmt(ev.stamp_offset_s, 3),
        "queue_dropped": str(s.queue_dropped),
        "decode_errors": str(s.errors["decode"]), "alignment_errors": str(s.errors["alignment"]),
        "inference_errors": str(s.errors["inference"]), "consecutive_failures": str(ev.consecutive_failures),
        "missing_modality_policy": s.missing_modality_policy, "blanked_pairs": str(s.blanked_pairs),
        "device": s.device, "precision": s.precision, "model": s.model,
        "sync_implementation": s.sync_implementation, "decoder_implementation": s.decoder_implementation,
    }
    for name in ("inference", "node_overhead", "end_to_end"):
        p50, p95 = s.latency_ms[name]
        values[f"{name}_ms_p50"], values[f"{name}_ms_p95"] = _fmt(p50), _fmt(p95)
    assert set(values) == set(DIAGNOSTIC_KEYS)
    return {k: values[k] for k in DIAGNOSTIC_KEYS}


def assess(s: PipelineSnapshot, monitor: HealthMonitor, now: float) -> Assessment:
    """Level, message and cause of the status (``monitor`` keeps the history across calls)."""
    ev = s.evidence
    if math.isnan(ev.inference_p95_ms):
        ev.inference_p95_ms = s.latency_ms["inference"][1]
    return monitor.assess(s.state, s.configured, s.stale, s.ages_s, s.received, s.paired, s.errors,
                          s.missing_modality_policy, ev, now)


def pipeline_status(s: PipelineSnapshot, monitor: HealthMonitor | None = None, now: float = 0.0
              ) -> tuple[int, str, dict[str, str]]:
    """(level, message, key -> value) of the pipeline status."""
    a = assess(s, monitor or HealthMonitor(), now)
    return a.level, a.message, diagnostic_values(s)
