"""Records kept as Redis hashes: one (de)serialisation for every pydantic model we store.

Nested models and mappings are flattened into dotted field names (`photos.accepted`,
`photos.rejected.no_face`), so a Lua script can update one counter with HINCRBY, and pydantic
turns the strings back into typed values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel

SEPARATOR = "."


class HashRecord(BaseModel):
    """A pydantic model stored as one Redis hash of strings."""

    def to_hash(self) -> dict[str, str]:
        return flatten(self.model_dump(mode="json"))

    @classmethod
    def from_hash(cls, raw: Mapping[bytes, bytes] | Mapping[str, str]) -> Self:
        return cls.model_validate(unflatten(raw))


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """{"a": {"b": 1}, "c": None} -> {"a.b": "1"}; booleans become "1"/"0", None is left out."""
    out: dict[str, str] = {}
    for name, value in data.items():
        field = prefix + name
        if value is None:
            continue
        if isinstance(value, Mapping):
            out.update(flatten(value, field + SEPARATOR))
        elif isinstance(value, bool):
            out[field] = "1" if value else "0"
        else:
            out[field] = str(value)
    return out


def unflatten(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> dict[str, Any]:
    """{"a.b": "1", "c": "x"} -> {"a": {"b": "1"}, "c": "x"}, names and values decoded (one pass:
    every update reads its session and order through here)."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        name = _text(name)
        value = _text(value)
        if SEPARATOR not in name:
            out[name] = value
            continue
        *parents, leaf = name.split(SEPARATOR)
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
