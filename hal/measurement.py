"""Common shape of the bedside measuring devices: start a measurement, poll its handle."""

from __future__ import annotations

from abc import abstractmethod
from typing import Generic, TypeVar

from hal.device import Device
from hal.handle import Handle

R = TypeVar("R")

MeasurementHandle = Handle[R, str]  # feedback: a short progress text ("inflating cuff")


class MeasuringDevice(Device, Generic[R]):
    """A device that takes one reading of the patient in front of the robot on request."""

    @abstractmethod
    def start_measurement(self) -> Handle[R, str]:
        """Begin a reading; the handle fails with a reason on probe-off, fault or timeout."""
