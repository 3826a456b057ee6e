"""Distance: how far the client is from each region, so that loopback rehearses AWS.

On AWS a client sits in one place and each region is a round trip away; on the
emulator every region is a loopback call away. With a client region, each request
to region R is held for half the round trip between the client's region and R on
the way in, and half on the way out.

The round trips are medians measured between AWS regions over a year (cloudping.co,
2025; see AWS-FACTS "Distance between regions"). One table serves every use of
distance in the emulator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Median round trips in ms, each pair once.
_MEASURED: dict[tuple[str, str], float] = {
    ("us-east-1", "us-east-2"): 15, ("us-east-1", "us-west-2"): 64,
    ("us-east-1", "eu-west-1"): 70, ("us-east-1", "eu-central-1"): 93,
    ("us-east-1", "ap-northeast-1"): 149, ("us-east-1", "ap-southeast-2"): 200,
    ("us-east-2", "us-west-2"): 51,
    ("us-west-2", "eu-west-1"): 118, ("us-west-2", "eu-central-1"): 142,
    ("us-west-2", "ap-northeast-1"): 98, ("us-west-2", "ap-southeast-2"): 141,
    ("eu-west-1", "eu-central-1"): 27, ("eu-west-1", "ap-northeast-1"): 201,
    ("eu-west-1", "ap-southeast-2"): 256,
    ("eu-central-1", "ap-northeast-1"): 227, ("eu-central-1", "ap-southeast-2"): 252,
    ("ap-northeast-1", "ap-southeast-2"): 107,
    ("ap-northeast-1", "ap-northeast-3"): 10,
}
# Other pairs inside Europe measure 11 to 27 ms: the upper end, so as not to flatter.
_EU = ("eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1",
       "eu-south-2", "eu-central-2")
IN_REGION_MS = 0.0  # a client in the region itself: loopback is close enough


def measured_rtt_ms(a: str, b: str) -> float | None:
    """The median round trip between two regions, or None if it is not in the table."""
    if a == b:
        return IN_REGION_MS
    known = _MEASURED.get((a, b), _MEASURED.get((b, a)))
    if known is not None:
        return known
    if a in _EU and b in _EU:
        return 27.0
    return None


@dataclass(frozen=True)
class Distance:
    """Where the client is (None: nowhere, every region on loopback), and overrides."""

    client_region: str | None = None
    overrides_ms: Mapping[str, float] = field(default_factory=dict)

    @property
    def on(self) -> bool:
        return self.client_region is not None or bool(self.overrides_ms)

    def rtt_ms(self, region: str) -> float | None:
        """The round trip from the client to ``region``; None if it is unknown."""
        if region in self.overrides_ms:
            return float(self.overrides_ms[region])
        if self.client_region is None:
            return 0.0
        return measured_rtt_ms(self.client_region, region)

    def known_regions(self) -> set[str]:
        """Every region with a known round trip from the client: the table's, overrides."""
        out = set(self.overrides_ms)
        if self.client_region is not None:
            out.add(self.client_region)
            out.update(r for pair in _MEASURED for r in pair
                       if measured_rtt_ms(self.client_region, r) is not None)
            if self.client_region in _EU:
                out.update(_EU)
        return out

    def describe(self, regions: list[str] | None = None) -> dict[str, Any]:
        # Every region it knows a round trip to, and the regions asked about (None for
        # one it does not know: a request there is refused until --rtt names it).
        shown = sorted(set(regions or []) | self.known_regions())
        return {"client_region": self.client_region,
                "overrides_ms": dict(self.overrides_ms),
                "rtt_ms": {r: self.rtt_ms(r) for r in shown}}


def format_trips(trips: Iterable[tuple[str, float | None]]) -> str:
    """``eu-west-1 118 ms, us-west-2 0 ms``: round trips as people read them."""
    return ", ".join(f"{r} {ms:g} ms" if ms is not None else f"{r} unknown" for r, ms in trips)
