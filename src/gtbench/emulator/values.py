"""What the control API accepts: strict JSON, and numbers that are finite and in range.
Python's json reads ``NaN`` and ``Infinity``, and ``nan < 0`` is false, so an unchecked
setting slipped past every comparison and killed the delivery thread."""

from __future__ import annotations

import json
import math
from typing import Any

# DynamoDB nests attribute values at most 32 deep: about 70 levels of request JSON.
MAX_NESTING = 128


def nested_deeper_than(body: bytes, limit: int = MAX_NESTING) -> bool:
    """Whether ``body`` nests more than ``limit`` JSON arrays and objects, found without
    recursion. ``json.loads`` recurses once a level: a body nested thousands deep took a
    server thread to the interpreter's recursion limit, where a finaliser the garbage
    collector happened to run in that thread failed too (seen beside CPU hogs)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # every ordinary request, at C speed
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return False


def strict_json(body: bytes) -> Any:
    """The request body as JSON (empty: ``{}``); NaN and Infinity are not JSON."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not a number JSON allows")

    if nested_deeper_than(body):
        raise ValueError("the body's JSON is nested too deeply")
    try:
        return json.loads(body or b"{}", parse_constant=refuse)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc.msg}") from None
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8 text") from None


def number(value: Any, name: str, *, low: float, high: float, above: bool = False) -> float:
    """``value`` as a float if it is a finite number within [low, high] (or (low, high]
    with ``above``); ValueError naming ``name`` and the range otherwise."""
    bounds = f"{'above' if above else 'at least'} {_plain(low)} and at most {_plain(high)}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value < low or value > high or (above and value == low):
        raise ValueError(f"{name} must be a number {bounds}, not {value!r}")
    return float(value)


def region(value: Any, name: str) -> str:
    """``value`` if it names a region that offers DynamoDB; ValueError otherwise."""
    from gtbench.awsrules import known_regions

    if not isinstance(value, str) or value not in known_regions():
        raise ValueError(f"{name} must be a region name such as eu-west-1, not {value!r}")
    return value


def whole(value: Any, name: str, *, low: int, high: int) -> int:
    """``value`` as an int if it is a whole number within [low, high] (JSON or a query
    string's digits); ValueError otherwise."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return value


def text(value: Any, name: str) -> str:
    """``value`` if it is a non-empty string; ValueError otherwise."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _plain(x: float) -> str:
    """3600000, not 3.6e+06: a bound a person reads."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
