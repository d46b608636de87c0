"""Stored files: ids like Telegram's, photo size ladders, and the JSON that describes them."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import mimetypes
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

logger = logging.getLogger(__name__)

# Telegram delivers a thumbnail, a medium size and the original of every photo.
PHOTO_LADDER = (320, 800)


@dataclass(frozen=True)
class StoredFile:
    """One file as Telegram knows it: exact bytes plus identifiers."""

    file_id: str
    file_unique_id: str
    data: bytes
    filename: str | None
    mime_type: str | None
    file_path: str
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def photo_size_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width or 0,
            "height": self.height or 0,
            "file_size": self.size,
        }

    def document_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
        }
        if self.filename is not None:
            body["file_name"] = self.filename
        if self.mime_type is not None:
            body["mime_type"] = self.mime_type
        return body

    def media_json(self) -> dict[str, Any]:
        """Animation / video shape: a document plus dimensions and duration."""
        return {
            **self.document_json(),
            "width": self.width or 0,
            "height": self.height or 0,
            "duration": 1,
        }

    def file_json(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.size,
            "file_path": self.file_path,
        }

    def summary(self) -> dict[str, Any]:
        """What the control API lists for a message's attachment."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size": self.size,
            "width": self.width,
            "height": self.height,
        }


def unique_id_for(data: bytes) -> str:
    """Stable per content, like Telegram's file_unique_id."""
    digest = hashlib.sha256(data).digest()[:12]
    return "AQAD" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class FileStore:
    """Every file the emulator has seen, by file_id and by download path."""

    def __init__(self) -> None:
        self._by_id: dict[str, StoredFile] = {}
        self._by_path: dict[str, StoredFile] = {}
        # Any size's file_id resends the whole photo, like Telegram.
        self._ladders: dict[str, list[StoredFile]] = {}
        self._counter = 0

    def clear(self) -> None:
        self._by_id.clear()
        self._by_path.clear()
        self._ladders.clear()

    def photo_ladder(self, file_id: str) -> list[StoredFile] | None:
        return self._ladders.get(file_id)

    def get(self, file_id: str) -> StoredFile | None:
        return self._by_id.get(file_id)

    def by_path(self, file_path: str) -> StoredFile | None:
        return self._by_path.get(file_path)

    def add(
        self,
        data: bytes,
        *,
        folder: str,
        filename: str | None = None,
        mime_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        self._counter += 1
        if mime_type is None and filename is not None:
            mime_type = mimetypes.guess_type(filename)[0]
        extension = _extension(filename, mime_type)
        stored = StoredFile(
            file_id="BQAC" + secrets.token_urlsafe(24),
            file_unique_id=unique_id_for(data),
            data=data,
            filename=filename,
            mime_type=mime_type,
            file_path=f"{folder}/file_{self._counter}{extension}",
            width=width,
            height=height,
        )
        self._by_id[stored.file_id] = stored
        self._by_path[stored.file_path] = stored
        return stored

    def add_photo(self, data: bytes) -> list[StoredFile]:
        """The PhotoSize ladder, smallest first; an undecodable photo is its single original."""
        try:
            with Image.open(io.BytesIO(data)) as probe:
                probe.load()
                image = probe.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            logger.debug("photo of %d bytes does not decode; delivering it as is", len(data))
            original = self.add(data, folder="photos", mime_type="image/jpeg", width=0, height=0)
            self._ladders[original.file_id] = [original]
            return [original]
        sizes: list[StoredFile] = []
        longest = max(image.size)
        for bound in PHOTO_LADDER:
            if longest > bound:
                scaled = image.copy()
                scaled.thumbnail((bound, bound))
                buffer = io.BytesIO()
                scaled.save(buffer, format="JPEG", quality=85)
                sizes.append(
                    self.add(
                        buffer.getvalue(),
                        folder="photos",
                        mime_type="image/jpeg",
                        width=scaled.width,
                        height=scaled.height,
                    )
                )
        # The largest size keeps the exact uploaded bytes so tests can compare pixels.
        sizes.append(
            self.add(
                data,
                folder="photos",
                mime_type="image/jpeg",
                width=image.width,
                height=image.height,
            )
        )
        for size in sizes:
            self._ladders[size.file_id] = sizes
        return sizes

    def add_media(self, data: bytes, filename: str | None, mime_type: str | None) -> StoredFile:
        """A document, animation or video; dimensions are read when Pillow can."""
        width = height = None
        try:
            with Image.open(io.BytesIO(data)) as probe:
                width, height = probe.size
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            pass
        return self.add(
            data,
            folder="documents",
            filename=filename,
            mime_type=mime_type,
            width=width,
            height=height,
        )


def _extension(filename: str | None, mime_type: str | None) -> str:
    if filename and "." in filename:
        return "." + filename.rsplit(".", 1)[1][:8]
    if mime_type:
        return mimetypes.guess_extension(mime_type) or ""
    return ""
