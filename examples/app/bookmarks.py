"""A tiny bookmark service in the spirit of the workshop's video player: a viewer's
playback position is saved in the region nearest them and read back wherever they
resume. It is plain boto3 code and knows nothing of gtbench; its tests
(test_bookmarks.py) run it against global tables with gtbench's ``global_tables``
fixture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

TABLE = "bookmarks"


@dataclass(frozen=True)
class Bookmark:
    user: str
    video: str
    position_s: int
    version: int


class StaleReplica(Exception):
    """This region has not yet seen the viewer's latest bookmark."""


class BookmarkService:
    """The service as it runs in one region (the workshop runs one per region)."""

    def __init__(self, region: str, table: str = TABLE) -> None:
        self.region = region
        self.table = table
        self._client = boto3.client("dynamodb", region_name=region)

    def save(self, user: str, video: str, position_s: int, *,
             after: int | None = None) -> int:
        """Save a playback position; returns the bookmark's version.

        ``after``: the version the viewer's player last saw (it keeps it in its
        session). The save then applies only on top of that version: a region that has
        not yet seen it refuses (StaleReplica) rather than write over a newer bookmark.
        Without it the save is a blind overwrite, as the workshop's is."""
        version = (after or 0) + 1
        item = {"PK": {"S": user}, "SK": {"S": video},
                "Position": {"N": str(position_s)}, "Version": {"N": str(version)}}
        request: dict[str, Any] = {"TableName": self.table, "Item": item}
        if after is not None:
            request.update(ConditionExpression="Version = :seen",
                           ExpressionAttributeValues={":seen": {"N": str(after)}})
        try:
            self._client.put_item(**request)
        except self._client.exceptions.ConditionalCheckFailedException:
            raise StaleReplica(f"{self.region} has not seen version {after} of "
                               f"{user}/{video} yet") from None
        return version

    def resume(self, user: str, video: str, *, consistent: bool = False,
               at_least: int | None = None) -> Bookmark | None:
        """Where the viewer left off, as this region knows it. ``consistent``: a
        strongly consistent read (on an MRSC table, the latest write from any region).
        ``at_least``: the version the player last saw; an older bookmark here raises
        StaleReplica instead of sending the viewer back."""
        found = self._client.get_item(TableName=self.table, ConsistentRead=consistent,
                                      Key={"PK": {"S": user}, "SK": {"S": video}}).get("Item")
        bookmark = None if found is None else Bookmark(
            user, video, int(found["Position"]["N"]), int(found["Version"]["N"]))
        if at_least is not None and (bookmark is None or bookmark.version < at_least):
            raise StaleReplica(f"{self.region} holds version "
                               f"{bookmark.version if bookmark else 'none'} of {user}/{video}, "
                               f"the viewer has seen {at_least}")
        return bookmark
