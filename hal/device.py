"""What every device shares: health, lifecycle, errors."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Self

from hal.clock import Clock


class HealthStatus(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    STALE = "stale"  # no fresh data within the device's expected period


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    status: HealthStatus
    reason: str
    stamp_s: float

    @property
    def usable(self) -> bool:
        return self.status in (HealthStatus.OK, HealthStatus.WARNING)


class DeviceError(Exception):
    """Base of every error a device raises to its caller (missions catch this type)."""

    def __init__(self, device: str, reason: str) -> None:
        super().__init__(f"{device}: {reason}")
        self.device = device
        self.reason = reason


class DeviceNotReady(DeviceError):
    """Used before `setup()` or after `close()`."""


class DeviceFault(DeviceError):
    """The device reported or showed a fault."""


class DeviceTimeout(DeviceError):
    """The device did not answer within its bounded timeout."""


class Device(ABC):
    """Base of every device.

    Lifecycle (after py_trees): `__init__` only configures, `setup()` connects, `close()` releases.
    Usable as a context manager. Nothing is cleaned up in `__del__`.
    """

    kind: ClassVar[str] = "device"

    def __init__(self, name: str, clock: Clock) -> None:
        self.name = name
        self.clock = clock
        self._is_open = False

    @property
    def is_open(self) -> bool:
        return self._is_open

    def setup(self) -> None:
        self._is_open = True

    def close(self) -> None:
        self._is_open = False

    @abstractmethod
    def health(self) -> DeviceHealth:
        """Current health; never raises."""

    def _require_open(self) -> None:
        if not self._is_open:
            raise DeviceNotReady(self.name, "device is not set up (call setup() first)")

    def _health(self, status: HealthStatus, reason: str = "") -> DeviceHealth:
        return DeviceHealth(status, reason, self.clock.now_s())

    def __enter__(self) -> Self:
        self.setup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
