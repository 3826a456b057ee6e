"""gtbench matrix: every ordered pair in one run, on the emulator's distance model."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from gtbench.cli import cli
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.experiments.race import RacePlan
from tests.helpers import control, run_cli

EU, FRANKFURT, VIRGINIA = "eu-west-1", "eu-central-1", "us-east-1"
THREE = f"{EU},{FRANKFURT},{VIRGINIA}"


def test_each_round_starts_one_pair_later() -> None:
    plan = RacePlan((("a", "b"), ("b", "a"), ("a", "c")), 3, turn=True)
    firsts = [pair for k, (i, pair) in enumerate(plan.order()) if k % 3 == 0]
    assert firsts == [("a", "b"), ("b", "a"), ("a", "c")]
    assert sorted(plan.order()) == sorted((i, p) for i in range(3) for p in plan.pairs)


def test_a_matrix_recovers_asymmetric_lags_and_the_oceans(emulator: EmulatorServer,
                                                          tmp_path: Path) -> None:
    # Base 30 ms, one direction slower, and the network: half the round trip between
    # the regions (Ireland-Frankfurt 27 ms, to Virginia 70 and 93).
    emulator.backend.set(lag=LagModel(30, 3, {(VIRGINIA, EU): (200.0, 3.0)},
                                           network=True))
    out, png = tmp_path / "matrix.json", tmp_path / "matrix.png"
    result = run_cli(emulator.url, "matrix", "--table", "gtbench-matrix", "--trials", "3",
                     "--json", str(out), "--png", str(png), regions=THREE)
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["experiment"] == "matrix"
    trials = document["trials"]
    assert len(trials) == 3 * 6 and all(t["status"] == "replicated" for t in trials)
    # Every cell's truth lies inside its bound.
    assert all(t["true_in_bound"] for t in trials), [
        (t["from_region"], t["to_region"], t["lag_low_s"], t["true_lag_s"], t["lag_high_s"])
        for t in trials if not t["true_in_bound"]]

    def truth(source: str, target: str) -> float:
        return statistics.median(float(t["true_lag_s"]) for t in trials
                                 if (t["from_region"], t["to_region"]) == (source, target))

    # The asymmetry, recovered: Virginia to Ireland far slower than the way back.
    assert truth(VIRGINIA, EU) > truth(EU, VIRGINIA) + 0.1
    # Across the ocean slower than within Europe, from the network alone: each delivery
    # is due at the lag plus half the pair's round trip (when it is applied also depends
    # on how busy this machine is, so the schedule is what is checked).
    due: dict[tuple[str, str], list[float]] = {}
    for row in control(emulator.url, "replications?table=gtbench-matrix")["replications"]:
        due.setdefault((row["source_region"], row["target_region"]), []).append(
            row["due_at"] - row["written_at"])
    median = {pair: statistics.median(values) for pair, values in due.items()}
    assert median[(EU, VIRGINIA)] > median[(EU, FRANKFURT)] + 0.015
    assert median[(FRANKFURT, VIRGINIA)] > median[(FRANKFURT, EU)] + 0.015
    assert abs(median[(EU, FRANKFURT)] - (0.030 + 0.0135)) < 0.006
    # The matrix as printed: every cell, at 80 columns nothing cut.
    flat = " ".join(result.stdout.split())
    assert "p50 (p99), each row writes, each column reads" in flat and "…" not in flat
    # Named only if clear of the rest at the stated confidence, else said to be noise.
    assert ("Soonest:" in flat) != ("No pair is surely soonest" in flat)
    assert ("Latest:" in flat) != ("No pair is surely latest" in flat)
    checked = CliRunner().invoke(cli, ["report", str(out), "--check"])
    assert checked.exit_code == 0, checked.stderr
    assert png.stat().st_size > 0
    # The figure shows each pair's p50 (p99) where its row writes and its column reads.
    from gtbench.report.matrix import _cell, cells, matrix_figure

    figure = matrix_figure(document)
    shown = {text.get_text() for text in figure.axes[0].texts}
    assert shown == {_cell(p) for p in cells(document).values()}
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == THREE.split(",")
    # Both heatmaps' colours start at zero: a few ms apart never looks like hundreds.
    for axis in figure.axes[:2]:
        assert axis.images[0].norm.vmin == 0
    markdown = CliRunner().invoke(cli, ["report", str(out), "--markdown"]).stdout
    assert f"| {VIRGINIA} |" in markdown


def test_the_status_shows_the_lag_of_each_pair(emulator: EmulatorServer) -> None:
    emulator.backend.set(lag=LagModel(100, 0, network=True))
    assert run_cli(emulator.url, "setup", regions=f"{EU},{VIRGINIA}").exit_code == 0
    medians = control(emulator.url, "status")["lag"]["median_ms"]
    assert medians == {f"{EU}>{VIRGINIA}": 135.0, f"{VIRGINIA}>{EU}": 135.0}


def test_a_matrix_from_probes_has_each_pairs_round_trip(emulator: EmulatorServer,
                                                        tmp_path: Path) -> None:
    emulator.backend.set(lag=LagModel(60, 5))
    out = tmp_path / "matrix.json"
    result = run_cli(emulator.url, "matrix", "--probes", "--trials", "2", "--json", str(out),
                     regions=f"{EU},{VIRGINIA}")
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert all(t["via"] == "probes" and t["true_in_bound"] for t in document["trials"])
    assert all(p["round_trip_p50_s"] is not None for p in document["summary"]["pairs"])
    assert "round trip" in result.stdout
    assert CliRunner().invoke(cli, ["report", str(out), "--check"]).exit_code == 0


def pair(source: str, target: str, p50_ms: float, low_ms: float, high_ms: float | None,
         trials: int = 3, confidence: float = 0.75) -> dict[str, Any]:
    return {"from_region": source, "to_region": target, "trials": trials,
            "p50_s": p50_ms / 1000, "p50_low_s": low_ms / 1000,
            "p50_high_s": None if high_ms is None else high_ms / 1000,
            "p50_confidence": confidence}


def test_a_soonest_or_latest_pair_is_named_only_when_its_interval_clears_the_rest() -> None:
    from gtbench.report.matrix import ranking

    apart = [pair(EU, FRANKFURT, 40, 35, 46), pair(EU, VIRGINIA, 120, 110, 131),
             pair(VIRGINIA, EU, 300, 280, 330)]
    assert ranking(apart) == [
        f"Soonest: {EU} → {FRANKFURT}, 40 ms at the median (within 35 to 46 ms at 75% "
        "confidence, clear of every other pair).",
        f"Latest: {VIRGINIA} → {EU}, 300 ms at the median (within 280 to 330 ms at 75% "
        "confidence, clear of every other pair)."]
    # Two runs of one command named different "soonest" pairs 25 ms apart: inside the
    # noise of 3 trials, which is what is said, with what would settle it.
    close = [pair(EU, FRANKFURT, 797, 600, 1000), pair(FRANKFURT, EU, 822, 610, 1050),
             pair(VIRGINIA, EU, 2000, 1900, None)]
    (soonest, latest) = ranking(close)
    assert soonest.startswith(f"No pair is surely soonest with 3 trials each: {EU} → "
                              f"{FRANKFURT} (797 ms, within 600 to 1000 ms)")
    assert "overlap at 75% confidence; about 930 trials would tell apart a difference of " \
           "25 ms" in soonest  # 3 * (440 / 25)^2: widths shrink as one over the root of n
    # A pair with trials not seen in time has no upper end: never "surely" below it.
    assert latest.startswith(f"Latest: {VIRGINIA} → {EU}")
    assert "within 1900 to more" in latest


def test_the_median_interval_holds_the_true_median_as_often_as_it_says() -> None:
    import random

    from gtbench.analysis import median_interval

    assert median_interval([], []) is None
    three = median_interval([0.1, 0.3, 0.2], [0.15, 0.35, 0.25])
    assert three is not None and (three.low_s, three.high_s) == (0.1, 0.35)
    assert three.confidence == 0.75  # 3 trials cannot reach 95%: 1 - 2 / 8
    unseen = median_interval([0.1, 0.2, 5.0], [0.15, 0.25, None])
    assert unseen is not None and unseen.high_s is None
    # Coverage, checked by simulation (a fixed seed: the same draws every run).
    rng = random.Random(11)
    for n in (5, 12, 30):
        held, said = 0, 1.0
        for _ in range(2000):
            lags = [rng.lognormvariate(0, 0.5) for _ in range(n)]  # true median 1.0
            found = median_interval(lags, lags)
            assert found is not None and found.high_s is not None
            said = found.confidence
            held += found.low_s <= 1.0 <= found.high_s
        assert held / 2000 >= said - 0.02, (n, held, said)
        assert n < 12 or said >= 0.95
