"""Parallel BatchWriteItem and BatchGetItem that finish their unprocessed remainders.

Items a successful batch call leaves unprocessed are the caller's to retry, with
backoff; so are whole calls that were throttled. These calls are idempotent, so
gtbench backs off and sends them again for as long as they make progress. Its batch
clients make one attempt each (``Regions.batch``): botocore's retries inside these
loops would multiply the attempts, and under sustained throttling its ``standard``
mode's retry quota (500 tokens, 5 per throttled retry) runs dry anyway, after which
each throttled call fails at its first attempt (``RetryQuotaReached``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from gtbench.errors import GtbenchError
from gtbench.outcomes import THROTTLING

Item = dict[str, Any]
KeyTuple = tuple[tuple[str, str], ...]
WRITE_BATCH = 25
GET_BATCH = 100
# Rounds in a row that write or fetch nothing before giving up: at 50% throttling of
# every call and item, 0.5**24 (6e-8) per batch.
MAX_IDLE_ROUNDS = 24


def key_tuple(key: Item) -> KeyTuple:
    return tuple(sorted((name, str(next(iter(value.values())))) for name, value in key.items()))


def chunks(items: Sequence[Item], size: int) -> list[Sequence[Item]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def backoff(attempt: int, base: float = 0.05, cap: float = 5.0) -> float:
    """Full-jitter exponential backoff (the AWS Architecture Blog's recommendation)."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


def patient(call: Callable[..., Item], **params: Any) -> Item:
    """An idempotent call, sent again with backoff while it is throttled (even once
    botocore's retry quota has run dry)."""
    for attempt in range(MAX_IDLE_ROUNDS):
        response = _unless_throttled(call, **params)
        if response is not None:
            return response
        time.sleep(backoff(attempt))
    raise GtbenchError(f"still throttled after {MAX_IDLE_ROUNDS} attempts",
                       hint="the table is throttled; try again later")


def _unless_throttled(call: Callable[..., Item], **params: Any) -> Item | None:
    """The call's response, or None if it was throttled (after the client's own retries,
    if it makes any): puts and gets are idempotent, so the caller simply makes it again."""
    try:
        return call(**params)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in THROTTLING:
            return None
        raise


def write_chunk(client: Any, table: str, chunk: Sequence[Item],
                sleep: Callable[[float], None] = time.sleep, *, delete: bool = False) -> int:
    """Write up to 25 items (or, with ``delete``, delete up to 25 keys), retrying what
    comes back unprocessed (or the whole call, when it is throttled even after
    botocore's retries); returns the count."""
    requests: list[Item] = [{"DeleteRequest": {"Key": item}} if delete
                            else {"PutRequest": {"Item": item}} for item in chunk]
    idle = 0
    while idle < MAX_IDLE_ROUNDS:
        response = _unless_throttled(client.batch_write_item, RequestItems={table: requests})
        left = requests if response is None else response.get(
            "UnprocessedItems", {}).get(table, [])
        if not left:
            return len(chunk)
        # Back off longer only while nothing gets through (a round of progress resets it).
        idle = idle + 1 if len(left) == len(requests) else 0
        requests = left
        sleep(backoff(idle))
    raise GtbenchError(f"{len(requests)} items stayed unprocessed after {MAX_IDLE_ROUNDS} "
                       "rounds in a row that wrote nothing",
                       hint="the table is throttled; try again later or with fewer --bookmarks")


def write_all(client: Any, table: str, items: Sequence[Item], *, workers: int = 8,
              on_progress: Callable[[int], None] | None = None) -> int:
    """Write ``items`` in parallel 25-item batches; ``on_progress`` gets each batch's count."""
    written = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for count in pool.map(lambda c: write_chunk(client, table, c), chunks(items, WRITE_BATCH)):
            written += count
            if on_progress is not None:
                on_progress(count)
    return written


def get_chunk(client: Any, table: str, keys: Sequence[Item], consistent: bool,
              sleep: Callable[[float], None] = time.sleep) -> list[Item]:
    """Fetch up to 100 keys, retrying unprocessed ones; returns the items found."""
    found: list[Item] = []
    request: Item = {"Keys": list(keys), "ConsistentRead": consistent}
    idle = 0
    while idle < MAX_IDLE_ROUNDS:
        response = _unless_throttled(client.batch_get_item, RequestItems={table: request})
        left: Item = request if response is None else (
            response.get("UnprocessedKeys", {}).get(table) or {})
        if response is not None:
            found += response.get("Responses", {}).get(table, [])
        if not left:
            return found
        idle = idle + 1 if len(left["Keys"]) == len(request["Keys"]) else 0
        request = left
        sleep(backoff(idle))
    raise GtbenchError(f"keys stayed unprocessed in BatchGetItem after {MAX_IDLE_ROUNDS} "
                       "rounds in a row that fetched nothing", hint="try again later")


def present_keys(client: Any, table: str, keys: Iterable[Item], *, consistent: bool = True,
                 workers: int = 8) -> set[KeyTuple]:
    """Which of ``keys`` exist in ``table`` (as ``key_tuple``s)."""
    keys = list(keys)
    present: set[KeyTuple] = set()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for items in pool.map(lambda c: get_chunk(client, table, c, consistent),
                              chunks(keys, GET_BATCH)):
            present.update(key_tuple({"PK": i["PK"], "SK": i["SK"]}) for i in items)
    return present
