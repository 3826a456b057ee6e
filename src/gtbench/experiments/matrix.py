"""``gtbench matrix``: replication lag between every ordered pair of regions, in one run.

A matrix is a race whose pairs are every (source, target) of the regions. Each round
measures every pair once, starting one pair later than the round before, so no pair is
measured only early or only late in a round or in the run.
"""

from __future__ import annotations

from gtbench.experiments.race import Pair, RacePlan


def pairs_of(regions: tuple[str, ...]) -> tuple[Pair, ...]:
    return tuple((a, b) for a in regions for b in regions if a != b)


def matrix_plan(regions: tuple[str, ...], trials: int, *, timeout_s: float,
                resolution_s: float | None, interval_s: float, pollers: int) -> RacePlan:
    return RacePlan(pairs_of(regions), trials, pollers, interval_s, timeout_s, resolution_s,
                    turn=True)
