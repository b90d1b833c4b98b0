"""Staff badge reader with PIN pad: who may unlock a drawer.

A scan plus PIN is checked by the reader (or the hospital's access service behind it) and
answered with a pseudonymous staff reference (``st-`` + hex) and a role, never a name. The
mission decides whether the role may do what it asks (a pharmacist loads, a nurse hands out).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device
from hal.handle import Handle

STAFF_REF_PATTERN = r"^st-[0-9a-f]{6,32}$"


@dataclass(frozen=True, slots=True)
class BadgeScan:
    granted: bool
    staff_ref: str | None  # pseudonymous; None when nobody was authenticated
    role: str | None  # "nurse", "pharmacist", "kitchen" ...
    reason: str  # why it was refused ("" when granted)
    stamp_s: float


class BadgeReader(Device):
    kind = "badge_reader"

    @abstractmethod
    def start_authentication(self, *, required_role: str, purpose: str) -> Handle[BadgeScan, str]:
        """Ask for a badge and PIN of someone with `required_role` (`purpose` is shown on the
        screen). Succeeds with the scan (granted or refused); fails on a device fault."""
