"""Drive gtbench as a library: an emulator in-process, a global table, a race, a conflict.

    python examples/library.py

Everything the CLI does is a function call: open_regions for clients,
provision.setup for the table, run_race and run_conflict for the experiments,
and the document module for the documents the CLI saves with --json.
"""

from __future__ import annotations

from gtbench import document
from gtbench.emulator.config import ReplicaSettings
from gtbench.emulator.replication import LagModel
from gtbench.emulator.server import EmulatorConfig, EmulatorServer
from gtbench.experiments import conflict, race
from gtbench.regions import Settings, open_regions
from gtbench.tables import provision


def main() -> dict[str, dict[str, object]]:
    config = EmulatorConfig(lag=LagModel(lag_ms=200, jitter_ms=40),
                            replicas=ReplicaSettings(0.0, 0.0))
    with EmulatorServer(config) as emulator:  # 127.0.0.1, a free port
        settings = Settings(endpoint_url=emulator.url, table="library-example")
        regions = open_regions(settings)
        context = document.Context.of(settings, emulator.url)
        provision.setup(regions, settings, timing=provision.Timing(60, 0.1))

        lag = race.run_race(regions, settings, race.RacePlan(
            pairs=((settings.home, settings.replicas[0]),), trials=5, interval_s=0.02))
        race_doc = document.race_document(lag, context)
        print(f"median lag {race_doc['summary']['p50_s']:.3f} s over 5 trials")

        plan = conflict.ConflictPlan(regions=(settings.regions[0], settings.regions[1]),
                                     offsets_ms=(0.0, 1000.0), trials=2)
        fight = conflict.run_conflict(regions, settings, plan)
        conflict_doc = document.conflict_document(fight, context)
        for row in conflict_doc["summary"]["offsets"]:
            print(f"offset {row['offset_ms']:g} ms: the later write won in {row['lww_held']}"
                  f"/{row['trials']}, the earlier was lost unseen in "
                  f"{row['earlier_discarded_unseen']}/{row['trials']}")
        return {"race": race_doc, "conflict": conflict_doc}


if __name__ == "__main__":
    main()
