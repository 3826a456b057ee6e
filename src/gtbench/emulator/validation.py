"""What DynamoDB itself refuses before it reads a request: a body that is not a JSON
object, and members of the wrong type or missing, checked against botocore's service
model for the operation. moto trusts the shapes it is sent and answers some of these
with an HTML 500 page, or even 200 (an object where TransactItems' list belongs);
AWS answers 400, with ``SerializationException`` for a member of the wrong JSON type
and ``ValidationException`` for the rest."""

from __future__ import annotations

import functools
import json
from typing import Any

_JSON_TYPES = {"<class 'str'>": "a string", "<class 'dict'>": "an object",
               "<class 'list'>": "a list", "<class 'tuple'>": "a list",
               "<class 'bool'>": "a boolean", "<class 'int'>": "a number",
               "<class 'float'>": "a number", "<class 'bytes'>": "base64 text",
               "<class 'bytearray'>": "base64 text", "file-like object": "base64 text",
               "<class 'datetime.datetime'>": "a timestamp",
               "timestamp-string": "a timestamp"}

# A nested attribute value may be at most 32 levels deep (DynamoDB's documented
# limit); the checks below recurse per level, so a body nested far deeper is refused
# before them.
MAX_DEPTH = 64


@functools.cache
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("dynamodb")


@functools.cache
def _validator() -> Any:
    from botocore.validate import ParamValidator

    return ParamValidator()


def problem(op: str, payload: Any) -> tuple[str, str] | None:
    """(error code, message) if DynamoDB would refuse ``payload`` for ``op`` as shaped
    wrongly; None if it is well formed (or ``op`` is not one botocore knows: moto
    answers that itself)."""
    if not isinstance(payload, dict):
        return ("SerializationException",
                f"Start of structure or map expected, found {type(payload).__name__}")
    if _depth(payload) > MAX_DEPTH:
        return ("ValidationException", "Nesting Levels have exceeded supported limits")
    try:
        shape = _model().operation_model(op).input_shape
    except Exception:  # an operation botocore does not know (OperationNotFoundError)
        return None
    if shape is None:
        return None
    report = _validator().validate(payload, shape)
    # An unknown member is ignored by DynamoDB (newer SDKs send members older
    # endpoints do not know), and the service checks lengths and ranges itself.
    # Each error is (kind, where, details): botocore's report, read only here.
    errors = sorted((e for e in getattr(report, "_errors", [])
                     if e[0] in ("missing required field", "invalid type")),
                    key=lambda e: e[0] != "invalid type")
    if not errors:
        return None
    kind, name, details = errors[0]
    if kind == "invalid type":
        wanted = " or ".join(dict.fromkeys(_JSON_TYPES.get(str(t), str(t))
                                           for t in details.get("valid_types", [])))
        return ("SerializationException",
                f"Unexpected value type at {name.lstrip('.') or 'the request'}: "
                f"{json.dumps(details.get('param'))[:80]} is not {wanted}")
    return ("ValidationException",
            f"1 validation error detected: Value null at '{details.get('required_name')}' "
            f"failed to satisfy constraint: Member must not be null")


def _depth(value: Any, level: int = 0) -> int:
    """How deeply ``value`` nests, counted without recursion (which a body nested
    thousands deep would exhaust)."""
    deepest, stack = level, [(value, level)]
    while stack:
        current, at = stack.pop()
        deepest = max(deepest, at)
        if deepest > MAX_DEPTH:
            break
        if isinstance(current, dict):
            stack.extend((v, at + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, at + 1) for v in current)
    return deepest
