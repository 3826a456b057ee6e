"""The workshop's data set, and synthetic bookmarks for load.

Items are returned in DynamoDB JSON (``{"S": ...}``), ready for the low-level client.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from typing import Any

Item = dict[str, Any]
BOOKMARK_PK = "user100"
BOOKMARK_SK = "AshlandValley"


def _load() -> dict[str, Any]:
    text = resources.files("gtbench").joinpath("data/workshop.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _encode(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    return {"S": str(value)}


def workshop_items() -> list[Item]:
    """The bookmark ``user100/AshlandValley`` and the twelve ``library`` catalog items."""
    data = _load()
    return [{name: _encode(value) for name, value in row.items()}
            for row in data["bookmarks"] + data["catalog"]]


def synthetic_bookmarks(count: int, seed: int = 100) -> list[Item]:
    """``count`` bookmarks of made-up users on catalog titles; the same keys every run."""
    titles = [row["title"].replace(" ", "") for row in _load()["catalog"]]
    rng = random.Random(seed)
    return [{"PK": {"S": f"user{100_000 + i}"}, "SK": {"S": titles[i % len(titles)]},
             "Bookmark": {"N": str(rng.randrange(0, 7200))}} for i in range(count)]


def key_of(item: Item) -> Item:
    return {"PK": item["PK"], "SK": item["SK"]}
