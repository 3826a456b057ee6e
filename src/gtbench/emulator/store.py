"""The emulator's one doorway into moto's DynamoDB backend models.

Every use of moto internals lives here, so a moto upgrade touches one file.
Callers hold the region lock of every region they touch.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_json_dump

from gtbench.emulator.wire import DYNAMODB_PREFIX


def server_app() -> Any:
    """moto's own WSGI server app (every AWS service moto serves), behind the emulator.

    DynamoDB calls skip moto's routing: moto's dispatcher finds a request's service
    anew each time, under one lock, listing its own package folder on disk (a quarter
    of a GetItem's time in a profile), and its Flask app then routes the one URL
    DynamoDB has, in a request context, with CORS, to ``DynamoHandler.dispatch``. The
    emulator calls that handler as the Flask view does (the request as moto's own
    type, the raw URL, the headers; a ClientError is a 400 with its message).
    Everything else goes through the dispatcher.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    dispatcher = DomainDispatcherApplication(create_backend_app)
    dynamodb = _dynamodb_app()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(DYNAMODB_PREFIX):
            return dynamodb(environ, start_response)
        return dispatcher(environ, start_response)

    return app


def _dynamodb_app() -> Any:
    from botocore.exceptions import ClientError
    from moto.core.request import Request
    from moto.dynamodb.responses import DynamoHandler
    from werkzeug.wrappers import Response

    class ServerRequest(Request):
        from_wsgi_server = True  # as moto's server marks its requests

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        request = ServerRequest(environ)
        try:
            result = DynamoHandler.dispatch(request, request.raw_url, dict(request.headers))
        except ClientError as exc:
            result = 400, {}, exc.response["Error"]["Message"]
        status, headers, body = result if len(result) == 3 else (200, {}, result)
        return Response(response=body, status=status, headers=headers)(environ, start_response)

    return app


def account_for(access_key: str, headers_account: str | None) -> str:
    """The account moto files a request under, by moto's own rules."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if headers_account:
        return headers_account
    from moto.iam.models import get_account_id_from

    return str(get_account_id_from(access_key))


def backend(account: str, region: str) -> DynamoDBBackend:
    return dynamodb_backends[account][region]


def find_table(account: str, region: str, name_or_arn: str) -> Table | None:
    tables = backend(account, region).tables
    table = tables.get(name_or_arn)
    if table is not None:
        return table
    return next((t for t in list(tables.values()) if t.table_arn == name_or_arn), None)


def partition_value(table: Table, item: dict[str, Any] | None) -> str | None:
    """The partition key's value in ``item`` (DynamoDB JSON), as text; None if absent."""
    value = (item or {}).get(table.hash_key_attr)
    return json.dumps(value, sort_keys=True) if value is not None else None


def table_arn(table: Table) -> str:
    return str(table.table_arn)


def key_names(table: Table) -> list[str]:
    return list(table.table_key_attrs)


def _key_values(table: Table, key: dict[str, Any]) -> tuple[DynamoType, DynamoType | None]:
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    return hash_key, range_key


def image(table: Table, key: dict[str, Any]) -> dict[str, Any] | None:
    """The whole item that ``key`` names, as DynamoDB JSON, or None."""
    item = table.get_item(*_key_values(table, key))
    if item is None:
        return None
    attrs: dict[str, Any] = _plain(item.to_json()["Attributes"])
    return attrs


def key_of(table: Table, attrs: dict[str, Any]) -> dict[str, Any]:
    return {name: attrs[name] for name in key_names(table)}


def put_image(table: Table, attrs: dict[str, Any]) -> None:
    table.put_item(copy.deepcopy(attrs), overwrite=True)


def delete_key(table: Table, key: dict[str, Any]) -> None:
    table.delete_item(*_key_values(table, key))


def all_images(table: Table) -> list[dict[str, Any]]:
    return [_plain(item.to_json()["Attributes"]) for item in table.all_items()]


def billing_mode(table: Table) -> str:
    return str(table.billing_mode or "PROVISIONED")


def create_like(source: Table, account: str, region: str) -> Table:
    """An empty table in ``region`` with the keys, attributes and indexes of ``source``."""

    def index_spec(described: dict[str, Any]) -> dict[str, Any]:
        # DescribeTable output carries status and zero capacity that CreateTable refuses.
        return {k: copy.deepcopy(described[k]) for k in ("IndexName", "KeySchema", "Projection")
                if k in described}

    streams = source.stream_specification if (source.stream_specification or {}).get(
        "StreamEnabled") else None
    replica = backend(account, region).create_table(
        source.name,
        schema=copy.deepcopy(source.schema),
        throughput=None,
        attr=copy.deepcopy(source.attr),
        global_indexes=[index_spec(i.describe()) for i in source.global_indexes] or None,
        indexes=[index_spec(i.describe()) for i in source.indexes] or None,
        streams=copy.deepcopy(streams),
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    replica.ttl = copy.deepcopy(source.ttl)  # TTL settings are shared by every replica
    return replica


def ttl_attribute(table: Table) -> str | None:
    """The TTL attribute if TTL is enabled on ``table``."""
    ttl = table.ttl or {}
    return str(ttl["AttributeName"]) if ttl.get("TimeToLiveStatus") == "ENABLED" else None


def expired_keys(table: Table, now: float) -> list[dict[str, Any]]:
    """Keys of the items whose TTL attribute (a number of epoch seconds) has passed."""
    attribute = ttl_attribute(table)
    if attribute is None:
        return []
    out = []
    for attrs in all_images(table):
        value = attrs.get(attribute, {}).get("N")
        try:
            expired = value is not None and float(value) <= now
        except ValueError:
            expired = False  # not a number: DynamoDB ignores the item for TTL
        if expired:
            out.append(key_of(table, attrs))
    return out


def publish_metric(account: str, region: str, namespace: str, name: str,
                   dimensions: dict[str, str], at: float, unit: str, *, count: int,
                   total: float, minimum: float, maximum: float) -> None:
    """One aggregated datapoint (a statistic set stamped ``at``, wall clock) into moto's
    CloudWatch, as the service publishes its metrics."""
    from datetime import datetime, timezone

    from moto.cloudwatch.models import cloudwatch_backends

    cloudwatch_backends[account][region].put_metric_data(namespace, [{
        "MetricName": name, "Unit": unit,
        "StatisticValues": {"SampleCount": count, "Sum": total, "Minimum": minimum,
                            "Maximum": maximum},
        # moto keeps naive UTC times (its utcnow) and compares them with the request's.
        "Timestamp": datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None),
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
    }])


def drop_table(account: str, region: str, name: str) -> None:
    backend(account, region).tables.pop(name, None)


def describe(table: Table, base_key: str) -> dict[str, Any]:
    return dict(_plain(table.describe(base_key=base_key)))


def tables_by_region() -> dict[str, dict[str, list[str]]]:
    """Every table the emulator holds: account -> region -> names (regions with none
    left out)."""
    out: dict[str, dict[str, list[str]]] = {}
    for account, regions in list(dynamodb_backends.items()):
        for region, backend_ in list(regions.items()):
            names = sorted(backend_.tables)
            if names:
                out.setdefault(account, {})[region] = names
    return out


def reset() -> None:
    dynamodb_backends.reset()


def _plain(obj: Any) -> Any:
    # moto's values can hold DynamoType and datetime; the wire wants plain JSON.
    return json.loads(dynamo_json_dump(obj))
