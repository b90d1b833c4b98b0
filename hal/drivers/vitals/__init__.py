"""Bedside vitals drivers: Nonin pulse oximetry (Data Format #2) and medbot's bedside-module
line protocol (thermometer, NIBP, glucometer, scale); see docs/protocols/."""

from hal.device import DeviceError


class VitalsProtocolError(DeviceError):
    """A frame or line that does not parse (bad checksum, malformed, oversized)."""

    def __init__(self, reason: str) -> None:
        super().__init__("vitals", reason)
