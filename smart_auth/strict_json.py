"""JSON from untrusted clients, with limits (pure: no Django).

``json.loads`` alone lets a client choose the server's answer: 100,000 nested brackets raise
RecursionError, ``1e400`` and ``Infinity`` become float infinity (then ``int()`` raises
OverflowError), and ``"\\ud800"`` becomes a lone surrogate that no UTF-8 encoder accepts (the
database, the channel layer). :func:`loads` turns each of these into :class:`JsonRejected`, which
callers answer with their standard 400.
"""

from __future__ import annotations

import json
import math


class JsonRejected(ValueError):
    """The text is not JSON this server accepts; the message is safe to show the client."""


def _no_constant(name):
    raise JsonRejected(f"{name} is not a JSON number")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise JsonRejected(f"The number {text[:40]} is out of range")
    return value


def loads(data: bytes | str, max_depth: int):
    """Parse ``data`` or raise JsonRejected: not UTF-8 or not JSON, nested deeper than
    ``max_depth`` arrays/objects, a non-finite number, or a string with a lone surrogate."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRejected("The body is not UTF-8") from None
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float)
    except JsonRejected:
        raise
    except RecursionError:
        raise JsonRejected(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonRejected(f"Not valid JSON: {exc}") from None
    check_value(value, max_depth)
    return value


def check_value(value, max_depth: int) -> None:
    """Raise JsonRejected when arrays/objects nest deeper than ``max_depth`` or a key or string
    holds a lone surrogate. Iterative, so it never recurses itself."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise JsonRejected(f"JSON nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonRejected("A JSON string holds an unpaired surrogate (not Unicode text)") from None
