"""Reassembles evidence images from the ``media`` channel: chunks by hash, verified, bounded.

Chunks of one item share its ``sha256``; each carries its own ``chunk_sha256``. An item is kept only
once every chunk arrived and the whole hashes to ``sha256``, so the operator never sees a torn or
tampered image. Memory is bounded: the oldest complete items are dropped first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

#: complete items kept, by total size (an evidence JPEG is ~20-200 KB)
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: partial items kept at once (a publisher that never finishes must not eat memory)
MAX_PARTIAL = 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SHORT_REF = re.compile(r"media-([0-9a-f]{8,64})")


@dataclass(frozen=True, slots=True)
class MediaObject:
    sha256: str
    content_type: str
    data: bytes
    related: dict[str, Any]


@dataclass
class _Partial:
    content_type: str
    total_bytes: int
    chunk_count: int
    related: dict[str, Any]
    chunks: dict[int, bytes] = field(default_factory=dict)


class MediaAssembler:
    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._complete: OrderedDict[str, MediaObject] = OrderedDict()
        self._partial: OrderedDict[str, _Partial] = OrderedDict()
        self._bytes = 0
        self.rejected = 0  # chunks or items that failed their hash or did not decode

    def add_chunk(self, body: dict[str, Any]) -> MediaObject | None:
        """Take one media body; return the item when this chunk completed it."""
        digest = str(body.get("sha256", ""))
        if not _HEX64.fullmatch(digest) or digest in self._complete:
            return None
        try:
            chunk = base64.b64decode(str(body["data_b64"]), validate=True)
            index, count = int(body["chunk_index"]), int(body["chunk_count"])
        except (KeyError, ValueError, TypeError, binascii.Error):
            self.rejected += 1
            return None
        if hashlib.sha256(chunk).hexdigest() != body.get("chunk_sha256") or not 0 <= index < count:
            self.rejected += 1
            return None
        partial = self._partial.get(digest)
        if partial is None:
            partial = _Partial(str(body.get("content_type", "application/octet-stream")),
                               int(body.get("total_bytes", 0)), count, dict(body.get("related") or {}))
            self._partial[digest] = partial
            while len(self._partial) > MAX_PARTIAL:
                self._partial.popitem(last=False)
        partial.chunks[index] = chunk
        if len(partial.chunks) < partial.chunk_count:
            return None
        del self._partial[digest]
        data = b"".join(partial.chunks[i] for i in range(partial.chunk_count))
        if hashlib.sha256(data).hexdigest() != digest:
            self.rejected += 1
            return None
        item = MediaObject(digest, partial.content_type, data, partial.related)
        self._complete[digest] = item
        self._bytes += len(data)
        while self._bytes > self._max_bytes and len(self._complete) > 1:
            _, old = self._complete.popitem(last=False)
            self._bytes -= len(old.data)
        return item

    def get(self, sha256: str) -> MediaObject | None:
        return self._complete.get(sha256)

    def resolve(self, evidence_ref: str | None) -> MediaObject | None:
        """An alert's ``evidence_ref`` (``sha256:<hex>``, or the older ``media-<hex prefix>``)."""
        if not evidence_ref:
            return None
        if evidence_ref.startswith("sha256:"):
            return self._complete.get(evidence_ref[len("sha256:"):])
        match = _SHORT_REF.fullmatch(evidence_ref)
        if match is None:
            return None
        prefix = match.group(1)
        return next((m for d, m in self._complete.items() if d.startswith(prefix)), None)
