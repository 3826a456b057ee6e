"""When a cut really began and ended, seen from the data: heartbeats between the regions.

Asking for a cut is not having one. AWS FIS's ``aws:dynamodb:global-table-pause-
replication`` may let replication go on for up to 5 minutes after the action begins,
and its deny statements leave the resource policy only as the experiment ends. So
during an outage every region writes a heartbeat (a sequence number, on an item of its
own) a few times a second, and every region reads the others'. A beat of the cut
region R that every other region still lacks in a read sent ``stall_s`` after R answered
it (longer than any delay seen before the cut was asked for) did not get through: the
cut began when the first such beat was sent (never before it was asked for), had taken
hold by the time R answered it (give or take one lag), and ended when another region
first saw that beat or a later one.

Pure: no boto3, no clock. The live run and ``report --check`` call the same functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gtbench.history import FAIL, Op

NS = 1_000_000_000
BEAT_S = 0.2  # each region's heartbeat interval
MIN_STALL_S = 1.0  # on the emulator; on AWS, where lag is seconds at worst, 5
AWS_MIN_STALL_S = 5.0


@dataclass(frozen=True)
class BeatSeen:
    """What one region's read showed of another region's heartbeat."""

    region: str  # where it was read
    source: str  # whose heartbeat
    sent_ns: int
    received_ns: int
    seq: int | None  # None: no beat of ``source`` there yet


@dataclass(frozen=True)
class ObservedCut:
    """The cut as the data shows it, on the run's perf_counter clock (ns)."""

    requested_ns: int
    stall_s: float
    start_ns: int | None  # the first beat of R that did not get through (None: never)
    end_ns: int | None  # another region first saw that beat or a later one
    # R answered that beat: the latest the cut can have begun, but for one lag (a writer
    # stalled between sending the beat and its arrival widens the gap from start_ns).
    start_by_ns: int | None = None


def beat_id(region: str, seq: int) -> str:
    return f"{region}#hb{seq}"


def _first_seen(region: str, seen: Sequence[BeatSeen], seq: int) -> int | None:
    """When another region first showed a beat of ``region`` numbered ``seq`` or later
    (a read's answer: the latest moment it can have been served)."""
    times = [s.received_ns for s in seen if s.source == region and s.region != region
             and s.seq is not None and s.seq >= seq]
    return min(times) if times else None


def _beats(region: str, beats: Iterable[Op]) -> list[Op]:
    """The beats of ``region`` that may have been applied (a refused one never was)."""
    return sorted((b for b in beats if b.region == region and b.result != FAIL
                   and b.value is not None), key=lambda b: b.sent_ns)


def stall_threshold(region: str, beats: Sequence[Op], seen: Sequence[BeatSeen],
                    before_ns: int, sample_s: float, minimum_s: float = MIN_STALL_S) -> float:
    """Seconds of silence that no beat of ``region`` sent before ``before_ns`` came near:
    twice the longest delay seen then, plus two reads' spacing, and at least
    ``minimum_s``."""
    delays = []
    for beat in _beats(region, beats):
        if beat.sent_ns >= before_ns:
            break
        at = _first_seen(region, seen, int(beat.value or 0))
        if at is not None and at <= before_ns:
            delays.append((at - beat.sent_ns) / NS)
    longest = max(delays, default=0.0)
    return max(minimum_s, 2 * longest + 2 * sample_s)


def observe_cut(region: str, beats: Sequence[Op], seen: Sequence[BeatSeen],
                requested_ns: int, stall_s: float, now_ns: int) -> ObservedCut:
    """Where the data says the cut of ``region`` began and ended, as of ``now_ns``.

    A beat did not get through when every other region has a read, sent more than
    ``stall_s`` after R answered the beat, that still shows an older one: evidence, not
    a slow reader's silence nor a writer stalled before the beat arrived. The first
    such beat, sent no earlier than the request, marks the start (and its answer, the
    latest the cut can have begun); the first read elsewhere that shows it (or a later
    beat), the end."""
    stall_ns = int(stall_s * NS)
    others = sorted({s.region for s in seen if s.source == region and s.region != region})
    if not others:
        return ObservedCut(requested_ns, stall_s, None, None)
    for beat in _beats(region, beats):
        seq = int(beat.value or 0)
        missing_everywhere = all(
            any(s.region == other and s.source == region and s.sent_ns <= now_ns
                and s.sent_ns - beat.received_ns > stall_ns and (s.seq is None or s.seq < seq)
                for s in seen)
            for other in others)
        if not missing_everywhere:
            continue
        arrived = _first_seen(region, seen, seq)
        if arrived is not None and arrived < requested_ns:
            continue  # a slow delivery before the cut was asked for: not the cut
        return ObservedCut(requested_ns, stall_s, max(beat.sent_ns, requested_ns), arrived,
                           max(beat.received_ns, requested_ns))
    return ObservedCut(requested_ns, stall_s, None, None)
