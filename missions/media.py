"""Where missions put evidence and recordings (JPEG of a hot spot, interview segments).

A mission stores bytes and gets back a reference it can put in an alert or a record; the robot
decides where the bytes go (the simulator writes them into the report folder; on a robot they are
uploaded over the telemetry media channel). References are content hashes, so the same evidence
stored twice is one object, a consumer can verify what it received, and runs stay deterministic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MediaItem:
    ref: str  # "sha256:<hex>", as the telemetry contract's media_ref and evidence_ref
    sha256: str
    content_type: str  # "image/jpeg", "video/x-motion-jpeg", "audio/L16" ...
    label: str  # what it shows, for people: "hot spot at radiology-corridor" (never a patient name)
    data: bytes
    stamp_s: float


class MediaStore(Protocol):
    def put(self, data: bytes, *, content_type: str, label: str, stamp_s: float) -> MediaItem: ...

    def get(self, ref: str) -> MediaItem | None: ...


def media_ref(data: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(data).hexdigest()
    return f"sha256:{digest}", digest


class InMemoryMediaStore:
    """Keeps everything (bounded by `max_items`, oldest dropped first); `items()` in arrival order."""

    def __init__(self, max_items: int = 1000) -> None:
        self._items: dict[str, MediaItem] = {}
        self._max_items = max_items

    def put(self, data: bytes, *, content_type: str, label: str, stamp_s: float) -> MediaItem:
        ref, digest = media_ref(data)
        item = self._items.get(ref)
        if item is None:
            item = MediaItem(ref, digest, content_type, label, bytes(data), stamp_s)
            self._items[ref] = item
            while len(self._items) > self._max_items:
                self._items.pop(next(iter(self._items)))
        return item

    def get(self, ref: str) -> MediaItem | None:
        return self._items.get(ref)

    def items(self) -> list[MediaItem]:
        return list(self._items.values())
