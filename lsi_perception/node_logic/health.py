"""Is the node doing its job? The level and message of its diagnostics, decided without ROS.

The rule: **OK only while pairs are being answered.** Whenever inputs arrive but nothing was published
for the judging window (``stale_timeout``, or three inference times when the model is slower than that),
the status says so and names the cause, first match wins:

1. the node left ``active`` through error processing, or inference failed ``MAX_CONSECUTIVE_FAILURES``
   times in a row (ERROR; the node then goes to error processing);
2. every recent pair failed: inference, decode or alignment errors, with the last error's text (ERROR);
3. a stream is stale (WARN); when publishers are matched on its topic but nothing arrives, the message
   says what the node knows (publishers, messages so far, the last one's age) and what it cannot know:
   whether the publisher is idle (driver not streaming, bag paused or finished) or its frames are lost in
   transport (too large for the DDS transport), how to tell them apart and the fix for the second;
4. the stamps jumped back (bag loop, ``/clock`` reset, simulator restart) and the pairing was reset (WARN);
5. both streams arrive but never pair: their stamp offset against ``slop``, or messages older than the
   last pair being dropped (ERROR);
6. pairs are made but nothing is published: the inference thread is busy or stuck (ERROR).

``HealthMonitor`` remembers when each counter last grew, so "recent" means "within the judging window";
``StatusLog`` turns status changes into log lines (once per cause, repeated at most every
``STATUS_LOG_REPEAT_S``); ``ErrorTracker`` counts skipped inputs and failures in a row and throttles
their log lines. All times are ``time.monotonic()`` seconds.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from lsi_perception.pipeline.processor import SKIP_KINDS

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels
ERROR_KINDS = SKIP_KINDS  # what a pair can be skipped for (pipeline.processor)
MAX_CONSECUTIVE_FAILURES = 5  # inference failures in a row before the node goes to error processing
ERROR_LOG_PERIOD_S = 5.0  # the same error text is logged at most this often
STATUS_LOG_REPEAT_S = 60.0  # a persisting non-OK status is logged again after this long
LARGE_FRAMES_FIX = (
    "frames too large for the DDS transport (Fast DDS's default shared-memory segment is 512 KB; larger "
    "frames fall back to UDP fragments that get dropped): start the publishing process (camera driver, bag "
    "player) with the shipped Fast DDS profile config/fastdds_large_frames.xml of lsi_perception (README, "
    "cameras on the same computer), or raise the kernel UDP buffers (sysctl net.core.rmem_max, "
    "net.ipv4.ipfrag_high_thresh, net.ipv4.ipfrag_time)"
)
# A subscriber sees a matched publisher but cannot see whether it sends: say so, and how to find out.
IDLE_OR_LOST = (
    "the node cannot tell an idle publisher (a driver not streaming yet, a bag paused, finished or waiting "
    "to start) from frames lost in transport. To tell them apart, check that the publisher is sending (its "
    "own log or rate) and run `ros2 topic hz {topic}` on this computer: if the publisher sends but hz sees "
    "nothing or a fraction of its rate, the cause is "
)


@dataclass
class HealthEvidence:
    """What the node knows about its own progress, beyond the rates (times in s)."""

    active_for_s: float = 0.0  # since activation
    output_age_s: float | None = None  # since the last published output (None = none since activation)
    stale_timeout: float = 1.0
    slop_s: float = 0.05
    inference_p95_ms: float = float("nan")
    input_topics: dict[str, str] = field(default_factory=lambda: {"rgb": "rgb", "thermal": "thermal"})
    publishers: dict[str, int] = field(default_factory=lambda: {"rgb": 0, "thermal": 0})
    stamp_offset_s: float | None = None  # last rgb stamp - last thermal stamp
    sync_out_of_order: int = 0
    time_jumps: int = 0
    last_jump_back_s: float = 0.0
    last_errors: dict[str, str] = field(default_factory=dict)  # kind -> text of its last error
    consecutive_failures: int = 0
    failure: str | None = None  # why the node left active through error processing


@dataclass
class Assessment:
    level: int
    message: str
    cause: str  # short key of the cause ("ok", "decode", "stale", ...): what StatusLog compares


class HealthMonitor:
    """Decides OK / WARN / ERROR from successive snapshots (see the module docstring)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._grew_at: dict[str, float] = {}

    def _observe(self, counters: dict[str, int], now: float) -> None:
        for key, value in counters.items():
            if value > self._counts.get(key, 0):
                self._grew_at[key] = now
            self._counts[key] = value

    def _recent(self, key: str, now: float, window: float) -> bool:
        t = self._grew_at.get(key)
        return t is not None and now - t <= window

    def assess(self, state: str, configured: bool, stale: dict[str, bool], ages_s: dict[str, float | None],
               received: dict[str, int], paired: int, errors: dict[str, int], missing_modality_policy: str,
               ev: HealthEvidence, now: float) -> Assessment:
        self._observe({**{f"error_{k}": v for k, v in errors.items()}, "paired": paired,
                       "out_of_order": ev.sync_out_of_order, "time_jumps": ev.time_jumps}, now)
        if ev.failure:
            return Assessment(ERROR, ev.failure, "failure")
        if not configured:
            return Assessment(ERROR, f"no model loaded ({state})", "unconfigured")
        if state != "active":
            return Assessment(OK, f"{state}: not subscribed", "ok")
        if ev.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            return Assessment(ERROR, f"inference failed {ev.consecutive_failures} times in a row: "
                                     f"{ev.last_errors.get('inference', '?')}; going to error processing", "failure")

        inference_s = ev.inference_p95_ms / 1e3 if ev.inference_p95_ms == ev.inference_p95_ms else 0.0
        window = max(ev.stale_timeout, 3.0 * inference_s)
        stale_names = [name for name in ("rgb", "thermal") if stale[name]]
        answering = ev.output_age_s is not None and ev.output_age_s <= window
        recent_errors = [k for k in ERROR_KINDS if self._recent(f"error_{k}", now, window)]
        if answering:
            if stale_names:
                return self._stale(stale_names, missing_modality_policy, ev, ages_s, received)
            if recent_errors:
                k = recent_errors[0]
                return Assessment(WARN, f"detecting, but some inputs are skipped: {k} errors "
                                        f"({errors[k]} so far), last: {ev.last_errors.get(k, '?')}", f"some_{k}")
            return Assessment(OK, "detecting", "ok")

        quiet = "nothing published yet" if ev.output_age_s is None else f"nothing published for {ev.output_age_s:.1f} s"
        for k in ("inference", "decode", "alignment"):
            if k in recent_errors:
                return Assessment(ERROR, f"{quiet}: {k} errors ({errors[k]} so far), last: "
                                         f"{ev.last_errors.get(k, '?')}", k)
        if stale_names:
            return self._stale(stale_names, missing_modality_policy, ev, ages_s, received)
        if ev.output_age_s is None and ev.active_for_s <= window:
            return Assessment(OK, "active, waiting for the first pair", "ok")
        if self._recent("time_jumps", now, window):
            return Assessment(WARN, f"{quiet}: stamps jumped back {ev.last_jump_back_s:.1f} s (bag loop, /clock "
                                    "reset or simulator restart): pairing reset, waiting for the first pair of "
                                    "the new timeline", "time_jump")
        if not self._recent("paired", now, window):
            if self._recent("out_of_order", now, window):
                return Assessment(ERROR, f"{quiet}: both streams arrive but their messages are older than the last "
                                         f"pair and are dropped ({ev.sync_out_of_order} so far): stamps going back "
                                         "by less than time_jump_threshold; fix the publishers' stamps", "out_of_order")
            offset = "n/a" if ev.stamp_offset_s is None else f"{ev.stamp_offset_s:+.3f} s"
            return Assessment(ERROR, f"{quiet}: rgb and thermal arrive but never pair: rgb stamps - thermal stamps "
                                     f"= {offset}, slop is {ev.slop_s:g} s; synchronize the cameras' clocks (or "
                                     "stamp both from one clock), or raise slop if the offset is real", "unpaired")
        return Assessment(ERROR, f"{quiet}: pairs are made but not answered (inference thread busy or stuck)", "stuck")

    @staticmethod
    def _stale(names: list[str], policy: str, ev: HealthEvidence, ages_s: dict[str, float | None],
               received: dict[str, int]) -> Assessment:
        """A stale stream; with matched publishers on its topic, what the node knows (publishers, what it
        received so far and when) and what it cannot know (whether they send), with the way to find out."""
        what = " and ".join(names)
        action = ("publishing nothing until it is back (missing_modality: wait)"
                  if policy == "wait" or len(names) == 2 else "detecting with it blanked (missing_modality: blank)")
        message = f"{what} stream stale: {action}"
        cause = "stale"  # not per stream: a stream that arrives now and then must not re-log every flip
        silent = [n for n in names if ev.publishers.get(n, 0) > 0]
        if silent:
            facts = []
            for n in silent:
                count, age = received.get(n, 0), ages_s.get(n)
                history = (f"{count} received, the last {age:.1f} s ago" if count and age is not None
                           else "none received since activation")
                facts.append(f"{ev.publishers[n]} publisher(s) matched on {ev.input_topics.get(n, n)} ({history})")
            topic = ev.input_topics.get(silent[0], silent[0])
            message += (f"; {'; '.join(facts)}, nothing for over {ev.stale_timeout:g} s. From here "
                        + IDLE_OR_LOST.format(topic=topic) + LARGE_FRAMES_FIX)
            cause = "stale_with_publishers"
        return Assessment(WARN, message, cause)


