"""Request parameters from a query string, form, JSON body or multipart upload, uniformly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from emulator.errors import bad_request, missing


@dataclass(frozen=True)
class Upload:
    """One uploaded file part."""

    data: bytes
    filename: str | None
    content_type: str | None


class Params:
    """Typed access to Bot API parameters; form values arrive as strings, JSON ones typed."""

    def __init__(
        self,
        values: dict[str, Any],
        uploads: dict[str, Upload],
        parts: list[tuple[str, Upload | str]] | None = None,
    ) -> None:
        self.values = values
        self.uploads = uploads
        # Every multipart part in order, for forms that repeat a field (albums).
        self.parts = parts or []

    def has(self, name: str) -> bool:
        return name in self.values or name in self.uploads

    def get_str(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return json.dumps(value)

    def require_str(self, name: str) -> str:
        value = self.get_str(name)
        if value is None:
            raise missing(name)
        return value

    def get_int(self, name: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value))
        except ValueError:
            raise bad_request(f'invalid {name} specified: "{value}"') from None

    def require_int(self, name: str) -> int:
        value = self.get_int(name)
        if value is None:
            raise missing(name)
        return value

    def get_float(self, name: str) -> float | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f'invalid {name} specified: "{value}"') from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("1", "true", "yes", "on")

    def get_json(self, name: str) -> Any:
        """A structured parameter; forms carry it JSON-encoded, JSON bodies carry it as is."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise bad_request(f"can't parse {name} JSON object") from None

    def upload(self, name: str) -> Upload | None:
        return self.uploads.get(name)


async def read_params(request: web.Request) -> Params:
    """Merge the query string with whatever body the client sent."""
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    parts: list[tuple[str, Upload | str]] = []
    if request.method != "POST" or not request.body_exists:
        return Params(values, uploads)
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(body, dict):
            raise bad_request("JSON request body must be an object")
        values.update(body)
    elif content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            data = await part.read()
            part_type = part.headers.get("Content-Type", "")
            # Files carry a filename or a binary content type; plain fields carry neither.
            if part.filename is not None or (part_type and not part_type.startswith("text/")):
                upload = Upload(bytes(data), part.filename, part_type or None)
                uploads[part.name] = upload
                parts.append((part.name, upload))
            else:
                values[part.name] = bytes(data).decode("utf-8", errors="replace")
                parts.append((part.name, values[part.name]))
    else:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, str):
                values[key] = value
    return Params(values, uploads, parts)
