"""The emulator's cut: its ``isolate`` fault, declared over its control API."""

from __future__ import annotations


class LocalCut:
    """The emulator's ``isolate`` fault: what FIS's pause-replication does on AWS. It is
    declared with a duration past the planned end too, so that a gtbench that dies
    mid-cut does not leave the region cut off for ever."""

    def __init__(self, endpoint_url: str, region: str, duration_s: float,
                 fis_delay_s: float = 0.0) -> None:
        self.endpoint_url, self.region, self.duration_s = endpoint_url, region, duration_s
        # The emulator's rehearsal of FIS's delayed start (``fis_delay_s``), with margin.
        self.allowance_s = fis_delay_s + 5.0
        self._id: int | None = None

    def describe(self) -> str:
        return "the emulator's isolate fault"

    def start(self) -> None:
        from gtbench.local.lifecycle import control

        answer = control(self.endpoint_url, "faults", "POST", {
            "kind": "isolate", "region": self.region,
            "duration_s": self.duration_s + self.allowance_s + 60})
        self._id = int(answer["fault"]["id"])

    def end(self) -> None:
        from gtbench.local.lifecycle import control

        if self._id is not None:
            fault, self._id = self._id, None
            control(self.endpoint_url, f"faults/{fault}", "DELETE")
