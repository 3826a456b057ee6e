"""``gtbench compare``: the same workloads on an MREC and an MRSC table, side by side."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gtbench import analysis
from gtbench.cli import cli
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorServer
from gtbench.history import FAIL, OK, Op
from tests.helpers import control, run_cli

REGIONS = "us-west-2,us-east-1,us-east-2"


def test_compare_end_to_end(emulator: EmulatorServer, ddb: Callable[[str], Any],
                            tmp_path: Path) -> None:
    # A lag well above the increments' pace: MREC must lose updates; MRSC must not. Round
    # trips far above the send skew of a quiet machine: MRSC's conflicting writes
    # overlap, so some are refused.
    emulator.backend.set(lag=LagModel(300, 0))
    emulator.backend.set(pair_rtt_ms={(a, b): 80.0 for a in REGIONS.split(",")
                                      for b in REGIONS.split(",") if a != b})
    out = tmp_path / "compare.json"
    result = run_cli(emulator.url, "compare", "--trials", "2", "--conflicts", "2",
                     "--increments", "4", "--resolution-ms", "10", "--json", str(out),
                     regions=REGIONS)
    assert result.exit_code == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["experiment"] == "compare"
    # Where it runs names both tables it measures, each with its kind.
    names = [m["table"] for m in document["summary"]["modes"]]
    header = " ".join(result.stderr.split())
    assert all(name in header for name in names) and "(MREC)" in header and "(MRSC)" in header
    modes = {m["consistency"]: m for m in document["summary"]["modes"]}
    mrec, mrsc = modes["EVENTUAL"], modes["STRONG"]
    # Strong reads after the acknowledgement: stale on MREC (the lag), never on MRSC.
    assert mrec["stale_strong_reads"] > 0
    assert mrsc["strong_reads_after_ack"] > 0 and mrsc["stale_strong_reads"] == 0
    # Conflicts: lost unseen on MREC; refused, never lost, on MRSC.
    assert mrec["lost_unseen"] == 2 and mrec["refused_writes"] == 0
    # Which writes met another's claim is the emulator's to say (a loaded machine can
    # send one a trip late): every refusal it logged is counted, none more.
    refusals = sum(w["kind"] == "conflict" and w["table"] == mrsc["table"]
                   for w in control(emulator.url, "strong")["writes"])
    assert mrsc["lost_unseen"] == 0 and mrsc["refused_writes"] == refusals > 0
    # Increments: the updates each mode lost are exactly those the emulator's log says
    # last-writer-wins threw away (an update outside the final write's line), none on
    # MRSC. MREC must lose some wherever the history proves two regions' updates were
    # concurrent; a loaded machine may pull the writers apart, so that is not assumed.
    for mode in (mrec, mrsc):
        thrown = [w for w in control(emulator.url, f"lost?table={mode['table']}")["lost"]
                  if any(name.startswith("Updates_") for name in w["image"] or {})]
        assert mode["lost_updates"] == len(thrown) and mode["updates"] == 8, thrown
    assert mrsc["lost_updates"] == 0
    (increments,) = next(m for m in document["modes"]
                         if m["table"] == mrec["table"])["increment"]["trials"]
    if concurrent_updates(increments["writes"], lag_s=0.3):
        assert mrec["lost_updates"] > 0
    # Latency per operation and region, with the write's extra round trip on MRSC.
    # (How much more is the benchmark's to say; a loaded machine blurs a difference, but
    # an MRSC request can never beat its round trip.)
    costs = {(c["operation"], c["region"]): c for c in document["summary"]["costs"]}
    assert {(op, r) for op, r in costs} == {(op, r) for op in ("write", "strong read",
                                                               "eventual read")
                                            for r in REGIONS.split(",")}
    assert costs[("write", "us-west-2")]["strong_p50_s"] >= 0.080
    assert costs[("strong read", "us-west-2")]["strong_p50_s"] >= 0.080
    assert all(c["extra_s"] == pytest.approx(c["strong_p50_s"] - c["eventual_p50_s"])
               for c in costs.values())
    # Every request is counted, refused ones too.
    assert mrsc["refused_requests"] >= mrsc["refused_writes"]
    assert mrsc["requests"] == sum(mrsc["requests_by_operation"].values())
    # It removed what it created, and the result checks clean and renders.
    assert all(m["removed"] for m in document["modes"])
    for region in REGIONS.split(","):
        assert ddb(region).list_tables()["TableNames"] == []
    checked = CliRunner().invoke(cli, ["report", str(out), "--check"])
    assert checked.exit_code == 0, checked.stderr
    shown = CliRunner().invoke(cli, ["report", str(out), "--markdown"])
    assert (f"| updates lost (increments) | {mrec['lost_updates']} of 8 updates | 0 of 8 "
            "updates |"
            in shown.stdout)
    flat = " ".join(result.stdout.split())
    assert f"What MREC lost: {mrec['lost_updates']} of 8 updates" in flat
    assert "What MRSC cost: writes" in flat


def concurrent_updates(writes: list[dict[str, Any]], lag_s: float) -> bool:
    """Whether two regions' acknowledged updates provably crossed: one was applied after
    the other but before the other could have arrived (``lag_s``, the least delay). Such
    writes descend from neither, so one of them is in no final image."""
    ok = [w for w in writes if w["result"] == OK]
    return any(a["region"] != b["region"] and b["sent"] > a["acked"]
               and b["acked"] < a["sent"] + lag_s for a in ok for b in ok)


def test_compare_keeps_its_tables_when_asked_and_refuses_bad_region_sets(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    refused = run_cli(emulator.url, "compare", regions="us-west-2,eu-west-1")
    assert refused.exit_code == 2
    assert "exactly three" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert ddb("us-west-2").list_tables()["TableNames"] == []  # nothing was made
    kept = run_cli(emulator.url, "compare", "--trials", "1", "--conflicts", "1",
                   "--increments", "1", "--keep", "--prefix", "cmp", regions=REGIONS)
    assert kept.exit_code == 0, kept.stderr
    names = sorted(ddb("us-east-1").list_tables()["TableNames"])
    assert len(names) == 2 and re.fullmatch(r"cmp-([0-9a-f]{6})-mrec", names[0])
    assert names[1] == names[0].replace("-mrec", "-mrsc")
    flat = " ".join(kept.stderr.split())
    assert f"kept {names[0]}, {names[1]}" in flat
    assert f"`gtbench teardown --table {names[0]} --regions {REGIONS}`" in flat
    # Kept on purpose: no leftover for --stale, however late it is.
    from gtbench.experiments import compare
    from gtbench.regions import Settings, open_regions

    regions = open_regions(Settings(endpoint_url=emulator.url, regions=tuple(
        REGIONS.split(","))))
    assert compare.stale_tables(regions, now=4e9) == []


def test_two_compare_runs_at_once_each_use_tables_of_their_own(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    """Two runs with the same prefix at the same time: neither joins the other's tables,
    both finish with their figures, and nothing is left behind."""
    from concurrent.futures import ThreadPoolExecutor

    from gtbench.experiments import compare
    from gtbench.regions import Settings, open_regions

    settings = Settings(endpoint_url=emulator.url, regions=tuple(REGIONS.split(",")))
    plan = compare.ComparePlan(settings.regions, trials=1, conflicts=1, increments=1,
                               resolution_s=0.02, timeout_s=10)

    def one() -> compare.CompareResult:
        return compare.run_compare(open_regions(settings), settings, plan, "gtbench-compare")

    with ThreadPoolExecutor(2) as pool:
        first, second = [f.result() for f in [pool.submit(one), pool.submit(one)]]
    for result in (first, second):
        assert not result.stopped and not result.interrupted, result.stopped
        assert [m.removed for m in result.modes] == [True, True]
        assert all(m.race and len(m.race.trials) == 3 for m in result.modes)
    assert not {m.table for m in first.modes} & {m.table for m in second.modes}
    for region in settings.regions:
        assert ddb(region).list_tables()["TableNames"] == []


def test_teardown_stale_removes_only_leftovers_whose_run_has_ended(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    import time

    from gtbench.experiments import compare
    from gtbench.regions import Settings, open_regions
    from gtbench.tables import provision

    def make(name: str, until: float | None) -> None:
        settings = Settings(endpoint_url=emulator.url, regions=("us-west-2", "us-east-1"),
                            table=name)
        tags = [{"Key": compare.RUN_TAG, "Value": "abc123"}] + (
            [{"Key": compare.RUN_UNTIL_TAG, "Value": f"{until:.0f}"}] if until else [])
        provision.setup(open_regions(settings), settings, tags=tags)  # type: ignore[arg-type]

    make("gtbench-compare-aaaaaa-mrec", time.time() - 60)  # its run has ended
    make("gtbench-compare-bbbbbb-mrec", time.time() + 3600)  # still running
    make("global-serverless", None)  # the workshop's table: never a run's
    # A new run names the leftover (and only it), with how to remove it.
    regions = open_regions(Settings(endpoint_url=emulator.url,
                                    regions=("us-west-2", "us-east-1")))
    assert compare.leftovers_note(regions, "gtbench-compare") == (
        "left over from earlier runs: gtbench-compare-aaaaaa-mrec; remove them with "
        "`gtbench teardown --stale --regions us-west-2,us-east-1`")
    assert compare.leftovers_note(regions, "other") is None
    removed = run_cli(emulator.url, "teardown", "--stale", "--yes",
                      regions="us-west-2,us-east-1")
    assert removed.exit_code == 0, removed.stderr
    left = set(ddb("us-west-2").list_tables()["TableNames"])
    assert "gtbench-compare-aaaaaa-mrec" not in left
    assert {"gtbench-compare-bbbbbb-mrec", "global-serverless"} <= left


def _op(region: str, kind: str, sent_ms: float, took_ms: float, value: int | None = None,
        result: str = OK, consistent: bool = True) -> Op:
    return Op(region, kind, int(sent_ms * 1e6), int((sent_ms + took_ms) * 1e6),  # type: ignore[arg-type]
              result, value, consistent=consistent)  # type: ignore[arg-type]


def test_the_summary_follows_from_the_operations() -> None:
    """From hand-made histories: latency per operation and region, stale strong reads
    after the acknowledgement only, refused requests, and MRSC minus MREC per region."""
    def mode(consistency: str, write_ms: float, stale_after: bool) -> analysis.ModeSummary:
        write = _op("r1", "write", 0, write_ms, 7)
        reads = [_op("r2", "read", write_ms + 1, 5, 1 if stale_after else 7),  # after ack
                 _op("r2", "read", 0.5, 5, 1),  # sent before the ack: not a violation
                 _op("r2", "read", write_ms + 9, 3, 7, consistent=False)]
        refused = _op("r1", "write", 50, 2, 9, result=FAIL)
        verdict = analysis.race_verdict(write, reads, 7)
        return analysis.mode_summary(consistency, f"t-{consistency}", [write, *reads, refused],
                                     [(write, reads, verdict)], None, None)

    mrec, mrsc = mode("EVENTUAL", 10, True), mode("STRONG", 60, False)
    assert (mrec.stale_strong_reads, mrec.strong_reads_after_ack) == (1, 1)
    assert (mrsc.stale_strong_reads, mrsc.strong_reads_after_ack) == (0, 1)
    assert mrec.refused_requests == 1 and mrec.requests == 5
    assert mrec.requests_by_operation == {"write": 2, "strong read": 2, "eventual read": 1}
    assert [(x.operation, x.region, x.requests) for x in mrec.latency] == [
        ("write", "r1", 1), ("strong read", "r2", 2), ("eventual read", "r2", 1)]
    summary = analysis.compare_summary([mrec, mrsc])
    write_cost = next(c for c in summary.costs if c.operation == "write")
    assert write_cost.region == "r1" and write_cost.extra_s == pytest.approx(0.05)
    assert summary.write_cost_s == pytest.approx(0.05)


def test_teardown_stale_says_which_run_tables_it_left_and_why(
        emulator: EmulatorServer, ddb: Callable[[str], Any]) -> None:
    """A run table whose run may still be going is left, and named with when it surely
    ends (it once answered only "No stale gtbench run tables"); one whose run has
    surely ended goes."""
    import time

    from gtbench.experiments import compare
    from gtbench.tables import provision
    from tests.helpers import make_table

    for name, until in (("gtbench-compare-aaaaaa-mrec", time.time() + 3600),
                        ("gtbench-compare-bbbbbb-mrec", time.time() - 60)):
        make_table(ddb("us-west-2"), name)
        arn = ddb("us-west-2").describe_table(TableName=name)["Table"]["TableArn"]
        ddb("us-west-2").tag_resource(ResourceArn=arn, Tags=[
            {"Key": provision.OWNER_TAG, "Value": "gtbench"},
            {"Key": compare.RUN_UNTIL_TAG, "Value": f"{until:.0f}"}])
    result = run_cli(emulator.url, "teardown", "--stale", "--yes", regions=REGIONS)
    assert result.exit_code == 0, result.stderr
    flat = " ".join(result.stderr.split())
    assert "left gtbench-compare-aaaaaa-mrec: its run may still be going" in flat
    assert ddb("us-west-2").list_tables()["TableNames"] == ["gtbench-compare-aaaaaa-mrec"]


def test_a_cost_inside_the_noise_is_called_noise_not_a_cost() -> None:
    import random

    from gtbench import analysis
    from gtbench.history import Op
    from gtbench.report.compare import _costs

    rng = random.Random(5)

    def race(extra_ms: float) -> list[tuple[Op, list[Op], Any]]:
        """Twelve trials: a write, and an eventual read in the same region, each around
        5 ms (+ ``extra_ms`` for the write), 1 ms of spread."""
        out = []
        for i in range(12):
            at = i * 10**9
            write = Op("us-east-1", "write", at, at + int((5 + extra_ms
                                                           + rng.gauss(0, 1)) * 1e6))
            read = Op("us-east-1", "read", at, at + int((5 + rng.gauss(0, 1)) * 1e6),
                      consistent=False)
            out.append((write, [read], analysis.race_verdict(write, [read], 0)))
        return out

    from gtbench.awsrules import EVENTUAL, STRONG

    modes = [analysis.mode_summary(consistency, "t", [], race(extra), None, None)
             for consistency, extra in ((EVENTUAL, 0.0), (STRONG, 15.0))]
    summary = vars(analysis.compare_summary(modes))
    costs = {c.operation: c for c in summary["costs"]}
    assert not costs["write"].noise and costs["eventual read"].noise
    as_saved = {"costs": [vars(c) for c in summary["costs"]]}
    assert _costs(as_saved, "write").startswith(("+14 ms", "+15 ms", "+16 ms"))
    assert _costs(as_saved, "eventual read") == "no difference beyond the noise in us-east-1"


def test_compare_says_a_lag_with_trials_not_seen_in_time_is_a_lower_bound() -> None:
    from gtbench import analysis
    from gtbench.awsrules import EVENTUAL
    from gtbench.history import Op
    from gtbench.report.compare import rows

    def trial(seen_at_ms: int | None) -> tuple[Op, list[Op], Any]:
        write = Op("us-east-1", "write", 0, 5 * 10**6, value=7)
        reads = [Op("us-east-2", "read", 10 * 10**6, 12 * 10**6, value=None)]
        if seen_at_ms is None:
            reads.append(Op("us-east-2", "read", 9000 * 10**6, 9002 * 10**6, value=None))
        else:
            reads.append(Op("us-east-2", "read", seen_at_ms * 10**6,
                            (seen_at_ms + 2) * 10**6, value=7))
        return write, reads, analysis.race_verdict(write, reads, 7)

    # Two of three trials never seen: the median is over 8.995 s, and says so.
    mode = analysis.mode_summary(EVENTUAL, "t", [], [trial(40), trial(None), trial(None)],
                                 None, None)
    assert mode.lag_p50_censored and mode.lag_p50_s == pytest.approx(8.995)
    document = {"summary": {"modes": [vars(mode)]}, "settings": {"regions": []}}
    (cell,) = dict(rows(document))["lag to strong reads"]
    assert cell == "> 8995.0 ms / > 8995.0 ms"
