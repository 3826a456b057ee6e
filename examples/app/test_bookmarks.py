"""The bookmark service against global tables, with gtbench's ``global_tables`` fixture:
what replication lag does to a viewer who resumes in another region, two fixes, and a
conflict whose loser the emulator names. No test sleeps: replication is held and
delivered by hand."""

from __future__ import annotations

import pytest
from bookmarks import TABLE, BookmarkService, StaleReplica

from gtbench.testing import GlobalTables

OREGON, IRELAND = "us-west-2", "eu-west-1"
USER, VIDEO = "viewer-1", "video-42"


@pytest.fixture
def oregon(global_tables: GlobalTables) -> BookmarkService:
    global_tables.create_table(TABLE, (OREGON, IRELAND))
    return BookmarkService(OREGON)


@pytest.mark.xfail(strict=True, reason="the bug it demonstrates: under replication lag, "
                                       "the other region resumes from an older position")
def test_resuming_in_another_region_starts_where_the_viewer_left_off(
        global_tables: GlobalTables, oregon: BookmarkService) -> None:
    oregon.save(USER, VIDEO, 100)
    global_tables.settle()
    global_tables.hold()  # the next save is still on its way to Ireland
    oregon.save(USER, VIDEO, 600)
    resumed = BookmarkService(IRELAND).resume(USER, VIDEO)
    assert resumed is not None and resumed.position_s == 600  # it is 100: stale


def test_a_versioned_bookmark_never_sends_the_viewer_back(
        global_tables: GlobalTables, oregon: BookmarkService) -> None:
    ireland = BookmarkService(IRELAND)
    first = oregon.save(USER, VIDEO, 100)
    global_tables.settle()
    global_tables.hold()
    seen = oregon.save(USER, VIDEO, 600, after=first)  # the player keeps version 2
    # Ireland has only version 1: it says so instead of resuming at 100, and refuses
    # to save on top of a bookmark older than the player's.
    with pytest.raises(StaleReplica):
        ireland.resume(USER, VIDEO, at_least=seen)
    with pytest.raises(StaleReplica):
        ireland.save(USER, VIDEO, 650, after=seen)
    global_tables.deliver()  # version 2 arrives
    resumed = ireland.resume(USER, VIDEO, at_least=seen)
    assert resumed is not None and resumed.position_s == 600
    ireland.save(USER, VIDEO, 650, after=seen)
    global_tables.release()
    global_tables.settle()
    back = oregon.resume(USER, VIDEO)
    assert back is not None and (back.position_s, back.version) == (650, 3)
    assert global_tables.lost_writes(TABLE) == []


def test_a_strong_read_on_an_mrsc_table_resumes_at_the_latest_position(
        global_tables: GlobalTables) -> None:
    regions = ("us-west-2", "us-east-1", "us-east-2")
    global_tables.create_table(TABLE, regions, consistency="strong")
    global_tables.hold()  # asynchronous replication waits; MRSC's does not
    BookmarkService(regions[0]).save(USER, VIDEO, 600)
    for region in regions[1:]:
        resumed = BookmarkService(region).resume(USER, VIDEO, consistent=True)
        assert resumed is not None and resumed.position_s == 600, region


def test_two_devices_saving_at_once_lose_one_save_and_the_emulator_names_it(
        global_tables: GlobalTables, oregon: BookmarkService) -> None:
    global_tables.hold()  # neither region sees the other's save before its own
    oregon.save(USER, VIDEO, 300)  # a laptop in Oregon
    BookmarkService(IRELAND).save(USER, VIDEO, 900)  # a phone in Ireland, a moment later
    global_tables.release()
    global_tables.settle()
    # Last writer wins: both regions show Ireland's save, and Oregon's is gone.
    for region in (OREGON, IRELAND):
        resumed = BookmarkService(region).resume(USER, VIDEO)
        assert resumed is not None and resumed.position_s == 900, region
    (lost,) = global_tables.lost_writes(TABLE)
    assert lost.region == OREGON and lost.item is not None and lost.item["Position"] == 300
    assert lost.lost_to_region == IRELAND
