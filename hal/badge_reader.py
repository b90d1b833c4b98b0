"""Staff authentication at the robot: a badge tap (RFID/NFC) or a staff reference plus PIN.

The reader checks the credential against the hospital's staff directory itself, so a mission
never sees a PIN or a badge's secret: it asks "is one of these staff here?" and learns who was
accepted (a pseudonymous staff reference, ``st-…``) or why not. Each presentation ends the
handle; the caller counts failed attempts (three wrong PINs lock a delivery out).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from hal.device import Device
from hal.handle import Handle

AuthMethod = Literal["badge", "pin"]


@dataclass(frozen=True, slots=True)
class Authentication:
    accepted: bool
    method: AuthMethod
    #: who presented (pseudonymous staff reference), None when the badge or reference is unknown
    staff_ref: str | None
    #: why it was refused ("wrong pin", "not authorised for this hand-over", "unknown badge"), else ""
    reason: str
    stamp_s: float


AuthenticationHandle = Handle[Authentication, str]


class BadgeReader(Device):
    kind = "badge_reader"

    @abstractmethod
    def start_authentication(self, authorised: Sequence[str], *, allow_pin: bool = True) -> AuthenticationHandle:
        """Wait for one presentation and check it: accepted only for a staff reference listed in
        `authorised`. The handle succeeds with an `Authentication` (accepted or not) once someone
        presents; it stays RUNNING while nobody does (the caller's deadline decides)."""
