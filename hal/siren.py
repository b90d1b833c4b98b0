"""Siren and beacon light of a patrol robot."""

from __future__ import annotations

import enum
from abc import abstractmethod
from dataclasses import dataclass

from hal.device import Device


class SirenPattern(enum.StrEnum):
    FIRE = "fire"  # continuous wail + red beacon
    ALERT = "alert"  # short chirps + amber beacon (intrusion, attention)
    BEACON_ONLY = "beacon_only"  # light, no sound (night in a ward area)


@dataclass(frozen=True, slots=True)
class SirenState:
    sounding: bool
    pattern: SirenPattern | None
    beacon_on: bool
    #: when it silences by itself (None: until `silence()`)
    until_s: float | None
    stamp_s: float


class Siren(Device):
    kind = "siren"

    @abstractmethod
    def sound(self, pattern: SirenPattern, *, duration_s: float | None = None) -> None:
        """Start (or change) the siren; it silences itself after `duration_s` when given.
        Raises DeviceError on fault."""

    @abstractmethod
    def silence(self) -> None: ...

    @abstractmethod
    def state(self) -> SirenState: ...
