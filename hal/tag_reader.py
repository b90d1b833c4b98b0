"""Tag reader: QR codes and barcodes decoded by OpenCV from camera frames."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


@dataclass(frozen=True, slots=True)
class TagRead:
    payload: str | None  # None when nothing could be decoded
    symbology: str  # "qr", "ean13", ...
    stamp_s: float


class TagReader(Device):
    kind = "tag_reader"

    @abstractmethod
    def read_tag(self) -> TagRead:
        """Grab a frame and decode; payload None when unreadable (never a guess)."""
