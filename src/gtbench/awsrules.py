"""The AWS rules both sides need: the client (to refuse early) and the emulator (to
refuse as AWS does). Neutral ground: it imports neither side, only the standard
library and, lazily, botocore's region data.

- Regions and partitions: every region botocore knows to offer DynamoDB, and its
  partition; a global table lives in one account, so in one partition.
- Table names: 3 to 255 characters of a-z A-Z 0-9 _ - . (API reference, TableName).
- Consistency: a global table is EVENTUAL (MREC) or STRONG (MRSC), for ever.
- MRSC: which regions it accepts (a rule that has changed over time: data, with its
  source and date), and every refusal of a conversion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

Consistency = Literal["EVENTUAL", "STRONG"]
EVENTUAL: Consistency = "EVENTUAL"
STRONG: Consistency = "STRONG"
_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.-]+")  # fullmatch: "$" admits a final newline


@lru_cache(maxsize=1)
def partitions() -> dict[str, str]:
    """Every region botocore knows to offer DynamoDB, with its partition (``aws``,
    ``aws-cn``, ``aws-us-gov`` and the isolated ones)."""
    import botocore.session

    session = botocore.session.get_session()
    return {name: partition for partition in session.get_available_partitions()
            for name in session.get_available_regions("dynamodb", partition_name=partition)}


def known_regions() -> frozenset[str]:
    """Every region botocore knows to offer DynamoDB, in every partition."""
    return frozenset(partitions())


def table_name_problem(name: Any) -> str | None:
    """Why ``name`` is not a valid table name (3 to 255 of a-z A-Z 0-9 _ - .), or None."""
    if not isinstance(name, str):
        return "1 validation error detected: Value at 'tableName' failed to satisfy " \
               "constraint: Member must not be null"
    if not 3 <= len(name) <= 255:
        return (f"1 validation error detected: Value '{name}' at 'tableName' failed to "
                "satisfy constraint: Member must have length between 3 and 255")
    if not _TABLE_NAME.fullmatch(name):
        return (f"1 validation error detected: Value '{name}' at 'tableName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                "[a-zA-Z0-9_.-]+")
    return None


@dataclass(frozen=True)
class RegionRule:
    """Which regions MRSC accepts, as AWS has stated it since ``since``: any three of
    ``regions``, or (``sets``) three from one set. The rule has changed over time, so it
    is data with its source and date, and a refusal by AWS is still handled."""

    since: str
    source: str
    regions: frozenset[str]
    sets: tuple[frozenset[str], ...] = ()


_US = frozenset({"us-east-1", "us-east-2", "us-west-2"})
_EU = frozenset({"eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1"})
_AP = frozenset({"ap-northeast-1", "ap-northeast-2", "ap-northeast-3"})
REGION_RULES = (
    # Each rule kept here has a source found and read. A report of "any three of 15
    # regions" (2026-09) was not found in any AWS source, and botocore 1.44.8's model
    # and CloudFormation's reference still state the sets: AWS's refusal, should the
    # rule have widened, is handled like any other (nothing is left half-made).
    RegionRule("2025-06", "DynamoDB API reference, CreateGlobalTableWitnessGroupMemberAction, "
               "and CloudFormation GlobalTableWitness: three regions from one set "
               "(US, EU, AP)", _US | _EU | _AP, (_US, _EU, _AP)),
)
RULE = REGION_RULES[-1]  # the rule in force; AWS may since have changed it again
MRSC_REGIONS = RULE.regions


def conversion_problem(home: str, creates: Sequence[str], witnesses: Sequence[str],
                       has_items: bool, has_lsi: bool, already_global: bool) -> str | None:
    """Why AWS would refuse to make this table MRSC, or None."""
    if already_global:
        return ("A global table's consistency mode cannot be changed: MultiRegionConsistency "
                "is set only when the table first becomes a global table")
    if len(witnesses) > 1:
        return "At most one witness can be created in one request"
    regions = [home, *creates, *witnesses]
    if len(regions) != 3 or len(set(regions)) != 3 or len(creates) + len(witnesses) != 2:
        return ("A multi-Region strongly consistent table needs exactly three Regions: "
                "three replicas, or two replicas and a witness")
    outside = [r for r in regions if r not in RULE.regions]
    if outside:
        return (f"Multi-Region strong consistency is not supported in {outside[0]}; "
                f"supported Regions: {', '.join(sorted(RULE.regions))}")
    if RULE.sets and not any(set(regions) <= group for group in RULE.sets):
        return ("The three Regions of a multi-Region strongly consistent table must come "
                "from one Region set")
    if has_items:
        return "A table must be empty to become a multi-Region strongly consistent table"
    if has_lsi:
        return "Local secondary indexes are not supported on multi-Region strongly " \
               "consistent tables"
    return None
