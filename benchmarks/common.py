"""Shared helpers for the benchmark scripts: clients, percentiles, a plain report."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import boto3


def client(url: str, region: str) -> Any:
    return boto3.client("dynamodb", region_name=region, endpoint_url=url,
                        aws_access_key_id="bench", aws_secret_access_key="bench")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table_spec(name: str) -> dict[str, Any]:
    return {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"},
                      {"AttributeName": "SK", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "PK", "AttributeType": "S"},
                                 {"AttributeName": "SK", "AttributeType": "S"}],
    }