class StatusLog:
    """Which status changes deserve a log line: a new non-OK cause (once), the same one again after
    ``repeat_s``, and the return to OK after a non-OK status."""

    def __init__(self, repeat_s: float = STATUS_LOG_REPEAT_S) -> None:
        self.repeat_s = repeat_s
        self._cause: str | None = None
        self._logged_at = -float("inf")

    def line(self, assessment: Assessment, now: float) -> str | None:
        if assessment.level == OK:
            if self._cause is None:
                return None
            self._cause = None
            return f"recovered: {assessment.message}"
        if assessment.cause != self._cause or now - self._logged_at >= self.repeat_s:
            self._cause = assessment.cause
            self._logged_at = now
            return assessment.message
        return None


class ErrorTracker:
    """Skipped inputs by kind, inference failures in a row, and when an error deserves a log line.

    Thread-safe (the inference thread records, the diagnostics timer reads).
    """

    def __init__(self, log_period_s: float = ERROR_LOG_PERIOD_S) -> None:
        self.log_period_s = log_period_s
        self._lock = threading.Lock()
        self.counts = {k: 0 for k in ERROR_KINDS}
        self.last_text: dict[str, str] = {}
        self.consecutive_failures = 0
        self._logged_at: dict[str, float] = {}

    def record(self, kind: str, text: str, now: float, failure: bool = False) -> bool:
        """Count one skipped input of ``kind``; ``failure``: the inference step itself failed (counts
        toward MAX_CONSECUTIVE_FAILURES). Returns True when ``text`` should be logged now."""
        with self._lock:
            self.counts[kind] += 1
            self.last_text[kind] = text
            if failure:
                self.consecutive_failures += 1
            if now - self._logged_at.get(text, -float("inf")) >= self.log_period_s:
                self._logged_at[text] = now
                return True
            return False

    def success(self) -> None:
        """A pair was answered: the run of failures is over."""
        with self._lock:
            self.consecutive_failures = 0

    def snapshot(self) -> tuple[dict[str, int], dict[str, str], int]:
        with self._lock:
            return dict(self.counts), dict(self.last_text), self.consecutive_failures
